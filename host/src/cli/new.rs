//! `weir new`: a rule project that builds, tests and deploys as it is, from
//! a template (`host/templates/`, embedded in the binary).
//!
//! A Rust project depends on the guest SDK of the repository this weir was
//! built from, by path (`--sdk` points elsewhere), pins the repository's
//! toolchain, and holds the rule with native tests (`src/lib.rs`), a sample
//! input with its golden replay (`sample/`), and a golden test
//! (`tests/golden.rs`) that builds the component and replays the sample with
//! `weir test --expect`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::model::is_valid_name;

/// `weir new` arguments.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The rule's name (lowercase letters, digits, `-`, `_`; it appears in
    /// Redis keys); the project is made in `./NAME`.
    pub name: String,
    /// What the rule starts as.
    #[arg(long, short, value_enum, default_value_t = Template::Count)]
    pub template: Template,
    /// The language of the rule.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// Make the project in this folder instead of `./NAME`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The guest SDK to depend on (default: the one of the repository
    /// this weir was built from).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// The templates. `alert`, `top` and `quantiles` come with the contract
/// `weir:rule@0.2.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// Log lines split into fields, counted per key (a level) per minute.
    Count,
    /// JSON events: sums (exact, from decimals) and distinct counts per key.
    Json,
    /// Access logs: page views and unique visitors per minute and per day.
    Access,
    /// Log lines: ERROR lines per service per minute, with an alert above a
    /// threshold (Rust only: contract 0.2.0).
    Alert,
    /// JSON orders: exact sales per product per minute and the top 5
    /// (Rust only: contract 0.2.0).
    Top,
    /// `key=value` samples: average and percentiles per host per minute
    /// (Rust only: contract 0.2.0).
    Quantiles,
}

/// Rule languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust, with the `weir-sdk` crate.
    Rust,
    /// Python, with the `weir_sdk` package (`guest-sdk/python`), built
    /// with componentize-py.
    Python,
}

/// One file of a template: its path in the project and its text.
struct File {
    path: &'static str,
    text: &'static [u8],
    /// Whether `{{...}}` placeholders are filled in.
    fill: bool,
}

const RUST_COMMON: &[File] = &[
    File {
        path: "Cargo.toml",
        text: include_bytes!("../../templates/rust/Cargo.toml"),
        fill: true,
    },
    File {
        path: "rust-toolchain.toml",
        text: include_bytes!("../../../rust-toolchain.toml"),
        fill: false,
    },
    File {
        path: ".gitignore",
        text: include_bytes!("../../templates/rust/gitignore"),
        fill: false,
    },
    File {
        path: "tests/golden.rs",
        text: include_bytes!("../../templates/rust/golden.rs"),
        fill: true,
    },
];

/// A template's own files: the rule, its sample input and golden replay.
macro_rules! rule_files {
    ($dir:literal) => {
        &[
            File {
                path: "src/lib.rs",
                text: include_bytes!(concat!("../../templates/rust/", $dir, "/lib.rs")),
                fill: true,
            },
            File {
                path: "sample/input.log",
                text: include_bytes!(concat!("../../templates/rust/", $dir, "/input.log")),
                fill: false,
            },
            File {
                path: "sample/expected.json",
                text: include_bytes!(concat!("../../templates/rust/", $dir, "/expected.json")),
                fill: false,
            },
        ]
    };
}

const PYTHON_COMMON: &[File] = &[
    File {
        path: "conftest.py",
        text: include_bytes!("../../templates/python/conftest.py"),
        fill: true,
    },
    File {
        path: "test_golden.py",
        text: include_bytes!("../../templates/python/test_golden.py"),
        fill: true,
    },
    File {
        path: ".gitignore",
        text: include_bytes!("../../templates/python/gitignore"),
        fill: false,
    },
];

/// A Python template's own files; the sample and its golden replay are the
/// Rust template's (the same rule, so the same windows).
macro_rules! python_files {
    ($dir:literal) => {
        &[
            File {
                path: "app.py",
                text: include_bytes!(concat!("../../templates/python/", $dir, "/app.py")),
                fill: true,
            },
            File {
                path: "test_app.py",
                text: include_bytes!(concat!("../../templates/python/", $dir, "/test_app.py")),
                fill: true,
            },
            File {
                path: "sample/input.log",
                text: include_bytes!(concat!("../../templates/rust/", $dir, "/input.log")),
                fill: false,
            },
            File {
                path: "sample/expected.json",
                text: include_bytes!(concat!("../../templates/rust/", $dir, "/expected.json")),
                fill: false,
            },
        ]
    };
}

/// `None` for the templates of contract 0.2.0, which the Python SDK (built
/// for 0.1.0) cannot express.
fn python_files(template: Template) -> Option<&'static [File]> {
    match template {
        Template::Count => Some(python_files!("count")),
        Template::Json => Some(python_files!("json")),
        Template::Access => Some(python_files!("access")),
        Template::Alert | Template::Top | Template::Quantiles => None,
    }
}

fn rust_files(template: Template) -> &'static [File] {
    match template {
        Template::Count => rule_files!("count"),
        Template::Json => rule_files!("json"),
        Template::Access => rule_files!("access"),
        Template::Alert => rule_files!("alert"),
        Template::Top => rule_files!("top"),
        Template::Quantiles => rule_files!("quantiles"),
    }
}

