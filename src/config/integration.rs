//! `[[integration]]` declarations: integrations created or updated at start, with tokens read
//! from files (typically systemd credentials under `$CREDENTIALS_DIRECTORY`).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::locate::KeyPath;
use super::{DEFAULT_API_BASE_URL, Issue, LoadEnv, SyncDefaults, issue};
use crate::domain::{
    Credentials, Integration, IntegrationId, IntegrationStatus, Secret, StatusMapping,
};
use crate::shoptet::ShoptetError;
use crate::shoptet::client::validate_base_url;

/// Token files larger than this are certainly not a token.
const MAX_TOKEN_BYTES: u64 = 16 * 1024;

/// Which kind of token a declaration's file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// A Premium shop's private API token.
    #[default]
    Private,
    /// An addon's OAuth access token (used to mint 30-minute API tokens).
    Addon,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntegration {
    pub(super) name: String,
    eshop_url: String,
    #[serde(default)]
    api_base_url: Option<String>,
    #[serde(default)]
    token_kind: TokenKind,
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default)]
    credential: Option<String>,
    #[serde(default)]
    interval_minutes: Option<u32>,
    warehouse_code: String,
    #[serde(default = "default_stock_id")]
    stock_id: i64,
    #[serde(default)]
    status_mapping: Option<RawStatusMapping>,
    #[serde(default)]
    low_stock_threshold: Option<Decimal>,
    #[serde(default = "yes")]
    auto_order_import: bool,
    #[serde(default = "yes")]
    auto_inventory_sync: bool,
    #[serde(default = "yes")]
    auto_status_update: bool,
    #[serde(default)]
    activate: bool,
}

fn default_stock_id() -> i64 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatusMapping {
    processing: i64,
    shipped: i64,
    cancelled: i64,
}

/// A validated `[[integration]]` with its token already read.
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredIntegration {
    /// Unique name; an existing integration with this name is updated.
    pub name: String,
    /// The e-shop's URL.
    pub eshop_url: String,
    /// The API base URL.
    pub api_base_url: String,
    /// The token, if `token_file` or `credential` was given. Debug output hides it.
    pub credentials: Option<Credentials>,
    /// Minutes between syncs, 1..=1440.
    pub sync_interval_minutes: u32,
    /// Warehouse whose stock this shop sells.
    pub default_warehouse_code: String,
    /// The shop's stock id that receives our movements.
    pub shoptet_stock_id: i64,
    /// Our statuses mapped to the shop's status ids.
    pub status_mapping: StatusMapping,
    /// Stock at or below this is "low".
    pub low_stock_threshold: Decimal,
    /// Import orders on schedule.
    pub auto_order_import: bool,
    /// Push stock on schedule and on changes.
    pub auto_inventory_sync: bool,
    /// Push status changes back to the shop.
    pub auto_status_update: bool,
    /// Activate the integration at start (requires credentials). When false a new integration
    /// is created inactive and an existing one keeps its status.
    pub activate: bool,
}

impl DeclaredIntegration {
    /// A new, inactive integration from this declaration; the daemon then activates it through
    /// the normal domain path when `activate` is set.
    pub fn to_new_integration(&self, id: IntegrationId, now: DateTime<Utc>) -> Integration {
        Integration {
            id,
            name: self.name.clone(),
            eshop_url: self.eshop_url.clone(),
            api_base_url: self.api_base_url.clone(),
            credentials: self.credentials.clone(),
            status: IntegrationStatus::Inactive,
            status_reason: None,
            last_sync: None,
            last_order_sync: None,
            last_inventory_sync: None,
            auto_order_import: self.auto_order_import,
            auto_inventory_sync: self.auto_inventory_sync,
            auto_status_update: self.auto_status_update,
            sync_interval_minutes: self.sync_interval_minutes,
            default_warehouse_code: self.default_warehouse_code.clone(),
            shoptet_stock_id: self.shoptet_stock_id,
            status_mapping: self.status_mapping,
            low_stock_threshold: self.low_stock_threshold,
            created_at: now,
            updated_at: now,
        }
    }

    /// `existing` with the declared settings applied; history, status and id are kept, and the
    /// credentials only replaced when the declaration carries a token. `None` when nothing
    /// changes (so a restart does not rewrite the store).
    pub fn apply_to(&self, existing: &Integration, now: DateTime<Utc>) -> Option<Integration> {
        let mut updated = existing.clone();
        updated.eshop_url = self.eshop_url.clone();
        updated.api_base_url = self.api_base_url.clone();
        if let Some(credentials) = &self.credentials {
            updated.credentials = Some(credentials.clone());
        }
        updated.auto_order_import = self.auto_order_import;
        updated.auto_inventory_sync = self.auto_inventory_sync;
        updated.auto_status_update = self.auto_status_update;
        updated.sync_interval_minutes = self.sync_interval_minutes;
        updated.default_warehouse_code = self.default_warehouse_code.clone();
        updated.shoptet_stock_id = self.shoptet_stock_id;
        updated.status_mapping = self.status_mapping;
        updated.low_stock_threshold = self.low_stock_threshold;
        if &updated == existing {
            return None;
        }
        updated.updated_at = now;
        Some(updated)
    }
}

fn check_url(at: &KeyPath, value: &str) -> Result<(), Issue> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => {}
        _ => return Err(issue(at.clone(), "must be an http:// or https:// URL")),
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(issue(
            at.clone(),
            "must not contain spaces or control characters",
        ));
    }
    // The client's own rule (https anywhere, plain http only to loopback, no embedded
    // credentials), applied now so a bad URL fails the load, not the first sync.
    validate_base_url(value, "the URL").map_err(|error| {
        let reason = match error {
            ShoptetError::Config(reason) => reason,
            other => other.to_string(),
        };
        issue(at.clone(), reason)
    })?;
    Ok(())
}

