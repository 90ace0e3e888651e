//! The async queue on disk: an append-only journal of JSON lines in
//! `<data-dir>/queue/journal.jsonl` — one `accepted` record per call (written and
//! fsynced before the 202 goes out) and one `finished` record when its result has been
//! delivered. Replaying it at start gives back every accepted, unfinished call, so a
//! `greyfaas up` killed with SIGKILL runs them again (at least once). The records hold
//! each call's metadata only; its body is a file of its own ([`super::bodies`]).
//!
//! Why a log file and not an embedded database: the queue needs exactly two writes per
//! call and a replay at start; a log does that with one `write` + `fdatasync` each, is
//! readable with `jq`, and adds no dependency to build. A torn last line (power loss
//! mid-write) is skipped on replay; so is any unreadable line, with a warning. At start
//! the journal is rewritten with only what is still needed (unfinished calls and the
//! most recent finished ones, for `/system/async-call`), and again while running when
//! it has grown well beyond that.
//!
//! A write that fails (a full disk: ENOSPC, EFBIG, or an fsync error) may have left
//! part of its line in the file; the next record would be glued to it and both be
//! unreadable on replay. So on any error the file is cut back to its last whole record
//! before the error is returned (and the call is refused, not acknowledged); if even
//! that fails, every later append is refused until the cut succeeds.

use super::bodies::Bodies;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Finished calls kept for `/system/async-call` (in memory and through compaction).
pub const FINISHED_KEPT: usize = 1000;
/// The journal is rewritten when it is larger than this and than 4× what it holds.
const COMPACT_AT: u64 = 4 << 20;

/// The journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("async queue journal {}: {source}", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// One accepted async call, as queued (faas-provider's QueueRequest, less the host and
/// the body, which is in its own file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub seq: u64,
    pub call_id: String,
    pub function: String,
    pub path_and_query: String,
    /// Request headers in order (values that are not visible ASCII are dropped).
    pub headers: Vec<(String, String)>,
    /// The length of its body ([`Bodies`]).
    #[serde(default)]
    pub body_len: u64,
    pub callback_url: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub accepted_at_ms: u64,
}

/// How a call ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finished {
    pub seq: u64,
    pub call_id: String,
    pub function: String,
    pub accepted_at_ms: u64,
    pub finished_at_ms: u64,
    pub attempts: u32,
    pub function_status: u16,
    /// Why the function's answer was not passed on (too large, cut short), when it was
    /// not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_error: Option<String>,
    pub callback_url: Option<String>,
    /// The callback's HTTP status, when it answered.
    pub callback_status: Option<u16>,
    /// Why the callback was not delivered, when it was not.
    pub callback_error: Option<String>,
}

/// A record as written: borrowed, so appending copies nothing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum RecordOut<'a> {
    Accepted(&'a Job),
    Finished(&'a Finished),
}

/// A record as read back.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
enum RecordIn {
    Accepted(AcceptedIn),
    Finished(Finished),
}

/// An `accepted` record; journals written before bodies had files of their own carry
/// the body inline, as base64 (moved to its file at start).
#[derive(Deserialize)]
struct AcceptedIn {
    #[serde(flatten)]
    job: Job,
    #[serde(default, with = "base64_bytes")]
    body: Option<Vec<u8>>,
}

/// What a replay found.
pub struct Replayed {
    /// Accepted and not finished, oldest first.
    pub pending: Vec<Job>,
    /// The most recent finished calls, oldest first.
    pub finished: Vec<Finished>,
    pub next_seq: u64,
}

/// The open journal.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The length of the file's whole records: where a failed append is cut back to.
    bytes: u64,
    /// Records in the file (for the size a compaction would leave).
    records: u64,
    /// A failed append could not be cut back: nothing more is appended until it is.
    torn: bool,
}

