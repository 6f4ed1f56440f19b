//! shoptetctl: drives shoptet-syncd over its control socket (see `shoptetctl --help`).

fn main() -> std::process::ExitCode {
    shoptet_sync::control::cli::main()
}
