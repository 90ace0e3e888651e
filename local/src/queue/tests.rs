//! The queue on a disk that fills up: a real small file system (a tmpfs mounted in a
//! mount namespace of its own, `unshare -rm`), or, where none can be mounted, a real
//! file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) — the kernel's own ENOSPC / EFBIG in
//! both, no injected error. The test re-runs itself in a child process so that the
//! mount or the limit touches nothing else.

use super::{Limits, Queue, QueueError, RetryPolicy, callback::Callbacks, journal::Job};
use crate::error::GatewayError;
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Set in the child: the folder to fill, and how (`tmpfs` or `fsize`).
const CHILD_DIR: &str = "GREYFAAS_FULL_DISK_DIR";
const CHILD_MODE: &str = "GREYFAAS_FULL_DISK_MODE";
const TEST: &str = "a_full_disk_refuses_the_call_it_cannot_store_and_loses_no_acknowledged_one";
/// The tmpfs's size, and the file-size limit of the fallback.
const DISK: u64 = 256 << 10;
/// What is freed between the rounds: a file of this size (tmpfs), or as much more
/// file size allowed (fsize).
const FREED: u64 = 64 << 10;

#[test]
fn a_full_disk_refuses_the_call_it_cannot_store_and_loses_no_acknowledged_one() {
    if let (Ok(dir), Ok(mode)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_MODE)) {
        return fill_then_replay(Path::new(&dir), &mode);
    }
    let dir = std::env::temp_dir().join(format!("greyfaas-full-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let name = format!(
        "{}::{TEST}",
        module_path!().split_once("::").map_or("", |(_, m)| m)
    );
    let test_args = [name.as_str(), "--exact", "--nocapture", "--test-threads=1"];
    // 97: the tmpfs could not be mounted (no user namespaces here): the fallback.
    let script = format!(
        "mount -t tmpfs -o size={DISK} greyfaas-full-disk \"$1\" || exit 97; shift; exec \"$@\""
    );
    let tmpfs = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script, "sh"])
        .arg(&dir)
        .arg(&exe)
        .args(test_args)
        .env(CHILD_DIR, &dir)
        .env(CHILD_MODE, "tmpfs")
        .status();
    let status = match tmpfs {
        Ok(status) if status.code() != Some(97) => status,
        other => {
            eprintln!("no tmpfs can be mounted here ({other:?}): a file-size limit instead");
            Command::new(&exe)
                .args(test_args)
                .env(CHILD_DIR, &dir)
                .env(CHILD_MODE, "fsize")
                .status()
                .unwrap()
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "the full-disk run failed: {status}");
}

fn open(dir: &Path) -> Queue {
    let limits = Limits {
        calls: 100_000,
        bytes: 1 << 30,
        callbacks: 1,
    };
    open_with(dir, limits)
}

/// A queue over `dir` with `limits`, one attempt per call, callbacks to loopback allowed.
fn open_with(dir: &Path, limits: Limits) -> Queue {
    let retry = RetryPolicy {
        max_attempts: 1,
        initial_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(1),
        codes: Vec::new(),
    };
    Queue::open(dir, limits, retry, Callbacks::new(true).unwrap()).unwrap()
}

fn job(call_id: &str) -> Job {
    Job {
        seq: 0,
        call_id: call_id.into(),
        function: "greyscale".into(),
        path_and_query: "/".into(),
        // Long lines: a write that meets the full disk leaves part of one behind.
        headers: vec![("x-padding".into(), "p".repeat(3000))],
        body_len: 0,
        callback_url: None,
        accepted_at_ms: 1,
    }
}

fn body_of(call_id: &str, len: usize) -> Bytes {
    call_id
        .bytes()
        .cycle()
        .take(len)
        .collect::<Vec<u8>>()
        .into()
}

