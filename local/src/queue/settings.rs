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
    /// Workers running async calls.
    #[arg(long, default_value_t = 2)]
    pub async_workers: usize,
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
        Ok(Queue::open(dir, self.queue_size, retry, callbacks)?)
    }
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
