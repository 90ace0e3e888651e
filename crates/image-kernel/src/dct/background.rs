//! Decodes, on a second thread, the scans whose coefficients are not kept (the chroma,
//! on the lossless path): they are decoded only to prove the file whole, so nothing
//! waits for them but the verdict. The reading thread finds where such a scan ends
//! with a quick look for its closing marker and goes on with the next one.

use super::JpegError;
use super::block::Pass;
use super::frame::Blocks;
use super::frame::Component;
use super::huffman::{BitReader, DecodeTable};
use super::scan::SingleScan;
use crate::cancel::Cancel;
use std::sync::mpsc;
use std::thread::{self, Scope, ScopedJoinHandle};

/// One non-interleaved scan to decode, with copies of what it was coded with.
pub struct Job {
    /// The component's index in the frame, and its layout.
    pub index: usize,
    pub component: Component,
    /// The component's blocks, handed over with its first job: later scans refine them.
    pub blocks: Option<Blocks>,
    pub pass: Pass,
    pub dc: Option<DecodeTable>,
    pub ac: Option<DecodeTable>,
    pub restart_interval: usize,
    /// Where its entropy-coded data starts.
    pub start: usize,
}

/// The second thread, started with the first job.
pub struct Background<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    data: &'env [u8],
    cancel: Cancel,
    runner: Runner<'scope>,
}

enum Runner<'scope> {
    /// No job yet.
    Idle,
    Thread {
        jobs: mpsc::Sender<Job>,
        verdict: ScopedJoinHandle<'scope, Result<bool, JpegError>>,
    },
    /// No thread could be started (a process at its thread limit): the jobs are
    /// decoded as they come.
    Here(Verifier),
}

impl<'scope, 'env> Background<'scope, 'env> {
    pub fn new(scope: &'scope Scope<'scope, 'env>, data: &'env [u8], cancel: &Cancel) -> Self {
        Background {
            scope,
            data,
            cancel: cancel.clone(),
            runner: Runner::Idle,
        }
    }

    pub fn send(&mut self, job: Job) {
        let data = self.data;
        if let Runner::Idle = self.runner {
            let (jobs, queue) = mpsc::channel();
            let cancel = self.cancel.clone();
            let worker = move || {
                let mut verifier = Verifier::default();
                for job in queue {
                    if !verifier.take(data, job, &cancel) {
                        break;
                    }
                }
                verifier.verdict
            };
            self.runner = match thread::Builder::new().spawn_scoped(self.scope, worker) {
                Ok(verdict) => Runner::Thread { jobs, verdict },
                Err(_) => Runner::Here(Verifier::default()),
            };
        }
        match &mut self.runner {
            // A send fails only once the worker has stopped at a scan that is not
            // whole, and then its verdict is already known.
            Runner::Thread { jobs, .. } => drop(jobs.send(job)),
            Runner::Here(verifier) => drop(verifier.take(data, job, &self.cancel)),
            Runner::Idle => {} // started above
        }
    }

    /// Waits for the jobs sent: `Ok(false)` if a scan's data ended before its last
    /// block, the first error otherwise, in file order.
    pub fn finish(self) -> Result<bool, JpegError> {
        match self.runner {
            Runner::Idle => Ok(true),
            Runner::Thread { jobs, verdict } => {
                drop(jobs);
                verdict
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
            Runner::Here(verifier) => verifier.verdict,
        }
    }
}

/// Decodes jobs in order until one is not whole or is corrupt, or the read is cancelled.
struct Verifier {
    /// Each component's blocks, once handed over.
    blocks: [Option<Blocks>; 4],
    verdict: Result<bool, JpegError>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            blocks: Default::default(),
            verdict: Ok(true),
        }
    }
}

impl Verifier {
    /// Decodes `job` unless a verdict is already in; `false` once one is.
    fn take(&mut self, data: &[u8], job: Job, cancel: &Cancel) -> bool {
        if !matches!(self.verdict, Ok(true)) {
            return false;
        }
        if let Err(cancelled) = cancel.check() {
            self.verdict = Err(cancelled.into());
            return false;
        }
        let kept = &mut self.blocks[job.index];
        if let Some(handed_over) = job.blocks {
            *kept = Some(handed_over);
        }
        let scan = SingleScan {
            component: &job.component,
            dc: job.dc.as_ref(),
            ac: job.ac.as_ref(),
            pass: job.pass,
            restart_interval: job.restart_interval,
        };
        let mut reader = BitReader::new(data, job.start);
        self.verdict = scan.decode(kept.get_or_insert(Blocks::Discard), &mut reader);
        matches!(self.verdict, Ok(true))
    }
}
