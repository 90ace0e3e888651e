//! Async invocations, as the OpenFaaS gateway and queue-worker run them:
//! `/async-function/<name>` answers 202 once the call is on disk ([`journal`]), a small
//! pool of workers runs it through the gateway's proxy ([`worker`]), retrying with backoff on
//! the statuses that say "later", and POSTs the result to its `X-Callback-Url`
//! ([`callback`]). The queue is bounded: full → 429. Each call's progress is kept by
//! call id for `GET /system/async-call/<id>` (a greyfaas addition).
//!
//! Memory: a queued call is its metadata only; its body waits on disk ([`bodies`]) and
//! is read back when a worker runs it. The queue is bounded by count (`--queue-size`)
//! and by the bytes of the bodies it holds (`--queue-bytes`), 429 beyond either; a call
//! the disk cannot take (full) is refused with 503, never acknowledged.

mod bodies;
pub mod callback;
pub mod journal;
mod settings;
#[cfg(test)]
mod tests;
mod worker;

use bodies::Bodies;
use bytes::Bytes;
use journal::{FINISHED_KEPT, Finished, Job, Journal, JournalError};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub use settings::{OpenError, QueueArgs, RetryPolicy};
pub use worker::Workers;

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Running,
    /// Waiting to be tried again after a "try later" status.
    Retrying,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Running => "running",
            Phase::Retrying => "retrying",
            Phase::Done => "done",
        }
    }
}

/// One call's progress, for `/system/async-call/<id>`.
#[derive(Debug, Clone)]
pub struct CallStatus {
    pub function: String,
    pub phase: Phase,
    pub attempts: u32,
    pub accepted_at_ms: u64,
    /// The status of the latest attempt.
    pub last_status: Option<u16>,
    pub finished: Option<Finished>,
}

/// Why a call could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the async queue is full ({0} waiting); try again later")]
    Full(usize),
    /// Another call, queued, running or among those kept as finished, has this id.
    #[error("call id {0:?} is in use")]
    CallIdInUse(String),
    #[error(
        "the async queue is full ({queued} bytes of bodies queued, --queue-bytes {limit}); try again later"
    )]
    FullBytes { queued: u64, limit: u64 },
    #[error("the body ({len} bytes) is larger than the whole async queue (--queue-bytes {limit})")]
    LargerThanQueue { len: u64, limit: u64 },
    /// The call could not be put on disk (a full disk): it was not accepted.
    #[error("{0}")]
    Storage(String),
}

