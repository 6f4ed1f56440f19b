//! Fault injection: latency, injected error statuses, maintenance, hangs, corrupt bodies,
//! connection resets, and lost responses (the request is applied, then the connection is reset
//! or hangs, so the client cannot know it succeeded).
//!
//! Decisions come from a seeded RNG that draws the same number of values per request, so a
//! sequential run with the same seed and configuration injects the same faults. An optional
//! budget bounds how many faults are injected in total.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Fault configuration; settable at start and at run time.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultConfig {
    /// Fixed latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Extra uniformly random latency in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Probability per HTTP status of answering with that error instead (e.g. 500, 429, 503).
    pub error_rates: BTreeMap<u16, f64>,
    /// While on, every API request gets 503 `system-maintenance`.
    pub maintenance: bool,
    /// Probability of hanging before answering.
    pub hang_rate: f64,
    /// How long a hang lasts (then the request is answered normally), in milliseconds.
    pub hang_ms: u64,
    /// Probability of cutting the response body in half.
    pub truncate_rate: f64,
    /// Probability of replacing the body with invalid JSON.
    pub garbage_rate: f64,
    /// Probability of closing the connection without any response.
    pub reset_rate: f64,
    /// Probability of applying a request and then closing the connection without its response.
    pub apply_then_reset_rate: f64,
    /// Probability of applying a request and then hanging `hang_ms` before answering.
    pub apply_then_hang_rate: f64,
    /// At most this many faults are injected (latency and maintenance don't count).
    pub max_faults: Option<u64>,
    /// Faults only apply to request paths starting with this prefix.
    pub path_prefix: Option<String>,
    /// A broken order change feed: every read answers the first page of all changes, whatever
    /// `from` and `page` ask for (a client that trusts the paginator reads it forever).
    pub frozen_order_feed: bool,
}

impl FaultConfig {
    /// Parses a `STATUS=RATE` or `KIND=RATE` command-line spec (kinds: reset, hang, truncate,
    /// garbage, apply-reset, apply-hang) and applies it.
    pub fn apply_spec(&mut self, spec: &str) -> Result<(), String> {
        let (key, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("fault \"{spec}\" is not KEY=RATE"))?;
        let rate: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("fault rate \"{value}\" is not a number"))?;
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("fault rate {rate} is outside 0..1"));
        }
        match key.trim() {
            "reset" => self.reset_rate = rate,
            "hang" => self.hang_rate = rate,
            "truncate" => self.truncate_rate = rate,
            "garbage" => self.garbage_rate = rate,
            "apply-reset" => self.apply_then_reset_rate = rate,
            "apply-hang" => self.apply_then_hang_rate = rate,
            status => {
                let code: u16 = status
                    .parse()
                    .map_err(|_| format!("fault kind \"{status}\" is unknown"))?;
                if !(400..=599).contains(&code) {
                    return Err(format!("fault status {code} is not an HTTP error status"));
                }
                self.error_rates.insert(code, rate);
            }
        }
        Ok(())
    }
}

/// How to damage a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Cut it in half.
    Truncate,
    /// Replace it with invalid JSON.
    Garbage,
}

/// What to do to one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    /// Delay before handling.
    pub delay: Duration,
    /// Close the connection without answering.
    pub reset: bool,
    /// Extra delay of a hang.
    pub hang: Option<Duration>,
    /// Answer with this status instead of handling.
    pub error: Option<u16>,
    /// Damage the body after handling.
    pub corrupt: Option<Corruption>,
    /// What happens to the response after the request was applied.
    pub after_apply: Option<AfterApply>,
}

/// A response lost after the request was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterApply {
    /// Close the connection without the response.
    Reset,
    /// Wait this long, then answer (past the client's timeout, typically).
    Hang(Duration),
}

/// The fault engine.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rng: StdRng,
    /// A separate stream for the lost-response faults, so that the draws of the others (and
    /// thus seeded runs made before these faults existed) stay the same.
    lost_rng: StdRng,
    injected: u64,
}

