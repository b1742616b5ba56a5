//! Rules as WebAssembly components: loading, sandboxing, calling.

pub mod breaker;
pub mod guest_output;
pub mod host_log;
pub mod isolation;
pub mod limits;
pub mod loader;
#[cfg(feature = "native-rules")]
pub mod native;
pub mod registry;
pub mod reload;
pub mod runner;
pub mod sandbox;
pub mod spec;
pub mod watcher;

pub use crate::model::RuleSpec;
pub use loader::{LoadError, LoadedRule, RuleLoader};
pub use registry::{ActiveRule, RegistryError, RuleRegistry};
pub use runner::{CallError, InstanceRecipe, RuleRunner, WasmRule};