pub(super) fn resolve(
    raw: RawIntegration,
    at: &KeyPath,
    defaults: &SyncDefaults,
    base_dir: &Path,
    env: &LoadEnv,
    warnings: &mut Vec<String>,
) -> Result<DeclaredIntegration, Issue> {
    let name = raw.name.trim();
    if name.is_empty()
        || name.len() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(issue(
            at.key("name"),
            "must be 1 to 64 characters without spaces",
        ));
    }
    check_url(&at.key("eshop_url"), &raw.eshop_url)?;
    let api_base_url = raw
        .api_base_url
        .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned());
    check_url(&at.key("api_base_url"), &api_base_url)?;

    let interval = raw.interval_minutes.unwrap_or(defaults.interval_minutes);
    if !(1..=1440).contains(&interval) {
        return Err(issue(
            at.key("interval_minutes"),
            format!("{interval} is out of range; expected 1 to 1440"),
        ));
    }
    let warehouse_code = raw.warehouse_code.trim();
    if warehouse_code.is_empty() {
        return Err(issue(at.key("warehouse_code"), "must not be empty"));
    }
    if raw.stock_id < 1 {
        return Err(issue(at.key("stock_id"), "must be a positive stock id"));
    }
    // The same default as an integration created with the ctl (the domain's).
    let low_stock_threshold = raw
        .low_stock_threshold
        .unwrap_or(crate::domain::integration::DEFAULT_LOW_STOCK_THRESHOLD);
    if low_stock_threshold.is_sign_negative() {
        return Err(issue(at.key("low_stock_threshold"), "must not be negative"));
    }

    let token_path = match (&raw.token_file, &raw.credential) {
        (Some(_), Some(_)) => {
            return Err(issue(
                at.key("credential"),
                "give either `token_file` or `credential`, not both",
            ));
        }
        (Some(file), None) => Some((at.key("token_file"), base_dir.join(file))),
        (None, Some(credential)) => {
            let key = at.key("credential");
            if credential.is_empty()
                || credential.contains('/')
                || credential == "."
                || credential == ".."
            {
                return Err(issue(key, "must be a plain credential name (no `/`)"));
            }
            let Some(dir) = &env.credentials_directory else {
                return Err(issue(
                    key,
                    format!(
                        "credential `{credential}` needs $CREDENTIALS_DIRECTORY, which is not set \
                         (add `LoadCredential={credential}:/path/to/token` to the unit)"
                    ),
                ));
            };
            Some((key, dir.join(credential)))
        }
        (None, None) => None,
    };
    let credentials = match token_path {
        None => None,
        Some((key, path)) => {
            let secret = read_token(&key, &path, warnings)?;
            Some(match raw.token_kind {
                TokenKind::Private => Credentials::PrivateToken(secret),
                TokenKind::Addon => Credentials::AddonOAuth(secret),
            })
        }
    };
    if raw.activate && credentials.is_none() {
        return Err(issue(
            at.key("activate"),
            "an integration can only be activated with a token (`token_file` or `credential`)",
        ));
    }

    let status_mapping =
        raw.status_mapping
            .map_or_else(StatusMapping::default, |m| StatusMapping {
                processing: m.processing,
                shipped: m.shipped,
                cancelled: m.cancelled,
            });

    Ok(DeclaredIntegration {
        name: name.to_owned(),
        eshop_url: raw.eshop_url,
        api_base_url,
        credentials,
        sync_interval_minutes: interval,
        default_warehouse_code: warehouse_code.to_owned(),
        shoptet_stock_id: raw.stock_id,
        status_mapping,
        low_stock_threshold,
        auto_order_import: raw.auto_order_import,
        auto_inventory_sync: raw.auto_inventory_sync,
        auto_status_update: raw.auto_status_update,
        activate: raw.activate,
    })
}

/// Reads one token: trimmed, non-empty, one line of printable characters. Messages name the
/// file, never its contents.
fn read_token(key: &KeyPath, path: &Path, warnings: &mut Vec<String>) -> Result<Secret, Issue> {
    let shown = path.display();
    // Checked before opening: opening a FIFO blocks until a writer appears, which would hang
    // the start or a reload.
    let kind = std::fs::metadata(path)
        .map_err(|e| issue(key.clone(), format!("cannot open token file {shown}: {e}")))?;
    if !kind.is_file() {
        return Err(issue(
            key.clone(),
            format!("token file {shown} is not a regular file"),
        ));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| issue(key.clone(), format!("cannot open token file {shown}: {e}")))?;
    let meta = file.metadata().map_err(|e| {
        issue(
            key.clone(),
            format!("cannot inspect token file {shown}: {e}"),
        )
    })?;
    if !meta.is_file() {
        return Err(issue(
            key.clone(),
            format!("token file {shown} is not a regular file"),
        ));
    }
    if meta.permissions().mode() & 0o004 != 0 {
        warnings.push(format!(
            "token file {shown} (key `{key}`) is readable by every local user; \
             restrict it with `chmod o-r` or use systemd LoadCredential="
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| issue(key.clone(), format!("cannot read token file {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_TOKEN_BYTES {
        return Err(issue(
            key.clone(),
            format!("token file {shown} is larger than {MAX_TOKEN_BYTES} bytes"),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| issue(key.clone(), format!("token file {shown} is not UTF-8 text")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(issue(key.clone(), format!("token file {shown} is empty")));
    }
    if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(issue(
            key.clone(),
            format!("token file {shown} must hold one token on one line, without spaces"),
        ));
    }
    Ok(Secret::new(token))
}