impl Faults {
    /// A fault engine seeded deterministically.
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        Self {
            config,
            rng: StdRng::seed_from_u64(seed ^ 0xFA17_FA17),
            lost_rng: StdRng::seed_from_u64(seed ^ 0x1057_1057),
            injected: 0,
        }
    }

    /// Current configuration.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Replaces the configuration and resets the budget.
    pub fn set_config(&mut self, config: FaultConfig) {
        self.config = config;
        self.injected = 0;
    }

    /// Switches the maintenance window without touching the rest or the budget.
    pub fn set_maintenance(&mut self, on: bool) {
        self.config.maintenance = on;
    }

    /// Faults injected since the configuration was last set.
    pub fn injected(&self) -> u64 {
        self.injected
    }

    fn budget_left(&self) -> bool {
        self.config.max_faults.is_none_or(|m| self.injected < m)
    }

    fn roll(&mut self, draw: f64, rate: f64) -> bool {
        if draw < rate && self.budget_left() {
            self.injected += 1;
            true
        } else {
            false
        }
    }

    /// Plans the faults of one request to `path`.
    pub fn plan(&mut self, path: &str) -> FaultPlan {
        // Draw a fixed set of values first so configuration changes don't shift the sequence.
        let jitter_draw: f64 = self.rng.r#gen();
        let reset_draw: f64 = self.rng.r#gen();
        let hang_draw: f64 = self.rng.r#gen();
        let error_draw: f64 = self.rng.r#gen();
        let corrupt_draw: f64 = self.rng.r#gen();
        let lost_draw: f64 = self.lost_rng.r#gen();
        let c = &self.config;
        let jitter = (jitter_draw * (c.jitter_ms as f64 + 1.0)).floor() as u64;
        let mut plan = FaultPlan {
            delay: Duration::from_millis(c.latency_ms + jitter.min(c.jitter_ms)),
            ..FaultPlan::default()
        };
        if c.path_prefix
            .as_ref()
            .is_some_and(|p| !path.starts_with(p.as_str()))
        {
            return plan;
        }
        if c.maintenance {
            plan.error = Some(503);
            return plan;
        }
        let (reset_rate, hang_rate, hang_ms) = (c.reset_rate, c.hang_rate, c.hang_ms);
        let (truncate_rate, garbage_rate) = (c.truncate_rate, c.garbage_rate);
        let (apply_reset_rate, apply_hang_rate) = (c.apply_then_reset_rate, c.apply_then_hang_rate);
        let rates: Vec<(u16, f64)> = c.error_rates.iter().map(|(k, v)| (*k, *v)).collect();
        if self.roll(reset_draw, reset_rate) {
            plan.reset = true;
            return plan;
        }
        if self.roll(hang_draw, hang_rate) {
            plan.hang = Some(Duration::from_millis(hang_ms.min(600_000)));
        }
        // Error statuses share one draw: cumulative ranges, in status order.
        let mut acc = 0.0;
        for (status, rate) in rates {
            let lo = acc;
            acc += rate;
            if error_draw >= lo && error_draw < acc {
                if self.budget_left() {
                    self.injected += 1;
                    plan.error = Some(status);
                }
                break;
            }
        }
        if plan.error.is_none() {
            if self.roll(lost_draw, apply_reset_rate) {
                plan.after_apply = Some(AfterApply::Reset);
            } else if lost_draw >= apply_reset_rate
                && self.roll(lost_draw - apply_reset_rate, apply_hang_rate)
            {
                plan.after_apply = Some(AfterApply::Hang(Duration::from_millis(
                    hang_ms.min(600_000),
                )));
            }
            if self.roll(corrupt_draw, truncate_rate) {
                plan.corrupt = Some(Corruption::Truncate);
            } else if corrupt_draw >= truncate_rate
                && self.roll(corrupt_draw - truncate_rate, garbage_rate)
            {
                plan.corrupt = Some(Corruption::Garbage);
            }
        }
        plan
    }
}

