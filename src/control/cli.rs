//! shoptetctl: the command line that mirrors the control protocol, builds requests, reads secrets
//! and CSV files, and prints tables or JSON. `src/bin/shoptetctl.rs` only calls [`main`].
//!
//! Exit codes: 0 success, 1 the daemon refused (message printed), 2 usage or input error,
//! 3 cannot reach the daemon.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::client::{ClientError, ControlClient, DEFAULT_CONNECT_TIMEOUT};
use super::floor_cli::SeverityArg;
use super::protocol::{
    ConflictResolution, ControlError, CredentialsInput, CredentialsKind, DEFAULT_PAGE_SIZE,
    IntegrationPatch, MAX_BULK_ITEMS, NewIntegration, OrderQuery, OrderSortKey, ProductQuery,
    Request, Response, StockBulkResult, StockItem,
};
use super::render;
use crate::domain::{OrderStatus, OutboxState, Secret, StatusMapping};

/// The socket path of the packaged systemd unit.
pub const DEFAULT_SOCKET: &str = "/run/shoptet-sync/control.sock";
/// Environment variable naming the socket.
pub const SOCKET_ENV: &str = "SHOPTET_SYNC_SOCKET";

/// Environment variable giving the answer timeout in seconds.
pub const TIMEOUT_ENV: &str = "SHOPTET_SYNC_TIMEOUT";

fn parse_timeout(raw: &str) -> Result<Duration, String> {
    let seconds: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("`{raw}` is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds <= 1_000_000.0) {
        return Err("the timeout must be between 0 and 1000000 seconds".to_owned());
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// Exit code: the daemon refused the request.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: bad usage or unreadable input (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the daemon could not be reached.
pub const EXIT_UNREACHABLE: u8 = 3;

/// Drives shoptet-syncd over its control socket.
#[derive(Debug, Parser)]
#[command(
    name = "shoptetctl",
    version,
    about = "Drives shoptet-syncd over its control socket.",
    propagate_version = true,
    after_help = "Exit codes: 0 success, 1 the daemon refused (message printed), 2 usage or input error, 3 cannot reach the daemon."
)]
pub struct Cli {
    /// Control socket of shoptet-syncd.
    #[arg(long, global = true, env = SOCKET_ENV, default_value = DEFAULT_SOCKET, value_name = "PATH")]
    pub socket: PathBuf,
    /// Print the daemon's response as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the daemon's answer (default 120, or 3720 for syncs, activation and
    /// backups); exit 3 when it does not answer in time.
    #[arg(long, global = true, env = TIMEOUT_ENV, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, inspect and manage integrations (one per Shoptet store).
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Run a sync now, or show the sync history.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// List orders.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Work with one order (by its shop code).
    #[command(subcommand)]
    Order(OrderCommand),
    /// List products.
    #[command(subcommand)]
    Products(ProductsCommand),
    /// Change one product (by its code).
    #[command(subcommand)]
    Product(ProductCommand),
    /// Set warehouse stock.
    #[command(subcommand)]
    Stock(StockCommand),
    /// List a store's errors, or resolve one.
    Errors(ErrorsArgs),
    /// Inspect and manage the queue of status pushes to the shop.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Health report of a store.
    Health {
        /// Integration name.
        integration: String,
    },
    /// Fulfilment and inventory reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Daemon version, uptime and every store's health, last syncs and outbox depth.
    Status,
    /// Write a consistent snapshot of the daemon's store to FILE (written by the daemon).
    Backup {
        /// Destination; relative paths are taken from the current directory.
        file: PathBuf,
    },
}

/// Where a secret token comes from: a file or stdin, never the command line.
#[derive(Debug, Clone, Default, Args)]
pub struct TokenSource {
    /// File holding a Premium shop's private API token.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["oauth_token_file", "token_stdin"])]
    pub private_token_file: Option<PathBuf>,
    /// File holding an addon OAuth access token.
    #[arg(long, value_name = "FILE", conflicts_with = "token_stdin")]
    pub oauth_token_file: Option<PathBuf>,
    /// Read the token from standard input (a private API token unless --oauth is given).
    #[arg(long)]
    pub token_stdin: bool,
    /// With --token-stdin: the token is an addon OAuth access token.
    #[arg(long, requires = "token_stdin")]
    pub oauth: bool,
}

impl TokenSource {
    fn is_given(&self) -> bool {
        self.private_token_file.is_some() || self.oauth_token_file.is_some() || self.token_stdin
    }

    /// Reads the token. Surrounding whitespace (a trailing newline) is dropped.
    pub fn read(&self, stdin: &mut dyn Read) -> Result<Option<CredentialsInput>, UsageError> {
        let (kind, raw) = if let Some(path) = &self.private_token_file {
            (CredentialsKind::PrivateToken, read_secret_file(path)?)
        } else if let Some(path) = &self.oauth_token_file {
            (CredentialsKind::AddonOauth, read_secret_file(path)?)
        } else if self.token_stdin {
            let mut raw = String::new();
            stdin
                .read_to_string(&mut raw)
                .map_err(|e| UsageError(format!("cannot read the token from stdin: {e}")))?;
            let kind = if self.oauth {
                CredentialsKind::AddonOauth
            } else {
                CredentialsKind::PrivateToken
            };
            (kind, raw)
        } else {
            return Ok(None);
        };
        let token = raw.trim();
        if token.is_empty() {
            return Err(UsageError("the token is empty".to_owned()));
        }
        if token.chars().any(char::is_whitespace) {
            return Err(UsageError(
                "the token contains whitespace; the file must hold only the token".to_owned(),
            ));
        }
        Ok(Some(CredentialsInput {
            kind,
            token: Secret::new(token),
        }))
    }
}

