//! Mirrors of record shapes as older format versions wrote them, and their conversion to the
//! current types. [`super::codec::Record::decode_older`] of a changed type decodes through these.
//!
//! When a stored type's shape changes, copy its old definition here (as `vN::TypeName`, with
//! every nested type that changed with it), implement `From<vN::TypeName>` for the current type,
//! and override `decode_older` next to the type's `stored_record` list in `codec.rs`. A test
//! writes the old shape and reads the new one.
//!
//! Shapes changed in version 2: none. Shapes changed in version 3: [`v2::Order`] (the scale
//! work added `shop_read_at`).

// ---------------------------------------------------------------------------------------------
// Order as versions 1 and 2 wrote it (scale: `shop_read_at` added in version 3)
// ---------------------------------------------------------------------------------------------

/// Shapes written by format versions 1 and 2.
pub mod v2 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use uuid::Uuid;

    use crate::domain::{
        Address, IncomingOrder, IntegrationId, Money, OrderContent, OrderItem, OrderStatus,
    };

    /// [`crate::domain::Order`] without `shop_read_at`.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Order {
        pub id: Uuid,
        pub integration_id: IntegrationId,
        pub code: String,
        pub guid: Option<String>,
        pub total: Money,
        pub customer_email: Option<String>,
        pub customer_name: Option<String>,
        pub shipping_address: Option<Address>,
        pub shop_status_id: Option<i64>,
        pub shop_changed_at: Option<DateTime<Utc>>,
        pub shop_created_at: Option<DateTime<Utc>>,
        pub status: OrderStatus,
        pub imported_at: DateTime<Utc>,
        pub processed_at: Option<DateTime<Utc>>,
        pub shipped_at: Option<DateTime<Utc>>,
        pub cancelled_at: Option<DateTime<Utc>>,
        pub tracking_number: Option<String>,
        pub picking_session_id: Option<String>,
        pub transport_box_id: Option<String>,
        pub notes: Option<String>,
        pub review_reason: Option<String>,
        pub items: Vec<OrderItem>,
        pub delivered_at: Option<DateTime<Utc>>,
        pub status_before_review: Option<OrderStatus>,
        pub pending_shop_version: Option<IncomingOrder>,
        pub dismissed_shop_content: Option<OrderContent>,
    }

    impl From<Order> for crate::domain::Order {
        fn from(old: Order) -> Self {
            crate::domain::Order {
                id: old.id,
                integration_id: old.integration_id,
                code: old.code,
                guid: old.guid,
                total: old.total,
                customer_email: old.customer_email,
                customer_name: old.customer_name,
                shipping_address: old.shipping_address,
                shop_status_id: old.shop_status_id,
                shop_changed_at: old.shop_changed_at,
                shop_created_at: old.shop_created_at,
                status: old.status,
                imported_at: old.imported_at,
                processed_at: old.processed_at,
                shipped_at: old.shipped_at,
                cancelled_at: old.cancelled_at,
                tracking_number: old.tracking_number,
                picking_session_id: old.picking_session_id,
                transport_box_id: old.transport_box_id,
                notes: old.notes,
                review_reason: old.review_reason,
                items: old.items,
                delivered_at: old.delivered_at,
                status_before_review: old.status_before_review,
                pending_shop_version: old.pending_shop_version,
                dismissed_shop_content: old.dismissed_shop_content,
                // Not recorded then: the next feed change of the same second is read again.
                shop_read_at: None,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]
        use chrono::{TimeZone, Utc};
        use rust_decimal::Decimal;

        use crate::domain::{IncomingOrder, ItemType, Money, OrderItem};
        use crate::store::codec::{self, CURRENT_VERSION};
        use crate::store::keys::TreeId;

        fn current() -> crate::domain::Order {
            let incoming = IncomingOrder {
                code: "2025000318".to_owned(),
                guid: Some("guid-1".to_owned()),
                created_at: Some(Utc.with_ymd_and_hms(2025, 3, 14, 9, 40, 0).unwrap()),
                changed_at: Some(Utc.with_ymd_and_hms(2025, 3, 14, 9, 41, 7).unwrap()),
                shop_status_id: Some(-1),
                total: Money::new(Decimal::new(12_345, 2), "CZK"),
                customer_email: None,
                customer_name: Some("Jana".to_owned()),
                shipping_address: None,
                items: vec![OrderItem {
                    item_type: ItemType::Product,
                    product_code: Some("SKU-1".to_owned()),
                    name: "Mug".to_owned(),
                    variant_name: None,
                    quantity: Decimal::new(2, 0),
                    unit_price: Decimal::new(5_000, 2),
                    total_price: Decimal::new(10_000, 2),
                }],
            };
            let now = Utc.with_ymd_and_hms(2025, 3, 14, 10, 0, 0).unwrap();
            crate::domain::Order::from_incoming(&incoming, uuid::Uuid::from_u128(7), now)
        }

        fn as_v2(order: &crate::domain::Order) -> super::Order {
            let json = serde_json::to_value(order).unwrap();
            serde_json::from_value(json).unwrap()
        }

        #[test]
        fn a_version_1_or_2_order_reads_as_the_current_one_without_a_read_time() {
            let order = current();
            for version in [1u8, 2] {
                let mut bytes = codec::encode(TreeId::Orders, b"k", &as_v2(&order)).unwrap();
                bytes[0] = version;
                let read: crate::domain::Order =
                    codec::decode(TreeId::Orders, b"k", &bytes).unwrap();
                assert_eq!(read, order, "version {version}");
                assert_eq!(read.shop_read_at, None);
            }
        }

        #[test]
        fn the_current_order_keeps_its_read_time() {
            let mut order = current();
            order.shop_read_at = Some(Utc.with_ymd_and_hms(2025, 3, 14, 9, 41, 9).unwrap());
            let bytes = codec::encode(TreeId::Orders, b"k", &order).unwrap();
            assert_eq!(bytes[0], CURRENT_VERSION);
            let read: crate::domain::Order = codec::decode(TreeId::Orders, b"k", &bytes).unwrap();
            assert_eq!(read, order);
        }
    }
}
