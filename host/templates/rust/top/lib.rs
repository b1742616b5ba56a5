//! `{{name}}`: sales per product per minute, exact, with the five best
//! products of each minute kept in a sorted set.
//!
//! Input, one JSON object per line (other fields are ignored):
//!
//! ```text
//! {"order_id":"o1","product":"p42","amount":"99.90","ts_ms":1795226400000}
//! ```
//!
//! `amount` is a decimal (string or JSON number) with up to 2 digits after
//! the point; `ts_ms` the order time in Unix milliseconds. Output:
//! `by_product` (decimal-sum per product, tumbling 60 s) with its top 5 in
//! `weir:{{name}}:by_product:60:<start>:top`. Malformed lines are rejected.

use serde::Deserialize;
use weir_sdk::prelude::*;

/// One order: only what the rule reads.
#[derive(Deserialize)]
struct Order {
    product: String,
    amount: Decimal,
    ts_ms: i64,
}

/// Sums sales per product and keeps the five best.
pub struct {{Type}};

impl Rule for {{Type}} {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .metric(Metric::decimal_sum("by_product", 2).tumbling(60).top(5))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok({{Type}})
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let order = record.json::<Order>()?;
        // Refuses 1.005 with a reason rather than rounding it.
        order.amount.to_scaled(2)?;
        out.decimal("by_product", &order.product, order.amount.as_str(), order.ts_ms);
        Ok(())
    }
}

weir_sdk::export_rule!({{Type}});

#[cfg(test)]
mod tests {
    use weir_sdk::Measure;
    use weir_sdk::testing::TestRule;

    use super::{{Type}};

    #[test]
    fn sums_each_product_exactly() {
        let mut rule = TestRule::<{{Type}}>::new("{}").unwrap();
        let out = rule.process_lines(&[
            r#"{"order_id":"o1","product":"p42","amount":"99.90","ts_ms":1795226400000}"#,
            r#"{"order_id":"o2","product":"p7","amount":1.005,"ts_ms":1795226400000}"#,
        ]);
        assert_eq!(out.of("by_product")[0].key, "p42");
        assert_eq!(out.of("by_product")[0].measure, Measure::Decimal("99.90".into()));
        assert_eq!(out.rejects.len(), 1);
    }
}
