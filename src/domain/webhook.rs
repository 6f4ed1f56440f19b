//! What a verified Shoptet webhook delivery may do: only wake a reader. A webhook is a hint,
//! never data: the order change feed stays the only source of truth, so a forged, replayed,
//! duplicated or lost delivery can never change what is stored.

use serde::{Deserialize, Serialize};

/// The events the daemon registers for each active store (reference §9.3).
pub const REGISTERED_EVENTS: [&str; 6] = [
    "order:create",
    "order:update",
    "order:delete",
    "order:paid",
    "orderStatusesList:change",
    "job:finished",
];

/// The largest delivery body accepted (Shoptet's are about 120 bytes).
pub const MAX_DELIVERY_BYTES: usize = 64 * 1024;

/// What a verified delivery leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryAction {
    /// Wake the store's order reader (one cheap feed read, coalesced).
    WakeOrders,
    /// A snapshot job finished: wake whoever waits for that job id.
    JobFinished(String),
    /// Nothing to do (an event we did not ask for).
    Ignore,
}

/// The action for a delivery of `event` with `instance`.
pub fn delivery_action(event: &str, instance: &str) -> DeliveryAction {
    match event {
        "order:create"
        | "order:update"
        | "order:delete"
        | "order:paid"
        | "order:cancel"
        | "order:massCreate"
        | "order:massUpdate"
        | "order:massPaid"
        | "orderStatusesList:change" => DeliveryAction::WakeOrders,
        "job:finished" if !instance.trim().is_empty() => {
            DeliveryAction::JobFinished(instance.trim().to_owned())
        }
        _ => DeliveryAction::Ignore,
    }
}

/// A random path segment for one store's webhook URL: unguessable (128 random bits), never the
/// store's name.
pub fn new_path_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `token` looks like one of ours (32 lowercase hex digits), so the listener can refuse
/// anything else without a lookup.
pub fn is_path_token(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The URL registered for one store: `public_url` + `/` + its token.
pub fn delivery_url(public_url: &str, token: &str) -> String {
    format!("{}/{token}", public_url.trim_end_matches('/'))
}

/// Webhook state shown by `integration get` and `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStatus {
    /// Webhooks are configured for the daemon (`[webhooks]`).
    pub enabled: bool,
    /// Events registered at the shop for this store.
    pub registered: Vec<String>,
    /// Events another URL holds at the shop (left alone).
    pub conflicts: Vec<String>,
    /// A signature key is stored (never shown).
    pub has_key: bool,
    /// Last verified delivery.
    pub last_delivery: Option<chrono::DateTime<chrono::Utc>>,
    /// Verified deliveries.
    pub delivered: u64,
    /// Deliveries refused (bad or missing signature, wrong shop).
    pub rejected: u64,
    /// The last registration problem, if any.
    pub last_error: Option<String>,
}

/// The cheap feed poll of one store, for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPollStatus {
    /// Seconds between polls (0 = off).
    pub every_secs: u64,
    /// Feed reads made by the poll.
    pub polls: u64,
    /// Polls that found news and started the import.
    pub imports_started: u64,
    /// Wakes received from verified webhooks.
    pub wakes: u64,
    /// Polls skipped while the shop's bucket was nearly full.
    pub throttled: u64,
}

/// How a store keeps orders fresh: webhooks and the feed poll.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// Webhook registration and deliveries.
    pub webhooks: WebhookStatus,
    /// The cheap feed poll.
    pub feed_poll: FeedPollStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_order_and_job_events_do_anything() {
        assert_eq!(
            delivery_action("order:create", "2025000318"),
            DeliveryAction::WakeOrders
        );
        assert_eq!(
            delivery_action("orderStatusesList:change", "-1"),
            DeliveryAction::WakeOrders
        );
        assert_eq!(
            delivery_action("job:finished", "3ax1844"),
            DeliveryAction::JobFinished("3ax1844".into())
        );
        assert_eq!(delivery_action("job:finished", " "), DeliveryAction::Ignore);
        assert_eq!(
            delivery_action("product:update", "x"),
            DeliveryAction::Ignore
        );
    }

    #[test]
    fn path_tokens_are_random_hex_and_checked() {
        let a = new_path_token();
        assert!(is_path_token(&a));
        assert_ne!(a, new_path_token());
        assert!(!is_path_token("shop"));
        assert!(!is_path_token(&a.to_uppercase()));
        assert_eq!(
            delivery_url("https://sync.example.cz/shoptet/", &a),
            format!("https://sync.example.cz/shoptet/{a}")
        );
    }
}
