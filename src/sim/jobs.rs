//! Asynchronous jobs in the simulator (reference §5.10, §8): `GET /api/orders/snapshot`
//! queues a job (202 `jobId`, refused with 403 without a `job:finished` webhook), the job
//! completes after a configurable run time and sends `job:finished`, its detail may be polled at
//! most 10 times while unfinished, and its result is a gzip JSON-lines file at a `resultUrl` on
//! the shop's own host that expires.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::http::{Params, Reply, Res, order_filter, page_of, paged};
use super::state::OrderFilter;
use super::wire::{self, OrderIncludes};
use super::{Shared, lock};

/// Polls of an unfinished job's detail allowed before 403.
pub const MAX_UNFINISHED_POLLS: u32 = 10;
/// A job that never finishes is marked failed this long after creation (without a webhook).
const FAIL_AFTER_HOURS: i64 = 3;

/// How queued jobs end (tests choose; Shoptet's own failures are rare but real).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobOutcome {
    /// Completes with a result file.
    #[default]
    Complete,
    /// Fails (a `job:finished` webhook is still sent).
    Fail,
    /// Never finishes; marked failed after 3 hours without a webhook.
    Never,
}

/// Job behaviour.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobConfig {
    /// Time from queueing to completion.
    pub run_ms: u64,
    /// How jobs end.
    pub outcome: JobOutcome,
    /// How long a result stays downloadable (simulated clock).
    pub result_ttl_secs: u64,
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            run_ms: 300,
            outcome: JobOutcome::Complete,
            result_ttl_secs: 3600,
        }
    }
}

/// A job as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// Id.
    pub job_id: String,
    /// Status (`pending`, `completed`, `failed`, `expired`).
    pub status: String,
    /// Detail polls counted while unfinished.
    pub polls: u32,
}

#[derive(Debug, Clone)]
struct Job {
    id: String,
    endpoint: String,
    creation: DateTime<Utc>,
    due: DateTime<Utc>,
    outcome: JobOutcome,
    completion: Option<DateTime<Utc>>,
    status: &'static str,
    result_name: Option<String>,
    valid_until: Option<DateTime<Utc>>,
    polls: u32,
    filter: OrderFilter,
    include: OrderIncludes,
    log: Option<String>,
}

impl Job {
    /// The status as the API reports it now (a completed job's result can expire).
    fn status_at(&self, now: DateTime<Utc>) -> &'static str {
        match self.valid_until {
            Some(until) if self.status == "completed" && now > until => "expired",
            _ => self.status,
        }
    }
}

/// Jobs and their result files.
pub(crate) struct JobBoard {
    jobs: BTreeMap<String, Job>,
    results: HashMap<String, (Vec<u8>, DateTime<Utc>)>,
    config: JobConfig,
    rng: StdRng,
}

impl JobBoard {
    pub(crate) fn new(seed: u64, config: JobConfig) -> Self {
        Self {
            jobs: BTreeMap::new(),
            results: HashMap::new(),
            config,
            rng: StdRng::seed_from_u64(seed ^ 0x0000_70B5),
        }
    }

    /// No job can still finish (nothing for the dispatcher to do).
    pub(crate) fn is_idle(&self) -> bool {
        !self
            .jobs
            .values()
            .any(|j| matches!(j.status, "pending" | "running"))
    }

    pub(crate) fn config(&self) -> JobConfig {
        self.config.clone()
    }

    pub(crate) fn set_config(&mut self, config: JobConfig) {
        self.config = config;
    }

    pub(crate) fn view(&self, id: &str, now: DateTime<Utc>) -> Option<JobView> {
        self.jobs.get(id).map(|j| JobView {
            job_id: j.id.clone(),
            status: j.status_at(now).to_string(),
            polls: j.polls,
        })
    }

    pub(crate) fn views(&self, now: DateTime<Utc>) -> Vec<JobView> {
        self.jobs
            .keys()
            .filter_map(|id| self.view(id, now))
            .collect()
    }

    fn token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..len)
            .map(|_| char::from(ALPHABET[self.rng.gen_range(0..ALPHABET.len())]))
            .collect()
    }
}

/// Completes due jobs (result built from the shop at completion time, `job:finished` sent) and
/// fails never-finishing ones after 3 hours (no webhook, as Shoptet does).
pub(crate) fn advance(sh: &Shared) {
    let now = sh.now();
    let due: Vec<(String, JobOutcome, OrderFilter, OrderIncludes)> = {
        let mut board = lock(&sh.jobs);
        let timeout = chrono::Duration::hours(FAIL_AFTER_HOURS);
        for job in board.jobs.values_mut() {
            if job.status == "pending" && job.outcome == JobOutcome::Never {
                if now >= job.due {
                    job.status = "running";
                }
            } else if job.status == "running" && now >= job.creation + timeout {
                job.status = "failed";
                job.completion = Some(now);
                job.log = Some("The job did not finish in time.".into());
            }
        }
        board.results.retain(|_, (_, until)| *until >= now);
        board
            .jobs
            .values()
            .filter(|j| j.status == "pending" && j.outcome != JobOutcome::Never && now >= j.due)
            .map(|j| (j.id.clone(), j.outcome, j.filter.clone(), j.include))
            .collect()
    };
    for (id, outcome, filter, include) in due {
        let result = match outcome {
            JobOutcome::Complete => Some(snapshot_file(sh, &filter, include)),
            _ => None,
        };
        let mut board = lock(&sh.jobs);
        let ttl = chrono::Duration::seconds(
            i64::try_from(board.config.result_ttl_secs).unwrap_or(i64::MAX / 2_000_000),
        );
        let name = format!("{id}-{}.json", board.token(6));
        let Some(job) = board.jobs.get_mut(&id) else {
            continue;
        };
        job.completion = Some(now);
        match result {
            Some(Ok(bytes)) => {
                job.status = "completed";
                job.result_name = Some(name.clone());
                job.valid_until = Some(now + ttl);
                board.results.insert(name, (bytes, now + ttl));
            }
            Some(Err(e)) => {
                job.status = "failed";
                job.log = Some(format!("Export failed: {e}"));
            }
            None => {
                job.status = "failed";
                job.log = Some("Export failed.".into());
            }
        }
        drop(board);
        sh.shop().emit("job:finished", &id, now);
    }
}

