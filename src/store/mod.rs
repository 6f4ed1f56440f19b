//! Persistence in sled: a fixed set of trees, sortable keys, one versioned codec, atomic commits.
//!
//! - One [`Store`] (one sled `Db`) per daemon; cloning it is cheap and shares the database.
//! - Writes go through a [`Changeset`] and [`Store::commit`]: one sled transaction across all trees,
//!   then a flush, so a commit that returned is on disk and a crash never leaves half of one.
//! - Commits, pruning and backups take one write lock: the backup sees a state between commits.
//!   Reads take no lock; each integration has one writer (its actor), so its own reads are stable.
//! - Values go through [`codec`] (a version byte + bincode); keys are built in [`keys`].
//! - Every commit also updates a manifest (commit sequence, record count per tree) in the same
//!   transaction; [`Store::open`] checks it against the trees and refuses a damaged store
//!   ([`integrity`]).

mod any_as_str;
pub mod backup;
mod changeset;
pub mod codec;
pub mod integrity;
pub mod keys;
pub mod legacy;
pub mod sealing;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use crate::domain::{
    ErrorLog, Integration, IntegrationId, Order, OrderStatus, OutboxEntry, PriceChange, Product,
    StockLevel, SyncLog,
};

pub use backup::{BackupStats, RestoreStats, ScheduledBackup};
pub use changeset::Changeset;
use changeset::{Op, Write};
pub use integrity::{Manifest, OpenReport};
pub use keys::TreeId;
pub use sealing::SealingReport;

/// A storage failure. Record-level errors name the tree and the key.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, a second process holding the database, corruption sled detected).
    #[error("database error")]
    Sled(#[from] sled::Error),
    /// A record's bytes do not decode as the expected type.
    #[error("record {tree}/{key} cannot be decoded")]
    Decode {
        tree: &'static str,
        key: String,
        #[source]
        source: bincode::error::DecodeError,
    },
    /// A value could not be encoded.
    #[error("record {tree}/{key} cannot be encoded")]
    Encode {
        tree: &'static str,
        key: String,
        #[source]
        source: bincode::error::EncodeError,
    },
    /// A record was written by a format this build does not know (a newer version, or damage).
    #[error("record {tree}/{key} has unknown format version {version}")]
    UnknownVersion {
        tree: &'static str,
        key: String,
        version: u8,
    },
    /// A record or index entry is inconsistent.
    #[error("record {tree}/{key} is corrupt: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    /// A tree as a whole disagrees with another (an index with stale entries).
    #[error("tree {tree} is inconsistent: {reason}")]
    Inconsistent { tree: &'static str, reason: String },
    /// A value cannot be part of a key.
    #[error("invalid {what}: {reason}")]
    InvalidKey { what: &'static str, reason: String },
    /// Restore only writes into an empty data directory.
    #[error("data directory {path} is not empty; restore needs an empty one")]
    NotEmpty { path: PathBuf },
    /// A file operation failed.
    #[error("I/O error on {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A backup may not be written there (inside the data directory, a directory).
    #[error("cannot write a backup to {path}: {reason}")]
    BackupTarget { path: PathBuf, reason: String },
    /// A backup file is damaged, truncated or not a backup.
    #[error("backup {path} is invalid: {reason}")]
    InvalidBackup { path: PathBuf, reason: String },
    /// A secret must be sealed or opened but the store has no key installed.
    #[error("no sealing key is installed; secrets cannot be stored or read")]
    NoSealingKey,
    /// A sealed secret did not open (wrong key) or could not be sealed.
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    /// The store is damaged: records are missing, undecodable or older than they must be. The
    /// daemon refuses to run on it (see [`integrity`]).
    #[error("the store in {path} is damaged: {problem}")]
    Damaged { path: PathBuf, problem: String },
    /// A blocking task running store work did not finish.
    #[error("store task failed")]
    Task(#[source] tokio::task::JoinError),
}

impl StoreError {
    fn corrupt(tree: TreeId, key: &[u8], reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            tree: tree.name(),
            key: keys::describe_key(tree, key),
            reason: reason.into(),
        }
    }
}

/// What an integration actor keeps in memory, loaded in one pass over that integration's keys.
#[derive(Debug, Clone)]
pub struct IntegrationState {
    pub integration: Integration,
    /// Sorted by code (byte order).
    pub orders: Vec<Order>,
    /// Sorted by variant code (byte order).
    pub products: Vec<Product>,
    /// Sorted by `seq`.
    pub outbox: Vec<OutboxEntry>,
    pub meta: MetaValues,
}

/// An integration's named values, decoded on demand with [`MetaValues::get`].
#[derive(Debug, Clone, Default)]
pub struct MetaValues {
    integration_id: IntegrationId,
    values: BTreeMap<String, Vec<u8>>,
}

impl MetaValues {
    /// The value stored under `name`, decoded as `T`.
    pub fn get<T: codec::Record>(&self, name: &str) -> Result<Option<T>, StoreError> {
        self.values
            .get(name)
            .map(|bytes| {
                codec::decode(
                    TreeId::Meta,
                    &keys::meta_key(self.integration_id, name),
                    bytes,
                )
            })
            .transpose()
    }

    /// The stored names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// What [`Store::prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    pub sync_logs: u64,
    pub errors: u64,
}

/// What [`Store::check_integrity`] examined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Records decoded, all trees.
    pub records: u64,
    /// Index entries verified.
    pub index_entries: u64,
}

/// The daemon's database. Clone to share.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The open database; replaced as a whole when the store is reopened.
    handles: std::sync::RwLock<Arc<Handles>>,
    /// The manifest as last committed (see [`integrity`]); changed only under `write_lock`.
    manifest: std::sync::Mutex<Manifest>,
    /// Serialises commits, pruning and backups (see the module docs).
    write_lock: tokio::sync::Mutex<()>,
    /// Records decoded by the read queries, per tree (in [`TreeId::ALL`] order).
    reads: [std::sync::atomic::AtomicU64; TreeId::ALL.len()],
    /// The key secrets are sealed with (see [`sealing`]); `None` until installed.
    sealer: std::sync::RwLock<Option<crate::secrets::Sealer>>,
}

