//! Pausing after a failed `accept`, shared by every listener greyfaas runs (the
//! function's port, its metrics port, the embedded store).
//!
//! `accept` fails when the process is out of file descriptors (EMFILE), the system
//! is (ENFILE), or memory is short; the pending connection stays in the backlog, so
//! retrying at once fails again at once and spins a core. The pause doubles while
//! failures go on (10 ms up to 1 s) and starts over after the next success.

use std::time::Duration;

/// The first pause after a failed `accept`.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause: a listener out of descriptors still looks again each second.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// One listener's run of failed `accept`s.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    failures: u32,
}

impl AcceptBackoff {
    pub fn new() -> AcceptBackoff {
        AcceptBackoff::default()
    }

    /// An `accept` succeeded: the next failure pauses briefly again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// How long to pause after the failure just counted.
    fn pause(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        FIRST_PAUSE
            .saturating_mul(1u32 << doublings)
            .min(LONGEST_PAUSE)
    }

    /// Logs a failed `accept` (the first of a run as a warning) and waits before
    /// the next one.
    pub async fn failed(&mut self, err: &std::io::Error) {
        self.failures = self.failures.saturating_add(1);
        let pause = self.pause();
        if self.failures == 1 {
            tracing::warn!(error = %err, "accept failed; backing off");
        } else {
            tracing::debug!(error = %err, failures = self.failures, pause_ms = pause.as_millis() as u64, "accept failed again");
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_a_second_and_starts_over() {
        let mut backoff = AcceptBackoff::new();
        let mut pauses = Vec::new();
        for _ in 0..10 {
            backoff.failures += 1;
            pauses.push(backoff.pause().as_millis());
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.succeeded();
        backoff.failures += 1;
        assert_eq!(backoff.pause(), FIRST_PAUSE);
        backoff.failures = u32::MAX;
        assert_eq!(backoff.pause(), LONGEST_PAUSE);
    }
}