fn read_secret_file(path: &Path) -> Result<String, UsageError> {
    std::fs::read_to_string(path).map_err(|e| {
        UsageError(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })
}

/// Settings shared by `integration create` and `integration update`.
#[derive(Debug, Clone, Default, Args)]
pub struct IntegrationSettings {
    /// Shoptet API base URL (default: the public API).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Warehouse whose stock this shop sells.
    #[arg(long, value_name = "CODE")]
    pub warehouse: Option<String>,
    /// The shop's stock id that receives stock movements.
    #[arg(long, value_name = "ID")]
    pub stock_id: Option<i64>,
    /// Minutes between automatic syncs (1-1440).
    #[arg(long, value_name = "MINUTES")]
    pub interval: Option<u32>,
    /// Import new orders automatically.
    #[arg(long, value_name = "BOOL")]
    pub auto_import: Option<bool>,
    /// Push stock automatically.
    #[arg(long, value_name = "BOOL")]
    pub auto_inventory: Option<bool>,
    /// Push order status changes automatically.
    #[arg(long, value_name = "BOOL")]
    pub auto_status: Option<bool>,
    /// Stock at or below this is low.
    #[arg(long, value_name = "QUANTITY")]
    pub low_stock: Option<Decimal>,
    /// Shop status ids for processing, shipped and cancelled, e.g. `-2,-3,-4`.
    #[arg(long, value_name = "P,S,C", value_parser = parse_status_mapping, allow_hyphen_values = true)]
    pub status_ids: Option<StatusMapping>,
}

/// `integration …`
#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Create an integration (inactive until activated).
    Create {
        /// Integration name.
        name: String,
        /// The e-shop's URL.
        #[arg(long, value_name = "URL")]
        shop_url: String,
        #[command(flatten)]
        token: TokenSource,
        #[command(flatten)]
        settings: IntegrationSettings,
    },
    /// Show one integration.
    Get { name: String },
    /// List all integrations.
    List,
    /// Change settings; only the given options change.
    Update {
        /// Integration name.
        name: String,
        /// New unique name.
        #[arg(long, value_name = "NAME")]
        rename: Option<String>,
        /// New e-shop URL.
        #[arg(long, value_name = "URL")]
        shop_url: Option<String>,
        #[command(flatten)]
        settings: IntegrationSettings,
    },
    /// Delete an integration and its data.
    Delete { name: String },
    /// Test the credentials and start syncing.
    Activate { name: String },
    /// Stop syncing.
    Deactivate {
        /// Integration name.
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Replace the credentials.
    Credentials {
        /// Integration name.
        name: String,
        #[command(flatten)]
        token: TokenSource,
    },
}

/// `sync …`
#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Import new and changed orders.
    Orders(SyncArgs),
    /// Push warehouse stock to the shop.
    Inventory(SyncArgs),
    /// Refresh the product catalogue.
    Products(SyncArgs),
    /// Refresh and push prices.
    Prices(SyncArgs),
    /// All of the above.
    Full(SyncArgs),
    /// Past syncs.
    History {
        /// Integration name.
        integration: String,
        /// How many days back.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

/// Arguments of a sync.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Integration name.
    pub integration: String,
    /// Sync even if the schedule says it is not due.
    #[arg(long)]
    pub force: bool,
}

/// Order statuses as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Imported,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Error,
}

impl From<StatusArg> for OrderStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Imported => OrderStatus::Imported,
            StatusArg::Processing => OrderStatus::Processing,
            StatusArg::Shipped => OrderStatus::Shipped,
            StatusArg::Delivered => OrderStatus::Delivered,
            StatusArg::Cancelled => OrderStatus::Cancelled,
            StatusArg::Error => OrderStatus::Error,
        }
    }
}

/// Sort keys as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    Created,
    Imported,
    Code,
    Total,
    Status,
}

impl From<SortArg> for OrderSortKey {
    fn from(sort: SortArg) -> Self {
        match sort {
            SortArg::Created => OrderSortKey::Created,
            SortArg::Imported => OrderSortKey::Imported,
            SortArg::Code => OrderSortKey::Code,
            SortArg::Total => OrderSortKey::Total,
            SortArg::Status => OrderSortKey::Status,
        }
    }
}

/// Paging options.
#[derive(Debug, Clone, Args)]
pub struct PageArgs {
    /// Page number, from 1.
    #[arg(long, default_value_t = 1)]
    pub page: u32,
    /// Rows per page.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
    pub page_size: u32,
}

/// `orders …`
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// List orders, newest first.
    List {
        /// Integration name.
        integration: String,
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Created on or after this date (YYYY-MM-DD, UTC) or time (RFC 3339).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Created on or before this date (the whole day) or before this RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "created")]
        sort: SortArg,
        /// Oldest / smallest first.
        #[arg(long)]
        asc: bool,
        #[command(flatten)]
        paging: PageArgs,
    },
}

/// `order …`
#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Show an order with its items.
    Get { integration: String, code: String },
    /// Start picking the order.
    Process {
        /// Integration name.
        integration: String,
        code: String,
        /// Picking session the order joins.
        #[arg(long, value_name = "ID")]
        session: Option<String>,
    },
    /// Mark the order shipped.
    Ship {
        /// Integration name.
        integration: String,
        code: String,
        /// Carrier tracking number (at most 32 characters).
        #[arg(long, value_name = "NUMBER")]
        tracking: Option<String>,
        /// Transport box the parcel left in.
        #[arg(long = "box", value_name = "BOX")]
        transport_box: Option<String>,
    },
    /// Cancel the order.
    Cancel {
        /// Integration name.
        integration: String,
        code: String,
        #[arg(long)]
        reason: String,
    },
    /// Add a note to the order.
    Note {
        /// Integration name.
        integration: String,
        code: String,
        note: String,
    },
    /// Settle an order the shop changed after import.
    Resolve {
        /// Integration name.
        integration: String,
        code: String,
        #[command(flatten)]
        choice: ResolveChoice,
    },
    /// Quantities to pick per product code over a picking session's orders.
    PickList {
        /// Integration name.
        integration: String,
        session: String,
    },
}

/// Exactly one way to settle a flagged order.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct ResolveChoice {
    /// Take the shop's version of the order.
    #[arg(long)]
    pub accept_shop: bool,
    /// Keep our version and push our status back.
    #[arg(long)]
    pub keep_ours: bool,
}

