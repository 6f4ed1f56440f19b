//! shoptet-syncd: the sync daemon. Parses the command line, runs the library's daemon
//! (`shoptet_sync::service::daemon`) and maps failures to the documented exit codes.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use shoptet_sync::config::DaemonConfig;
use shoptet_sync::service::daemon::{self, DaemonError, Overrides};
use shoptet_sync::service::{demo, exit_code};

/// Keeps a warehouse and its Shoptet e-shops in sync.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    after_help = "Exit codes: 0 clean stop, 1 runtime failure, 64 usage, 73 data directory unusable or store damaged, 74 final flush failed at stop, 78 invalid configuration or sealing key."
)]
struct Args {
    /// Configuration file (default: /etc/shoptet-sync/shoptet-sync.toml if it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Control socket (overrides `control.socket_path`).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Run against a built-in simulated shop, with state under ./shoptet-demo/.
    #[arg(long, conflicts_with_all = ["config", "data_dir", "socket", "restore", "check_config", "check_store", "rotate_key"])]
    demo: bool,
    /// Restore a backup (from `shoptetctl backup`) into an empty --data-dir, then exit.
    #[arg(
        long,
        value_name = "FILE",
        requires = "data_dir",
        conflicts_with = "check_config"
    )]
    restore: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// With the daemon stopped: re-seal every stored secret under the key in this file
    /// (created, mode 0600, if absent), then exit; install that key before the next start.
    #[arg(
        long,
        value_name = "NEW_KEY_FILE",
        conflicts_with_all = ["restore", "check_config"]
    )]
    rotate_key: Option<PathBuf>,
    /// Check the store's integrity as at start, offline (the daemon must be stopped), and exit:
    /// 0 intact, 73 damaged (the message names the problem and the newest backup).
    #[arg(long, conflicts_with_all = ["restore", "check_config"])]
    check_store: bool,
}

fn run(args: Args) -> Result<(), DaemonError> {
    if args.demo {
        return demo::run(std::path::Path::new(demo::DEMO_DIR));
    }
    let overrides = Overrides {
        data_dir: args.data_dir.as_deref().map(daemon::absolute).transpose()?,
        socket_path: args
            .socket
            .as_deref()
            .map(daemon::socket_override)
            .transpose()?,
    };
    if let Some(backup) = args.restore {
        let data_dir = overrides.data_dir.clone().unwrap_or_default();
        let summary = daemon::restore(&backup, &data_dir)?;
        print!("{summary}");
        return Ok(());
    }
    let config_path = daemon::config_path(args.config.as_deref());
    if args.check_store {
        let loaded = daemon::load_config(config_path.as_deref(), &overrides)?;
        let config = &loaded.config;
        print!(
            "{}",
            daemon::check_store(&config.data_dir, config.backup.dir.as_deref())?
        );
        return Ok(());
    }
    if args.check_config {
        let loaded = daemon::load_config(config_path.as_deref(), &overrides)?;
        for warning in &loaded.warnings {
            eprintln!("warning: {warning}");
        }
        print_check(config_path.as_deref(), &loaded.config);
        return Ok(());
    }
    if let Some(new_key_file) = args.rotate_key {
        let loaded = daemon::load_config(config_path.as_deref(), &overrides)?;
        let summary = shoptet_sync::service::rekey::rotate_key(&loaded.config, &new_key_file)?;
        print!("{summary}");
        return Ok(());
    }
    daemon::run(config_path, overrides)
}

fn print_check(path: Option<&std::path::Path>, config: &DaemonConfig) {
    match path {
        Some(path) => println!("configuration OK: {}", path.display()),
        None => println!("no configuration file; the defaults are valid"),
    }
    println!("data_dir: {}", config.data_dir.display());
    println!("socket:   {}", config.control.socket_path.display());
    println!("declared integrations: {}", config.integrations.len());
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::from(exit_code::OK as u8),
        Err(err) => {
            let error = anyhow::Error::new(err);
            eprintln!("shoptet-syncd: {error:#}");
            let code = error
                .downcast_ref::<DaemonError>()
                .map_or(exit_code::FAILURE, DaemonError::exit_code);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}
