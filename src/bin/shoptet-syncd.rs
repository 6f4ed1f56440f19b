//! shoptet-syncd: the sync daemon.
use clap::Parser;

/// Keeps a warehouse and its Shoptet e-shops in sync.
#[derive(Parser)]
#[command(version, about)]
struct Args {}

fn main() {
    let _args = Args::parse();
}
