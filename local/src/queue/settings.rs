//! `greyfaas up`'s settings for async calls, and the retry policy they make: the
//! OpenFaaS Pro queue-worker's knobs (CE's queue-worker does not retry).

use super::journal::JournalError;
use super::{Queue, callback};
use std::path::Path;
use std::time::Duration;

/// `greyfaas up`'s settings for async calls.
#[derive(clap::Args)]
pub struct QueueArgs {
    /// Async calls that may wait; beyond it /async-function answers 429.
    #[arg(long, default_value_t = 256)]
    pub queue_size: usize,
    /// The most bytes of request bodies the async queue holds (on disk, beside its
    /// journal) at once; beyond it /async-function answers 429. Bytes, or with a
    /// KiB/MiB/GiB suffix.
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    pub queue_bytes: u64,
    /// Workers running async calls.
    #[arg(long, default_value_t = 2)]
    pub async_workers: usize,
    /// Callbacks delivered at once, apart from the workers (so a slow receiver delays
    /// no other call); a worker waits for a slot only when all are taken.
    #[arg(long, default_value_t = 8)]
    pub callback_concurrency: usize,
    /// Async calls: attempts in all when the function answers a status in
    /// --retry-http-codes (OpenFaaS Pro queue-worker's max_retry_attempts).
    #[arg(long, default_value_t = 10)]
    pub max_retry_attempts: u32,
    /// Async calls: wait before the first retry, doubling after each (initial_retry_wait).
    #[arg(long, default_value = "10s", value_parser = openfaas_runtime::parse_duration)]
    pub initial_retry_wait: Duration,
    /// Async calls: the longest wait between attempts (max_retry_wait).
    #[arg(long, default_value = "120s", value_parser = openfaas_runtime::parse_duration)]
    pub max_retry_wait: Duration,
    /// Async calls: the function statuses that mean "try later".
    #[arg(long, default_value = "429,502,503,504", value_delimiter = ',')]
    pub retry_http_codes: Vec<u16>,
}

/// Why the queue could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Callbacks(#[from] callback::CallbackError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl QueueArgs {
    /// The queue kept in `dir`; callbacks to internal addresses only with
    /// `allow_private`.
    pub fn open(&self, dir: &Path, allow_private: bool) -> Result<Queue, OpenError> {
        let retry = RetryPolicy {
            max_attempts: self.max_retry_attempts.max(1),
            initial_wait: self.initial_retry_wait,
            max_wait: self.max_retry_wait,
            codes: self.retry_http_codes.clone(),
        };
        let callbacks = callback::Callbacks::new(allow_private)?;
        let limits = super::Limits {
            calls: self.queue_size,
            bytes: self.queue_bytes,
            callbacks: self.callback_concurrency,
        };
        Ok(Queue::open(dir, limits, retry, callbacks)?)
    }
}

/// A byte count: `1048576`, `512KiB`, `64MiB`, `1GiB` (binary units; K/M/G and KB/MB/GB
/// are read the same way).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a byte count such as 1GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("{text:?}: the unit is one of KiB, MiB, GiB")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// When and how often a call that got a "try later" status is run again (the
/// OpenFaaS Pro queue-worker's settings; CE's queue-worker does not retry).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub initial_wait: Duration,
    pub max_wait: Duration,
    pub codes: Vec<u16>,
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: doubling from the initial wait.
    pub fn wait_after(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.initial_wait.saturating_mul(factor).min(self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts_read_with_binary_units() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2g"), Ok(2 << 30));
        assert!(parse_bytes("1TiB").is_err());
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("99999999999GiB").is_err());
    }
}
