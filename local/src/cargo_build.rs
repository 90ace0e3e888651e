//! Building the functions of a stack before `up` runs them (`cargo build --release
//! --bins`), and finding their binaries where cargo put them, wherever the user's cargo
//! is set to write (`CARGO_TARGET_DIR`, `build.target-dir`).

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
    #[error("function {function}: cargo build succeeded but built no binary named {binary}")]
    NotBuilt { function: String, binary: String },
    #[error("cargo metadata failed ({0}): cannot tell where cargo puts binaries")]
    Metadata(std::process::ExitStatus),
    #[error("cargo metadata named no target_directory")]
    NoTargetDir,
    #[error("cannot run cargo: {0}")]
    Cargo(std::io::Error),
}

/// A function's cargo package: its name (also its binary's) and its manifest.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub manifest: PathBuf,
}

/// Each function's cargo package, by function name.
pub fn packages(stack: &Stack) -> Result<BTreeMap<String, Package>, BuildError> {
    let mut packages = BTreeMap::new();
    for (name, def) in &stack.functions {
        if def.lang.as_deref() != Some("rust-hyper") {
            return Err(BuildError::Lang {
                function: name.clone(),
                lang: def.lang.clone(),
            });
        }
        let manifest = stack
            .dir
            .join(def.handler.as_deref().unwrap_or(name))
            .join("Cargo.toml");
        let package = Package {
            name: package_name(name, &manifest)?,
            manifest,
        };
        packages.insert(name.clone(), package);
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

/// Where each function's binary is, by function name.
pub type Binaries = BTreeMap<String, PathBuf>;

/// Builds `packages` in release mode and returns where cargo put each function's
/// binary: the `executable` of cargo's own artifact messages, so a `CARGO_TARGET_DIR`
/// or a `build.target-dir` in any cargo config is followed.
///
/// A stack whose folder is a cargo workspace (this repository) is built with one
/// `cargo build -p …` for all its functions, so each crate compiles once. A stack as
/// `faas-cli new` leaves it (each handler its own package, no Cargo.toml beside the
/// stack file) is built one handler at a time with `--manifest-path`.
pub fn build(
    stack_dir: &Path,
    packages: &BTreeMap<String, Package>,
) -> Result<Binaries, BuildError> {
    eprintln!("greyfaas: building the functions (cargo build --release --bins) …");
    let take = |built: &BTreeMap<String, PathBuf>, function: &str, package: &Package| {
        built
            .get(&package.name)
            .map(|path| (function.to_owned(), path.clone()))
            .ok_or_else(|| BuildError::NotBuilt {
                function: function.to_owned(),
                binary: package.name.clone(),
            })
    };
    if stack_dir.join("Cargo.toml").is_file() {
        let mut cargo = release_build(stack_dir);
        if is_this_workspace(stack_dir) {
            cargo.args(["-p", env!("CARGO_PKG_NAME")]);
        }
        for package in packages.values() {
            cargo.args(["-p", &package.name]);
        }
        let built = run_build(cargo)?;
        packages
            .iter()
            .map(|(function, package)| take(&built, function, package))
            .collect()
    } else {
        packages
            .iter()
            .map(|(function, package)| {
                let mut cargo = release_build(stack_dir);
                cargo.arg("--manifest-path").arg(&package.manifest);
                take(&run_build(cargo)?, function, package)
            })
            .collect()
    }
}

/// `cargo build --release --bins` with JSON messages on stdout. With greyfaas among the
/// packages, features unify as in `cargo run --release -p greyfaas` (which depends on
/// the functions), so a first start builds every crate once; --bins keeps the
/// libraries (all named `handler`) out of target/release, where their names would
/// collide. Diagnostics still reach stderr as cargo renders them.
fn release_build(dir: &Path) -> std::process::Command {
    let mut cargo = cargo_command(dir);
    cargo.args([
        "build",
        "--release",
        "--bins",
        "--message-format=json-render-diagnostics",
    ]);
    cargo
}

/// Runs a build and returns the binaries it reports (bin target name → executable).
fn run_build(mut cargo: std::process::Command) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let output = cargo
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(BuildError::Cargo)?;
    if !output.status.success() {
        return Err(BuildError::Failed(output.status));
    }
    Ok(executables(&String::from_utf8_lossy(&output.stdout)))
}

/// Where `cargo build --release` puts `package`'s binary: the `target_directory` of
/// `cargo metadata` (which honours `CARGO_TARGET_DIR` and cargo config files, read from
/// `dir` as a build there reads them), then `release/<name>`.
pub fn release_binary(dir: &Path, package: &Package) -> Result<PathBuf, BuildError> {
    let output = cargo_command(dir)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(&package.manifest)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(BuildError::Cargo)?;
    if !output.status.success() {
        return Err(BuildError::Metadata(output.status));
    }
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .ok()
        .and_then(|m| m.get("target_directory")?.as_str().map(PathBuf::from))
        .map(|dir| dir.join("release").join(&package.name))
        .ok_or(BuildError::NoTargetDir)
}

/// The binaries named in cargo's JSON messages: bin target name → executable path.
fn executables(messages: &str) -> BTreeMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m.get("reason").and_then(|r| r.as_str()) == Some("compiler-artifact"))
        .filter_map(|m| {
            let target = m.get("target")?;
            let is_bin = target
                .get("kind")?
                .as_array()?
                .iter()
                .any(|k| k.as_str() == Some("bin"));
            let executable = m.get("executable")?.as_str()?;
            let name = target.get("name")?.as_str()?;
            is_bin.then(|| (name.to_owned(), PathBuf::from(executable)))
        })
        .collect()
}

/// `cargo` (the one that ran us, if any) in `dir`, without the variables `cargo run`
/// sets for the program it runs: build scripts such as ring's declare
/// rerun-if-env-changed on them, so passing them on would make this build redo those
/// crates (and everything above them).
fn cargo_command(dir: &Path) -> std::process::Command {
    let mut cargo =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(dir);
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
    cargo
}

/// Whether `dir` is the workspace greyfaas was built from (so `-p greyfaas` resolves).
fn is_this_workspace(dir: &Path) -> bool {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match (dir.canonicalize(), workspace.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
