//! Human output of the warehouse-floor operations (price history, …), beside [`super::render`].

use super::render::{Table, time};
use crate::domain::PriceChange;

/// `product.history`: one row per change, oldest first.
pub(super) fn price_history(changes: &[PriceChange]) -> String {
    if changes.is_empty() {
        return "no price changes\n".to_owned();
    }
    let mut table =
        Table::new(&["WHEN", "CODE", "OLD", "NEW", "SOURCE", "PUSHED"]).right_align(&[2, 3]);
    for change in changes {
        table.row(vec![
            time(&change.changed_at),
            change.product_code.clone(),
            change.old_price.normalize().to_string(),
            change.new_price.normalize().to_string(),
            change.source.clone(),
            change
                .pushed_at
                .as_ref()
                .map(time)
                .unwrap_or_else(|| "pending".to_owned()),
        ]);
    }
    table.render()
}