/// Applies a corruption to a body.
pub fn corrupt(body: &[u8], how: Corruption) -> Vec<u8> {
    match how {
        Corruption::Truncate => body.get(..body.len() / 2).unwrap_or_default().to_vec(),
        Corruption::Garbage => b"{\"data\": {\"orders\": [ NaN, \"errors\": ]".to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_faults() {
        let mut cfg = FaultConfig::default();
        cfg.apply_spec("500=0.3").unwrap();
        cfg.apply_spec("reset=0.1").unwrap();
        cfg.jitter_ms = 50;
        let mut a = Faults::new(cfg.clone(), 9);
        let mut b = Faults::new(cfg, 9);
        let pa: Vec<FaultPlan> = (0..200).map(|_| a.plan("/api/orders")).collect();
        let pb: Vec<FaultPlan> = (0..200).map(|_| b.plan("/api/orders")).collect();
        assert_eq!(pa, pb);
        let errors = pa.iter().filter(|p| p.error == Some(500)).count();
        assert!((30..90).contains(&errors), "about 30 % of 200: {errors}");
        assert!(pa.iter().any(|p| p.reset));
        assert!(pa.iter().all(|p| p.delay <= Duration::from_millis(50)));
    }

    #[test]
    fn budget_bounds_faults() {
        let cfg = FaultConfig {
            error_rates: BTreeMap::from([(503, 1.0)]),
            max_faults: Some(3),
            ..FaultConfig::default()
        };
        let mut f = Faults::new(cfg, 1);
        let plans: Vec<Option<u16>> = (0..10).map(|_| f.plan("/api/x").error).collect();
        assert_eq!(plans.iter().filter(|e| e.is_some()).count(), 3);
        assert_eq!(plans[..3], [Some(503); 3]);
    }

    #[test]
    fn maintenance_and_prefix() {
        let cfg = FaultConfig {
            maintenance: true,
            path_prefix: Some("/api/stocks".into()),
            ..FaultConfig::default()
        };
        let mut f = Faults::new(cfg, 1);
        assert_eq!(f.plan("/api/stocks/1/movements").error, Some(503));
        assert_eq!(f.plan("/api/orders").error, None);
    }

    #[test]
    fn specs_parse_and_reject() {
        let mut c = FaultConfig::default();
        assert!(c.apply_spec("429=0.5").is_ok());
        assert!(c.apply_spec("truncate=0.1").is_ok());
        assert!(c.apply_spec("200=0.1").is_err());
        assert!(c.apply_spec("500=2").is_err());
        assert!(c.apply_spec("bogus").is_err());
        assert_eq!(c.error_rates.get(&429), Some(&0.5));
    }

    #[test]
    fn lost_responses_are_planned_without_shifting_the_other_faults() {
        let mut plain = FaultConfig::default();
        plain.apply_spec("500=0.3").unwrap();
        let mut lost = plain.clone();
        lost.apply_spec("apply-reset=0.2").unwrap();
        lost.apply_spec("apply-hang=0.2").unwrap();
        lost.hang_ms = 70;
        let mut a = Faults::new(plain, 5);
        let mut b = Faults::new(lost, 5);
        let pa: Vec<FaultPlan> = (0..300).map(|_| a.plan("/api/x")).collect();
        let pb: Vec<FaultPlan> = (0..300).map(|_| b.plan("/api/x")).collect();
        let errors = |p: &[FaultPlan]| p.iter().map(|p| p.error).collect::<Vec<_>>();
        assert_eq!(errors(&pa), errors(&pb));
        assert!(pa.iter().all(|p| p.after_apply.is_none()));
        let resets = pb
            .iter()
            .filter(|p| p.after_apply == Some(AfterApply::Reset))
            .count();
        let hangs = pb
            .iter()
            .filter(|p| p.after_apply == Some(AfterApply::Hang(Duration::from_millis(70))))
            .count();
        assert!(resets > 20 && hangs > 20, "{resets} resets, {hangs} hangs");
        // Never together with an injected error: the request must have been applied.
        assert!(
            pb.iter()
                .all(|p| p.error.is_none() || p.after_apply.is_none())
        );
        let mut c = FaultConfig::default();
        c.apply_spec("apply-reset=0.5").unwrap();
        assert_eq!(c.apply_then_reset_rate, 0.5);
    }

    #[test]
    fn corruption_breaks_json() {
        let body = br#"{"data":{"a":1},"errors":null}"#;
        assert!(
            serde_json::from_slice::<serde_json::Value>(&corrupt(body, Corruption::Truncate))
                .is_err()
        );
        assert!(
            serde_json::from_slice::<serde_json::Value>(&corrupt(body, Corruption::Garbage))
                .is_err()
        );
    }
}
