//! Turning a `.wasm` file into a running rule: compile once, check the
//! contract, pre-instantiate, read the manifest, init.

mod cache;
mod functions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, OptLevel};

use self::cache::{CompiledCache, Key};
use self::functions::FunctionCache;
use super::limits;
use super::runner::{InstanceRecipe, InstantiateError, Pre, WasmRule};
use super::sandbox::RuleHost;
use crate::config::LimitsConfig;
use crate::contract::{
    CONTRACT_PACKAGE, CONTRACT_VERSIONS, RULE_INTERFACE, RuleWorld, RuleWorldPre, v1,
};
use crate::model::RuleSpec;

/// Why a plugin file could not become a running rule. Every variant names
/// the file; the pipeline refuses to start (or, on reload, keeps the running
/// version).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not a WebAssembly component.
    #[error("{path}: not a weir rule: {reason}")]
    NotAComponent {
        /// The plugin file.
        path: PathBuf,
        /// What the file is instead.
        reason: String,
    },
    /// The component implements another version of the contract.
    #[error(
        "{path}: exports {found}, but this host supports {CONTRACT_PACKAGE}@{} only; rebuild the rule against this weir's weir-sdk",
        CONTRACT_VERSIONS.join(" and @")
    )]
    WrongContract {
        /// The plugin file.
        path: PathBuf,
        /// The contract interfaces the component exports.
        found: String,
    },
    /// Compilation or linking failed (including imports the host does not grant).
    #[error("{path}: {what}: {detail}")]
    Link {
        /// The plugin file.
        path: PathBuf,
        /// The step that failed.
        what: &'static str,
        /// The engine's explanation.
        detail: String,
    },
    /// The manifest is invalid.
    #[error("{path}: invalid manifest:\n  - {}", problems.join("\n  - "))]
    Manifest {
        /// The plugin file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// The rule refused its configuration.
    #[error("{path}: rule `{rule}` refused its config: {message}")]
    Init {
        /// The plugin file.
        path: PathBuf,
        /// Rule name.
        rule: String,
        /// The rule's explanation.
        message: String,
    },
}

/// A rule ready to process batches.
pub struct LoadedRule {
    /// The checked manifest.
    pub spec: RuleSpec,
    /// The file it came from.
    pub path: PathBuf,
    /// A hash of the file's bytes, naming this version.
    pub version_hash: String,
    /// The running instance.
    pub runner: WasmRule,
}

/// The compiler and linker shared by every rule.
pub struct RuleLoader {
    engine: Engine,
    linker: Linker<RuleHost>,
    limits: LimitsConfig,
    compiled: Arc<CompiledCache>,
}

/// The contract version a component was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContractVersion {
    V1,
    V2,
}

/// WebAssembly binary magic.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

