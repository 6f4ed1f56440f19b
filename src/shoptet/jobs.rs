//! Asynchronous jobs (reference §5.10, §8): `GET /api/orders/snapshot` queues an export, the
//! job detail says when it is done, and the result (gzip JSON Lines, one order detail per line)
//! is downloaded from the shop's own host without the token, streamed and size-capped.

use std::io::{BufRead, BufReader, Read};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ShoptetError;
use super::api::OrderFilter;
use super::client::{Call, ShoptetClient, validate_base_url};
use super::model::OrderDetail;
use super::time::{de_opt_datetime, format_datetime};

/// The gzip magic bytes (the result's name says `.json`; its content decides).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A job's state (`data.job`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDetail {
    /// Id.
    pub job_id: String,
    /// `pending`, `running`, `completed`, `failed`, `expired`, `killed`.
    pub status: String,
    /// Where the result can be downloaded (completed jobs).
    #[serde(default)]
    pub result_url: Option<String>,
    /// Until when the result can be downloaded.
    #[serde(default, deserialize_with = "de_opt_datetime")]
    pub valid_until: Option<DateTime<Utc>>,
    /// Shoptet's log text of a failed job.
    #[serde(default)]
    pub log: Option<String>,
}

impl JobDetail {
    /// The job ended (successfully or not): polling again changes nothing.
    pub fn is_finished(&self) -> bool {
        !matches!(self.status.as_str(), "pending" | "running")
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueuedData {
    job_id: String,
}

#[derive(Deserialize)]
struct JobData {
    job: JobDetail,
}

/// Decodes a snapshot result: gzip (sniffed by its magic bytes) or plain JSON Lines, one order
/// detail per line; `max_bytes` caps the decompressed size. A bad line names its number.
pub fn decode_order_lines(raw: &[u8], max_bytes: usize) -> Result<Vec<OrderDetail>, ShoptetError> {
    let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    let reader: Box<dyn Read + '_> = if raw.starts_with(&GZIP_MAGIC) {
        Box::new(flate2::read::GzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    // One byte over the cap tells "too large" apart from "exactly at the cap".
    let mut limited = BufReader::new(reader.take(cap.saturating_add(1)));
    let mut orders = Vec::new();
    let mut read_total: u64 = 0;
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = limited
            .read_until(b'\n', &mut line)
            .map_err(|e| ShoptetError::invalid(format!("snapshot result: {e}")))?;
        if n == 0 {
            break;
        }
        number += 1;
        read_total += u64::try_from(n).unwrap_or(u64::MAX);
        if read_total > cap {
            return Err(ShoptetError::invalid(format!(
                "snapshot result exceeds the {max_bytes}-byte limit"
            )));
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let order: OrderDetail = serde_json::from_slice(text)
            .map_err(|e| ShoptetError::invalid(format!("snapshot result line {number}: {e}")))?;
        orders.push(order);
    }
    Ok(orders)
}

fn host_of(url: &str) -> Option<(String, Option<u16>)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some((
        parsed.host_str()?.to_ascii_lowercase(),
        parsed.port_or_known_default(),
    ))
}

impl ShoptetClient {
    /// `GET /api/orders/snapshot` with the list filters and `include=notes,shippingDetails`:
    /// queues an export and returns its job id (HTTP 202). Shoptet refuses it with 403 when no
    /// `job:finished` webhook is registered.
    pub async fn request_order_snapshot(
        &self,
        filter: &OrderFilter,
    ) -> Result<String, ShoptetError> {
        let mut call = Call::get("order_snapshot", "/api/orders/snapshot".to_owned())
            .query("include", "notes,shippingDetails");
        let times = [
            ("changeTimeFrom", filter.change_time_from),
            ("changeTimeTo", filter.change_time_to),
            ("creationTimeFrom", filter.creation_time_from),
            ("creationTimeTo", filter.creation_time_to),
        ];
        for (key, value) in times {
            if let Some(value) = value {
                call = call.query(key, format_datetime(value));
            }
        }
        if let Some(status_id) = filter.status_id {
            call = call.query("statusId", status_id.to_string());
        }
        let data: QueuedData = self.get_data(call, "data.jobId").await?;
        if data.job_id.is_empty() {
            return Err(ShoptetError::invalid("data.jobId is empty"));
        }
        Ok(data.job_id)
    }

    /// `GET /api/system/jobs/{id}`. Shoptet allows at most 10 polls of an unfinished job
    /// (then 403 `job-detail-try-counter-exceeded-limit`): poll sparingly.
    pub async fn job_detail(&self, job_id: &str) -> Result<JobDetail, ShoptetError> {
        let call = Call::get(
            "job_detail",
            format!("/api/system/jobs/{}", super::client::segment(job_id)),
        );
        let data: JobData = self.get_data(call, "data.job").await?;
        Ok(data.job)
    }

    /// Downloads a job result and decodes its orders. Only from the API's own host or the
    /// shop's (`eshop_url`), https (plain http only on loopback), without any token header,
    /// streamed chunk by chunk with `max_bytes` as the cap of both the download and its
    /// decompressed content.
    pub async fn download_order_snapshot(
        &self,
        result_url: &str,
        max_bytes: usize,
    ) -> Result<Vec<OrderDetail>, ShoptetError> {
        let checked = validate_base_url(result_url, "resultUrl")
            .map_err(|e| ShoptetError::invalid(e.to_string()))?;
        let target =
            host_of(&checked).ok_or_else(|| ShoptetError::invalid("resultUrl has no host"))?;
        let own_hosts: Vec<(String, Option<u16>)> = std::iter::once(self.base_url().to_owned())
            .chain(self.config().eshop_url.clone())
            .filter_map(|u| host_of(&u))
            .collect();
        if !own_hosts.contains(&target) {
            return Err(ShoptetError::invalid(format!(
                "resultUrl points to {}, not to the shop's own host; refused",
                target.0
            )));
        }
        let response =
            self.http()
                .get(&checked)
                .send()
                .await
                .map_err(|e| ShoptetError::Unavailable {
                    status: None,
                    reason: format!("result download failed: {e}"),
                    attempts: 1,
                    request_id: None,
                })?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(ShoptetError::NotFound {
                error_code: "file-not-found".into(),
                message: format!("result download answered HTTP {status}"),
                request_id: None,
            });
        }
        let raw = super::client::read_body_capped(response, max_bytes)
            .await
            .map_err(|e| match e {
                super::client::BodyError::TooLarge => ShoptetError::invalid(format!(
                    "snapshot result exceeds the {max_bytes}-byte limit"
                )),
                super::client::BodyError::Transport(err) => ShoptetError::Unavailable {
                    status: None,
                    reason: format!("result download failed: {err}"),
                    attempts: 1,
                    request_id: None,
                },
            })?;
        decode_order_lines(&raw, max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn gzip_is_sniffed_and_caps_apply_after_decompression() {
        let plain = b"\n\n";
        assert!(decode_order_lines(plain, 100).unwrap().is_empty());
        assert!(decode_order_lines(&gzip(plain), 100).unwrap().is_empty());
        let big = vec![b'\n'; 10_000];
        let compressed = gzip(&big);
        assert!(compressed.len() < 1_000);
        assert!(decode_order_lines(&compressed, 1_000).is_err());
        assert!(decode_order_lines(&compressed, 10_000).is_ok());
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = decode_order_lines(b"\n{not json}\n", 1000).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