impl Journal {
    /// Opens (creating) the journal in `dir`, replays it (a pending call whose body
    /// file is missing is dropped, with an error logged) and rewrites it compacted.
    pub fn open(dir: &Path, bodies: &Bodies) -> Result<(Journal, Replayed), JournalError> {
        let path = dir.join("journal.jsonl");
        let fail = |source| JournalError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let (mut replayed, whole_len) = replay(&path, bodies).map_err(fail)?;
        replayed.pending.retain(|job| {
            let there = bodies.has(job.seq, job.body_len);
            if !there {
                tracing::error!(call_id = %job.call_id, seq = job.seq, "an accepted async call's body file is missing: the call is dropped");
            }
            there
        });
        let mut journal = Journal {
            file: open_append(&path).map_err(fail)?,
            path: path.clone(),
            bytes: whole_len,
            records: 0,
            torn: false,
        };
        if let Err(e) = journal.rewrite(&replayed.pending, &replayed.finished) {
            // A full disk at start: keep the journal as it is, less any torn last
            // line, so that appends start on a line of their own.
            tracing::warn!(error = %e, "cannot compact the async queue journal; appending to it as it is");
            journal.cut_back().map_err(fail)?;
        }
        let pending: BTreeSet<u64> = replayed.pending.iter().map(|j| j.seq).collect();
        bodies.keep_only(&pending).map_err(fail)?;
        Ok((journal, replayed))
    }

    /// Appends a record and waits until it is on disk; on failure the file is cut back
    /// to its last whole record.
    fn append(&mut self, record: &RecordOut<'_>) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).map_err(|e| self.error(e.into()))?;
        line.push(b'\n');
        if self.torn {
            self.cut_back().map_err(|e| self.error(e))?;
        }
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            if let Err(cut) = self.cut_back() {
                tracing::error!(journal = %self.path.display(), error = %cut, "cannot cut the async queue journal back after a failed write: refusing calls until it can");
            }
            return Err(self.error(e));
        }
        self.bytes += line.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Truncates the file to its whole records (`self.bytes`), dropping whatever part of
    /// a failed write reached it.
    fn cut_back(&mut self) -> std::io::Result<()> {
        self.torn = true;
        self.file.set_len(self.bytes)?;
        self.file.sync_data()?;
        self.torn = false;
        Ok(())
    }

    pub fn accepted(&mut self, job: &Job) -> Result<(), JournalError> {
        self.append(&RecordOut::Accepted(job))
    }

    pub fn finished(&mut self, finished: &Finished) -> Result<(), JournalError> {
        self.append(&RecordOut::Finished(finished))
    }

    /// Whether the journal has grown well beyond the `records` it needs to hold (by
    /// its average record size: O(1), so every finish can ask).
    pub fn wants_compaction(&self, records: usize) -> bool {
        let average = self.bytes / self.records.max(1);
        self.bytes > COMPACT_AT
            && self.bytes > (records as u64).saturating_mul(average).saturating_mul(4)
    }

    /// Replaces the journal with just `pending` and `finished` (a new file, fsynced,
    /// renamed over the old one: a crash leaves one or the other, whole).
    pub fn rewrite(&mut self, pending: &[Job], finished: &[Finished]) -> Result<(), JournalError> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let written = (|| -> std::io::Result<u64> {
            let mut out = std::io::BufWriter::new(
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?,
            );
            let mut bytes = 0;
            let records = finished
                .iter()
                .map(RecordOut::Finished)
                .chain(pending.iter().map(RecordOut::Accepted));
            for record in records {
                let mut line = serde_json::to_vec(&record)?;
                line.push(b'\n');
                out.write_all(&line)?;
                bytes += line.len() as u64;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(bytes)
        })();
        let bytes = match written {
            Ok(bytes) => bytes,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(self.error(e));
            }
        };
        self.file = open_append(&self.path).map_err(|e| self.error(e))?;
        self.bytes = bytes;
        self.records = (pending.len() + finished.len()) as u64;
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> JournalError {
        JournalError {
            path: self.path.clone(),
            source,
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    // Headers may carry credentials: readable by this user only.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// What the journal at `path` holds, and the length of its whole lines (a torn last
/// line, without its newline, is not counted). Inline bodies of an older journal are
/// moved to their files.
fn replay(path: &Path, bodies: &Bodies) -> std::io::Result<(Replayed, u64)> {
    let mut pending: BTreeMap<u64, Job> = BTreeMap::new();
    let mut finished: Vec<Finished> = Vec::new();
    let mut next_seq = 1;
    let mut whole_len = 0;
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let replayed = Replayed {
                pending: Vec::new(),
                finished,
                next_seq,
            };
            return Ok((replayed, 0));
        }
        Err(e) => return Err(e),
    };
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        if line.last() == Some(&b'\n') {
            whole_len += line.len() as u64;
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<RecordIn>(&line) {
            Ok(RecordIn::Accepted(AcceptedIn { mut job, body })) => {
                next_seq = next_seq.max(job.seq + 1);
                if let Some(body) = body {
                    job.body_len = body.len() as u64;
                    bodies.write(job.seq, &body)?;
                }
                pending.insert(job.seq, job);
            }
            Ok(RecordIn::Finished(done)) => {
                next_seq = next_seq.max(done.seq + 1);
                pending.remove(&done.seq);
                finished.push(done);
            }
            Err(e) => {
                tracing::warn!(journal = %path.display(), line = number, error = %e, "skipping an unreadable journal line");
            }
        }
    }
    let skip = finished.len().saturating_sub(FINISHED_KEPT);
    finished.drain(..skip);
    let replayed = Replayed {
        pending: pending.into_values().collect(),
        finished,
        next_seq,
    };
    Ok((replayed, whole_len))
}

/// Inline bodies of older journals: base64 strings.
mod base64_bytes {
    use super::Engine;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(seq: u64) -> Job {
        Job {
            seq,
            call_id: format!("call-{seq}"),
            function: "greyscale".into(),
            path_and_query: "/".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body_len: 4,
            callback_url: None,
            accepted_at_ms: 1,
        }
    }

