//! The bodies of queued async calls, a file per call beside the journal
//! (`<data-dir>/queue/bodies/<seq>`), so that a queue of 256 calls of 16 MiB is on disk,
//! not in memory, and the journal holds only each call's metadata.
//!
//! A body is written and fsynced (file and folder) before its call's `accepted` record
//! is appended, and removed once its `finished` record is on disk: every accepted,
//! unfinished call in the journal has its body file. A crash in between leaves a file
//! no record names; [`Bodies::keep_only`] removes those at start. An empty body has no
//! file.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The folder of body files.
pub struct Bodies {
    dir: PathBuf,
}

impl Bodies {
    /// The body folder under the queue's folder `queue_dir`, created if missing.
    pub fn open(queue_dir: &Path) -> std::io::Result<Bodies> {
        let dir = queue_dir.join("bodies");
        std::fs::create_dir_all(&dir)?;
        Ok(Bodies { dir })
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(seq.to_string())
    }

    /// Writes call `seq`'s body and waits until it is on disk; on any error nothing of
    /// it is left behind.
    pub fn write(&self, seq: u64, body: &[u8]) -> std::io::Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        let path = self.path(seq);
        let written = (|| {
            // Bodies carry what callers sent (credentials included): this user only.
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            file.write_all(body)?;
            file.sync_data()?;
            // The file's name must be on disk too before the journal names it.
            File::open(&self.dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        written
    }

    /// Call `seq`'s body (`len` bytes, as recorded when it was accepted).
    pub fn read(&self, seq: u64, len: u64) -> std::io::Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let body = std::fs::read(self.path(seq))?;
        if body.len() as u64 != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "body file {} has {} bytes, {len} were queued",
                    self.path(seq).display(),
                    body.len()
                ),
            ));
        }
        Ok(body)
    }

    /// Whether call `seq`'s body (of `len` bytes) is there.
    pub fn has(&self, seq: u64, len: u64) -> bool {
        len == 0 || self.path(seq).is_file()
    }

    /// Removes call `seq`'s body (it is finished).
    pub fn remove(&self, seq: u64) {
        match std::fs::remove_file(self.path(seq)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %self.path(seq).display(), error = %e, "cannot remove a finished async call's body")
            }
        }
    }

    /// Removes every body file but those of `pending` (left by a crash between a body
    /// and its record, or by a failed write).
    pub fn keep_only(&self, pending: &BTreeSet<u64>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let keep = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|seq| pending.contains(&seq));
            if !keep {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}