/// One opened sled database and its trees.
struct Handles {
    db: sled::Db,
    /// In [`TreeId::ALL`] order, then the tree holding the manifest (sled's default tree).
    trees: Vec<sled::Tree>,
}

/// Index of the manifest's tree in [`Handles::trees`].
const MANIFEST_TREE: usize = TreeId::ALL.len();

impl Handles {
    fn open(path: &Path) -> Result<Handles, sled::Error> {
        let db = open_db(path)?;
        let mut trees = TreeId::ALL
            .iter()
            .map(|tree| db.open_tree(tree.name()))
            .collect::<Result<Vec<_>, _>>()?;
        trees.push((*db).clone());
        Ok(Handles { db, trees })
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// How long [`open_db`] waits for another handle of the same directory to let go.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the sled database at `path`.
///
/// Every commit flushes explicitly before it is acknowledged, so sled's periodic background
/// flusher is switched off: it only held the database (and its file lock) alive for up to its
/// period after the last handle was dropped, which made an immediate reopen in the same process
/// (restore, then open) fail. A lock still held by a handle being dropped is waited for briefly;
/// a lock held by another live process (a second daemon) still fails, after [`LOCK_WAIT`].
pub(crate) fn open_db(path: &Path) -> Result<sled::Db, sled::Error> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new().path(path).flush_every_ms(None).open() {
            Err(sled::Error::Io(err))
                if err.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            result => return result,
        }
    }
}