impl RuleLoader {
    /// Sets up the engine (with deadlines, and fuel if configured) and the
    /// linker with the host's imports. Compiled rules are cached by content
    /// in the folder `WEIR_COMPILE_CACHE` names (see [`cache::DIR_VAR`]).
    pub fn new(limits: &LimitsConfig) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.cranelift_opt_level(OptLevel::Speed);
        config.epoch_interruption(limits.call_timeout_ms > 0);
        config.consume_fuel(limits.fuel_per_call.is_some());
        config.enable_incremental_compilation(Arc::new(FunctionCache::default()))?;
        let engine = Engine::new(&config)?;
        if limits.call_timeout_ms > 0 {
            limits::start_epoch_ticker(&engine);
        }
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        RuleWorld::add_to_linker::<RuleHost, HasSelf<RuleHost>>(&mut linker, |host| host)?;
        v1::RuleWorld::add_to_linker::<RuleHost, HasSelf<RuleHost>>(&mut linker, |host| host)?;
        Ok(Self {
            compiled: Arc::new(CompiledCache::new(&engine)),
            engine,
            linker,
            limits: limits.clone(),
        })
    }

    /// Loads the rule in `path` and initializes it with `config_json`.
    pub fn load(
        &self,
        path: &Path,
        config_for: impl FnOnce(&str) -> String,
    ) -> Result<LoadedRule, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load_bytes(path, &bytes, config_for)
    }

    /// Loads a rule from bytes; `path` names it in errors.
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        config_for: impl FnOnce(&str) -> String,
    ) -> Result<LoadedRule, LoadError> {
        let path = path.to_owned();
        if bytes.len() as u64 > self.limits.max_wasm_bytes {
            return Err(LoadError::NotAComponent {
                path,
                reason: format!(
                    "the file has {} bytes, over limits.max_wasm_bytes = {}",
                    bytes.len(),
                    self.limits.max_wasm_bytes
                ),
            });
        }
        check_component_header(&path, bytes)?;
        let link_error = |what: &'static str| {
            let path = path.clone();
            move |error: wasmtime::Error| LoadError::Link {
                path,
                what,
                detail: format!("{error:#}"),
            }
        };
        let component = self
            .compile(&path, bytes)?
            .map_err(link_error("cannot compile"))?;
        let version = self.check_contract(&path, &component)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(link_error(
            "cannot link (it imports something the host does not grant)",
        ))?;
        let pre = match version {
            ContractVersion::V1 => {
                Pre::V1(v1::RuleWorldPre::new(instance_pre).map_err(link_error("cannot link"))?)
            }
            ContractVersion::V2 => {
                Pre::V2(RuleWorldPre::new(instance_pre).map_err(link_error("cannot link"))?)
            }
        };
        // A 0.1.0 rule describes itself before its config is known; a 0.2.0
        // rule's manifest comes from `load`, with the config.
        let described = match &pre {
            Pre::V1(pre) => {
                let mut store = limits::new_store(&self.engine, "?", &self.limits);
                let world = pre
                    .instantiate(&mut store)
                    .map_err(link_error("cannot instantiate"))?;
                let manifest = world
                    .weir_rule_rule()
                    .call_describe(&mut store)
                    .map_err(link_error("describe() trapped"))?;
                Some(v1::manifest(manifest))
            }
            Pre::V2(_) => None,
        };
        let probe = InstanceRecipe::new(
            self.engine.clone(),
            pre,
            "?".to_owned(),
            String::new(),
            self.limits.clone(),
        );
        let name = match &described {
            Some(manifest) => manifest.name.clone(),
            // A 0.2.0 rule's name is known only after `load`, and the name
            // picks its config, so it is learnt with an empty config (the
            // SDK's config fields need defaults for that).
            None => probe
                .instantiate_with("{}")
                .map_err(|error| match error {
                    InstantiateError::Refused(message) => LoadError::Init {
                        path: path.clone(),
                        rule: "?".to_owned(),
                        message: format!(
                            "load(\"{{}}\"), which the host calls to learn a 0.2.0 rule's name, failed: {message}; give every config field a default"
                        ),
                    },
                    InstantiateError::Trap(error) => link_error("load() trapped")(error),
                })?
                .manifest
                .map_or_else(|| "?".to_owned(), |manifest| manifest.name),
        };
        let config = config_for(&name);
        let recipe = probe.named(name, config);
        let instance = recipe.instantiate();
        let instance = instance.map_err(|error| match error {
            InstantiateError::Refused(message) => LoadError::Init {
                path: path.clone(),
                rule: recipe.name.clone(),
                message,
            },
            InstantiateError::Trap(error) => link_error("init() trapped")(error),
        })?;
        let manifest = described
            .or_else(|| instance.manifest.clone())
            .ok_or_else(|| LoadError::Manifest {
                path: path.clone(),
                problems: vec!["the rule returned no manifest".to_owned()],
            })?;
        let spec = RuleSpec::from_manifest(&manifest).map_err(|problems| LoadError::Manifest {
            path: path.clone(),
            problems,
        })?;
        Ok(LoadedRule {
            version_hash: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)),
            runner: WasmRule::new(Arc::new(recipe), instance),
            spec,
            path,
        })
    }

    /// The compiled component: from the cache when these bytes were compiled
    /// before, else compiled in a helper thread that gives up after
    /// `limits.compile_timeout_ms`, so a pathological file cannot hold up a
    /// start or a reload (the abandoned compilation finishes in the
    /// background; the cache keeps it if it succeeds).
    fn compile(&self, path: &Path, bytes: &[u8]) -> Result<wasmtime::Result<Component>, LoadError> {
        let started = Instant::now();
        let key = Key::of(bytes);
        if let Some((component, found)) = self.compiled.get(&self.engine, key) {
            tracing::debug!(path = %path.display(), from = ?found, ms = started.elapsed().as_millis() as u64, "compiled rule taken from the cache");
            return Ok(Ok(component));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let engine = self.engine.clone();
        let cache = self.compiled.clone();
        let owned = bytes.to_vec();
        let name = path.display().to_string();
        std::thread::Builder::new()
            .name("weir-compile".into())
            .spawn(move || {
                let compiled = Component::new(&engine, &owned);
                tracing::debug!(path = %name, ms = started.elapsed().as_millis() as u64, ok = compiled.is_ok(), "rule compiled");
                let keep = compiled.as_ref().ok().cloned();
                if let Some(component) = &keep {
                    cache.keep(key, component);
                }
                let _ = tx.send(compiled);
                // After the loader has it: writing to disk is off the reload's path.
                if let Some(component) = keep {
                    cache.save(key, &component);
                }
            })
            .map_err(|error| LoadError::Link {
                path: path.to_owned(),
                what: "cannot compile",
                detail: error.to_string(),
            })?;
        let timeout = std::time::Duration::from_millis(self.limits.compile_timeout_ms);
        rx.recv_timeout(timeout).map_err(|_| LoadError::Link {
            path: path.to_owned(),
            what: "cannot compile",
            detail: format!(
                "compiling took longer than limits.compile_timeout_ms = {}",
                self.limits.compile_timeout_ms
            ),
        })
    }

    fn check_contract(
        &self,
        path: &Path,
        component: &Component,
    ) -> Result<ContractVersion, LoadError> {
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        if exports.iter().any(|name| name == RULE_INTERFACE) {
            return Ok(ContractVersion::V2);
        }
        if exports.iter().any(|name| name == v1::RULE_INTERFACE) {
            return Ok(ContractVersion::V1);
        }
        let contract: Vec<&str> = exports
            .iter()
            .map(String::as_str)
            .filter(|name| name.starts_with(CONTRACT_PACKAGE))
            .collect();
        if contract.is_empty() {
            return Err(LoadError::NotAComponent {
                path: path.to_owned(),
                reason: format!(
                    "the component does not export {RULE_INTERFACE} (it exports: {})",
                    if exports.is_empty() {
                        "nothing".to_owned()
                    } else {
                        exports.join(", ")
                    }
                ),
            });
        }
        Err(LoadError::WrongContract {
            path: path.to_owned(),
            found: contract.join(", "),
        })
    }
}

/// Refuses files that are not components before the compiler sees them, with
/// a message saying what they are instead.
fn check_component_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let refuse = |reason: &str| LoadError::NotAComponent {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(refuse("the file is not WebAssembly (no \\0asm header)"));
    }
    match bytes[6..8] {
        [0, 0] => Err(refuse(
            "the file is a core WebAssembly module, not a component; build it with --target wasm32-wasip2",
        )),
        [1, 0] => Ok(()),
        _ => Err(refuse("unknown WebAssembly binary layer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked() {
        let path = Path::new("x.wasm");
        assert!(check_component_header(path, b"hello world").is_err());
        let core = b"\0asm\x01\0\0\0";
        let err = check_component_header(path, core).unwrap_err().to_string();
        assert!(err.contains("core WebAssembly module"), "{err}");
        assert!(check_component_header(path, b"\0asm\x0d\0\x01\0").is_ok());
    }
}
