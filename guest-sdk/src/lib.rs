//! The weir guest SDK: write a weir rule as one short Rust file.
//!
//! A rule parses log records and says what to count; the weir host owns
//! windows, state, checkpoints and Redis output. With this crate a rule author
//! implements [`Rule`], calls [`export_rule!`], and never sees wit-bindgen:
//!
//! ```
//! use weir_sdk::prelude::*;
//!
//! struct PageViews;
//!
//! impl Rule for PageViews {
//!     type Config = NoConfig;
//!
//!     fn manifest() -> Manifest {
//!         Manifest::new("page-views", "1.0.0").metric(Metric::count("pv").tumbling(60))
//!     }
//!
//!     fn new(_config: NoConfig) -> Result<Self> {
//!         Ok(PageViews)
//!     }
//!
//!     fn process(&mut self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
//!         let line = AccessLog::parse(record.text()?)?;
//!         out.count("pv", "total", line.time_ms);
//!         Ok(())
//!     }
//! }
//!
//! weir_sdk::export_rule!(PageViews);
//! ```
//!
//! The same rule runs natively in unit tests through [`testing::TestRule`].

mod batch;
mod check;
mod decimal;
mod emit;
mod error;
pub mod json;
pub mod log;
mod manifest;
pub mod parse;
mod rule;
pub mod testing;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __guest;
pub mod small_blocks;

pub use batch::{BatchView, Record, RecordMeta, Span};
pub use check::InvalidManifest;
pub use decimal::Decimal;
pub use emit::{Emitter, Measure, Output, Reject, Text, Update};
pub use error::{Error, Result};
pub use manifest::{Aggregation, Alert, DAY_SECS, Manifest, Metric, Window};
pub use rule::{NoConfig, Rule, run_batch};

/// Everything a rule file usually needs, in one import.
pub mod prelude {
    pub use crate::parse::access::AccessLog;
    pub use crate::parse::kv;
    pub use crate::parse::time::{
        epoch_millis, epoch_secs, parse_clf_time, parse_datetime, parse_datetime_with_offset,
        parse_rfc3339,
    };
    pub use crate::{
        Aggregation, DAY_SECS, Decimal, Emitter, Error, Manifest, Metric, NoConfig, Record, Result,
        Rule, Window,
    };
}

/// Exports a [`Rule`] type as the rule of this WebAssembly component.
///
/// Expands to nothing on native targets, so the same crate can be unit-tested
/// with plain `cargo test` and linked into other native programs.
///
/// In the component it also sets the global allocator: the default one
/// with a cache of freed small blocks in front ([`small_blocks`]), as the
/// strings a rule makes are freed after every call. So a rule crate that
/// exports a rule cannot set a `#[global_allocator]` of its own.
#[macro_export]
macro_rules! export_rule {
    ($rule:ty) => {
        #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
        #[global_allocator]
        static WEIR_GUEST_ALLOCATOR: $crate::small_blocks::SmallBlocks<::std::alloc::System> =
            $crate::small_blocks::SmallBlocks::new(::std::alloc::System);

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct WeirRuleExport;

            impl $crate::__guest::Guest for WeirRuleExport {
                fn load(
                    config: ::std::string::String,
                ) -> ::std::result::Result<$crate::__guest::WitManifest, ::std::string::String>
                {
                    $crate::__guest::load::<$rule>(&config)
                }

                fn process(batch: $crate::__guest::WitBatch) -> $crate::__guest::WitBatchOutput {
                    $crate::__guest::process::<$rule>(batch)
                }
            }

    $crate::__guest::export!(WeirRuleExport with_types_in $crate::__guest::bindings);
        };
    };
}
