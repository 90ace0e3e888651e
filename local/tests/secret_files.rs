//! `greyfaas up` with a damaged or planted credential file in its secrets folder: it
//! refuses to start, naming the file, and leaves the file (and a link's target) as it
//! was — never a fresh secret generated over one that clients may hold.

use greyfaas_testkit::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `greyfaas up` on `dir`'s data; (whether it succeeded, its stderr). It must
/// exit by itself, before starting anything.
fn up_exits(dir: &Path) -> (bool, String) {
    let stack_file = dir.join("stack.yml");
    std::fs::write(
        &stack_file,
        STACK.replace("{repo}", &repo().display().to_string()),
    )
    .unwrap();
    let bin = bin_dir();
    let mut child = Command::new(bin.join("greyfaas"))
        .args(["up", "-f"])
        .arg(&stack_file)
        .args(["--port", &free_port().to_string(), "--data-dir"])
        .arg(dir.join("data"))
        .arg("--no-build")
        .arg("--bin-dir")
        .arg(&bin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("greyfaas up did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.success(), stderr)
}

#[test]
fn a_non_utf8_store_secret_stops_the_start_and_is_kept() {
    let dir = scratch_dir("secret-utf8");
    let secrets = dir.join("data/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let file = secrets.join("s3-secret-key");
    std::fs::write(&file, [0xff, 0xfe, b'k']).unwrap();
    let (ok, stderr) = up_exits(&dir);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()) && stderr.contains("not UTF-8"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), [0xff, 0xfe, b'k']);
}

#[test]
fn a_linked_store_secret_stops_the_start_and_its_target_is_untouched() {
    let dir = scratch_dir("secret-link");
    let secrets = dir.join("data/secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let target = dir.join("not-a-secret");
    std::fs::write(&target, "precious").unwrap();
    let file = secrets.join("s3-access-key");
    std::os::unix::fs::symlink(&target, &file).unwrap();
    let (ok, stderr) = up_exits(&dir);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("s3-access-key") && stderr.contains("symbolic link"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(
        std::fs::symlink_metadata(&file)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}
