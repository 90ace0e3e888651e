//! One function binary started alone, as `greyfaas up` would start a replica, but with
//! no gateway and no store: for tests of a function process's own behaviour (draining,
//! a store that is down, its limits).

use crate::http::{client, free_port};
use crate::paths::{bin_dir, scratch_dir};
use crate::process::{eventually, spawn_owned};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts the function binary `name` on a free loopback port with `env` on top of the
/// defaults (test credentials, a store address nothing listens on, warnings logged) and
/// waits until `/_/health` answers 200. Returns the process and its base URL.
pub fn start_function(name: &str, env: &[(&str, &str)]) -> (Child, String) {
    let port = free_port();
    let secrets = scratch_dir(&format!("fn-{name}"));
    for key in ["s3-access-key", "s3-secret-key"] {
        std::fs::write(secrets.join(key), "test").expect("a test secret");
    }
    let mut command = Command::new(bin_dir().join(name));
    command
        .env("port", port.to_string())
        .env("metrics_port", "0")
        .env("bind_address", "127.0.0.1")
        .env("secret_mount_path", &secrets)
        .env("s3_endpoint", format!("http://127.0.0.1:{}", free_port()))
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null());
    let child = spawn_owned(command);
    let base = format!("http://127.0.0.1:{port}");
    assert!(
        eventually(Duration::from_secs(20), || client()
            .get(format!("{base}/_/health"))
            .send()
            .is_ok_and(|r| r.status() == 200)),
        "{name} did not become healthy"
    );
    (child, base)
}