/// One order per line in the detail shape, gzip-compressed.
fn snapshot_file(
    sh: &Shared,
    filter: &OrderFilter,
    include: OrderIncludes,
) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let shop = sh.shop();
        for order in shop.filter_orders(filter) {
            let line = serde_json::to_vec(&wire::order_detail(&shop, order, include))?;
            gz.write_all(&line)?;
            gz.write_all(b"\n")?;
        }
    }
    gz.finish()
}

/// The job routes (wrapped in the API pipeline by [`super::http::router`]).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/orders/snapshot", get(order_snapshot))
        .route("/api/system/jobs", get(list_jobs))
        .route("/api/system/jobs/{id}", get(job_detail))
        .route("/api-results/{name}", get(download))
}

async fn order_snapshot(
    State(sh): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Res {
    let p = Params(q);
    let filter = order_filter(&p)?;
    let include = OrderIncludes::parse(p.get("include"));
    if !lock(&sh.webhooks).has("job:finished") {
        // The real error code is unconfirmed; the status (403, nothing queued) is documented.
        return Err(Reply::error(
            StatusCode::FORBIDDEN,
            "job-finished-webhook-missing",
            "Asynchronous requests need a registered job:finished webhook.",
            "job:finished",
        ));
    }
    let now = sh.now();
    let mut board = lock(&sh.jobs);
    let id = board.token(7);
    let outcome = board.config.outcome;
    let run = chrono::Duration::milliseconds(i64::try_from(board.config.run_ms).unwrap_or(0));
    board.jobs.insert(
        id.clone(),
        Job {
            id: id.clone(),
            endpoint: "/api/orders/snapshot".into(),
            creation: now,
            due: now + run,
            outcome,
            completion: None,
            status: "pending",
            result_name: None,
            valid_until: None,
            polls: 0,
            filter,
            include,
            log: None,
        },
    );
    Ok(Reply::ok(json!({ "jobId": id })).with_status(StatusCode::ACCEPTED))
}

fn job_json(base_url: &str, j: &Job, now: DateTime<Utc>) -> Value {
    let duration = j.completion.map(|c| {
        let ms = (c - j.creation).num_milliseconds().max(0);
        format!("{}.{:03}", ms / 1000, ms % 1000)
    });
    json!({
        "jobId": j.id,
        "endpoint": j.endpoint,
        "creationTime": wire::fmt_time(j.creation),
        "completionTime": j.completion.map(wire::fmt_time),
        "duration": duration,
        "status": j.status_at(now),
        "resultUrl": j.result_name.as_ref().map(|n| format!("{base_url}/api-results/{n}")),
        "validUntil": j.valid_until.map(wire::fmt_time),
        "log": j.log,
        "language": "cs",
    })
}

async fn job_detail(State(sh): State<Arc<Shared>>, Path(id): Path<String>) -> Res {
    let now = sh.now();
    let mut board = lock(&sh.jobs);
    let job = board.jobs.get_mut(&id).ok_or_else(|| {
        Reply::error(
            StatusCode::NOT_FOUND,
            "job-not-found",
            format!("Job \"{id}\" not found."),
            id.clone(),
        )
    })?;
    if matches!(job.status, "pending" | "running") {
        job.polls += 1;
        if job.polls > MAX_UNFINISHED_POLLS {
            return Err(Reply::error(
                StatusCode::FORBIDDEN,
                "job-detail-try-counter-exceeded-limit",
                "Job detail was requested too many times before the job finished.",
                id.clone(),
            ));
        }
    }
    Ok(Reply::ok(
        json!({ "job": job_json(&sh.base_url, job, now) }),
    ))
}

async fn list_jobs(State(sh): State<Arc<Shared>>, Query(q): Query<Vec<(String, String)>>) -> Res {
    let p = Params(q);
    let (page, per) = p.paging(100, 500)?;
    let status = p.get("status").map(str::to_string);
    let from = p.time("creationTimeFrom")?;
    let now = sh.now();
    let board = lock(&sh.jobs);
    let all: Vec<Value> = board
        .jobs
        .values()
        .filter(|j| status.as_deref().is_none_or(|s| s == j.status_at(now)))
        .filter(|j| from.is_none_or(|f| j.creation >= f))
        .map(|j| job_json(&sh.base_url, j, now))
        .collect();
    let rows = page_of(&all, page, per)?;
    Ok(Reply::ok(paged("jobs", rows, all.len(), page, per)))
}

/// A result file: no authentication (as the official SDK downloads it), 404 once expired.
async fn download(State(sh): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let now = sh.now();
    let bytes = lock(&sh.jobs)
        .results
        .get(&name)
        .filter(|(_, until)| *until >= now)
        .map(|(b, _)| b.clone());
    match bytes {
        Some(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        None => Reply::error(
            StatusCode::NOT_FOUND,
            "file-not-found",
            format!("File \"{name}\" not found."),
            name,
        )
        .into_response(),
    }
}
