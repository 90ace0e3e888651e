//! `greyfaas up` building the functions itself, wherever the user's cargo writes: with
//! `CARGO_TARGET_DIR` set outside the project, with `build.target-dir` in the project's
//! `.cargo/config.toml`, and `--no-build` finding the binaries the same way.
//!
//! The project is the one `faas-cli template pull` + `faas-cli new --lang rust-hyper
//! hello` leaves (template/rust-hyper/, hello/, hello.yml), so a release build compiles
//! only the template's runtime: about half a minute on 2 cores. The three tests share one
//! target directory outside the project (cargo locks it while one of them builds).

use greyfaas_testkit::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The target directory outside every project and outside this checkout.
fn outside_target() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| scratch_dir("outside-target"))
}

/// A fresh folder as faas-cli leaves it after `template pull` and `new --lang
/// rust-hyper hello`, with the template's lock for the handler (as the build's plan
/// step gives it), so no resolution is needed. Returns the stack file.
fn new_project(what: &str) -> PathBuf {
    let dir = scratch_dir(what);
    let template = repo().join("template/rust-hyper");
    copy_tree(&template, &dir.join("template/rust-hyper"));
    copy_tree(&template.join("function"), &dir.join("hello"));
    std::fs::copy(template.join("Cargo.lock"), dir.join("hello/Cargo.lock")).unwrap();
    let stack = dir.join("hello.yml");
    std::fs::write(
        &stack,
        "version: 1.0\nprovider:\n  name: openfaas\n  gateway: http://127.0.0.1:8080\n\
         functions:\n  hello:\n    lang: rust-hyper\n    handler: ./hello\n    image: hello:latest\n",
    )
    .unwrap();
    stack
}

/// Copies `from` into `to`, following links, leaving out `target/` folders.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&path, &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// `greyfaas up -f stack` with `env`, building unless `no_build`; checks that it is up
/// and that the function it built answers through the gateway.
fn up_and_call(stack: &Path, env: Vec<(String, Option<String>)>, no_build: bool) -> Up {
    let mut launch =
        Launch::new(&bin_dir(), &scratch_dir("up-builds"), stack).args(&["--no-basic-auth"]);
    launch.build = true;
    if no_build {
        launch = launch.args(&["--no-build"]);
    }
    launch.env = env;
    launch.ready_within = std::time::Duration::from_secs(300);
    let up = Up::launch(&launch).unwrap_or_else(|e| panic!("greyfaas up: {e}"));
    let answer = client()
        .post(up.url("/function/hello"))
        .body("world")
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().unwrap().contains("world"));
    up
}

fn assert_built_outside(stack: &Path) {
    let project = stack.parent().unwrap();
    assert!(outside_target().join("release/handler").is_file());
    for inside in [project.join("target"), project.join("hello/target")] {
        assert!(!inside.exists(), "{} was written", inside.display());
    }
}

#[test]
fn up_builds_into_cargo_target_dir_and_runs_what_it_built() {
    let stack = new_project("target-dir-env");
    let env = vec![(
        "CARGO_TARGET_DIR".into(),
        Some(outside_target().display().to_string()),
    )];
    let up = up_and_call(&stack, env, false);
    assert_built_outside(&stack);
    drop(up);
}

#[test]
fn up_follows_build_target_dir_of_the_projects_cargo_config() {
    let stack = new_project("target-dir-config");
    let project = stack.parent().unwrap();
    std::fs::create_dir_all(project.join(".cargo")).unwrap();
    std::fs::write(
        project.join(".cargo/config.toml"),
        format!(
            "[build]\ntarget-dir = {:?}\n",
            outside_target().display().to_string()
        ),
    )
    .unwrap();
    let up = up_and_call(&stack, vec![("CARGO_TARGET_DIR".into(), None)], false);
    assert_built_outside(&stack);
    drop(up);

    // --no-build asks cargo where a release build puts the binary: the same place.
    let up = up_and_call(&stack, vec![("CARGO_TARGET_DIR".into(), None)], true);
    drop(up);
}

#[test]
fn no_build_without_a_binary_says_where_it_looked_and_why() {
    let stack = new_project("no-binary");
    let empty = scratch_dir("empty-target");
    let output = std::process::Command::new(bin_dir().join("greyfaas"))
        .args(["up", "--no-build", "-f"])
        .arg(&stack)
        .env("CARGO_TARGET_DIR", &empty)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    let expected = empty.join("release/handler");
    assert!(
        said.contains(&format!("no binary at {}", expected.display())),
        "{said}"
    );
    assert!(said.contains("--no-build was given"), "{said}");
}