impl Store {
    /// Opens (or creates) the database in directory `path` and checks its integrity (see
    /// [`integrity`]): a damaged store is refused with [`StoreError::Damaged`]. Fails if another
    /// process has it open.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_checked(path).map(|(store, _)| store)
    }

    /// [`Store::open`], also saying what the integrity check found and did.
    pub fn open_checked(path: impl AsRef<Path>) -> Result<(Store, OpenReport), StoreError> {
        let path = path.as_ref().to_path_buf();
        let handles = integrity::open_handles(&path)?;
        let store = Store {
            inner: Arc::new(Inner {
                path,
                handles: std::sync::RwLock::new(Arc::new(handles)),
                manifest: std::sync::Mutex::new(Manifest::default()),
                write_lock: tokio::sync::Mutex::new(()),
                reads: Default::default(),
                sealer: std::sync::RwLock::new(None),
            }),
        };
        let report = integrity::verify_at_open(&store)?;
        Ok((store, report))
    }

    fn handles(&self) -> Arc<Handles> {
        // A poisoned lock only means a panic elsewhere while holding it; the Arc is intact.
        self.inner
            .handles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn manifest_lock(&self) -> std::sync::MutexGuard<'_, Manifest> {
        self.inner
            .manifest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The manifest as of the last commit.
    pub fn manifest(&self) -> Manifest {
        self.manifest_lock().clone()
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn tree(&self, tree: TreeId) -> sled::Tree {
        self.handles().trees[tree.index()].clone()
    }

    /// Records of `tree` decoded by prefix reads (queries, state loading) since the store was
    /// opened: shows how much a piece of work scans.
    pub fn records_read(&self, tree: TreeId) -> u64 {
        self.inner.reads[tree.index()].load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_reads(&self, tree: TreeId, records: usize) {
        self.inner.reads[tree.index()].fetch_add(
            u64::try_from(records).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Applies `changeset` atomically (all of it or none of it) and returns once it is on disk.
    pub async fn commit(&self, changeset: Changeset) -> Result<(), StoreError> {
        let ops = changeset.into_ops()?;
        if ops.is_empty() {
            return Ok(());
        }
        {
            let _guard = self.inner.write_lock.lock().await;
            self.apply(ops)?;
        }
        self.flush().await
    }

    /// [`Store::commit`] for threads that may block (tests, tools). Never call it from async code.
    pub fn commit_blocking(&self, changeset: Changeset) -> Result<(), StoreError> {
        futures::executor::block_on(self.commit(changeset))
    }

    /// Waits until everything written so far is on disk.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let handles = self.handles();
        handles.db.flush_async().await?;
        Ok(())
    }

    /// Runs the transaction. Callers hold the write lock, so the keys listed for a deleted
    /// integration cannot change before the transaction runs.
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        let mut writes = Vec::with_capacity(ops.len());
        let sealer = self.sealer();
        for op in ops {
            match op {
                Op::Seal {
                    id,
                    name,
                    plaintext,
                } => writes.push(self.seal_op(sealer.as_ref(), id, &name, &plaintext)?),
                Op::DeleteIntegration(id) => {
                    for tree in TreeId::ALL.into_iter().filter(|t| t.is_per_integration()) {
                        for key in self.tree(tree).scan_prefix(id.as_bytes()).keys() {
                            writes.push(Write::Remove {
                                tree,
                                key: key?.to_vec(),
                            });
                        }
                    }
                }
                Op::Write(write) => writes.push(write),
            }
        }
        let base = self.manifest();
        let handles = self.handles();
        let result = handles.trees[..].transaction(|txs| {
            // Counted afresh on each run of the closure (sled may run it more than once).
            let mut deltas = [0i64; TreeId::ALL.len()];
            for write in &writes {
                apply_write(txs, write, &mut deltas)?;
            }
            let next = base.next(&deltas);
            txs[MANIFEST_TREE].insert(integrity::MANIFEST_KEY, next.encode())?;
            Ok(next)
        });
        match result {
            Ok(next) => {
                *self.manifest_lock() = next;
                Ok(())
            }
            Err(TransactionError::Abort(err)) => Err(err),
            Err(TransactionError::Storage(err)) => Err(StoreError::Sled(err)),
        }
    }

    /// All integrations, by id.
    pub fn integrations(&self) -> Result<Vec<Integration>, StoreError> {
        let mut integrations: Vec<Integration> = self.decode_prefix(TreeId::Integrations, &[])?;
        for integration in &mut integrations {
            self.attach_credentials(integration)?;
        }
        Ok(integrations)
    }

    /// One integration.
    pub fn integration(&self, id: IntegrationId) -> Result<Option<Integration>, StoreError> {
        let mut integration: Option<Integration> =
            self.get(TreeId::Integrations, &keys::integration_key(id))?;
        if let Some(integration) = &mut integration {
            self.attach_credentials(integration)?;
        }
        Ok(integration)
    }

    /// Everything an integration actor holds in memory; `None` if the integration does not exist.
    /// Reads only this integration's key ranges.
    pub fn load_state(&self, id: IntegrationId) -> Result<Option<IntegrationState>, StoreError> {
        let Some(integration) = self.integration(id)? else {
            return Ok(None);
        };
        let prefix = keys::integration_prefix(id);
        let mut meta = MetaValues {
            integration_id: id,
            values: BTreeMap::new(),
        };
        for entry in self.tree(TreeId::Meta).scan_prefix(&prefix) {
            let (key, value) = entry?;
            let name = std::str::from_utf8(&key[keys::ID_LEN..])
                .map_err(|_| StoreError::corrupt(TreeId::Meta, &key, "the name is not UTF-8"))?;
            meta.values.insert(name.to_owned(), value.to_vec());
        }
        Ok(Some(IntegrationState {
            integration,
            orders: self.decode_prefix(TreeId::Orders, &prefix)?,
            products: self.decode_prefix(TreeId::Products, &prefix)?,
            outbox: self.decode_prefix(TreeId::Outbox, &prefix)?,
            meta,
        }))
    }

    /// One order by its shop code.
    pub fn order(&self, id: IntegrationId, code: &str) -> Result<Option<Order>, StoreError> {
        self.get(TreeId::Orders, &keys::order_key(id, code))
    }

    /// The integration's orders in `status`, by code (via the status index).
    pub fn orders_by_status(
        &self,
        id: IntegrationId,
        status: OrderStatus,
    ) -> Result<Vec<Order>, StoreError> {
        let prefix = keys::status_prefix(id, status);
        let mut orders = Vec::new();
        for key in self
            .tree(TreeId::OrdersByStatus)
            .scan_prefix(&prefix)
            .keys()
        {
            let key = key?;
            let code = &key[prefix.len()..];
            let order = self.indexed_order(TreeId::OrdersByStatus, &key, id, code)?;
            if order.status != status {
                return Err(StoreError::corrupt(
                    TreeId::OrdersByStatus,
                    &key,
                    format!("the order's status is {:?}", order.status),
                ));
            }
            orders.push(order);
        }
        Ok(orders)
    }

    /// The integration's orders imported in `[from, to)`, oldest first (via the import index).
    pub fn orders_imported_between(
        &self,
        id: IntegrationId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Order>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        // Keys hold microseconds: widen to whole microseconds, then filter exactly.
        let start = keys::prefixed(id, &[&keys::time_bytes(from)]);
        let end = keys::prefixed(
            id,
            &[&keys::sortable_micros(
                to.timestamp_micros().saturating_add(1),
            )],
        );
        let mut orders = Vec::new();
        for key in self.tree(TreeId::OrdersByImport).range(start..end).keys() {
            let key = key?;
            let code = key.get(keys::ID_LEN + keys::U64_LEN..).ok_or_else(|| {
                StoreError::corrupt(TreeId::OrdersByImport, &key, "the key is short")
            })?;
            let order = self.indexed_order(TreeId::OrdersByImport, &key, id, code)?;
            if order.imported_at >= from && order.imported_at < to {
                orders.push(order);
            }
        }
        // Keys order by whole microseconds; a stable sort makes the order exact below that.
        orders.sort_by_key(|order| order.imported_at);
        Ok(orders)
    }

    fn indexed_order(
        &self,
        index: TreeId,
        index_key: &[u8],
        id: IntegrationId,
        code: &[u8],
    ) -> Result<Order, StoreError> {
        let order_key = keys::prefixed(id, &[code]);
        self.get::<Order>(TreeId::Orders, &order_key)?
            .ok_or_else(|| StoreError::corrupt(index, index_key, "points to a missing order"))
    }

    /// The integration's products, by variant code.
    pub fn products(&self, id: IntegrationId) -> Result<Vec<Product>, StoreError> {
        self.decode_prefix(TreeId::Products, &keys::integration_prefix(id))
    }

    /// One product.
    pub fn product(&self, id: IntegrationId, code: &str) -> Result<Option<Product>, StoreError> {
        self.get(TreeId::Products, &keys::product_key(id, code))
    }

    /// The integration's outbox, by `seq`.
    pub fn outbox(&self, id: IntegrationId) -> Result<Vec<OutboxEntry>, StoreError> {
        self.decode_prefix(TreeId::Outbox, &keys::integration_prefix(id))
    }

    /// All stock levels of a warehouse, by product code.
    pub fn stock_levels(&self, warehouse: &str) -> Result<Vec<StockLevel>, StoreError> {
        if warehouse.as_bytes().contains(&0) {
            return Ok(Vec::new());
        }
        self.decode_prefix(TreeId::Stock, &keys::stock_prefix(warehouse))
    }

    /// One stock level.
    pub fn stock_level(
        &self,
        warehouse: &str,
        product_code: &str,
    ) -> Result<Option<StockLevel>, StoreError> {
        match keys::stock_key(warehouse, product_code) {
            Some(key) => self.get(TreeId::Stock, &key),
            None => Ok(None),
        }
    }

    /// Sync logs that started at or after `since`, oldest first.
    pub fn sync_logs(
        &self,
        id: IntegrationId,
        since: DateTime<Utc>,
    ) -> Result<Vec<SyncLog>, StoreError> {
        let start = keys::prefixed(id, &[&keys::time_bytes(since)]);
        let mut logs = Vec::new();
        for entry in self.tree(TreeId::SyncLogs).range(start..) {
            let (key, value) = entry?;
            if !key.starts_with(id.as_bytes()) {
                break;
            }
            let log: SyncLog = codec::decode(TreeId::SyncLogs, &key, &value)?;
            if log.started_at >= since {
                logs.push(log);
            }
        }
        logs.sort_by_key(|log| log.started_at);
        Ok(logs)
    }

    /// The integration's errors, oldest first; only unresolved ones if `unresolved_only`.
    pub fn errors(
        &self,
        id: IntegrationId,
        unresolved_only: bool,
    ) -> Result<Vec<ErrorLog>, StoreError> {
        let mut errors: Vec<ErrorLog> =
            self.decode_prefix(TreeId::Errors, &keys::integration_prefix(id))?;
        errors.retain(|error| !unresolved_only || error.resolved_at.is_none());
        errors.sort_by_key(|error| error.occurred_at);
        Ok(errors)
    }

    /// Price changes, oldest first: all of the integration's, or one product's.
    pub fn price_history(
        &self,
        id: IntegrationId,
        product_code: Option<&str>,
    ) -> Result<Vec<PriceChange>, StoreError> {
        let mut changes: Vec<PriceChange> =
            self.decode_prefix(TreeId::PriceHistory, &keys::integration_prefix(id))?;
        if let Some(code) = product_code {
            changes.retain(|change| change.product_code == code);
        }
        changes.sort_by_key(|change| change.changed_at);
        Ok(changes)
    }

    /// A named per-integration value.
    pub fn get_meta<T: codec::Record>(
        &self,
        id: IntegrationId,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get(TreeId::Meta, &keys::meta_key(id, name))
    }

    fn get<T: codec::Record>(&self, tree: TreeId, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.tree(tree)
            .get(key)?
            .map(|value| codec::decode(tree, key, &value))
            .transpose()
    }

    fn decode_prefix<T: codec::Record>(
        &self,
        tree: TreeId,
        prefix: &[u8],
    ) -> Result<Vec<T>, StoreError> {
        let records: Vec<T> = self
            .tree(tree)
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, value) = entry?;
                codec::decode(tree, &key, &value)
            })
            .collect::<Result<_, _>>()?;
        self.count_reads(tree, records.len());
        Ok(records)
    }

    /// Removes sync logs that started before `older_than` and resolved errors resolved before it.
    /// Unresolved errors are never removed.
    pub async fn prune(&self, older_than: DateTime<Utc>) -> Result<PruneStats, StoreError> {
        self.prune_each(older_than, older_than).await
    }

    /// Removes sync logs that started before `sync_logs_before` and errors resolved before
    /// `resolved_errors_before` (each history has its own retention). Unresolved errors are
    /// never removed.
    pub async fn prune_each(
        &self,
        sync_logs_before: DateTime<Utc>,
        resolved_errors_before: DateTime<Utc>,
    ) -> Result<PruneStats, StoreError> {
        let stats = {
            let _guard = self.inner.write_lock.lock().await;
            self.prune_locked(sync_logs_before, resolved_errors_before)?
        };
        self.flush().await?;
        Ok(stats)
    }

    /// [`Store::prune`] for threads that may block.
    pub fn prune_blocking(&self, older_than: DateTime<Utc>) -> Result<PruneStats, StoreError> {
        futures::executor::block_on(self.prune(older_than))
    }

    fn prune_locked(
        &self,
        older_than: DateTime<Utc>,
        resolved_before: DateTime<Utc>,
    ) -> Result<PruneStats, StoreError> {
        let cutoff_micros = older_than.timestamp_micros();
        let mut removals = Vec::new();
        let mut stats = PruneStats::default();
        for entry in self.tree(TreeId::SyncLogs).iter() {
            let (key, value) = entry?;
            let micros = keys::micros_from_bytes(key.get(keys::ID_LEN..).unwrap_or_default())
                .ok_or_else(|| StoreError::corrupt(TreeId::SyncLogs, &key, "the key is short"))?;
            // The key holds whole microseconds; only the boundary needs the exact value.
            let old = micros < cutoff_micros
                || (micros == cutoff_micros
                    && codec::decode::<SyncLog>(TreeId::SyncLogs, &key, &value)?.started_at
                        < older_than);
            if old {
                removals.push(Op::Write(Write::Remove {
                    tree: TreeId::SyncLogs,
                    key: key.to_vec(),
                }));
                stats.sync_logs += 1;
            }
        }
        for entry in self.tree(TreeId::Errors).iter() {
            let (key, value) = entry?;
            let error: ErrorLog = codec::decode(TreeId::Errors, &key, &value)?;
            if error.resolved_at.is_some_and(|at| at < resolved_before) {
                removals.push(Op::Write(Write::Remove {
                    tree: TreeId::Errors,
                    key: key.to_vec(),
                }));
                stats.errors += 1;
            }
        }
        // One transaction, counted in the manifest like any commit.
        if !removals.is_empty() {
            self.apply(removals)?;
        }
        Ok(stats)
    }

    /// Decodes every record and checks that keys match their records and that the order indexes
    /// and the orders agree. Returns the first problem found.
    pub fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        let mut report = IntegrityReport::default();
        for entry in self.tree(TreeId::Integrations).iter() {
            let (key, value) = entry?;
            let integration: Integration = codec::decode(TreeId::Integrations, &key, &value)?;
            expect_key(
                TreeId::Integrations,
                &key,
                &keys::integration_key(integration.id),
            )?;
            report.records += 1;
        }
        for entry in self.tree(TreeId::Orders).iter() {
            let (key, value) = entry?;
            let order: Order = codec::decode(TreeId::Orders, &key, &value)?;
            expect_key(
                TreeId::Orders,
                &key,
                &keys::order_key(order.integration_id, &order.code),
            )?;
            let by_status = keys::status_index_key(order.integration_id, order.status, &order.code);
            let by_import =
                keys::import_index_key(order.integration_id, order.imported_at, &order.code);
            if !self.tree(TreeId::OrdersByStatus).contains_key(&by_status)? {
                return Err(StoreError::corrupt(
                    TreeId::Orders,
                    &key,
                    "missing from the status index",
                ));
            }
            if !self.tree(TreeId::OrdersByImport).contains_key(&by_import)? {
                return Err(StoreError::corrupt(
                    TreeId::Orders,
                    &key,
                    "missing from the import index",
                ));
            }
            report.records += 1;
        }
        // Every index entry must be one of the keys an order above required; counting them
        // proves there are no stale ones left.
        let orders = self.tree(TreeId::Orders).len() as u64;
        for index in [TreeId::OrdersByStatus, TreeId::OrdersByImport] {
            let entries = self.tree(index).len() as u64;
            if entries != orders {
                return Err(StoreError::Inconsistent {
                    tree: index.name(),
                    reason: format!("{entries} index entries for {orders} orders"),
                });
            }
            report.index_entries += entries;
        }
        report.records += self.check_tree::<Product>(TreeId::Products, |p| {
            keys::product_key(p.integration_id, &p.code)
        })?;
        report.records += self.check_tree::<StockLevel>(TreeId::Stock, |s| {
            keys::stock_key(&s.warehouse_code, &s.product_code).unwrap_or_default()
        })?;
        report.records += self.check_tree::<OutboxEntry>(TreeId::Outbox, |e| {
            keys::outbox_key(e.integration_id, e.seq)
        })?;
        report.records += self.check_tree::<SyncLog>(TreeId::SyncLogs, |l| {
            keys::log_key(l.integration_id, l.started_at, l.id)
        })?;
        report.records += self.check_tree::<ErrorLog>(TreeId::Errors, |e| {
            keys::log_key(e.integration_id, e.occurred_at, e.id)
        })?;
        report.records += self.check_tree::<PriceChange>(TreeId::PriceHistory, |c| {
            keys::log_key(c.integration_id, c.changed_at, c.id)
        })?;
        // Meta values have caller-chosen types: check the envelope (version byte) only.
        for entry in self.tree(TreeId::Meta).iter() {
            let (key, value) = entry?;
            match value.first() {
                Some(version)
                    if (codec::OLDEST_VERSION..=codec::CURRENT_VERSION).contains(version) => {}
                Some(&version) => {
                    return Err(StoreError::UnknownVersion {
                        tree: TreeId::Meta.name(),
                        key: keys::describe_key(TreeId::Meta, &key),
                        version,
                    });
                }
                None => {
                    return Err(StoreError::corrupt(
                        TreeId::Meta,
                        &key,
                        "the value is empty",
                    ));
                }
            }
            report.records += 1;
        }
        Ok(report)
    }

    fn check_tree<T: codec::Record>(
        &self,
        tree: TreeId,
        key_of: impl Fn(&T) -> Vec<u8>,
    ) -> Result<u64, StoreError> {
        let mut count = 0;
        for entry in self.tree(tree).iter() {
            let (key, value) = entry?;
            let record: T = codec::decode(tree, &key, &value)?;
            expect_key(tree, &key, &key_of(&record))?;
            count += 1;
        }
        Ok(count)
    }
}

