//! Building the functions of a stack before `up` runs them: one `cargo build --release
//! --bins` for every function's package (and greyfaas itself, when the stack is this
//! workspace), so a first start compiles each crate once.

use crate::stack::Stack;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the functions could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("function {function}: lang {lang:?}: greyfaas up runs rust-hyper functions")]
    Lang {
        function: String,
        lang: Option<String>,
    },
    #[error("function {function}: cannot read {}: {problem}", manifest.display())]
    Manifest {
        function: String,
        manifest: PathBuf,
        problem: String,
    },
    #[error("cargo build failed ({0})")]
    Failed(std::process::ExitStatus),
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
}

/// Each function's cargo package (its binary's name), by function name.
pub fn packages(stack: &Stack) -> Result<BTreeMap<String, String>, BuildError> {
    let mut packages = BTreeMap::new();
    for (name, def) in &stack.functions {
        if def.lang.as_deref() != Some("rust-hyper") {
            return Err(BuildError::Lang {
                function: name.clone(),
                lang: def.lang.clone(),
            });
        }
        let handler = stack.dir.join(def.handler.as_deref().unwrap_or(name));
        packages.insert(
            name.clone(),
            package_name(name, &handler.join("Cargo.toml"))?,
        );
    }
    Ok(packages)
}

/// The `[package] name` in function `function`'s Cargo.toml.
pub fn package_name(function: &str, manifest: &Path) -> Result<String, BuildError> {
    let bad = |problem: String| BuildError::Manifest {
        function: function.to_string(),
        manifest: manifest.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(manifest).map_err(|e| bad(e.to_string()))?;
    let value: toml::Value = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned)
        .ok_or_else(|| bad("no [package] name".into()))
}

/// Builds `packages` in release mode in the stack's folder.
pub fn build(stack_dir: &Path, packages: &BTreeMap<String, String>) -> Result<(), BuildError> {
    let mut cargo =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // With greyfaas among the packages, features unify as in `cargo run --release
    // -p greyfaas` (which depends on the functions), so a first start builds every
    // crate once; --bins keeps the libraries (all named `handler`) out of
    // target/release, where their names would collide.
    cargo
        .current_dir(stack_dir)
        .args(["build", "--release", "--bins"]);
    // `cargo run` sets these for the program it runs; build scripts such as ring's
    // declare rerun-if-env-changed on them, so passing them on would make this
    // build redo those crates (and everything above them).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_CFG_")
            || matches!(
                key.as_ref(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_BIN_NAME"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "OUT_DIR"
            )
        {
            cargo.env_remove(key.as_ref());
        }
    }
    if is_this_workspace(stack_dir) {
        cargo.args(["-p", env!("CARGO_PKG_NAME")]);
    }
    for package in packages.values() {
        cargo.args(["-p", package]);
    }
    eprintln!("greyfaas: building the functions (cargo build --release --bins) …");
    match cargo.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(BuildError::Failed(status)),
        Err(e) => Err(BuildError::Cargo(e)),
    }
}

/// Whether `dir` is the workspace greyfaas was built from (so `-p greyfaas` resolves).
fn is_this_workspace(dir: &Path) -> bool {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match (dir.canonicalize(), workspace.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