/// `products …`
#[derive(Debug, Subcommand)]
pub enum ProductsCommand {
    /// List products by code.
    List {
        /// Integration name.
        integration: String,
        #[arg(long)]
        out_of_stock: bool,
        #[arg(long)]
        low_stock: bool,
        #[arg(long)]
        sync_disabled: bool,
        /// Part of a code or name.
        #[arg(long)]
        search: Option<String>,
        #[command(flatten)]
        paging: PageArgs,
    },
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `product …`
#[derive(Debug, Subcommand)]
pub enum ProductCommand {
    /// Set a product's price (pushed to the shop).
    Price {
        /// Integration name.
        integration: String,
        code: String,
        price: Decimal,
    },
    /// Include or exclude a product from stock and price sync.
    Sync {
        /// Integration name.
        integration: String,
        code: String,
        #[arg(value_enum)]
        state: Switch,
    },
    /// A product's price changes: old, new, when and by whom.
    History {
        /// Integration name.
        integration: String,
        code: String,
    },
}

/// `stock …`
#[derive(Debug, Subcommand)]
pub enum StockCommand {
    /// Set the on-hand quantity of one code in the store's warehouse.
    Set {
        /// Integration name.
        integration: String,
        code: String,
        quantity: Decimal,
    },
    /// Set many codes from a CSV file with the header `code,quantity` (`-` reads stdin).
    Import {
        /// Integration name.
        integration: String,
        file: PathBuf,
        /// Rows per request; each request is applied all or nothing.
        #[arg(long, default_value_t = MAX_BULK_ITEMS)]
        chunk: usize,
    },
}

/// `errors STORE [--all]`, `errors resolve STORE ID --resolution TEXT` or
/// `errors severity STORE ID LEVEL`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ErrorsArgs {
    #[command(subcommand)]
    pub command: Option<ErrorsCommand>,
    /// Integration name.
    #[arg(required = true)]
    pub integration: Option<String>,
    /// Include resolved errors.
    #[arg(long)]
    pub all: bool,
}

/// `errors resolve`
#[derive(Debug, Subcommand)]
pub enum ErrorsCommand {
    /// Mark an error resolved; you are recorded as the resolver.
    Resolve {
        /// Integration name.
        integration: String,
        id: Uuid,
        #[arg(long)]
        resolution: String,
    },
    /// Change how urgent an error is.
    Severity {
        /// Integration name.
        integration: String,
        id: Uuid,
        #[arg(value_enum)]
        level: SeverityArg,
    },
}

/// `outbox …`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Pending and dead-letter entries in send order.
    List {
        /// Integration name.
        integration: String,
        /// Only dead letters.
        #[arg(long)]
        dead: bool,
    },
    /// Send one entry now, or every dead letter again.
    Retry {
        /// Integration name.
        integration: String,
        #[arg(
            required_unless_present = "dead_letters",
            conflicts_with = "dead_letters"
        )]
        id: Option<Uuid>,
        /// Retry every dead letter.
        #[arg(long)]
        dead_letters: bool,
    },
    /// Remove one entry without sending it.
    Drop { integration: String, id: Uuid },
}

/// `report …`
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Orders created in a date range and how fast they shipped.
    #[command(alias = "fulfilment")]
    Fulfillment {
        /// Integration name.
        integration: String,
        /// First day (YYYY-MM-DD, UTC) or RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        from: String,
        /// Last day, included (YYYY-MM-DD) or exclusive RFC 3339 time.
        #[arg(long, value_name = "DATE")]
        to: String,
    },
    /// Stock sync state and discrepancies.
    Inventory { integration: String },
}

/// Bad input found before anything was sent (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn parse_status_mapping(text: &str) -> Result<StatusMapping, String> {
    let ids: Vec<i64> = text
        .split(',')
        .map(|part| part.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("expected three status ids like `-2,-3,-4`, got `{text}`"))?;
    match ids.as_slice() {
        [processing, shipped, cancelled] => Ok(StatusMapping {
            processing: *processing,
            shipped: *shipped,
            cancelled: *cancelled,
        }),
        _ => Err(format!(
            "expected three status ids like `-2,-3,-4`, got `{text}`"
        )),
    }
}

/// Which end of a day a date stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayEdge {
    /// Midnight at the start of the day (inclusive lower bound).
    Start,
    /// Midnight after the day (exclusive upper bound, so the whole day is included).
    End,
}