/// Checks one record on its own: it decodes as its tree's type and sits under the key that
/// record belongs to (index entries: a plausible key and no value; meta values: a known version
/// byte under a UTF-8 name). Used on every record of a backup before a restore writes anything.
pub(crate) fn verify_record(tree: TreeId, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    fn check<T: codec::Record>(
        tree: TreeId,
        key: &[u8],
        value: &[u8],
        key_of: impl Fn(&T) -> Vec<u8>,
    ) -> Result<(), StoreError> {
        let record: T = codec::decode(tree, key, value)?;
        expect_key(tree, key, &key_of(&record))
    }
    match tree {
        TreeId::Integrations => {
            check::<Integration>(tree, key, value, |i| keys::integration_key(i.id))
        }
        TreeId::Orders => check::<Order>(tree, key, value, |o| {
            keys::order_key(o.integration_id, &o.code)
        }),
        TreeId::OrdersByStatus | TreeId::OrdersByImport => {
            if key.len() <= keys::ID_LEN {
                Err(StoreError::corrupt(tree, key, "the key is short"))
            } else if !value.is_empty() {
                Err(StoreError::corrupt(
                    tree,
                    key,
                    "an index entry holds a value",
                ))
            } else {
                Ok(())
            }
        }
        TreeId::Products => check::<Product>(tree, key, value, |p| {
            keys::product_key(p.integration_id, &p.code)
        }),
        TreeId::Stock => check::<StockLevel>(tree, key, value, |s| {
            keys::stock_key(&s.warehouse_code, &s.product_code).unwrap_or_default()
        }),
        TreeId::Outbox => check::<OutboxEntry>(tree, key, value, |e| {
            keys::outbox_key(e.integration_id, e.seq)
        }),
        TreeId::SyncLogs => check::<SyncLog>(tree, key, value, |l| {
            keys::log_key(l.integration_id, l.started_at, l.id)
        }),
        TreeId::Errors => check::<ErrorLog>(tree, key, value, |e| {
            keys::log_key(e.integration_id, e.occurred_at, e.id)
        }),
        TreeId::PriceHistory => check::<PriceChange>(tree, key, value, |c| {
            keys::log_key(c.integration_id, c.changed_at, c.id)
        }),
        TreeId::Meta => {
            let name_ok = key
                .get(keys::ID_LEN..)
                .is_some_and(|name| !name.is_empty() && std::str::from_utf8(name).is_ok());
            if !name_ok {
                return Err(StoreError::corrupt(
                    tree,
                    key,
                    "the name is missing or not UTF-8",
                ));
            }
            match value.first() {
                Some(version)
                    if (codec::OLDEST_VERSION..=codec::CURRENT_VERSION).contains(version) =>
                {
                    Ok(())
                }
                Some(&version) => Err(StoreError::UnknownVersion {
                    tree: tree.name(),
                    key: keys::describe_key(tree, key),
                    version,
                }),
                None => Err(StoreError::corrupt(tree, key, "the value is empty")),
            }
        }
    }
}