impl From<QueueError> for crate::error::GatewayError {
    fn from(e: QueueError) -> Self {
        use crate::error::GatewayError;
        match e {
            QueueError::Full(_) | QueueError::FullBytes { .. } => {
                GatewayError::QueueFull(e.to_string())
            }
            QueueError::LargerThanQueue { .. } => {
                GatewayError::Body(http::StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            QueueError::CallIdInUse(id) => GatewayError::CallIdInUse(id),
            QueueError::Storage(_) => GatewayError::QueueStorage(e.to_string()),
        }
    }
}

struct State {
    ready: VecDeque<Arc<Job>>,
    delayed: Vec<(Instant, Arc<Job>, u32)>,
    /// Accepted and not finished (waiting or running): what a compaction keeps.
    live: BTreeMap<u64, Arc<Job>>,
    calls: HashMap<String, CallStatus>,
    finished: VecDeque<Finished>,
    next_seq: u64,
    /// Bytes of the bodies of live calls, and of those being accepted.
    body_bytes: u64,
    /// Ids of the calls being written to disk: counted against the capacity with
    /// those waiting, and held so that a second call with one of them is refused.
    accepting: HashSet<String>,
}

/// How much the queue holds and does at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Calls waiting (`--queue-size`).
    pub calls: usize,
    /// Bytes of bodies held (`--queue-bytes`).
    pub bytes: u64,
    /// Callbacks delivered at once (`--callback-concurrency`).
    pub callbacks: usize,
}

/// The durable queue.
pub struct Queue {
    state: Mutex<State>,
    journal: Arc<Mutex<Journal>>,
    bodies: Bodies,
    wake: Notify,
    /// Set at shutdown: workers take no further calls (those left run after a restart).
    closed: std::sync::atomic::AtomicBool,
    /// Calls the workers are running now.
    running: std::sync::atomic::AtomicUsize,
    capacity: usize,
    /// The most bytes of bodies held (on disk) at once.
    capacity_bytes: u64,
    /// Callbacks being delivered, apart from the workers ([`worker`]).
    callback_slots: Arc<tokio::sync::Semaphore>,
    pub retry: RetryPolicy,
    pub callbacks: callback::Callbacks,
}

impl Queue {
    /// Opens the queue kept in `dir`: calls accepted earlier and not finished are
    /// queued again, first.
    pub fn open(
        dir: &Path,
        limits: Limits,
        retry: RetryPolicy,
        callbacks: callback::Callbacks,
    ) -> Result<Queue, JournalError> {
        let bodies = Bodies::open(dir).map_err(|source| JournalError {
            path: dir.join("bodies"),
            source,
        })?;
        let (journal, replayed) = Journal::open(dir, &bodies)?;
        let mut state = State {
            ready: VecDeque::new(),
            delayed: Vec::new(),
            live: BTreeMap::new(),
            calls: HashMap::new(),
            finished: VecDeque::new(),
            next_seq: replayed.next_seq,
            body_bytes: 0,
            accepting: HashSet::new(),
        };
        for done in replayed.finished {
            state
                .calls
                .insert(done.call_id.clone(), finished_status(&done));
            state.finished.push_back(done);
        }
        if !replayed.pending.is_empty() {
            tracing::info!(
                calls = replayed.pending.len(),
                "async calls accepted before a restart are queued again"
            );
        }
        for job in replayed.pending {
            let job = Arc::new(job);
            state.calls.insert(job.call_id.clone(), queued_status(&job));
            state.body_bytes += job.body_len;
            state.live.insert(job.seq, job.clone());
            state.ready.push_back(job);
        }
        Ok(Queue {
            state: Mutex::new(state),
            journal: Arc::new(Mutex::new(journal)),
            bodies,
            wake: Notify::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
            running: std::sync::atomic::AtomicUsize::new(0),
            capacity: limits.calls,
            capacity_bytes: limits.bytes,
            callback_slots: Arc::new(tokio::sync::Semaphore::new(limits.callbacks.max(1))),
            retry,
            callbacks,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts a call: its body and its record are on disk before this returns `Ok`
    /// (the 202); on any error nothing of it is kept and it will not run.
    pub async fn push(&self, mut job: Job, body: Bytes) -> Result<(), QueueError> {
        let len = body.len() as u64;
        if len > self.capacity_bytes {
            return Err(QueueError::LargerThanQueue {
                len,
                limit: self.capacity_bytes,
            });
        }
        {
            let mut state = self.lock();
            let waiting = state.ready.len() + state.delayed.len() + state.accepting.len();
            if waiting >= self.capacity {
                return Err(QueueError::Full(waiting));
            }
            // The id keys the call's status: a second call with it (anyone may send
            // any X-Call-Id) must not overwrite the first's. Every accepted call is in
            // `calls` (queued, running or kept finished); those still being written are
            // in `accepting`, reserved under this same lock.
            if state.calls.contains_key(&job.call_id) || state.accepting.contains(&job.call_id) {
                return Err(QueueError::CallIdInUse(job.call_id));
            }
            if state.body_bytes + len > self.capacity_bytes {
                return Err(QueueError::FullBytes {
                    queued: state.body_bytes,
                    limit: self.capacity_bytes,
                });
            }
            job.seq = state.next_seq;
            job.body_len = len;
            state.next_seq += 1;
            state.body_bytes += len;
            state.accepting.insert(job.call_id.clone());
        }
        // fdatasync blocks: tell the runtime (it moves other tasks off this thread).
        let job = Arc::new(job);
        let written = tokio::task::block_in_place(|| {
            self.bodies.write(job.seq, &body).map_err(|e| ("body", e))?;
            let mut journal = self.journal();
            // Live while the journal is held: a compaction (which holds it too) sees
            // the call only once its record is written, never a refused one.
            self.lock().live.insert(job.seq, job.clone());
            match journal.accepted(&job) {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.lock().live.remove(&job.seq);
                    drop(journal);
                    self.bodies.remove(job.seq);
                    Err(("journal", e.source))
                }
            }
        });
        let mut state = self.lock();
        state.accepting.remove(&job.call_id);
        if let Err((what, e)) = written {
            state.body_bytes -= len;
            drop(state);
            tracing::error!(call_id = %job.call_id, file = %what, error = %e, "an async call could not be stored: refused with 503");
            return Err(QueueError::Storage(format!(
                "the async queue cannot store this call ({e}); it was not accepted: try again later"
            )));
        }
        state.calls.insert(job.call_id.clone(), queued_status(&job));
        state.ready.push_back(job);
        drop(state);
        self.wake.notify_one();
        Ok(())
    }

    /// A queued call's body, read back from disk.
    fn body(&self, job: &Job) -> std::io::Result<Vec<u8>> {
        tokio::task::block_in_place(|| self.bodies.read(job.seq, job.body_len))
    }

    fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls waiting (not running).
    pub fn depth(&self) -> usize {
        let state = self.lock();
        state.ready.len() + state.delayed.len()
    }

    /// A call's progress by its call id.
    pub fn status(&self, call_id: &str) -> Option<CallStatus> {
        self.lock().calls.get(call_id).cloned()
    }

    /// Stops handing out calls (at shutdown); they stay on disk for the next start.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Waits (up to `limit`) for the calls being run to end: at shutdown, between
    /// [`Queue::close`] and stopping the functions they need.
    pub async fn settle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.running.load(std::sync::atomic::Ordering::SeqCst) > 0
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The next call to run (and how many attempts it has had), waiting for one;
    /// `None` once closed.
    async fn next(&self) -> Option<(Arc<Job>, u32)> {
        loop {
            let notified = self.wake.notified();
            let wake_at = {
                let mut state = self.lock();
                let now = Instant::now();
                if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
                let due = state.delayed.iter().position(|(at, _, _)| *at <= now);
                let next = match due {
                    Some(i) => {
                        let (_, job, attempts) = state.delayed.swap_remove(i);
                        Some((job, attempts))
                    }
                    None => state.ready.pop_front().map(|job| (job, 0)),
                };
                if next.is_some() {
                    // Counted under the lock: settle() cannot miss a call just taken.
                    self.running
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return next;
                }
                state.delayed.iter().map(|(at, _, _)| *at).min()
            };
            match wake_at {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at.into(), notified).await;
                }
                None => notified.await,
            }
        }
    }

