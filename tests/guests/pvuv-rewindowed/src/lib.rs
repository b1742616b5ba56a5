//! Test guest `pvuv-rewindowed`: the `pvuv` rule as a new version might
//! change it. `pv` is defined exactly as in `plugins/pvuv` (its open windows
//! survive a reload); `uv` counts by the five minutes instead of by the
//! minute and for the day (its open windows are discarded). The host's
//! reload tests swap it in over `pvuv`.

use weir_sdk::prelude::*;

/// Counts every valid request line (`pv`) and distinct client IPs (`uv`).
pub struct PvUvRewindowed;

impl Rule for PvUvRewindowed {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("pvuv", env!("CARGO_PKG_VERSION"))
            .metric(Metric::count("pv").tumbling(60).cumulative(DAY_SECS, 60))
            .metric(Metric::distinct("uv").tumbling(300))
    }

    fn new(_config: NoConfig) -> Result<Self> {
        Ok(PvUvRewindowed)
    }

    fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let line = AccessLog::parse(record.text()?)?;
        out.count("pv", "total", line.time_ms);
        out.distinct("uv", "total", line.client, line.time_ms);
        Ok(())
    }
}

weir_sdk::export_rule!(PvUvRewindowed);
