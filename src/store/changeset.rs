//! A [`Changeset`] collects everything one domain step changes; [`Store::commit`](super::Store::commit)
//! applies it in one transaction across all trees and flushes before returning.
//!
//! Records are encoded when they are added (so the changeset holds bytes, not clones); an
//! encoding or key problem is remembered and reported by `commit`, which then writes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::StoreError;
use super::codec;
use super::keys::{self, TreeId};
use crate::domain::{
    ErrorLog, Integration, IntegrationId, Order, OrderStatus, OutboxEntry, PriceChange, Product,
    StockLevel, SyncLog,
};

/// One queued change.
pub(crate) enum Op {
    Write(Write),
    /// Remove the integration and everything stored under its id (stock is per warehouse and stays).
    /// Expanded into removals just before the transaction, under the write lock.
    DeleteIntegration(IntegrationId),
    /// A meta value to store sealed: `plaintext` (an encoded record) is sealed with the store's
    /// key just before the transaction (see [`super::sealing`]); it never reaches the disk as is.
    Seal {
        id: IntegrationId,
        name: String,
        plaintext: Vec<u8>,
    },
}

/// One write, ready for the transaction.
pub(crate) enum Write {
    Put {
        tree: TreeId,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        tree: TreeId,
        key: Vec<u8>,
    },
    /// An order write; the transaction also moves its index entries.
    PutOrder {
        key: Vec<u8>,
        value: Vec<u8>,
        integration_id: IntegrationId,
        code: String,
        status: OrderStatus,
        imported_at: DateTime<Utc>,
    },
}

impl Op {
    /// Whether this write only touches data of integration `id`.
    fn belongs_to(&self, id: IntegrationId) -> bool {
        match self {
            Op::Write(Write::Put { tree, key, .. } | Write::Remove { tree, key }) => {
                tree.is_per_integration() && key.starts_with(id.as_bytes())
            }
            Op::Write(Write::PutOrder { integration_id, .. }) => *integration_id == id,
            Op::DeleteIntegration(other) => *other == id,
            Op::Seal { id: other, .. } => *other == id,
        }
    }
}

/// Everything one domain step changes, committed all-or-nothing.
///
/// Writes apply in the order they were added. Times that appear in keys (an order's
/// `imported_at` excepted, which the index follows) identify a log record: re-putting a sync log,
/// error or price change with the same id must keep its `started_at` / `occurred_at` /
/// `changed_at`, or a second record is created.
#[derive(Default)]
pub struct Changeset {
    ops: Vec<Op>,
    error: Option<StoreError>,
    /// The error-log entries put, so their writer can keep its in-memory view in step.
    errors: Vec<ErrorLog>,
}

impl std::fmt::Debug for Changeset {
    // Values may hold credentials: show only the shape.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changeset")
            .field("writes", &self.ops.len())
            .field("error", &self.error)
            .finish()
    }
}

