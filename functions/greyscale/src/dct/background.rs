//! Decodes, on a second thread, the scans whose coefficients are not kept (the chroma,
//! on the lossless path): they are decoded only to prove the file whole, so nothing
//! waits for them but the verdict. The reading thread finds where such a scan ends
//! with a quick look for its closing marker and goes on with the next one.

use super::JpegError;
use super::frame::Component;
use super::huffman::{BitReader, DecodeTable};
use super::scan::{Blocks, Pass, SingleScan};
use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};

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
    worker: Option<Worker<'scope>>,
}

struct Worker<'scope> {
    jobs: mpsc::Sender<Job>,
    verdict: ScopedJoinHandle<'scope, Result<bool, JpegError>>,
}

impl<'scope, 'env> Background<'scope, 'env> {
    pub fn new(scope: &'scope Scope<'scope, 'env>, data: &'env [u8]) -> Self {
        Background {
            scope,
            data,
            worker: None,
        }
    }

    pub fn send(&mut self, job: Job) {
        let data = self.data;
        let worker = self.worker.get_or_insert_with(|| {
            let (jobs, queue) = mpsc::channel();
            let verdict = self.scope.spawn(move || decode_all(data, queue));
            Worker { jobs, verdict }
        });
        // A send fails only once the worker has stopped at a scan that is not whole,
        // and then its verdict is already known.
        let _ = worker.jobs.send(job);
    }

    /// Waits for the jobs sent: `Ok(false)` if a scan's data ended before its last
    /// block, the first error otherwise, in file order.
    pub fn finish(self) -> Result<bool, JpegError> {
        match self.worker {
            None => Ok(true),
            Some(Worker { jobs, verdict }) => {
                drop(jobs);
                verdict
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
        }
    }
}

fn decode_all(data: &[u8], queue: mpsc::Receiver<Job>) -> Result<bool, JpegError> {
    let mut blocks: [Option<Blocks>; 4] = Default::default();
    for job in queue {
        let kept = &mut blocks[job.index];
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
        if !scan.decode(kept.get_or_insert(Blocks::Discard), &mut reader)? {
            return Ok(false);
        }
    }
    Ok(true)
}