/// Makes the project; returns what to do next, for the person who asked.
pub fn new(args: &NewArgs) -> anyhow::Result<String> {
    if !is_valid_name(&args.name) || !args.name.starts_with(|c: char| c.is_ascii_lowercase()) {
        anyhow::bail!(
            "`{}` is not a rule name: use 1-64 lowercase letters, digits, `-` and `_`, starting with a letter (it appears in Redis keys)",
            args.name
        );
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        anyhow::bail!(
            "{} already exists; choose another name or --dir",
            dir.display()
        );
    }
    let repo_sdk = |rel: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let sdk = match (&args.sdk, args.lang) {
        (Some(sdk), _) => sdk.clone(),
        (None, Lang::Rust) => repo_sdk("../guest-sdk"),
        (None, Lang::Python) => repo_sdk("../guest-sdk/python"),
    };
    let sdk = std::fs::canonicalize(&sdk).with_context(|| {
        format!(
            "the guest SDK is not at {}; pass --sdk PATH (`guest-sdk`, or `guest-sdk/python`, of the weir repository)",
            sdk.display()
        )
    })?;
    let weir = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("weir"));
    // The component's file name: cargo's (the crate's name), or the
    // project folder's for Python (see `build_python`).
    let file = match args.lang {
        Lang::Rust => args.name.clone(),
        Lang::Python => dir
            .file_name()
            .map_or_else(|| args.name.clone(), |n| n.to_string_lossy().into_owned()),
    }
    .replace('-', "_");
    let fills = [
        ("{{name}}", args.name.clone()),
        ("{{Type}}", type_name(&args.name)),
        ("{{file}}", file.clone()),
        ("{{sdk}}", toml_path(&sdk)),
        ("{{python_sdk}}", toml_path(&sdk)),
        ("{{weir}}", toml_path(&weir)),
    ];
    let files: Vec<&File> = match args.lang {
        Lang::Rust => RUST_COMMON
            .iter()
            .chain(rust_files(args.template))
            .collect(),
        Lang::Python => PYTHON_COMMON
            .iter()
            .chain(python_files(args.template).ok_or_else(|| {
                anyhow::anyhow!(
                    "the {:?} template is Rust only for now (the Python SDK builds for contract weir:rule@0.1.0, which has no alerts, top-N or quantiles); use --lang rust",
                    args.template
                )
            })?)
            .collect(),
    };
    for file in files {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let bytes = if file.fill {
            let mut text = String::from_utf8_lossy(file.text).into_owned();
            for (placeholder, value) in &fills {
                text = text.replace(placeholder, value);
            }
            text.into_bytes()
        } else {
            file.text.to_vec()
        };
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let shown = dir.display();
    let (lang, tests) = match args.lang {
        Lang::Rust => (
            "Rust",
            "cargo test        # native tests + the golden replay",
        ),
        Lang::Python => (
            "Python",
            "python -m pytest  # native tests + the golden replay (the venv of scripts/setup.sh has pytest)",
        ),
    };
    Ok(format!(
        "created rule `{name}` ({template:?} template, {lang}) in {shown}\n\
         next:\n  \
         cd {shown} && {tests}\n  \
         weir build {shown}              # the component, checked; prints its manifest, size and path\n  \
         weir test {shown}/target/wasm32-wasip2/release/{file}.wasm --input {shown}/sample/input.log --expect {shown}/sample/expected.json\n  \
         weir deploy {shown}/target/wasm32-wasip2/release/{file}.wasm --to PLUGINS_DIR\n",
        name = args.name,
        template = args.template,
    ))
}

/// `my-rule_2` → `MyRule2`: the rule's type.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A path as it goes inside a TOML or Rust string literal.
fn toml_path(path: &Path) -> String {
    path.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(type_name("pvuv"), "Pvuv");
        assert_eq!(type_name("my-rule_2"), "MyRule2");
    }

    #[test]
    fn refuses_bad_names_and_existing_folders() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["Shop", "2fast", "a:b", ""] {
            let args = NewArgs {
                name: name.into(),
                template: Template::Count,
                lang: Lang::Rust,
                dir: Some(dir.path().join("x")),
                sdk: None,
            };
            assert!(new(&args).is_err(), "{name}");
        }
        let args = NewArgs {
            name: "shop".into(),
            template: Template::Json,
            lang: Lang::Rust,
            dir: Some(dir.path().to_owned()),
            sdk: None,
        };
        assert!(
            new(&args)
                .unwrap_err()
                .to_string()
                .contains("already exists")
        );
    }

    #[test]
    fn fills_every_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        for template in [Template::Count, Template::Json, Template::Access] {
            let project = dir.path().join(format!("{template:?}"));
            let args = NewArgs {
                name: "my-rule".into(),
                template,
                lang: Lang::Rust,
                dir: Some(project.clone()),
                sdk: None,
            };
            new(&args).unwrap();
            for file in ["Cargo.toml", "src/lib.rs", "tests/golden.rs"] {
                let text = std::fs::read_to_string(project.join(file)).unwrap();
                assert!(!text.contains("{{"), "{file}: {text}");
            }
            let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
            assert!(lib.contains("Manifest::new(\"my-rule\""));
            assert!(lib.contains("export_rule!(MyRule)"));

            let project = dir.path().join(format!("py-{template:?}"));
            let args = NewArgs {
                name: "my-rule".into(),
                template,
                lang: Lang::Python,
                dir: Some(project.clone()),
                sdk: None,
            };
            new(&args).unwrap();
            for file in ["app.py", "test_app.py", "conftest.py", "test_golden.py"] {
                let text = std::fs::read_to_string(project.join(file)).unwrap();
                assert!(!text.contains("{{"), "{file}: {text}");
            }
            let golden = std::fs::read_to_string(project.join("test_golden.py")).unwrap();
            assert!(
                golden.contains(&format!("py_{template:?}.wasm")),
                "{golden}"
            );
        }
    }
}
