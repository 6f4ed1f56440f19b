//! The wire protocol: newline-delimited JSON envelopes, every request and response type, error codes.
//!
//! One request per line, one response line per request, in order. Requests are
//! `{"v":1,"id":…,"op":"…","args":{…}}`: [`Request`] is adjacently tagged (`op` + `args`), so an
//! operation's arguments are always one JSON object. Responses are
//! `{"v":1,"id":…,"ok":true,"result":{"type":"…","data":…}}` or
//! `{"v":1,"id":…,"ok":false,"error":{"code":"…","message":"…"}}`. docs/protocol.md is the
//! reference for integrators; the types here are the single definition both sides use.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// Domain types the protocol carries as they are; re-exported so clients need only this module.
// `ConflictResolution` is snake_case on the wire (`accept_shop` / `keep_ours`).
pub use crate::domain::{
    ConflictResolution, FulfillmentGrade, FulfillmentReport, HealthReport, InventoryReport,
};
use crate::domain::{
    Credentials, DomainError, ErrorLog, ErrorSeverity, HealthStatus, Integration, IntegrationId,
    IntegrationStatus, Money, Order, OrderStatus, OutboxEntry, OutboxState, PriceChange, Product,
    Secret, StatusMapping, StockLevel, SyncLog, SyncStatus, SyncType,
};

/// The protocol version this build speaks; requests with another `v` are refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default page size of paged lists.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Most rows one `stock.bulk_set` request may carry; larger imports are chunked by the client.
pub const MAX_BULK_ITEMS: usize = 10_000;
/// Longest sync history a client may ask for, in days.
pub const MAX_HISTORY_DAYS: u32 = 3660;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Stable, machine-readable error classes. Their snake_case names are part of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The named integration, order, product, error or outbox entry does not exist.
    NotFound,
    /// The request is malformed or an argument is invalid.
    InvalidArgument,
    /// The request conflicts with the current state (duplicate name, wrong order status, …).
    Conflict,
    /// The caller may not use the socket, or may not change state.
    Unauthorized,
    /// The daemon or the shop cannot serve the request now (shutting down, shop unreachable).
    Unavailable,
    /// The daemon is overloaded or the operation did not finish in time; retry later.
    Busy,
    /// A bug or an unexpected failure inside the daemon.
    Internal,
}

impl ErrorCode {
    /// The wire name, e.g. `not_found`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::InvalidArgument => "invalid_argument",
            Self::Conflict => "conflict",
            Self::Unauthorized => "unauthorized",
            Self::Unavailable => "unavailable",
            Self::Busy => "busy",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: a stable code plus a message a person can act on.
/// Messages must never contain a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    pub code: ErrorCode,
    pub message: String,
}

impl ControlError {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
    /// `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// `invalid_argument`.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }
    /// `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    /// `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    /// `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    /// `busy`.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Busy, message)
    }
    /// `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

/// Broken business rules map to `invalid_argument` (bad input) or `conflict` (wrong state).
impl From<DomainError> for ControlError {
    fn from(error: DomainError) -> Self {
        let code = match error {
            DomainError::InvalidState(_)
            | DomainError::MissingCredentials { .. }
            | DomainError::OrderTransition { .. }
            | DomainError::NoConflict { .. }
            | DomainError::AlreadyResolved { .. } => ErrorCode::Conflict,
            DomainError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
        };
        Self::new(code, error.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------

/// A client-chosen request id, echoed in the response: an unsigned integer or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Number(u64),
    Text(String),
}

impl From<u64> for RequestId {
    fn from(value: u64) -> Self {
        Self::Number(value)
    }
}

impl From<&str> for RequestId {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

/// One request line: `{"v":1,"id":…,"op":"…","args":{…}}`.
///
/// The daemon parses lines with [`parse_request_line`] (staged, so that errors name the problem
/// and still echo the id); this type's `Serialize` is what clients send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestEnvelope {
    pub v: u32,
    pub id: RequestId,
    #[serde(flatten)]
    pub request: Request,
}

impl RequestEnvelope {
    /// An envelope of the current protocol version.
    pub fn new(id: impl Into<RequestId>, request: Request) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id: id.into(),
            request,
        }
    }
}

/// The error half of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// One response line. `id` is `null` only when the request line had no readable id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    pub v: u32,
    pub id: Option<RequestId>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Response>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl ResponseEnvelope {
    /// A successful response.
    pub fn success(id: Option<RequestId>, result: Response) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            ok: true,
            result: Some(result),
            error: None,
        }
    }
    /// A refusal.
    pub fn failure(id: Option<RequestId>, error: ControlError) -> Self {
        Self {
            v: PROTOCOL_VERSION,
            id,
            ok: false,
            result: None,
            error: Some(ErrorBody {
                code: error.code,
                message: error.message,
            }),
        }
    }
    /// The result, or the refusal as a [`ControlError`].
    pub fn into_result(self) -> Result<Response, ControlError> {
        match (self.ok, self.result, self.error) {
            (true, Some(result), _) => Ok(result),
            (false, _, Some(error)) => Err(ControlError::new(error.code, error.message)),
            (true, None, _) => Err(ControlError::internal(
                "malformed response: ok without a result",
            )),
            (false, _, None) => Err(ControlError::internal(
                "malformed response: failure without an error",
            )),
        }
    }
}