/// In the child: accepts calls until the disk refuses some, frees room, accepts more,
/// twice (without bodies, then with 8 KiB bodies); then opens the queue again and
/// finds exactly the calls that were acknowledged, with their bodies.
fn fill_then_replay(dir: &Path, mode: &str) {
    let filler: PathBuf = dir.join("filler");
    match mode {
        "tmpfs" => {
            for round in 0..2 {
                std::fs::write(
                    filler.with_extension(round.to_string()),
                    vec![1; FREED as usize],
                )
                .unwrap();
            }
        }
        "fsize" => {
            // Ignored, SIGXFSZ leaves the write to fail with EFBIG instead of killing us.
            unsafe {
                nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGXFSZ,
                    nix::sys::signal::SigHandler::SigIgn,
                )
            }
            .unwrap();
            set_file_size_limit(DISK);
        }
        other => panic!("unknown mode {other}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let queue_dir = dir.join("queue");
    let mut acknowledged: Vec<(String, usize)> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    runtime.block_on(async {
        let queue = open(&queue_dir);
        for (round, body_len) in [(0, 0), (1, 8 << 10)] {
            let refused_before = refused.len();
            let mut n = 0;
            // Until the disk has refused three calls in a row.
            while refused.len() < refused_before + 3 {
                n += 1;
                assert!(n < 10_000, "the disk never filled");
                let id = format!("r{round}-{n}");
                match queue.push(job(&id), body_of(&id, body_len)).await {
                    Ok(()) => {
                        assert_eq!(
                            refused.len(),
                            refused_before,
                            "{id} accepted after a refusal on a disk still full"
                        );
                        acknowledged.push((id, body_len));
                    }
                    Err(e) => {
                        assert!(matches!(e, QueueError::Storage(_)), "{id}: {e}");
                        let answer = GatewayError::from(e);
                        assert_eq!(answer.status(), 503, "{id}: {answer}");
                        refused.push(id);
                    }
                }
            }
            // Room again: the next calls are accepted, and must survive the replay.
            match mode {
                "tmpfs" => std::fs::remove_file(filler.with_extension(round.to_string())).unwrap(),
                _ => set_file_size_limit(DISK + FREED * (round + 1)),
            }
            for k in 0..3 {
                let id = format!("r{round}-after-{k}");
                queue
                    .push(job(&id), body_of(&id, body_len))
                    .await
                    .unwrap_or_else(|e| panic!("{id} after freeing room: {e}"));
                acknowledged.push((id, body_len));
            }
        }
    });
    assert!(!refused.is_empty());
    // Every line of the journal is a whole record: nothing torn was left to glue to.
    let journal = std::fs::read(queue_dir.join("journal.jsonl")).unwrap();
    for line in journal.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(line).unwrap_or_else(|e| {
            panic!(
                "a torn journal line ({e}): {}",
                String::from_utf8_lossy(&line[..line.len().min(120)])
            )
        });
    }

    // "Restart": replay, as greyfaas up does at start.
    runtime.block_on(async {
        let queue = open(&queue_dir);
        let state = queue.lock();
        let replayed: Vec<&str> = state.ready.iter().map(|j| j.call_id.as_str()).collect();
        let expected: Vec<&str> = acknowledged.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            replayed, expected,
            "every acknowledged call, and only those (refused: {refused:?})"
        );
        for job in &state.ready {
            let (_, len) = acknowledged
                .iter()
                .find(|(id, _)| *id == job.call_id)
                .unwrap();
            let body = queue.bodies.read(job.seq, job.body_len).unwrap();
            assert_eq!(body, body_of(&job.call_id, *len), "{}", job.call_id);
        }
    });
    eprintln!(
        "{mode}: {} acknowledged, {} refused with 503, all acknowledged ones replayed",
        acknowledged.len(),
        refused.len()
    );
}

fn set_file_size_limit(bytes: u64) {
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_FSIZE, bytes, u64::MAX)
        .unwrap();
}

#[test]
fn bodies_wait_on_disk_not_in_the_journal_and_the_queue_is_bounded_by_bytes() {
    let dir = std::env::temp_dir().join(format!("greyfaas-queue-bytes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let limits = Limits {
            calls: 100,
            bytes: 100 << 10,
            callbacks: 1,
        };
        let queue = open_with(&dir, limits);
        queue.push(job("a"), body_of("a", 60 << 10)).await.unwrap();
        let full = queue
            .push(job("b"), body_of("b", 60 << 10))
            .await
            .unwrap_err();
        assert!(matches!(full, QueueError::FullBytes { .. }), "{full}");
        assert_eq!(GatewayError::from(full).status(), 429);
        let huge = queue
            .push(job("c"), body_of("c", 200 << 10))
            .await
            .unwrap_err();
        assert_eq!(GatewayError::from(huge).status(), 413);
        // The body is a file of its own; the journal has only the call's metadata.
        let journal = std::fs::read(dir.join("journal.jsonl")).unwrap();
        assert!(journal.len() < 8 << 10, "{} bytes", journal.len());
        let a = queue.lock().ready[0].clone();
        assert_eq!(queue.body(&a).unwrap(), body_of("a", 60 << 10));
        // Finished: its body file goes, and its bytes are free again.
        queue
            .finish(super::journal::Finished {
                seq: a.seq,
                call_id: "a".into(),
                function: "greyscale".into(),
                accepted_at_ms: 1,
                finished_at_ms: 2,
                attempts: 1,
                function_status: 200,
                result_error: None,
                callback_url: None,
                callback_status: None,
                callback_error: None,
            })
            .await;
        assert!(!queue.bodies.has(a.seq, a.body_len));
        queue.push(job("d"), body_of("d", 60 << 10)).await.unwrap();
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
