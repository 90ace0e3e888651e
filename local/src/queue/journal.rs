//! The async queue on disk: an append-only journal of JSON lines in
//! `<data-dir>/queue/journal.jsonl` — one `accepted` record per call (written and
//! fsynced before the 202 goes out) and one `finished` record when its result has been
//! delivered. Replaying it at start gives back every accepted, unfinished call, so a
//! `greyfaas up` killed with SIGKILL runs them again (at least once).
//!
//! Why a log file and not an embedded database: the queue needs exactly two writes per
//! call and a replay at start; a log does that with one `write` + `fdatasync` each, is
//! readable with `jq`, and adds no dependency to build. A torn last line (power loss
//! mid-write) is skipped on replay; so is any unreadable line, with a warning. At start
//! the journal is rewritten with only what is still needed (unfinished calls and the
//! most recent finished ones, for `/system/async-call`), and again while running when
//! it has grown well beyond that.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Finished calls kept for `/system/async-call` (in memory and through compaction).
pub const FINISHED_KEPT: usize = 1000;
/// The journal is rewritten when it is larger than this and than 4× what it holds.
const COMPACT_AT: u64 = 16 << 20;

/// The journal could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("async queue journal {}: {source}", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// One accepted async call, as queued (faas-provider's QueueRequest, less the host).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub seq: u64,
    pub call_id: String,
    pub function: String,
    pub path_and_query: String,
    /// Request headers in order (values that are not visible ASCII are dropped).
    pub headers: Vec<(String, String)>,
    #[serde(with = "base64_bytes")]
    pub body: Vec<u8>,
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
    pub callback_url: Option<String>,
    /// The callback's HTTP status, when it answered.
    pub callback_status: Option<u16>,
    /// Why the callback was not delivered, when it was not.
    pub callback_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Record {
    Accepted(Job),
    Finished(Finished),
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
    bytes: u64,
}

impl Journal {
    /// Opens (creating) the journal in `dir`, replays it and rewrites it compacted.
    pub fn open(dir: &Path) -> Result<(Journal, Replayed), JournalError> {
        let path = dir.join("journal.jsonl");
        let fail = |source| JournalError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let replayed = replay(&path).map_err(fail)?;
        let mut journal = Journal {
            file: open_append(&path).map_err(fail)?,
            path: path.clone(),
            bytes: 0,
        };
        journal.rewrite(&replayed.pending, &replayed.finished)?;
        Ok((journal, replayed))
    }

    /// Appends a record and waits until it is on disk.
    fn append(&mut self, record: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(record).map_err(|e| self.error(e.into()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| self.error(e))?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    pub fn accepted(&mut self, job: &Job) -> Result<(), JournalError> {
        self.append(&Record::Accepted(job.clone()))
    }

    pub fn finished(&mut self, finished: &Finished) -> Result<(), JournalError> {
        self.append(&Record::Finished(finished.clone()))
    }

    /// Whether the journal has grown well beyond the `live_bytes` it needs to hold.
    pub fn wants_compaction(&self, live_bytes: u64) -> bool {
        self.bytes > COMPACT_AT && self.bytes > live_bytes.saturating_mul(4)
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
                .cloned()
                .map(Record::Finished)
                .chain(pending.iter().cloned().map(Record::Accepted));
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
        })()
        .map_err(|e| self.error(e))?;
        self.file = open_append(&self.path).map_err(|e| self.error(e))?;
        self.bytes = written;
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

fn replay(path: &Path) -> std::io::Result<Replayed> {
    let mut pending: BTreeMap<u64, Job> = BTreeMap::new();
    let mut finished: Vec<Finished> = Vec::new();
    let mut next_seq = 1;
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Replayed {
                pending: Vec::new(),
                finished,
                next_seq,
            });
        }
        Err(e) => return Err(e),
    };
    for (number, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(Record::Accepted(job)) => {
                next_seq = next_seq.max(job.seq + 1);
                pending.insert(job.seq, job);
            }
            Ok(Record::Finished(done)) => {
                next_seq = next_seq.max(done.seq + 1);
                pending.remove(&done.seq);
                finished.push(done);
            }
            Err(e) => {
                tracing::warn!(journal = %path.display(), line = number + 1, error = %e, "skipping an unreadable journal line");
            }
        }
    }
    let skip = finished.len().saturating_sub(FINISHED_KEPT);
    finished.drain(..skip);
    Ok(Replayed {
        pending: pending.into_values().collect(),
        finished,
        next_seq,
    })
}

/// Bodies as base64 strings in the JSON lines.
mod base64_bytes {
    use super::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
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
            body: vec![0, 1, 2, 255],
            callback_url: None,
            accepted_at_ms: 1,
        }
    }

    #[test]
    fn replay_returns_what_is_unfinished_and_survives_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("greyfaas-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let (mut journal, replayed) = Journal::open(&dir).unwrap();
            assert!(replayed.pending.is_empty());
            assert_eq!(replayed.next_seq, 1);
            for seq in 1..=3 {
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

        let (_journal, replayed) = Journal::open(&dir).unwrap();
        let seqs: Vec<u64> = replayed.pending.iter().map(|j| j.seq).collect();
        assert_eq!(seqs, [1, 3]);
        assert_eq!(replayed.pending[0].body, [0, 1, 2, 255]);
        assert_eq!(replayed.finished.len(), 1);
        assert_eq!(replayed.next_seq, 4);
        // Compacted at open: the torn line is gone, the rest kept.
        let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