/// Parses `YYYY-MM-DD` (UTC) or an RFC 3339 time.
pub fn parse_time(text: &str, edge: DayEdge) -> Result<DateTime<Utc>, UsageError> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = match edge {
            DayEdge::Start => Some(date),
            DayEdge::End => date.succ_opt(),
        };
        if let Some(midnight) = day.and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(midnight.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            UsageError(format!(
                "`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}

/// One data row of a stock CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// 1-based line number in the file.
    pub line: usize,
    pub item: StockItem,
}

/// Most problems listed when a CSV is refused.
const MAX_CSV_PROBLEMS: usize = 20;

/// Parses a stock CSV: a header `code,quantity` (or `code;quantity`, where a decimal comma is
/// accepted), then one row per code. Blank lines are skipped; fields may be double-quoted.
/// Every problem is reported with its line number; nothing is returned unless all rows are valid.
pub fn parse_stock_csv(text: &str) -> Result<Vec<CsvRow>, UsageError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(UsageError("the CSV file is empty".to_owned()));
    };
    let separator = if header.contains(';') { ';' } else { ',' };
    let names: Vec<String> = header
        .split(separator)
        .map(|f| unquote(f.trim()).to_lowercase())
        .collect();
    if names != ["code", "quantity"] {
        return Err(UsageError(format!(
            "line {header_line}: the header must be `code,quantity`, found `{header}`"
        )));
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut first_seen: std::collections::HashMap<String, usize> = Default::default();
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(separator).map(str::trim).collect();
        if fields.len() != 2 {
            problems.push(format!(
                "line {line}: expected 2 fields (code{separator}quantity), found {}",
                fields.len()
            ));
            continue;
        }
        let code = unquote(fields[0]);
        let raw_quantity = unquote(fields[1]);
        if code.is_empty() {
            problems.push(format!("line {line}: the code is empty"));
            continue;
        }
        let normalised = if separator == ';' {
            raw_quantity.replace(',', ".")
        } else {
            raw_quantity.to_owned()
        };
        let quantity = match normalised.parse::<Decimal>() {
            Ok(quantity) if quantity.is_sign_negative() && !quantity.is_zero() => {
                problems.push(format!(
                    "line {line}: quantity `{raw_quantity}` of `{code}` is negative"
                ));
                continue;
            }
            Ok(quantity) => quantity,
            Err(_) => {
                problems.push(format!(
                    "line {line}: quantity `{raw_quantity}` of `{code}` is not a number"
                ));
                continue;
            }
        };
        if let Some(first) = first_seen.get(code) {
            problems.push(format!(
                "line {line}: code `{code}` already appears on line {first}"
            ));
            continue;
        }
        first_seen.insert(code.to_owned(), line);
        rows.push(CsvRow {
            line,
            item: StockItem {
                code: code.to_owned(),
                quantity,
            },
        });
    }
    if !problems.is_empty() {
        let total = problems.len();
        let mut message = format!("the CSV file has {total} invalid row(s); nothing was sent:\n");
        for problem in problems.iter().take(MAX_CSV_PROBLEMS) {
            message.push_str("  ");
            message.push_str(problem);
            message.push('\n');
        }
        if total > MAX_CSV_PROBLEMS {
            message.push_str(&format!("  … and {} more\n", total - MAX_CSV_PROBLEMS));
        }
        return Err(UsageError(message.trim_end().to_owned()));
    }
    if rows.is_empty() {
        return Err(UsageError(
            "the CSV file has a header but no rows".to_owned(),
        ));
    }
    Ok(rows)
}

fn unquote(field: &str) -> &str {
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

/// What one command line asks the daemon: usually one request, several for a chunked import.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub requests: Vec<Request>,
    /// For a chunked import: the first and last CSV line of each request.
    pub chunk_lines: Vec<(usize, usize)>,
}

impl Plan {
    fn one(request: Request) -> Self {
        Self {
            requests: vec![request],
            chunk_lines: Vec::new(),
        }
    }
}

/// Turns a parsed command line into requests, reading token and CSV files (stdin when asked).
pub fn plan(command: &Command, stdin: &mut dyn Read) -> Result<Plan, UsageError> {
    let request = match command {
        Command::Integration(command) => integration_request(command, stdin)?,
        Command::Sync(command) => match command {
            SyncCommand::Orders(a) => Request::SyncOrders {
                integration: a.integration.clone(),
                force: a.force,
            },
            SyncCommand::Inventory(a) => Request::SyncInventory {
                integration: a.integration.clone(),
                force: a.force,
            },
            SyncCommand::Products(a) => Request::SyncProducts {
                integration: a.integration.clone(),
                force: a.force,
            },
            SyncCommand::Prices(a) => Request::SyncPrices {
                integration: a.integration.clone(),
                force: a.force,
            },
            SyncCommand::Full(a) => Request::SyncFull {
                integration: a.integration.clone(),
                force: a.force,
            },
            SyncCommand::History { integration, days } => Request::SyncHistory {
                integration: integration.clone(),
                days: *days,
            },
        },
        Command::Orders(OrdersCommand::List {
            integration,
            status,
            from,
            to,
            sort,
            asc,
            paging,
        }) => Request::OrdersList(OrderQuery {
            integration: integration.clone(),
            status: status.map(OrderStatus::from),
            from: from
                .as_deref()
                .map(|t| parse_time(t, DayEdge::Start))
                .transpose()?,
            to: to
                .as_deref()
                .map(|t| parse_time(t, DayEdge::End))
                .transpose()?,
            sort: (*sort).into(),
            descending: !asc,
            page: paging.page,
            page_size: paging.page_size,
        }),
        Command::Order(command) => order_request(command),
        Command::Products(ProductsCommand::List {
            integration,
            out_of_stock,
            low_stock,
            sync_disabled,
            search,
            paging,
        }) => Request::ProductsList(ProductQuery {
            integration: integration.clone(),
            out_of_stock: *out_of_stock,
            low_stock: *low_stock,
            sync_disabled: *sync_disabled,
            search: search.clone(),
            page: paging.page,
            page_size: paging.page_size,
        }),
        Command::Product(ProductCommand::Price {
            integration,
            code,
            price,
        }) => Request::ProductUpdatePrice {
            integration: integration.clone(),
            code: code.clone(),
            price: *price,
        },
        Command::Product(ProductCommand::Sync {
            integration,
            code,
            state,
        }) => Request::ProductToggleSync {
            integration: integration.clone(),
            code: code.clone(),
            enabled: *state == Switch::On,
        },
        Command::Product(ProductCommand::History { integration, code }) => {
            Request::ProductHistory {
                integration: integration.clone(),
                code: code.clone(),
            }
        }
        Command::Stock(StockCommand::Set {
            integration,
            code,
            quantity,
        }) => Request::StockSet {
            integration: integration.clone(),
            code: code.clone(),
            quantity: *quantity,
        },
        Command::Stock(StockCommand::Import {
            integration,
            file,
            chunk,
        }) => return import_plan(integration, file, *chunk, stdin),
        Command::Errors(args) => match (&args.command, &args.integration) {
            (
                Some(ErrorsCommand::Resolve {
                    integration,
                    id,
                    resolution,
                }),
                _,
            ) => Request::ErrorResolve {
                integration: integration.clone(),
                id: *id,
                resolution: resolution.clone(),
            },
            (
                Some(ErrorsCommand::Severity {
                    integration,
                    id,
                    level,
                }),
                _,
            ) => Request::ErrorSeverity {
                integration: integration.clone(),
                id: *id,
                severity: (*level).into(),
            },
            (None, Some(integration)) => Request::ErrorsList {
                integration: integration.clone(),
                all: args.all,
            },
            (None, None) => {
                return Err(UsageError(
                    "name the integration: `shoptetctl errors STORE`".to_owned(),
                ));
            }
        },
        Command::Outbox(command) => match command {
            OutboxCommand::List { integration, dead } => Request::OutboxList {
                integration: integration.clone(),
                state: dead.then_some(OutboxState::DeadLetter),
            },
            OutboxCommand::Retry {
                integration, id, ..
            } => Request::OutboxRetry {
                integration: integration.clone(),
                id: *id,
            },
            OutboxCommand::Drop { integration, id } => Request::OutboxDrop {
                integration: integration.clone(),
                id: *id,
            },
        },
        Command::Health { integration } => Request::Health {
            integration: integration.clone(),
        },
        Command::Report(ReportCommand::Fulfillment {
            integration,
            from,
            to,
        }) => Request::FulfillmentReport {
            integration: integration.clone(),
            from: parse_time(from, DayEdge::Start)?,
            to: parse_time(to, DayEdge::End)?,
        },
        Command::Report(ReportCommand::Inventory { integration }) => Request::InventoryReport {
            integration: integration.clone(),
        },
        Command::Status => Request::DaemonStatus {},
        Command::Backup { file } => {
            let absolute = std::path::absolute(file).map_err(|e| {
                UsageError(format!("cannot resolve the path {}: {e}", file.display()))
            })?;
            Request::Backup {
                path: absolute
                    .to_str()
                    .ok_or_else(|| UsageError("the backup path is not valid UTF-8".to_owned()))?
                    .to_owned(),
            }
        }
    };
    Ok(Plan::one(request))
}

