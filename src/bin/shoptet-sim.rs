//! shoptet-sim: a local Shoptet API simulator.
use clap::Parser;

/// A faithful local Shoptet API simulator.
#[derive(Parser)]
#[command(version, about)]
struct Args {}

fn main() {
    let _args = Args::parse();
}
