//! shoptetctl: drives shoptet-syncd over its control socket.
use clap::Parser;

/// Control tool for shoptet-syncd.
#[derive(Parser)]
#[command(version, about)]
struct Args {}

fn main() {
    let _args = Args::parse();
}
