//! `shoptetctl status --watch`: the status table redrawn every second until interrupted (or
//! for `--watch-count` frames). Each frame is a fresh `daemon.status` request, so a restarted
//! daemon is picked up; a failed request ends the watch with the usual message and exit code.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};

use super::cli::{Cli, Outcome, Plan, StatusArgs, execute, report};
use super::render;

/// Time between two frames.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Clears a terminal and moves the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Runs the watch; returns the exit code.
pub(super) async fn watch(
    cli: &Cli,
    args: &StatusArgs,
    plan: &Plan,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    // Redraw in place on a terminal; into a pipe or file, frames follow one another.
    let redraw = !cli.json && std::io::stdout().is_terminal();
    let mut frames = 0u32;
    loop {
        let started = tokio::time::Instant::now();
        let response = match execute(&cli.socket, cli.timeout, plan).await {
            Outcome::Done(response) => response,
            failed => return report(cli, plan, failed, out, err),
        };
        let frame = if cli.json {
            match serde_json::to_string(&response) {
                Ok(json) => format!("{json}\n"),
                Err(error) => {
                    let _ = writeln!(err, "shoptetctl: cannot print JSON: {error}");
                    return 1;
                }
            }
        } else {
            format!(
                "{}every {} s, {} (Ctrl-C to stop)\n{}\n",
                if redraw { CLEAR } else { "" },
                WATCH_EVERY.as_secs(),
                Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
                render::render(&response)
            )
        };
        // The reader went away (`| head`): stop quietly.
        if out
            .write_all(frame.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return 0;
        }
        frames = frames.saturating_add(1);
        if args.watch_count.is_some_and(|count| frames >= count) {
            return 0;
        }
        tokio::time::sleep_until(started + WATCH_EVERY).await;
    }
}