    fn update(&self, call_id: &str, change: impl FnOnce(&mut CallStatus)) {
        if let Some(status) = self.lock().calls.get_mut(call_id) {
            change(status);
        }
    }

    /// Puts a call back to be tried again after `wait`.
    fn retry_later(&self, job: Arc<Job>, attempts: u32, wait: Duration) {
        self.update(&job.call_id, |s| s.phase = Phase::Retrying);
        self.lock()
            .delayed
            .push((Instant::now() + wait, job, attempts));
        self.wake.notify_one();
    }

    /// Records a finished call: on disk first, then in the status (so "done" means it
    /// will not run again after a restart), then its body file goes; compacts the
    /// journal when due. Copies no body, and only the calls' metadata when compacting.
    async fn finish(&self, finished: Finished) {
        let written = tokio::task::block_in_place(|| {
            let mut journal = self.journal();
            journal.finished(&finished)?;
            let needed = {
                let state = self.lock();
                state.live.len() + state.finished.len().min(FINISHED_KEPT)
            };
            if journal.wants_compaction(needed) {
                // What the journal must keep, taken under its lock: no call is
                // accepted (appended) meanwhile.
                let (live, kept) = {
                    let state = self.lock();
                    let live: Vec<Job> = state
                        .live
                        .values()
                        .filter(|j| j.seq != finished.seq)
                        .map(|j| (**j).clone())
                        .collect();
                    let kept: Vec<Finished> = state
                        .finished
                        .iter()
                        .skip((state.finished.len() + 1).saturating_sub(FINISHED_KEPT))
                        .cloned()
                        .chain(std::iter::once(finished.clone()))
                        .collect();
                    (live, kept)
                };
                if let Err(e) = journal.rewrite(&live, &kept) {
                    // The finished record is on disk: only the compaction waits.
                    tracing::warn!(error = %e, "cannot compact the async queue journal");
                }
            }
            Ok::<(), JournalError>(())
        });
        if written.is_ok() {
            self.bodies.remove(finished.seq);
        }
        let mut state = self.lock();
        match written {
            Ok(()) => {
                if let Some(job) = state.live.remove(&finished.seq) {
                    state.body_bytes -= job.body_len;
                }
            }
            // Still live on disk (its body kept, a compaction keeps its record): it
            // runs again after a restart.
            Err(e) => {
                tracing::error!(error = %e, call_id = %finished.call_id, "cannot record a finished async call: it will run again after a restart")
            }
        }
        state
            .calls
            .insert(finished.call_id.clone(), finished_status(&finished));
        state.finished.push_back(finished);
        while state.finished.len() > FINISHED_KEPT {
            let Some(old) = state.finished.pop_front() else {
                break;
            };
            // Forget its status unless the id was used again since.
            let same = state
                .calls
                .get(&old.call_id)
                .and_then(|c| c.finished.as_ref())
                .is_some_and(|f| f.seq == old.seq);
            if same {
                state.calls.remove(&old.call_id);
            }
        }
    }
}

fn queued_status(job: &Job) -> CallStatus {
    CallStatus {
        function: job.function.clone(),
        phase: Phase::Queued,
        attempts: 0,
        accepted_at_ms: job.accepted_at_ms,
        last_status: None,
        finished: None,
    }
}

fn finished_status(done: &Finished) -> CallStatus {
    CallStatus {
        function: done.function.clone(),
        phase: Phase::Done,
        attempts: done.attempts,
        accepted_at_ms: done.accepted_at_ms,
        last_status: Some(done.function_status),
        finished: Some(done.clone()),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The JSON `/system/async-call/<id>` answers.
pub fn status_json(call_id: &str, status: &CallStatus) -> serde_json::Value {
    let time = |ms: u64| {
        chrono::DateTime::from_timestamp_millis(ms as i64)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    let finished = status.finished.as_ref();
    serde_json::json!({
        "callId": call_id,
        "function": status.function,
        "status": status.phase.as_str(),
        "attempts": status.attempts,
        "acceptedAt": time(status.accepted_at_ms),
        "finishedAt": finished.and_then(|f| time(f.finished_at_ms)),
        "functionStatus": status.last_status,
        "resultError": finished.and_then(|f| f.result_error.clone()),
        "callbackUrl": finished.and_then(|f| f.callback_url.clone()),
        "callbackStatus": finished.and_then(|f| f.callback_status),
        "callbackError": finished.and_then(|f| f.callback_error.clone()),
    })
}
