#!/usr/bin/env bash
# The Dockerfile's plan stage, run in the build context (build/<fn>/ as faas-cli
# assembles it: this template, the handler in function/, stack.yml's copy folders in
# function/<path>). It lays the context out as a cargo workspace ready to build with
# --locked, and writes the dependency-only skeleton to ../skel. tests/deploy/test_dockerfile.py
# and .ci/check-build-contexts run this same file.
#
# 1. Layout: runtime/ moves to template/rust-hyper/runtime, where a function made by
#    `faas-cli new` finds it (its folder sits beside template/, so its Cargo.toml says
#    `path = "../template/rust-hyper/runtime"`), and Cargo.toml makes function/ the one
#    workspace member. The runtime stays outside the workspace, as it is beside a new
#    function, so the Cargo.lock `cargo test` writes there is valid here unchanged.
# 2. Workspace dependencies: `openfaas-runtime`, and each crate that stack.yml's
#    `configuration.copy` put in function/crates/<dir> under its package name, so a
#    handler names them with `workspace = true`.
# 3. Cargo.lock: a handler folder that ships its own Cargo.lock is built with exactly
#    those versions. A handler without one is resolved now, starting from the
#    template's Cargo.lock, and the build says so: such a build is not reproducible.
# 4. Skeleton: every Cargo.toml and Cargo.lock (plus .cargo/config*, rust-toolchain*),
#    and an empty stand-in (`fn main() {}`) for every .rs file, at the same paths. It
#    changes only when manifests or the lock change, so the layer that compiles the
#    dependencies from it is reused after a source-only edit (what cargo-chef does,
#    for any number of path crates).
set -euo pipefail

mkdir -p template/rust-hyper
mv runtime template/rust-hyper/runtime
cat >Cargo.toml <<'TOML'
# Written by plan.sh: the build context as a cargo workspace.
[workspace]
resolver = "3"
members = ["function"]
exclude = ["template"]

# Defaults a handler may inherit with `version.workspace = true` and so on.
[workspace.package]
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
license = "MIT"

[profile.release]
codegen-units = 4
lto = "thin"

[workspace.dependencies]
openfaas-runtime = { path = "template/rust-hyper/runtime" }
TOML
for manifest in function/crates/*/Cargo.toml; do
  [ -f "$manifest" ] || continue
  crate=$(sed -n 's/^name *= *"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)
  echo "rust-hyper: workspace dependency $crate = ${manifest%/Cargo.toml}"
  echo "$crate = { path = \"${manifest%/Cargo.toml}\" }" >>Cargo.toml
done

if [ -f function/Cargo.lock ]; then
  echo "rust-hyper: building with the handler's function/Cargo.lock"
  cp function/Cargo.lock Cargo.lock
else
  echo "rust-hyper: the handler ships no Cargo.lock: resolving its dependencies now;" \
       "this build is not reproducible (commit the Cargo.lock that cargo test writes" \
       "in the function's folder)"
  cargo update --workspace
fi

mkdir -p ../skel
find . -name target -prune -o -type f \( -name Cargo.toml -o -name Cargo.lock \
     -o -name 'rust-toolchain*' -o -path './.cargo/config*' \) -print0 \
  | xargs -0 -r cp --parents -t ../skel
find . -name target -prune -o -type f -name '*.rs' -print0 \
  | while IFS= read -r -d '' f; do
      mkdir -p "../skel/$(dirname "$f")"
      printf '#![allow(dead_code)]\nfn main() {}\n' >"../skel/$f"
    done
