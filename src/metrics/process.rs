//! Process figures read at scrape time: resident memory and open file descriptors from
//! `/proc/self`, uptime, start time and build information.

use std::time::Instant;

use chrono::Utc;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

use super::PREFIX;

#[derive(Debug)]
pub(super) struct ProcessCollector {
    started: Instant,
    start_time: i64,
}

impl ProcessCollector {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            start_time: Utc::now().timestamp(),
        }
    }
}

/// Resident set size in bytes (`VmRSS` of `/proc/self/status`).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// Open file descriptors (entries of `/proc/self/fd`, less the one reading it).
pub fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

type Fmt = Result<(), std::fmt::Error>;

fn single<N: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> Fmt {
    let full = format!("{PREFIX}_{name}");
    let metric = encoder.encode_descriptor(&full, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        if let Some(rss) = resident_memory_bytes() {
            single(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory of the daemon.",
                rss,
            )?;
        }
        if let Some(fds) = open_fds() {
            single(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors of the daemon.",
                fds,
            )?;
        }
        single(
            &mut encoder,
            "process_uptime_seconds",
            "Seconds since the daemon started.",
            self.started.elapsed().as_secs_f64(),
        )?;
        single(
            &mut encoder,
            "process_start_time_seconds",
            "When the daemon started (Unix time); a change means a restart.",
            self.start_time,
        )?;
        let full = format!("{PREFIX}_build_info");
        let mut family = encoder.encode_descriptor(
            &full,
            "Version of the daemon and of its control protocol (always 1).",
            None,
            MetricType::Gauge,
        )?;
        let protocol = crate::control::PROTOCOL_VERSION.to_string();
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("protocol", protocol.as_str()),
        ];
        ConstGauge::new(1i64).encode(family.encode_family(&labels)?)?;
        Ok(())
    }
}