fn integration_request(
    command: &IntegrationCommand,
    stdin: &mut dyn Read,
) -> Result<Request, UsageError> {
    Ok(match command {
        IntegrationCommand::Create {
            name,
            shop_url,
            token,
            settings,
        } => Request::IntegrationCreate(NewIntegration {
            name: name.clone(),
            eshop_url: shop_url.clone(),
            api_base_url: settings.api_url.clone(),
            credentials: token.read(stdin)?,
            default_warehouse_code: settings.warehouse.clone(),
            shoptet_stock_id: settings.stock_id,
            sync_interval_minutes: settings.interval,
            auto_order_import: settings.auto_import,
            auto_inventory_sync: settings.auto_inventory,
            auto_status_update: settings.auto_status,
            status_mapping: settings.status_ids,
            low_stock_threshold: settings.low_stock,
        }),
        IntegrationCommand::Get { name } => Request::IntegrationGet { name: name.clone() },
        IntegrationCommand::List => Request::IntegrationList {},
        IntegrationCommand::Update {
            name,
            rename,
            shop_url,
            settings,
        } => {
            let patch = IntegrationPatch {
                name: name.clone(),
                rename: rename.clone(),
                eshop_url: shop_url.clone(),
                api_base_url: settings.api_url.clone(),
                default_warehouse_code: settings.warehouse.clone(),
                shoptet_stock_id: settings.stock_id,
                sync_interval_minutes: settings.interval,
                auto_order_import: settings.auto_import,
                auto_inventory_sync: settings.auto_inventory,
                auto_status_update: settings.auto_status,
                status_mapping: settings.status_ids,
                low_stock_threshold: settings.low_stock,
            };
            if patch
                == (IntegrationPatch {
                    name: name.clone(),
                    ..Default::default()
                })
            {
                return Err(UsageError(
                    "nothing to change: give at least one option (see --help)".to_owned(),
                ));
            }
            Request::IntegrationUpdate(patch)
        }
        IntegrationCommand::Delete { name } => Request::IntegrationDelete { name: name.clone() },
        IntegrationCommand::Activate { name } => {
            Request::IntegrationActivate { name: name.clone() }
        }
        IntegrationCommand::Deactivate { name, reason } => Request::IntegrationDeactivate {
            name: name.clone(),
            reason: reason.clone(),
        },
        IntegrationCommand::Credentials { name, token } => {
            if !token.is_given() {
                return Err(UsageError(
                    "give the token with --private-token-file, --oauth-token-file or --token-stdin"
                        .to_owned(),
                ));
            }
            let credentials = token
                .read(stdin)?
                .ok_or_else(|| UsageError("no token given".to_owned()))?;
            Request::IntegrationUpdateCredentials {
                name: name.clone(),
                credentials,
            }
        }
    })
}

fn order_request(command: &OrderCommand) -> Request {
    match command {
        OrderCommand::Get { integration, code } => Request::OrderGet {
            integration: integration.clone(),
            code: code.clone(),
        },
        OrderCommand::Process {
            integration,
            code,
            session,
        } => Request::OrderProcess {
            integration: integration.clone(),
            code: code.clone(),
            picking_session: session.clone(),
        },
        OrderCommand::Ship {
            integration,
            code,
            tracking,
            transport_box,
        } => Request::OrderShip {
            integration: integration.clone(),
            code: code.clone(),
            tracking_number: tracking.clone(),
            transport_box: transport_box.clone(),
        },
        OrderCommand::Cancel {
            integration,
            code,
            reason,
        } => Request::OrderCancel {
            integration: integration.clone(),
            code: code.clone(),
            reason: reason.clone(),
        },
        OrderCommand::Note {
            integration,
            code,
            note,
        } => Request::OrderAddNote {
            integration: integration.clone(),
            code: code.clone(),
            note: note.clone(),
        },
        OrderCommand::Resolve {
            integration,
            code,
            choice,
        } => Request::OrderResolve {
            integration: integration.clone(),
            code: code.clone(),
            resolution: if choice.accept_shop {
                ConflictResolution::AcceptShop
            } else {
                ConflictResolution::KeepOurs
            },
        },
        OrderCommand::PickList {
            integration,
            session,
        } => Request::PickList {
            integration: integration.clone(),
            picking_session: session.clone(),
        },
    }
}