impl Changeset {
    /// An empty changeset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of writes queued (a deleted integration counts as one).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    fn put<T: Serialize + ?Sized>(&mut self, tree: TreeId, key: Vec<u8>, value: &T) -> &mut Self {
        match codec::encode(tree, &key, value) {
            Ok(value) => self.ops.push(Op::Write(Write::Put { tree, key, value })),
            Err(err) => self.fail(err),
        }
        self
    }

    fn remove(&mut self, tree: TreeId, key: Vec<u8>) -> &mut Self {
        self.ops.push(Op::Write(Write::Remove { tree, key }));
        self
    }

    fn fail(&mut self, err: StoreError) {
        self.error.get_or_insert(err);
    }

    /// Creates or replaces an integration. Its credentials are not part of the record: they
    /// are stored sealed beside it (meta [`super::sealing::CREDENTIALS`]), so the record, the
    /// data directory and backups never hold a token. An integration without credentials
    /// leaves the sealed ones as they are.
    pub fn put_integration(&mut self, integration: &Integration) -> &mut Self {
        let Some(credentials) = &integration.credentials else {
            return self.put(
                TreeId::Integrations,
                keys::integration_key(integration.id),
                integration,
            );
        };
        let record = Integration {
            credentials: None,
            ..integration.clone()
        };
        self.put(
            TreeId::Integrations,
            keys::integration_key(integration.id),
            &record,
        );
        self.put_sealed_meta(integration.id, super::sealing::CREDENTIALS, credentials)
    }

    /// Stores a named per-integration value sealed with the store's key (a token, a signing
    /// key): `name` must start with [`super::sealing::SEALED_PREFIX`]. Read it back with
    /// [`Store::sealed_meta`](super::Store::sealed_meta). The commit fails when the store has
    /// no key.
    pub fn put_sealed_meta<T: Serialize + ?Sized>(
        &mut self,
        id: IntegrationId,
        name: &str,
        value: &T,
    ) -> &mut Self {
        if !name.starts_with(super::sealing::SEALED_PREFIX) {
            self.fail(StoreError::InvalidKey {
                what: "sealed meta name",
                reason: format!(
                    "{name:?} must start with {:?}",
                    super::sealing::SEALED_PREFIX
                ),
            });
            return self;
        }
        let key = keys::meta_key(id, name);
        match codec::encode(TreeId::Meta, &key, value) {
            Ok(plaintext) => self.ops.push(Op::Seal {
                id,
                name: name.to_owned(),
                plaintext,
            }),
            Err(err) => self.fail(err),
        }
        self
    }

    /// Deletes an integration and all its data (orders, indexes, products, outbox, logs, errors,
    /// price history, meta). Writes for it queued earlier in this changeset are dropped; writes
    /// queued later apply after the deletion.
    pub fn delete_integration(&mut self, id: IntegrationId) -> &mut Self {
        self.ops.retain(|op| !op.belongs_to(id));
        self.ops.push(Op::DeleteIntegration(id));
        self
    }

    /// Creates or replaces an order (by integration and code); the status and import-date
    /// indexes follow.
    pub fn put_order(&mut self, order: &Order) -> &mut Self {
        let key = keys::order_key(order.integration_id, &order.code);
        match codec::encode(TreeId::Orders, &key, order) {
            Ok(value) => self.ops.push(Op::Write(Write::PutOrder {
                key,
                value,
                integration_id: order.integration_id,
                code: order.code.clone(),
                status: order.status,
                imported_at: order.imported_at,
            })),
            Err(err) => self.fail(err),
        }
        self
    }

    /// Creates or replaces a product (by integration and variant code).
    pub fn put_product(&mut self, product: &Product) -> &mut Self {
        self.put(
            TreeId::Products,
            keys::product_key(product.integration_id, &product.code),
            product,
        )
    }

    /// Removes a product.
    pub fn delete_product(&mut self, id: IntegrationId, code: &str) -> &mut Self {
        self.remove(TreeId::Products, keys::product_key(id, code))
    }

    /// Creates or replaces a warehouse stock level. A warehouse code containing a NUL character
    /// is refused (by `commit`).
    pub fn put_stock(&mut self, level: &StockLevel) -> &mut Self {
        match keys::stock_key(&level.warehouse_code, &level.product_code) {
            Some(key) => self.put(TreeId::Stock, key, level),
            None => {
                self.fail(StoreError::InvalidKey {
                    what: "warehouse code",
                    reason: format!("{:?} contains a NUL character", level.warehouse_code),
                });
                self
            }
        }
    }

    /// Creates or replaces an outbox entry (by integration and `seq`).
    pub fn put_outbox(&mut self, entry: &OutboxEntry) -> &mut Self {
        self.put(
            TreeId::Outbox,
            keys::outbox_key(entry.integration_id, entry.seq),
            entry,
        )
    }

    /// Removes an outbox entry (sent, or dropped by an operator).
    pub fn delete_outbox(&mut self, id: IntegrationId, seq: u64) -> &mut Self {
        self.remove(TreeId::Outbox, keys::outbox_key(id, seq))
    }

    /// Creates or replaces a sync log (keyed by its `started_at` and id).
    pub fn put_sync_log(&mut self, log: &SyncLog) -> &mut Self {
        self.put(
            TreeId::SyncLogs,
            keys::log_key(log.integration_id, log.started_at, log.id),
            log,
        )
    }

    /// Creates or replaces an error (keyed by its `occurred_at` and id); resolving is a re-put.
    pub fn put_error(&mut self, error: &ErrorLog) -> &mut Self {
        self.errors.push(error.clone());
        self.put(
            TreeId::Errors,
            keys::log_key(error.integration_id, error.occurred_at, error.id),
            error,
        )
    }

    /// The error-log entries this changeset puts, in order.
    pub fn errors(&self) -> &[ErrorLog] {
        &self.errors
    }

    /// Records a price change (keyed by its `changed_at` and id).
    pub fn put_price_change(&mut self, change: &PriceChange) -> &mut Self {
        self.put(
            TreeId::PriceHistory,
            keys::log_key(change.integration_id, change.changed_at, change.id),
            change,
        )
    }

    /// Stores a named per-integration value (a sync cursor, a counter, …).
    pub fn put_meta<T: Serialize + ?Sized>(
        &mut self,
        id: IntegrationId,
        name: &str,
        value: &T,
    ) -> &mut Self {
        self.put(TreeId::Meta, keys::meta_key(id, name), value)
    }

    /// Puts a meta value under an already-built key (re-sealing during key rotation).
    pub(crate) fn put_raw_meta<T: Serialize + ?Sized>(
        &mut self,
        key: Vec<u8>,
        value: &T,
    ) -> &mut Self {
        self.put(TreeId::Meta, key, value)
    }

    /// Removes a named per-integration value.
    pub fn delete_meta(&mut self, id: IntegrationId, name: &str) -> &mut Self {
        self.remove(TreeId::Meta, keys::meta_key(id, name))
    }

    /// The queued writes, or the first problem met while queuing them.
    pub(crate) fn into_ops(self) -> Result<Vec<Op>, StoreError> {
        match self.error {
            Some(err) => Err(err),
            None => Ok(self.ops),
        }
    }
}