/// A request line that could not be turned into a [`Request`]; `id` is echoed when it was readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLineError {
    pub id: Option<RequestId>,
    pub error: ControlError,
}

/// Parses one request line (without its newline) in stages so that each problem gets a precise
/// `invalid_argument` message: not JSON, not an object, bad id, wrong version, unknown op, bad args.
pub fn parse_request_line(line: &[u8]) -> Result<RequestEnvelope, RequestLineError> {
    let fail = |id: Option<RequestId>, message: String| RequestLineError {
        id,
        error: ControlError::invalid_argument(message),
    };
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|e| fail(None, format!("malformed JSON request: {e}")))?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(fail(None, "a request must be a JSON object".to_owned()));
    };
    let id = match object.remove("id") {
        None => return Err(fail(None, "the request has no `id` field".to_owned())),
        Some(raw) => serde_json::from_value::<RequestId>(raw).map_err(|_| {
            fail(
                None,
                "the request `id` must be a string or an unsigned integer".to_owned(),
            )
        })?,
    };
    let request_id = id;
    let id = Some(request_id.clone());
    match object.remove("v") {
        None => {
            return Err(fail(
                id,
                format!(
                    "the request has no protocol version field `v` (this daemon speaks v{PROTOCOL_VERSION})"
                ),
            ));
        }
        Some(v) if v.as_u64() == Some(u64::from(PROTOCOL_VERSION)) => {}
        Some(v) => {
            return Err(fail(
                id,
                format!(
                    "unsupported protocol version {v}; this daemon speaks v{PROTOCOL_VERSION}, upgrade the client or the daemon"
                ),
            ));
        }
    }
    let op = match object.remove("op") {
        Some(serde_json::Value::String(op)) => op,
        Some(_) => return Err(fail(id, "the request `op` must be a string".to_owned())),
        None => return Err(fail(id, "the request has no `op` field".to_owned())),
    };
    if !Request::OP_NAMES.contains(&op.as_str()) {
        return Err(fail(
            id,
            format!("unknown operation `{op}` (see docs/protocol.md for the list)"),
        ));
    }
    let args = match object.remove("args") {
        None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        Some(args @ serde_json::Value::Object(_)) => args,
        Some(_) => return Err(fail(id, format!("the `args` of `{op}` must be an object"))),
    };
    if let Some(extra) = object.keys().next() {
        return Err(fail(id, format!("unknown envelope field `{extra}`")));
    }
    let request = match decode_request(&op, args.clone()) {
        Ok(request) => request,
        Err(error) => return Err(fail(id, describe_args_error(&op, args, &error))),
    };
    request
        .validate()
        .map_err(|error| RequestLineError { id, error })?;
    Ok(RequestEnvelope {
        v: PROTOCOL_VERSION,
        id: request_id,
        request,
    })
}

fn decode_request(op: &str, args: serde_json::Value) -> Result<Request, serde_json::Error> {
    let mut tagged = serde_json::Map::new();
    tagged.insert("op".to_owned(), serde_json::Value::String(op.to_owned()));
    tagged.insert("args".to_owned(), args);
    serde_json::from_value::<Request>(serde_json::Value::Object(tagged))
}

/// The shape `credentials` must have, for refusals that cannot quote what was sent.
const CREDENTIALS_SHAPE: &str =
    r#"{"kind": "private_token" | "addon_oauth", "token": "…"} (the token as a JSON string)"#;