fn import_plan(
    integration: &str,
    file: &Path,
    chunk: usize,
    stdin: &mut dyn Read,
) -> Result<Plan, UsageError> {
    if chunk == 0 || chunk > MAX_BULK_ITEMS {
        return Err(UsageError(format!(
            "--chunk must be between 1 and {MAX_BULK_ITEMS}"
        )));
    }
    let text = if file == Path::new("-") {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|e| UsageError(format!("cannot read the CSV from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", file.display())))?
    };
    let rows = parse_stock_csv(&text)?;
    let mut plan = Plan {
        requests: Vec::new(),
        chunk_lines: Vec::new(),
    };
    for part in rows.chunks(chunk) {
        let (Some(first), Some(last)) = (part.first(), part.last()) else {
            continue;
        };
        plan.chunk_lines.push((first.line, last.line));
        plan.requests.push(Request::StockBulkSet {
            integration: integration.to_owned(),
            items: part.iter().map(|row| row.item.clone()).collect(),
        });
    }
    Ok(plan)
}

/// Entry point of the shoptetctl binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    ExitCode::from(run(&cli, &mut stdin, &mut stdout, &mut stderr))
}

/// Runs one parsed command line; returns the exit code.
pub fn run(cli: &Cli, stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let plan = match plan(&cli.command, stdin) {
        Ok(plan) => plan,
        Err(error) => {
            let _ = writeln!(err, "shoptetctl: {error}");
            return EXIT_USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = writeln!(err, "shoptetctl: cannot start: {error}");
            return EXIT_UNREACHABLE;
        }
    };
    let outcome = runtime.block_on(execute(&cli.socket, cli.timeout, &plan));
    report(cli, &plan, outcome, out, err)
}

/// What the calls produced.
enum Outcome {
    Done(Box<Response>),
    Failed {
        error: ClientError,
        /// Requests of a chunked import that were applied before the failure.
        applied: usize,
    },
}

async fn execute(socket: &Path, timeout: Option<Duration>, plan: &Plan) -> Outcome {
    let connect_limit = timeout.map_or(DEFAULT_CONNECT_TIMEOUT, |t| t.min(DEFAULT_CONNECT_TIMEOUT));
    let mut client = match ControlClient::connect_within(socket, connect_limit).await {
        Ok(client) => client,
        Err(error) => return Outcome::Failed { error, applied: 0 },
    };
    if let Some(timeout) = timeout {
        client = client.with_timeout(timeout);
    }
    let mut bulk: Option<StockBulkResult> = None;
    let mut last = None;
    for (applied, request) in plan.requests.iter().enumerate() {
        match client.call(request.clone()).await {
            Ok(Response::StockBulk(result)) if plan.requests.len() > 1 => {
                let total = bulk.get_or_insert(StockBulkResult {
                    warehouse_code: result.warehouse_code.clone(),
                    updated: 0,
                    unchanged: 0,
                });
                total.updated += result.updated;
                total.unchanged += result.unchanged;
            }
            Ok(response) => last = Some(response),
            Err(error) => return Outcome::Failed { error, applied },
        }
    }
    match (bulk, last) {
        (Some(total), _) => Outcome::Done(Box::new(Response::StockBulk(total))),
        (None, Some(response)) => Outcome::Done(Box::new(response)),
        (None, None) => Outcome::Failed {
            error: ClientError::Protocol("nothing to send".to_owned()),
            applied: 0,
        },
    }
}

fn report(
    cli: &Cli,
    plan: &Plan,
    outcome: Outcome,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match outcome {
        Outcome::Done(response) => {
            let written = if cli.json {
                match serde_json::to_string_pretty(&response) {
                    Ok(json) => writeln!(out, "{json}"),
                    Err(error) => writeln!(err, "shoptetctl: cannot print JSON: {error}"),
                }
            } else {
                out.write_all(render::render(&response).as_bytes())
            };
            // A closed pipe (`| head`) is not a failure of the command.
            let _ = written;
            0
        }
        Outcome::Failed { error, applied } => {
            if applied > 0
                && let Some(&(_, last_line)) = plan.chunk_lines.get(applied - 1)
            {
                let _ = writeln!(
                    err,
                    "shoptetctl: rows up to line {last_line} were applied ({applied} of {} request(s)); the rest were not",
                    plan.requests.len()
                );
            }
            match error {
                ClientError::Refused(refusal) => {
                    print_refusal(cli, &refusal, out, err);
                    EXIT_REFUSED
                }
                ClientError::Connect { path, source } => {
                    let _ = writeln!(
                        err,
                        "shoptetctl: cannot connect to {}: {source}\n\
                         hint: is shoptet-syncd running, and is this the right socket? Give another with \
                         --socket PATH or {SOCKET_ENV}. If the socket exists, your user needs to be in its \
                         group (see `ls -l {}`) and in the daemon's allowed users or groups.",
                        path.display(),
                        path.display()
                    );
                    EXIT_UNREACHABLE
                }
                ClientError::Timeout(limit) => {
                    let _ = writeln!(
                        err,
                        "shoptetctl: the daemon at {} did not answer within {} s\n\
                         hint: it may be stopped, stuck or overloaded: check `systemctl status shoptet-syncd` \
                         and `journalctl -u shoptet-syncd`. A long operation may still be running; \
                         wait longer with --timeout SECS.",
                        cli.socket.display(),
                        limit.as_secs_f32()
                    );
                    EXIT_UNREACHABLE
                }
                other => {
                    let _ = writeln!(
                        err,
                        "shoptetctl: {other}\nhint: the daemon at {} stopped answering; check `journalctl -u shoptet-syncd`",
                        cli.socket.display()
                    );
                    EXIT_UNREACHABLE
                }
            }
        }
    }
}