    fn scratch(what: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "greyfaas-journal-{what}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn replay_returns_what_is_unfinished_and_survives_a_torn_line() {
        let dir = scratch("torn");
        {
            let bodies = Bodies::open(&dir).unwrap();
            let (mut journal, replayed) = Journal::open(&dir, &bodies).unwrap();
            assert!(replayed.pending.is_empty());
            assert_eq!(replayed.next_seq, 1);
            for seq in 1..=3 {
                bodies.write(seq, &[0, 1, 2, 255]).unwrap();
                journal.accepted(&job(seq)).unwrap();
            }
            journal
                .finished(&Finished {
                    seq: 2,
                    call_id: "call-2".into(),
                    function: "greyscale".into(),
                    accepted_at_ms: 1,
                    finished_at_ms: 2,
                    attempts: 1,
                    function_status: 201,
                    result_error: None,
                    callback_url: None,
                    callback_status: None,
                    callback_error: None,
                })
                .unwrap();
        }
        // A crash mid-write leaves half a line at the end.
        let mut file = OpenOptions::new()
            .append(true)
            .open(dir.join("journal.jsonl"))
            .unwrap();
        file.write_all(br#"{"accepted":{"seq":4,"cal"#).unwrap();
        drop(file);

        let bodies = Bodies::open(&dir).unwrap();
        let (_journal, replayed) = Journal::open(&dir, &bodies).unwrap();
        let seqs: Vec<u64> = replayed.pending.iter().map(|j| j.seq).collect();
        assert_eq!(seqs, [1, 3]);
        assert_eq!(bodies.read(1, 4).unwrap(), [0, 1, 2, 255]);
        assert_eq!(replayed.finished.len(), 1);
        assert_eq!(replayed.next_seq, 4);
        // Compacted at open: the torn line is gone, the rest kept; the finished call's
        // body file (a crash before its removal) is gone too.
        let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(!text.contains("body\""), "no bodies in the journal: {text}");
        assert!(!bodies.has(2, 4));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_older_journal_with_inline_bodies_is_moved_to_body_files() {
        let dir = scratch("inline");
        std::fs::create_dir_all(&dir).unwrap();
        let old = r#"{"accepted":{"seq":7,"callId":"old","function":"greyscale","pathAndQuery":"/","headers":[],"body":"AAEC/w==","callbackUrl":null,"acceptedAtMs":1}}"#;
        std::fs::write(dir.join("journal.jsonl"), format!("{old}\n")).unwrap();
        let bodies = Bodies::open(&dir).unwrap();
        let (_journal, replayed) = Journal::open(&dir, &bodies).unwrap();
        assert_eq!(replayed.pending.len(), 1);
        assert_eq!(replayed.pending[0].body_len, 4);
        assert_eq!(bodies.read(7, 4).unwrap(), [0, 1, 2, 255]);
        let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        assert!(!text.contains("AAEC"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