fn expect_key(tree: TreeId, key: &[u8], expected: &[u8]) -> Result<(), StoreError> {
    if key == expected {
        Ok(())
    } else {
        Err(StoreError::corrupt(
            tree,
            key,
            format!(
                "the record belongs under {}",
                keys::describe_key(tree, expected)
            ),
        ))
    }
}

/// Counts a record added to (`+1`) or removed from (`-1`) `tree`.
fn count(deltas: &mut [i64], tree: TreeId, added: bool, removed: bool) {
    if added {
        deltas[tree.index()] += 1;
    }
    if removed {
        deltas[tree.index()] -= 1;
    }
}

/// One write inside the transaction, counting records added and removed per tree into `deltas`.
/// No side effects: sled may run this more than once.
fn apply_write(
    txs: &[sled::transaction::TransactionalTree],
    write: &Write,
    deltas: &mut [i64],
) -> Result<(), ConflictableTransactionError<StoreError>> {
    match write {
        Write::Put { tree, key, value } => {
            let previous = txs[tree.index()].insert(key.as_slice(), value.as_slice())?;
            count(deltas, *tree, previous.is_none(), false);
        }
        Write::Remove { tree, key } => {
            let previous = txs[tree.index()].remove(key.as_slice())?;
            count(deltas, *tree, false, previous.is_some());
        }
        Write::PutOrder {
            key,
            value,
            integration_id,
            code,
            status,
            imported_at,
        } => {
            let previous = txs[TreeId::Orders.index()].insert(key.as_slice(), value.as_slice())?;
            count(deltas, TreeId::Orders, previous.is_none(), false);
            if let Some(previous) = previous {
                let previous: Order = codec::decode(TreeId::Orders, key, &previous)
                    .map_err(ConflictableTransactionError::Abort)?;
                let removed = txs[TreeId::OrdersByStatus.index()].remove(
                    keys::status_index_key(*integration_id, previous.status, code),
                )?;
                count(deltas, TreeId::OrdersByStatus, false, removed.is_some());
                let removed = txs[TreeId::OrdersByImport.index()].remove(
                    keys::import_index_key(*integration_id, previous.imported_at, code),
                )?;
                count(deltas, TreeId::OrdersByImport, false, removed.is_some());
            }
            let previous = txs[TreeId::OrdersByStatus.index()].insert(
                keys::status_index_key(*integration_id, *status, code),
                &[][..],
            )?;
            count(deltas, TreeId::OrdersByStatus, previous.is_none(), false);
            let previous = txs[TreeId::OrdersByImport.index()].insert(
                keys::import_index_key(*integration_id, *imported_at, code),
                &[][..],
            )?;
            count(deltas, TreeId::OrdersByImport, previous.is_none(), false);
        }
    }
    Ok(())
}