fn print_refusal(cli: &Cli, refusal: &ControlError, out: &mut dyn Write, err: &mut dyn Write) {
    if cli.json {
        let body =
            serde_json::json!({ "error": { "code": refusal.code, "message": refusal.message } });
        let _ = writeln!(out, "{body:#}");
    }
    let _ = writeln!(err, "shoptetctl: {} ({})", refusal.message, refusal.code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut full = vec!["shoptetctl"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn request(args: &[&str]) -> Request {
        let plan = plan(&parse(args).command, &mut std::io::empty()).unwrap();
        assert_eq!(plan.requests.len(), 1);
        plan.requests.into_iter().next().unwrap()
    }

    fn usage_error(args: &[&str]) -> clap::error::ErrorKind {
        let mut full = vec!["shoptetctl"];
        full.extend_from_slice(args);
        Cli::try_parse_from(full).unwrap_err().kind()
    }

    #[test]
    fn examples_from_the_issue_build_the_right_requests() {
        assert_eq!(
            request(&["integration", "activate", "demo"]),
            Request::IntegrationActivate {
                name: "demo".into()
            }
        );
        assert_eq!(
            request(&["sync", "orders", "demo", "--force"]),
            Request::SyncOrders {
                integration: "demo".into(),
                force: true
            }
        );
        let Request::OrdersList(query) =
            request(&["orders", "list", "demo", "--status", "imported"])
        else {
            panic!()
        };
        assert_eq!(query.status, Some(OrderStatus::Imported));
        assert!(query.descending);
        assert_eq!((query.page, query.page_size), (1, DEFAULT_PAGE_SIZE));
        assert_eq!(
            request(&[
                "order",
                "ship",
                "demo",
                "2025000318",
                "--tracking",
                "DR1234567890E",
                "--box",
                "B1"
            ]),
            Request::OrderShip {
                integration: "demo".into(),
                code: "2025000318".into(),
                tracking_number: Some("DR1234567890E".into()),
                transport_box: Some("B1".into()),
            }
        );
        assert_eq!(
            request(&["stock", "set", "demo", "SKU-1", "42"]),
            Request::StockSet {
                integration: "demo".into(),
                code: "SKU-1".into(),
                quantity: Decimal::new(42, 0)
            }
        );
        assert_eq!(
            request(&["errors", "demo"]),
            Request::ErrorsList {
                integration: "demo".into(),
                all: false
            }
        );
        assert_eq!(
            request(&["errors", "demo", "--all"]),
            Request::ErrorsList {
                integration: "demo".into(),
                all: true
            }
        );
        let id = "6f1c7f3e-7f43-4c84-9d7e-2b8f7e8f0a11";
        assert_eq!(
            request(&[
                "errors",
                "resolve",
                "demo",
                id,
                "--resolution",
                "token renewed"
            ]),
            Request::ErrorResolve {
                integration: "demo".into(),
                id: id.parse().unwrap(),
                resolution: "token renewed".into()
            }
        );
        assert_eq!(
            request(&["health", "demo"]),
            Request::Health {
                integration: "demo".into()
            }
        );
        assert_eq!(request(&["status"]), Request::DaemonStatus {});
        assert_eq!(
            request(&["order", "resolve", "demo", "7", "--keep-ours"]),
            Request::OrderResolve {
                integration: "demo".into(),
                code: "7".into(),
                resolution: ConflictResolution::KeepOurs
            }
        );
        assert_eq!(
            request(&["product", "sync", "demo", "SKU-1", "off"]),
            Request::ProductToggleSync {
                integration: "demo".into(),
                code: "SKU-1".into(),
                enabled: false
            }
        );
        assert_eq!(
            request(&["outbox", "retry", "demo", "--dead-letters"]),
            Request::OutboxRetry {
                integration: "demo".into(),
                id: None
            }
        );
    }

    #[test]
    fn report_dates_cover_whole_days() {
        let Request::FulfillmentReport { from, to, .. } = request(&[
            "report",
            "fulfillment",
            "demo",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-30",
        ]) else {
            panic!()
        };
        assert_eq!(from.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        let exact = parse_time("2026-11-05T10:00:00+01:00", DayEdge::End).unwrap();
        assert_eq!(exact.to_rfc3339(), "2026-11-05T09:00:00+00:00");
        assert!(parse_time("05/11/2026", DayEdge::Start).is_err());
        let error = plan(
            &parse(&["orders", "list", "demo", "--from", "yesterday"]).command,
            &mut std::io::empty(),
        )
        .unwrap_err();
        assert!(error.0.contains("yesterday"));
    }

    #[test]
    fn usage_errors_are_caught_by_clap() {
        use clap::error::ErrorKind;
        assert_eq!(
            usage_error(&["order", "resolve", "demo", "7"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            usage_error(&[
                "order",
                "resolve",
                "demo",
                "7",
                "--keep-ours",
                "--accept-shop"
            ]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            usage_error(&["orders", "list", "demo", "--status", "lost"]),
            ErrorKind::InvalidValue
        );
        assert_eq!(
            usage_error(&["stock", "set", "demo", "SKU-1", "many"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(usage_error(&["errors"]), ErrorKind::MissingRequiredArgument);
        assert_eq!(
            usage_error(&["outbox", "retry", "demo"]),
            ErrorKind::MissingRequiredArgument
        );
        // Tokens are never accepted on the command line.
        assert_eq!(
            usage_error(&[
                "integration",
                "create",
                "demo",
                "--shop-url",
                "u",
                "--token",
                "abc"
            ]),
            ErrorKind::UnknownArgument
        );
        assert_eq!(
            usage_error(&[
                "integration",
                "create",
                "demo",
                "--shop-url",
                "u",
                "--private-token-file",
                "a",
                "--oauth-token-file",
                "b"
            ]),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn socket_comes_from_the_flag_or_the_default() {
        // The environment is not touched here (tests run in parallel); the binary tests cover it.
        assert_eq!(
            parse(&["--socket", "/tmp/x.sock", "status"]).socket,
            PathBuf::from("/tmp/x.sock")
        );
        assert!(parse(&["status", "--json"]).json);
    }

    #[test]
    fn tokens_are_read_from_files_or_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "abc123secret\n").unwrap();
        let file_arg = file.to_str().unwrap();
        let Request::IntegrationCreate(new) = request(&[
            "integration",
            "create",
            "demo",
            "--shop-url",
            "https://demo.myshoptet.com",
            "--private-token-file",
            file_arg,
            "--warehouse",
            "MAIN",
            "--status-ids",
            "-2,-3,-4",
        ]) else {
            panic!()
        };
        let credentials = new.credentials.unwrap();
        assert_eq!(credentials.kind, CredentialsKind::PrivateToken);
        assert_eq!(credentials.token.expose(), "abc123secret");
        assert_eq!(new.status_mapping, Some(StatusMapping::default()));

        let cli = parse(&[
            "integration",
            "credentials",
            "demo",
            "--token-stdin",
            "--oauth",
        ]);
        let plan = plan(&cli.command, &mut "  oauth-token-xyz \n".as_bytes()).unwrap();
        assert_eq!(
            plan.requests[0],
            Request::IntegrationUpdateCredentials {
                name: "demo".into(),
                credentials: CredentialsInput {
                    kind: CredentialsKind::AddonOauth,
                    token: Secret::new("oauth-token-xyz")
                }
            }
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let cli = parse(&[
            "integration",
            "credentials",
            "demo",
            "--private-token-file",
            empty.to_str().unwrap(),
        ]);
        assert!(
            super::plan(&cli.command, &mut std::io::empty())
                .unwrap_err()
                .0
                .contains("empty")
        );
        let cli = parse(&["integration", "credentials", "demo"]);
        assert!(super::plan(&cli.command, &mut std::io::empty()).is_err());
        let cli = parse(&[
            "integration",
            "credentials",
            "demo",
            "--private-token-file",
            "/nonexistent/t",
        ]);
        let error = super::plan(&cli.command, &mut std::io::empty()).unwrap_err();
        assert!(error.0.contains("/nonexistent/t"));
    }

    #[test]
    fn csv_import_accepts_valid_files() {
        let rows = parse_stock_csv(
            "\u{feff}code,quantity\r\nSKU-1,42\r\n\r\n\"SKU 2\",\"2.5\"\nSKU-3, 0\n",
        )
        .unwrap();
        let items: Vec<(usize, &str, Decimal)> = rows
            .iter()
            .map(|r| (r.line, r.item.code.as_str(), r.item.quantity))
            .collect();
        assert_eq!(
            items,
            vec![
                (2, "SKU-1", Decimal::new(42, 0)),
                (4, "SKU 2", Decimal::new(25, 1)),
                (5, "SKU-3", Decimal::ZERO)
            ]
        );
        let rows = parse_stock_csv("Code;Quantity\nA;1,5\n").unwrap();
        assert_eq!(rows[0].item.quantity, Decimal::new(15, 1));
    }

    #[test]
    fn csv_import_reports_every_bad_line() {
        let error = parse_stock_csv("code,quantity\nA,1\nB,lots\n,3\nC,-2\nA,5\nD,1,2\n")
            .unwrap_err()
            .0;
        assert!(error.contains("5 invalid row(s)"), "{error}");
        for expected in [
            "line 3: quantity `lots` of `B` is not a number",
            "line 4: the code is empty",
            "line 5: quantity `-2` of `C` is negative",
            "line 6: code `A` already appears on line 2",
            "line 7: expected 2 fields",
        ] {
            assert!(error.contains(expected), "missing `{expected}` in {error}");
        }
        assert!(
            parse_stock_csv("sku,qty\nA,1\n")
                .unwrap_err()
                .0
                .contains("line 1: the header")
        );
        assert!(parse_stock_csv("").unwrap_err().0.contains("empty"));
        assert!(
            parse_stock_csv("code,quantity\n\n")
                .unwrap_err()
                .0
                .contains("no rows")
        );
        let many: String = std::iter::once("code,quantity\n".to_owned())
            .chain((0..30).map(|i| format!("X{i},bad\n")))
            .collect();
        let error = parse_stock_csv(&many).unwrap_err().0;
        assert!(error.contains("… and 10 more"), "{error}");
    }

    #[test]
    fn csv_import_is_chunked_with_line_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stock.csv");
        let text: String = std::iter::once("code,quantity\n".to_owned())
            .chain((0..5).map(|i| format!("SKU-{i},{i}\n")))
            .collect();
        std::fs::write(&file, text).unwrap();
        let cli = parse(&[
            "stock",
            "import",
            "demo",
            file.to_str().unwrap(),
            "--chunk",
            "2",
        ]);
        let plan = plan(&cli.command, &mut std::io::empty()).unwrap();
        assert_eq!(plan.requests.len(), 3);
        assert_eq!(plan.chunk_lines, vec![(2, 3), (4, 5), (6, 6)]);
        let Request::StockBulkSet { items, .. } = &plan.requests[2] else {
            panic!()
        };
        assert_eq!(
            items,
            &vec![StockItem {
                code: "SKU-4".into(),
                quantity: Decimal::new(4, 0)
            }]
        );
        for request in &plan.requests {
            request.validate().unwrap();
        }
    }

    #[test]
    fn backup_paths_are_made_absolute() {
        let Request::Backup { path } = request(&["backup", "snap.db"]) else {
            panic!()
        };
        assert!(Path::new(&path).is_absolute());
        assert!(path.ends_with("/snap.db"));
    }

    #[test]
    fn update_needs_something_to_change() {
        let cli = parse(&["integration", "update", "demo"]);
        assert!(
            plan(&cli.command, &mut std::io::empty())
                .unwrap_err()
                .0
                .contains("nothing to change")
        );
        let Request::IntegrationUpdate(patch) = request(&[
            "integration",
            "update",
            "demo",
            "--interval",
            "30",
            "--auto-import",
            "false",
        ]) else {
            panic!()
        };
        assert_eq!(patch.sync_interval_minutes, Some(30));
        assert_eq!(patch.auto_order_import, Some(false));
    }
}
