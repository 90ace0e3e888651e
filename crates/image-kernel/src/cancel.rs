//! Stopping a conversion from outside. A conversion runs on a thread of its own (the
//! caller's blocking pool); when the request it serves ends — the client hung up, or
//! its time ran out — the caller cancels, and the conversion returns
//! [`ConvertError::Cancelled`](crate::ConvertError::Cancelled) at its next check: before
//! each JPEG scan (on both of the reader's threads), before each GIF frame, and
//! between the decode, grey and encode stages. A scan or a stage is the most a
//! cancelled conversion goes on for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag shared by the conversion and whoever may stop it (clones share it).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// The conversion was cancelled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cancelled;

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the conversion to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A check point: `Err` once cancelled.
    pub(crate) fn check(&self) -> Result<(), Cancelled> {
        match self.is_cancelled() {
            true => Err(Cancelled),
            false => Ok(()),
        }
    }
}
