//! Shoptet webhooks (reference §9): the signature (HMAC-SHA1 of the raw body, lowercase hex),
//! the delivery body, and the registration calls (`/api/webhooks`, `renew-signature-key`).

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha1::Sha1;

use super::ShoptetError;
use super::api::collect_pages;
use super::client::{Call, ShoptetClient};
use super::model::ApiErrorItem;
use super::model::{Page, de_null_default};
use crate::domain::Secret;

/// Header carrying the signature of a delivery.
pub const SIGNATURE_HEADER: &str = "Shoptet-Webhook-Signature";
/// Page size maximum of `GET /api/webhooks`.
pub const WEBHOOKS_PAGE_MAX: u32 = 500;
/// Registrations Shoptet accepts in one `POST /api/webhooks`.
pub const MAX_REGISTRATIONS_PER_CALL: usize = 50;
/// Length of a hex HMAC-SHA1.
const SIGNATURE_HEX_LEN: usize = 40;

type HmacSha1 = Hmac<Sha1>;

/// Lowercase hex HMAC-SHA1 of `body` keyed with `key` (the signature key string as bytes).
pub fn sign_body(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = HmacSha1::new_from_slice(key) else {
        return String::new();
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `signature` (the header value) is the lowercase hex HMAC-SHA1 of the exact raw
/// `body` under `key`. The comparison of the MAC is constant-time (`Mac::verify_slice`);
/// a malformed or truncated header is simply refused.
pub fn verify_signature(key: &[u8], body: &[u8], signature: &str) -> bool {
    let signature = signature.trim();
    if signature.len() != SIGNATURE_HEX_LEN
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return false;
    }
    let mut expected = [0u8; SIGNATURE_HEX_LEN / 2];
    for (i, pair) in signature.as_bytes().chunks(2).enumerate() {
        let hex = |b: u8| {
            if b.is_ascii_digit() {
                b - b'0'
            } else {
                b - b'a' + 10
            }
        };
        expected[i] = (hex(pair[0]) << 4) | hex(pair[1]);
    }
    let Ok(mut mac) = HmacSha1::new_from_slice(key) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The body Shoptet POSTs: `{"eshopId":…,"event":…,"eventCreated":…,"eventInstance":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryBody {
    /// The shop (an integer).
    pub eshop_id: i64,
    /// Event name, e.g. `order:create`.
    pub event: String,
    /// When it happened (shop-local text; informational only).
    #[serde(default)]
    pub event_created: Option<String>,
    /// Order code, status id, job id… always a string.
    pub event_instance: String,
}

/// One registration (`data.webhooks[]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRegistration {
    /// Id used by `GET`/`PATCH`/`DELETE /api/webhooks/{id}`.
    pub id: i64,
    /// Event name.
    pub event: String,
    /// Target URL.
    pub url: String,
}

#[derive(Deserialize)]
struct CreatedData {
    #[serde(default, deserialize_with = "de_null_default")]
    webhooks: Vec<WebhookRegistration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignatureKeyData {
    signature_key: String,
}

/// Whether a refusal of `POST /api/webhooks` says the event is already registered (422).
pub fn is_already_registered(errors: &[ApiErrorItem]) -> bool {
    errors
        .iter()
        .any(|e| e.message.to_ascii_lowercase().contains("already exists"))
}

impl ShoptetClient {
    /// One page of `GET /api/webhooks` (this installation's registrations).
    pub async fn webhooks_page(
        &self,
        page: u32,
    ) -> Result<Page<WebhookRegistration>, ShoptetError> {
        let call = Call::get("list_webhooks", "/api/webhooks".to_owned())
            .query("page", page.max(1).to_string())
            .query("itemsPerPage", WEBHOOKS_PAGE_MAX.to_string());
        self.get_page(call, "webhooks").await
    }

    /// Every registration of this installation.
    pub async fn list_webhooks(&self) -> Result<Vec<WebhookRegistration>, ShoptetError> {
        collect_pages(|page| self.webhooks_page(page)).await
    }

    /// `POST /api/webhooks` for `(event, url)` pairs (at most 50). A 422 "already exists" or a
    /// 409 exclusive pair comes back as [`ShoptetError::Rejected`] with the errors listed.
    pub async fn register_webhooks(
        &self,
        registrations: &[(String, String)],
    ) -> Result<Vec<WebhookRegistration>, ShoptetError> {
        if registrations.is_empty() || registrations.len() > MAX_REGISTRATIONS_PER_CALL {
            return Err(ShoptetError::invalid(format!(
                "between 1 and {MAX_REGISTRATIONS_PER_CALL} webhooks per registration call"
            )));
        }
        let rows: Vec<serde_json::Value> = registrations
            .iter()
            .map(|(event, url)| json!({"event": event, "url": url, "sendPayload": null}))
            .collect();
        let call = Call::post(
            "register_webhooks",
            "/api/webhooks".to_owned(),
            json!({"data": rows}),
        );
        let data: CreatedData = self.get_data(call, "data.webhooks").await?;
        Ok(data.webhooks)
    }

    /// `DELETE /api/webhooks/{id}`; an id already gone (404 `webhook-not-found`) counts as done.
    pub async fn delete_webhook(&self, id: i64) -> Result<(), ShoptetError> {
        let call = Call::delete("delete_webhook", format!("/api/webhooks/{id}"));
        match self.execute(call).await {
            Ok(_) => Ok(()),
            Err(ShoptetError::NotFound { error_code, .. }) if error_code == "webhook-not-found" => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /api/webhooks/renew-signature-key`: a new key (the old one stops working).
    pub async fn renew_signature_key(&self) -> Result<Secret, ShoptetError> {
        let call = Call::post_empty(
            "renew_signature_key",
            "/api/webhooks/renew-signature-key".to_owned(),
        );
        let data: SignatureKeyData = self.get_data(call, "data.signatureKey").await?;
        if data.signature_key.is_empty() {
            return Err(ShoptetError::invalid("data.signatureKey is empty"));
        }
        Ok(Secret::new(data.signature_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "3f9a0c1e7b2d4a6f8e1c5b9d2a7f4e0c";
    const BODY: &str = r#"{"eshopId":470123,"event":"order:create","eventCreated":"2025-03-14T09:41:07+0100","eventInstance":"2025000318"}"#;
    const CHECK: &str = "21965bfc899b83079e3b1657868df42403081cfc";

    #[test]
    fn reference_check_value_of_section_9_2() {
        assert_eq!(sign_body(KEY.as_bytes(), BODY.as_bytes()), CHECK);
        assert!(verify_signature(KEY.as_bytes(), BODY.as_bytes(), CHECK));
    }

    #[test]
    fn wrong_truncated_uppercase_or_other_body_signatures_are_refused() {
        let key = KEY.as_bytes();
        let body = BODY.as_bytes();
        assert!(!verify_signature(key, body, ""));
        assert!(!verify_signature(key, body, &CHECK[..39]));
        assert!(!verify_signature(key, body, &CHECK[..20]));
        assert!(!verify_signature(key, body, &CHECK.to_uppercase()));
        assert!(!verify_signature(key, body, &format!("{CHECK}00")));
        let mut flipped = CHECK.to_string();
        flipped.replace_range(0..1, "3");
        assert!(!verify_signature(key, body, &flipped));
        assert!(!verify_signature(b"another key", body, CHECK));
        // One byte more (a pretty-printed or re-serialised body) no longer verifies.
        assert!(!verify_signature(key, format!("{BODY} ").as_bytes(), CHECK));
    }

    #[test]
    fn delivery_body_parses() {
        let body: WebhookDeliveryBody = serde_json::from_str(BODY).expect("parses");
        assert_eq!(body.eshop_id, 470123);
        assert_eq!(body.event_instance, "2025000318");
    }
}