/// The refusal text for arguments that do not decode. serde's message may quote the offending
/// value, so when the arguments carry `credentials` (whose token must never be echoed or logged)
/// the credentials are decoded apart: a problem inside them gets a fixed message, a problem
/// elsewhere gets serde's message for the arguments without the credentials.
fn describe_args_error(op: &str, args: serde_json::Value, error: &serde_json::Error) -> String {
    let serde_json::Value::Object(mut without) = args else {
        return format!("invalid arguments for `{op}`: {error}");
    };
    if without.remove("credentials").is_none() {
        return format!("invalid arguments for `{op}`: {error}");
    }
    match decode_request(op, serde_json::Value::Object(without)) {
        // Valid without them (or missing only them): the credentials are what is wrong.
        Ok(_) => format!("invalid `credentials` for `{op}`: expected {CREDENTIALS_SHAPE}"),
        Err(other) if other.to_string().contains("missing field `credentials`") => {
            format!("invalid `credentials` for `{op}`: expected {CREDENTIALS_SHAPE}")
        }
        Err(other) => format!("invalid arguments for `{op}`: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// Which kind of credentials, as shown in responses (the secret itself is never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialsKind {
    /// A Premium shop's private API token.
    PrivateToken,
    /// An addon OAuth access token.
    AddonOauth,
}

impl CredentialsKind {
    /// The kind of stored credentials.
    pub fn of(credentials: &Credentials) -> Self {
        match credentials {
            Credentials::PrivateToken(_) => Self::PrivateToken,
            Credentials::AddonOAuth(_) => Self::AddonOauth,
        }
    }
}

/// Credentials as sent by a client: write-only, never echoed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    pub kind: CredentialsKind,
    pub token: Secret,
}

impl From<CredentialsInput> for Credentials {
    fn from(input: CredentialsInput) -> Self {
        match input.kind {
            CredentialsKind::PrivateToken => Credentials::PrivateToken(input.token),
            CredentialsKind::AddonOauth => Credentials::AddonOAuth(input.token),
        }
    }
}

/// Arguments of `integration.create`. Omitted options take the daemon's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIntegration {
    /// Unique name, used to address the integration from now on.
    pub name: String,
    /// The e-shop's own URL.
    pub eshop_url: String,
    /// API base URL; defaults to the public Shoptet API.
    #[serde(default)]
    pub api_base_url: Option<String>,
    #[serde(default)]
    pub credentials: Option<CredentialsInput>,
    #[serde(default)]
    pub default_warehouse_code: Option<String>,
    #[serde(default)]
    pub shoptet_stock_id: Option<i64>,
    #[serde(default)]
    pub sync_interval_minutes: Option<u32>,
    #[serde(default)]
    pub auto_order_import: Option<bool>,
    #[serde(default)]
    pub auto_inventory_sync: Option<bool>,
    #[serde(default)]
    pub auto_status_update: Option<bool>,
    #[serde(default)]
    pub status_mapping: Option<StatusMapping>,
    #[serde(default)]
    pub low_stock_threshold: Option<Decimal>,
}

/// Arguments of `integration.update`: only the given fields change. Credentials change only via
/// `integration.update_credentials`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    /// The integration to change.
    pub name: String,
    /// A new unique name.
    #[serde(default)]
    pub rename: Option<String>,
    #[serde(default)]
    pub eshop_url: Option<String>,
    #[serde(default)]
    pub api_base_url: Option<String>,
    #[serde(default)]
    pub default_warehouse_code: Option<String>,
    #[serde(default)]
    pub shoptet_stock_id: Option<i64>,
    #[serde(default)]
    pub sync_interval_minutes: Option<u32>,
    #[serde(default)]
    pub auto_order_import: Option<bool>,
    #[serde(default)]
    pub auto_inventory_sync: Option<bool>,
    #[serde(default)]
    pub auto_status_update: Option<bool>,
    #[serde(default)]
    pub status_mapping: Option<StatusMapping>,
    #[serde(default)]
    pub low_stock_threshold: Option<Decimal>,
}

/// Sort key of `orders.list`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderSortKey {
    /// When the order was created in the shop (import time when the shop gave none).
    #[default]
    Created,
    /// When the order was imported.
    Imported,
    /// The shop's order code.
    Code,
    /// The order total.
    Total,
    /// Our fulfilment status.
    Status,
}

