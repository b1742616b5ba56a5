//! `orders`: GMV per minute and "today so far", and the five products with
//! the most sales per minute — the order/GMV job of the pipelines weir
//! replaces, with exact money.
//!
//! Input, one JSON object per line (other fields are ignored):
//!
//! ```text
//! {"order_id":"o1","product":"p42","amount":"99.90","ts_ms":1764324000000}
//! ```
//!
//! `amount` is a decimal (a string or a JSON number) with up to 2 digits
//! after the point, `ts_ms` the order time in Unix milliseconds. Output:
//! `gmv` (decimal-sum, scale 2), group `total`, tumbling 60 s and cumulative
//! day (step 60 s, UTC days); `by_product` (decimal-sum per product,
//! tumbling 60 s) with its top 5 in the sorted set
//! `weir:orders:by_product:60:<start>:top`. Malformed lines are rejected
//! with the reason.

use std::borrow::Cow;

use serde::Deserialize;
use weir_sdk::prelude::*;

/// One order: only what the rule reads.
#[derive(Deserialize)]
struct Order<'a> {
    #[serde(borrow)]
    product: Cow<'a, str>,
    amount: Decimal,
    ts_ms: i64,
}

/// Sums order amounts, in total and per product.
pub struct Orders;

impl Rule for Orders {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("orders", env!("CARGO_PKG_VERSION"))
            .metric(
                Metric::decimal_sum("gmv", 2)
                    .tumbling(60)
                    .cumulative(DAY_SECS, 60),
            )
            .metric(Metric::decimal_sum("by_product", 2).tumbling(60).top(5))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok(Orders)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        if !record.text()?.trim_start().starts_with('{') {
            return Err(Error::msg("not a JSON object"));
        }
        let order: Order<'_> = record.json()?;
        order.amount.to_scaled(2)?;
        out.decimal("gmv", "total", order.amount.as_str(), order.ts_ms);
        out.decimal(
            "by_product",
            &order.product,
            order.amount.as_str(),
            order.ts_ms,
        );
        Ok(())
    }
}

weir_sdk::export_rule!(Orders);

#[cfg(test)]
mod tests {
    use weir_sdk::testing::TestRule;

    use super::*;

    #[test]
    fn counts_each_order_in_total_and_per_product() {
        let mut rule = TestRule::<Orders>::new("{}").unwrap();
        let out = rule.process_lines(&[
            r#"{"order_id":"o1","product":"p42","amount":"99.90","ts_ms":1764324000000}"#,
            r#"{"order_id":"o2","product":"p7","amount":5,"ts_ms":1764324000500}"#,
            r#"{"order_id":"o3","product":"p7","amount":"5.001","ts_ms":1764324000500}"#,
            r#"{"order_id":"o4","product":"p7","ts_ms":1764324000500}"#,
        ]);
        assert_eq!(out.of("gmv").len(), 2);
        assert_eq!(out.of("by_product")[1].key, "p7");
        assert_eq!(out.rejects.len(), 2);
    }
}