fn default_page() -> u32 {
    1
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_true() -> bool {
    true
}

fn default_history_days() -> u32 {
    30
}

/// Arguments of `orders.list`. `from` is inclusive and `to` exclusive; both compare the order's
/// creation time in the shop (its import time when the shop gave none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    pub integration: String,
    #[serde(default)]
    pub status: Option<OrderStatus>,
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sort: OrderSortKey,
    /// Newest / largest first. Defaults to true.
    #[serde(default = "default_true")]
    pub descending: bool,
    /// 1-based page number.
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

impl OrderQuery {
    /// The first page of all orders of an integration, newest first.
    pub fn all(integration: impl Into<String>) -> Self {
        Self {
            integration: integration.into(),
            status: None,
            from: None,
            to: None,
            sort: OrderSortKey::default(),
            descending: true,
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// Arguments of `products.list`. Filters combine with AND; `search` matches code or name,
/// case-insensitively, as a substring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    pub integration: String,
    #[serde(default)]
    pub out_of_stock: bool,
    /// Stock above zero but at or below the integration's low-stock threshold.
    #[serde(default)]
    pub low_stock: bool,
    #[serde(default)]
    pub sync_disabled: bool,
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

impl ProductQuery {
    /// The first page of all products of an integration, by code.
    pub fn all(integration: impl Into<String>) -> Self {
        Self {
            integration: integration.into(),
            out_of_stock: false,
            low_stock: false,
            sync_disabled: false,
            search: None,
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// One row of `stock.bulk_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockItem {
    pub code: String,
    pub quantity: Decimal,
}

/// Every operation of the control protocol. Integrations are addressed by name, orders by their
/// shop code, products by their variant code; error-log and outbox entries by their uuid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "args", deny_unknown_fields)]
pub enum Request {
    // --- integrations ---
    #[serde(rename = "integration.create")]
    IntegrationCreate(NewIntegration),
    #[serde(rename = "integration.get")]
    IntegrationGet { name: String },
    #[serde(rename = "integration.list")]
    IntegrationList {},
    #[serde(rename = "integration.update")]
    IntegrationUpdate(IntegrationPatch),
    #[serde(rename = "integration.delete")]
    IntegrationDelete { name: String },
    #[serde(rename = "integration.activate")]
    IntegrationActivate { name: String },
    #[serde(rename = "integration.deactivate")]
    IntegrationDeactivate { name: String, reason: String },
    #[serde(rename = "integration.update_credentials")]
    IntegrationUpdateCredentials {
        name: String,
        credentials: CredentialsInput,
    },

    // --- syncs ---
    #[serde(rename = "sync.orders")]
    SyncOrders {
        integration: String,
        #[serde(default)]
        force: bool,
    },
    #[serde(rename = "sync.inventory")]
    SyncInventory {
        integration: String,
        #[serde(default)]
        force: bool,
    },
    #[serde(rename = "sync.products")]
    SyncProducts {
        integration: String,
        #[serde(default)]
        force: bool,
    },
    #[serde(rename = "sync.prices")]
    SyncPrices {
        integration: String,
        #[serde(default)]
        force: bool,
    },
    #[serde(rename = "sync.full")]
    SyncFull {
        integration: String,
        #[serde(default)]
        force: bool,
    },

    // --- orders ---
    #[serde(rename = "orders.list")]
    OrdersList(OrderQuery),
    #[serde(rename = "order.get")]
    OrderGet { integration: String, code: String },
    /// Start picking: the order joins a picking session.
    #[serde(rename = "order.process")]
    OrderProcess {
        integration: String,
        code: String,
        #[serde(default)]
        picking_session: Option<String>,
    },
    #[serde(rename = "order.ship")]
    OrderShip {
        integration: String,
        code: String,
        #[serde(default)]
        tracking_number: Option<String>,
        #[serde(default)]
        transport_box: Option<String>,
    },
    #[serde(rename = "order.cancel")]
    OrderCancel {
        integration: String,
        code: String,
        reason: String,
    },
    #[serde(rename = "order.add_note")]
    OrderAddNote {
        integration: String,
        code: String,
        note: String,
    },
    /// Settle an order flagged because the shop changed it after import.
    #[serde(rename = "order.resolve")]
    OrderResolve {
        integration: String,
        code: String,
        resolution: ConflictResolution,
    },
    /// Quantities per product code over the orders of one picking session.
    #[serde(rename = "order.pick_list")]
    PickList {
        integration: String,
        picking_session: String,
    },

    // --- products and stock ---
    #[serde(rename = "products.list")]
    ProductsList(ProductQuery),
    #[serde(rename = "product.update_price")]
    ProductUpdatePrice {
        integration: String,
        code: String,
        price: Decimal,
    },
    #[serde(rename = "product.toggle_sync")]
    ProductToggleSync {
        integration: String,
        code: String,
        enabled: bool,
    },
    /// Set the on-hand quantity of one code in the integration's warehouse.
    #[serde(rename = "stock.set")]
    StockSet {
        integration: String,
        code: String,
        quantity: Decimal,
    },
    /// Set many codes at once (all or nothing), for the warehouse management system.
    #[serde(rename = "stock.bulk_set")]
    StockBulkSet {
        integration: String,
        items: Vec<StockItem>,
    },

    // --- logs, outbox, reports ---
    #[serde(rename = "sync.history")]
    SyncHistory {
        integration: String,
        #[serde(default = "default_history_days")]
        days: u32,
    },
    #[serde(rename = "errors.list")]
    ErrorsList {
        integration: String,
        /// Include resolved errors.
        #[serde(default)]
        all: bool,
    },
    /// Resolve one logged error; resolved-by is the caller's user name.
    #[serde(rename = "errors.resolve")]
    ErrorResolve {
        integration: String,
        id: Uuid,
        resolution: String,
    },
    /// Change how urgent one logged error is.
    #[serde(rename = "errors.severity")]
    ErrorSeverity {
        integration: String,
        id: Uuid,
        severity: ErrorSeverity,
    },
    /// One product's price changes: old, new, when, source (oldest first).
    #[serde(rename = "product.history")]
    ProductHistory { integration: String, code: String },
    #[serde(rename = "outbox.list")]
    OutboxList {
        integration: String,
        #[serde(default)]
        state: Option<OutboxState>,
    },
    /// Retry one entry now, or every dead letter when `id` is omitted.
    #[serde(rename = "outbox.retry")]
    OutboxRetry {
        integration: String,
        #[serde(default)]
        id: Option<Uuid>,
    },
    /// Drop one entry without sending it.
    #[serde(rename = "outbox.drop")]
    OutboxDrop { integration: String, id: Uuid },
    #[serde(rename = "report.health")]
    Health { integration: String },
    /// Orders imported between `from` and `to` (see `FulfillmentReport::build`).
    #[serde(rename = "report.fulfillment")]
    FulfillmentReport {
        integration: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[serde(rename = "report.inventory")]
    InventoryReport { integration: String },

    // --- daemon ---
    #[serde(rename = "daemon.status")]
    DaemonStatus {},
    /// Write a consistent snapshot of the store to `path` (an absolute path the daemon can write).
    #[serde(rename = "daemon.backup")]
    Backup { path: String },
}

impl Request {
    /// Every `op` name, in protocol order.
    pub const OP_NAMES: &'static [&'static str] = &[
        "integration.create",
        "integration.get",
        "integration.list",
        "integration.update",
        "integration.delete",
        "integration.activate",
        "integration.deactivate",
        "integration.update_credentials",
        "sync.orders",
        "sync.inventory",
        "sync.products",
        "sync.prices",
        "sync.full",
        "orders.list",
        "order.get",
        "order.process",
        "order.ship",
        "order.cancel",
        "order.add_note",
        "order.resolve",
        "order.pick_list",
        "products.list",
        "product.update_price",
        "product.toggle_sync",
        "stock.set",
        "stock.bulk_set",
        "sync.history",
        "errors.list",
        "errors.resolve",
        "errors.severity",
        "product.history",
        "outbox.list",
        "outbox.retry",
        "outbox.drop",
        "report.health",
        "report.fulfillment",
        "report.inventory",
        "daemon.status",
        "daemon.backup",
    ];

    /// The wire name of this operation (for logs).
    pub fn op_name(&self) -> &'static str {
        match self {
            Self::IntegrationCreate(_) => "integration.create",
            Self::IntegrationGet { .. } => "integration.get",
            Self::IntegrationList {} => "integration.list",
            Self::IntegrationUpdate(_) => "integration.update",
            Self::IntegrationDelete { .. } => "integration.delete",
            Self::IntegrationActivate { .. } => "integration.activate",
            Self::IntegrationDeactivate { .. } => "integration.deactivate",
            Self::IntegrationUpdateCredentials { .. } => "integration.update_credentials",
            Self::SyncOrders { .. } => "sync.orders",
            Self::SyncInventory { .. } => "sync.inventory",
            Self::SyncProducts { .. } => "sync.products",
            Self::SyncPrices { .. } => "sync.prices",
            Self::SyncFull { .. } => "sync.full",
            Self::OrdersList(_) => "orders.list",
            Self::OrderGet { .. } => "order.get",
            Self::OrderProcess { .. } => "order.process",
            Self::OrderShip { .. } => "order.ship",
            Self::OrderCancel { .. } => "order.cancel",
            Self::OrderAddNote { .. } => "order.add_note",
            Self::OrderResolve { .. } => "order.resolve",
            Self::PickList { .. } => "order.pick_list",
            Self::ProductsList(_) => "products.list",
            Self::ProductUpdatePrice { .. } => "product.update_price",
            Self::ProductToggleSync { .. } => "product.toggle_sync",
            Self::StockSet { .. } => "stock.set",
            Self::StockBulkSet { .. } => "stock.bulk_set",
            Self::SyncHistory { .. } => "sync.history",
            Self::ErrorsList { .. } => "errors.list",
            Self::ErrorResolve { .. } => "errors.resolve",
            Self::ErrorSeverity { .. } => "errors.severity",
            Self::ProductHistory { .. } => "product.history",
            Self::OutboxList { .. } => "outbox.list",
            Self::OutboxRetry { .. } => "outbox.retry",
            Self::OutboxDrop { .. } => "outbox.drop",
            Self::Health { .. } => "report.health",
            Self::FulfillmentReport { .. } => "report.fulfillment",
            Self::InventoryReport { .. } => "report.inventory",
            Self::DaemonStatus {} => "daemon.status",
            Self::Backup { .. } => "daemon.backup",
        }
    }

    /// Whether the operation changes state or credentials (or writes files): such operations can be
    /// limited to the admin set. Syncs count, since they write to the store and to the shop.
    pub fn is_mutating(&self) -> bool {
        !matches!(
            self,
            Self::IntegrationGet { .. }
                | Self::IntegrationList {}
                | Self::OrdersList(_)
                | Self::OrderGet { .. }
                | Self::PickList { .. }
                | Self::ProductsList(_)
                | Self::SyncHistory { .. }
                | Self::ErrorsList { .. }
                | Self::ProductHistory { .. }
                | Self::OutboxList { .. }
                | Self::Health { .. }
                | Self::FulfillmentReport { .. }
                | Self::InventoryReport { .. }
                | Self::DaemonStatus {}
        )
    }

    /// Whether the operation may legitimately take minutes (a sync walks whole catalogues,
    /// activation runs a first sync, a backup copies the store): the server gives these its
    /// long handler timeout instead of the ordinary one.
    pub fn is_long_running(&self) -> bool {
        matches!(
            self,
            Self::SyncOrders { .. }
                | Self::SyncInventory { .. }
                | Self::SyncProducts { .. }
                | Self::SyncPrices { .. }
                | Self::SyncFull { .. }
                | Self::IntegrationActivate { .. }
                | Self::Backup { .. }
        )
    }

    /// The integration the request is about (the actor to route it to); `None` for daemon-wide
    /// operations (list, status, backup). For `integration.create` it is the new name.
    pub fn integration_name(&self) -> Option<&str> {
        match self {
            Self::IntegrationCreate(new) => Some(&new.name),
            Self::IntegrationUpdate(patch) => Some(&patch.name),
            Self::IntegrationGet { name }
            | Self::IntegrationDelete { name }
            | Self::IntegrationActivate { name }
            | Self::IntegrationDeactivate { name, .. }
            | Self::IntegrationUpdateCredentials { name, .. } => Some(name),
            Self::OrdersList(query) => Some(&query.integration),
            Self::ProductsList(query) => Some(&query.integration),
            Self::SyncOrders { integration, .. }
            | Self::SyncInventory { integration, .. }
            | Self::SyncProducts { integration, .. }
            | Self::SyncPrices { integration, .. }
            | Self::SyncFull { integration, .. }
            | Self::OrderGet { integration, .. }
            | Self::OrderProcess { integration, .. }
            | Self::OrderShip { integration, .. }
            | Self::OrderCancel { integration, .. }
            | Self::OrderAddNote { integration, .. }
            | Self::OrderResolve { integration, .. }
            | Self::PickList { integration, .. }
            | Self::ProductUpdatePrice { integration, .. }
            | Self::ProductToggleSync { integration, .. }
            | Self::StockSet { integration, .. }
            | Self::StockBulkSet { integration, .. }
            | Self::SyncHistory { integration, .. }
            | Self::ErrorsList { integration, .. }
            | Self::ErrorResolve { integration, .. }
            | Self::ErrorSeverity { integration, .. }
            | Self::ProductHistory { integration, .. }
            | Self::OutboxList { integration, .. }
            | Self::OutboxRetry { integration, .. }
            | Self::OutboxDrop { integration, .. }
            | Self::Health { integration }
            | Self::FulfillmentReport { integration, .. }
            | Self::InventoryReport { integration } => Some(integration),
            Self::IntegrationList {} | Self::DaemonStatus {} | Self::Backup { .. } => None,
        }
    }

    /// Shape checks that need no state: non-empty names and codes, page bounds, date order,
    /// non-negative quantities and prices, bulk size and duplicate codes. Business rules (tracking
    /// number length, allowed transitions) stay in the domain.
    pub fn validate(&self) -> Result<(), ControlError> {
        if let Some(name) = self.integration_name() {
            non_empty("integration name", name)?;
        }
        match self {
            Self::IntegrationCreate(new) => {
                non_empty("eshop_url", &new.eshop_url)?;
                if let Some(credentials) = &new.credentials {
                    non_empty("token", credentials.token.expose())?;
                }
            }
            Self::IntegrationUpdate(patch) => {
                if let Some(rename) = &patch.rename {
                    non_empty("new name", rename)?;
                }
            }
            Self::IntegrationDeactivate { reason, .. } => non_empty("reason", reason)?,
            Self::IntegrationUpdateCredentials { credentials, .. } => {
                non_empty("token", credentials.token.expose())?
            }
            Self::OrdersList(query) => {
                page_bounds(query.page, query.page_size)?;
                if let (Some(from), Some(to)) = (query.from, query.to)
                    && from >= to
                {
                    return Err(ControlError::invalid_argument("`from` must be before `to`"));
                }
            }
            Self::ProductsList(query) => page_bounds(query.page, query.page_size)?,
            Self::OrderGet { code, .. }
            | Self::OrderProcess { code, .. }
            | Self::OrderShip { code, .. }
            | Self::OrderResolve { code, .. } => non_empty("order code", code)?,
            Self::OrderCancel { code, reason, .. } => {
                non_empty("order code", code)?;
                non_empty("reason", reason)?;
            }
            Self::OrderAddNote { code, note, .. } => {
                non_empty("order code", code)?;
                non_empty("note", note)?;
            }
            Self::PickList {
                picking_session, ..
            } => non_empty("picking session", picking_session)?,
            Self::ProductUpdatePrice { code, price, .. } => {
                non_empty("product code", code)?;
                if price.is_sign_negative() {
                    return Err(ControlError::invalid_argument(format!(
                        "price must not be negative (got {price})"
                    )));
                }
            }
            Self::ProductToggleSync { code, .. } | Self::ProductHistory { code, .. } => {
                non_empty("product code", code)?
            }
            Self::StockSet { code, quantity, .. } => stock_item(code, *quantity, None)?,
            Self::StockBulkSet { items, .. } => {
                if items.is_empty() {
                    return Err(ControlError::invalid_argument("`items` is empty"));
                }
                if items.len() > MAX_BULK_ITEMS {
                    return Err(ControlError::invalid_argument(format!(
                        "too many items: {} (at most {MAX_BULK_ITEMS} per request; send several requests)",
                        items.len()
                    )));
                }
                let mut seen = std::collections::HashSet::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    stock_item(&item.code, item.quantity, Some(index))?;
                    if !seen.insert(item.code.as_str()) {
                        return Err(ControlError::invalid_argument(format!(
                            "item {index}: code `{}` appears more than once",
                            item.code
                        )));
                    }
                }
            }
            Self::SyncHistory { days, .. } if *days == 0 || *days > MAX_HISTORY_DAYS => {
                return Err(ControlError::invalid_argument(format!(
                    "`days` must be between 1 and {MAX_HISTORY_DAYS} (got {days})"
                )));
            }
            Self::ErrorResolve { resolution, .. } => non_empty("resolution", resolution)?,
            Self::FulfillmentReport { from, to, .. } if from >= to => {
                return Err(ControlError::invalid_argument("`from` must be before `to`"));
            }
            Self::Backup { path } => {
                non_empty("path", path)?;
                if !std::path::Path::new(path).is_absolute() {
                    return Err(ControlError::invalid_argument(format!(
                        "backup path must be absolute (got `{path}`)"
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn non_empty(what: &str, value: &str) -> Result<(), ControlError> {
    if value.trim().is_empty() {
        Err(ControlError::invalid_argument(format!(
            "{what} must not be empty"
        )))
    } else {
        Ok(())
    }
}

fn page_bounds(page: u32, page_size: u32) -> Result<(), ControlError> {
    if page == 0 {
        return Err(ControlError::invalid_argument("`page` starts at 1"));
    }
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ControlError::invalid_argument(format!(
            "`page_size` must be between 1 and {MAX_PAGE_SIZE} (got {page_size})"
        )));
    }
    Ok(())
}

fn stock_item(code: &str, quantity: Decimal, index: Option<usize>) -> Result<(), ControlError> {
    let at = index.map(|i| format!("item {i}: ")).unwrap_or_default();
    if code.trim().is_empty() {
        return Err(ControlError::invalid_argument(format!(
            "{at}product code must not be empty"
        )));
    }
    if quantity.is_sign_negative() && !quantity.is_zero() {
        return Err(ControlError::invalid_argument(format!(
            "{at}quantity of `{code}` must not be negative (got {quantity})"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// An integration as shown to clients: everything but the secret, of which only the kind shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub id: IntegrationId,
    pub name: String,
    pub eshop_url: String,
    pub api_base_url: String,
    /// Which credentials are stored, if any; never the token.
    pub credentials: Option<CredentialsKind>,
    pub status: IntegrationStatus,
    pub status_reason: Option<String>,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_order_sync: Option<DateTime<Utc>>,
    pub last_inventory_sync: Option<DateTime<Utc>>,
    pub auto_order_import: bool,
    pub auto_inventory_sync: bool,
    pub auto_status_update: bool,
    pub sync_interval_minutes: u32,
    pub default_warehouse_code: String,
    pub shoptet_stock_id: i64,
    pub status_mapping: StatusMapping,
    pub low_stock_threshold: Decimal,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Integration> for IntegrationView {
    fn from(i: &Integration) -> Self {
        Self {
            id: i.id,
            name: i.name.clone(),
            eshop_url: i.eshop_url.clone(),
            api_base_url: i.api_base_url.clone(),
            credentials: i.credentials.as_ref().map(CredentialsKind::of),
            status: i.status,
            status_reason: i.status_reason.clone(),
            last_sync: i.last_sync,
            last_order_sync: i.last_order_sync,
            last_inventory_sync: i.last_inventory_sync,
            auto_order_import: i.auto_order_import,
            auto_inventory_sync: i.auto_inventory_sync,
            auto_status_update: i.auto_status_update,
            sync_interval_minutes: i.sync_interval_minutes,
            default_warehouse_code: i.default_warehouse_code.clone(),
            shoptet_stock_id: i.shoptet_stock_id,
            status_mapping: i.status_mapping,
            low_stock_threshold: i.low_stock_threshold,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// The outcome of one sync run started from the control channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResult {
    pub sync_type: SyncType,
    pub status: SyncStatus,
    /// Records processed (orders imported, stock levels pushed, …).
    pub records: u64,
    pub errors: u64,
    /// False when the sync was not needed and `force` was not given.
    pub performed: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub message: String,
}

/// One line of an order list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSummary {
    pub code: String,
    pub status: OrderStatus,
    pub total: Money,
    pub customer_name: Option<String>,
    /// Product rows only.
    pub item_count: u32,
    pub shop_created_at: Option<DateTime<Utc>>,
    pub imported_at: DateTime<Utc>,
    pub tracking_number: Option<String>,
    pub picking_session_id: Option<String>,
    pub review_reason: Option<String>,
}

impl From<&Order> for OrderSummary {
    fn from(order: &Order) -> Self {
        let item_count = order
            .items
            .iter()
            .filter(|item| item.item_type == crate::domain::ItemType::Product)
            .count();
        Self {
            code: order.code.clone(),
            status: order.status,
            total: order.total.clone(),
            customer_name: order.customer_name.clone(),
            item_count: u32::try_from(item_count).unwrap_or(u32::MAX),
            shop_created_at: order.shop_created_at,
            imported_at: order.imported_at,
            tracking_number: order.tracking_number.clone(),
            picking_session_id: order.picking_session_id.clone(),
            review_reason: order.review_reason.clone(),
        }
    }
}

/// One page of orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPage {
    pub items: Vec<OrderSummary>,
    /// Matching orders over all pages.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// One page of products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// One line of a pick list: how much of a code to pick over the session's orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickLine {
    pub product_code: String,
    pub name: String,
    pub quantity: Decimal,
    /// Orders of the session that contain this code.
    pub order_codes: Vec<String>,
}

/// Quantities per product code over the orders of one picking session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickList {
    pub integration: String,
    pub picking_session: String,
    pub order_codes: Vec<String>,
    pub lines: Vec<PickLine>,
}

/// The outcome of `stock.bulk_set`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockBulkResult {
    pub warehouse_code: String,
    /// Codes whose quantity changed.
    pub updated: u64,
    /// Codes already at the given quantity.
    pub unchanged: u64,
}

/// How many outbox entries an operation affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxChange {
    pub affected: u64,
    pub message: String,
}

/// A plain acknowledgement (e.g. after a delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub message: String,
}

/// One store in the daemon status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    pub name: String,
    pub status: IntegrationStatus,
    pub health: HealthStatus,
    pub last_sync: Option<DateTime<Utc>>,
    pub last_order_sync: Option<DateTime<Utc>>,
    pub last_inventory_sync: Option<DateTime<Utc>>,
    /// Outbox entries waiting to be sent.
    pub outbox_pending: u64,
    pub outbox_dead_letters: u64,
}

/// `daemon.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub version: String,
    pub protocol: u32,
    pub uptime_secs: u64,
    pub stores: Vec<StoreStatus>,
}

/// `daemon.backup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupResult {
    pub path: String,
    pub bytes: u64,
}

/// Every successful result, tagged by `type` with the payload in `data`. No variant may carry a
/// secret (tested).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // short-lived values, one per request: boxing buys nothing
pub enum Response {
    /// create, get, update, activate, deactivate, update_credentials.
    Integration(IntegrationView),
    /// `integration.list`.
    Integrations(Vec<IntegrationView>),
    /// Deletes and other plain acknowledgements.
    Ack(Ack),
    /// `sync.orders|inventory|products|prices`.
    Sync(SyncResult),
    /// `sync.full`: one result per sync type, in the order run.
    SyncFull(Vec<SyncResult>),
    /// `orders.list`.
    OrderPage(OrderPage),
    /// `order.get|process|ship|cancel|add_note|resolve`.
    Order(Order),
    /// `order.pick_list`.
    PickList(PickList),
    /// `products.list`.
    ProductPage(ProductPage),
    /// `product.update_price|toggle_sync`.
    Product(Product),
    /// `stock.set`.
    Stock(StockLevel),
    /// `stock.bulk_set`.
    StockBulk(StockBulkResult),
    /// `sync.history`, newest first.
    SyncHistory(Vec<SyncLog>),
    /// `errors.list`, newest first.
    Errors(Vec<ErrorLog>),
    /// `errors.resolve|severity`: the changed entry.
    Error(ErrorLog),
    /// `product.history`: price changes, oldest first.
    PriceHistory(Vec<PriceChange>),
    /// `outbox.list`, in send order.
    Outbox(Vec<OutboxEntry>),
    /// `outbox.retry|drop`.
    OutboxChange(OutboxChange),
    /// `report.health`.
    Health(HealthReport),
    /// `report.fulfillment`.
    Fulfillment(FulfillmentReport),
    /// `report.inventory`.
    Inventory(InventoryReport),
    /// `daemon.status`.
    DaemonStatus(DaemonStatus),
    /// `daemon.backup`.
    Backup(BackupResult),
}

/// Who is calling, from the connection's peer credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
    /// The user name of `uid`, or `uid:N` when it has none; use it as resolved-by / source.
    pub user_name: String,
    /// May run state-changing operations.
    pub is_admin: bool,
}

/// Serves requests; implemented by the actor system (and by test doubles).
///
/// The server applies access control and [`Request::validate`] before calling `handle`, bounds
/// the call with its handler timeout (dropping the future on expiry) and never logs arguments.
pub trait ControlHandler: Send + Sync + 'static {
    /// Serves one request for `caller`.
    fn handle(
        &self,
        caller: &Caller,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Response, ControlError>> + Send;
}
