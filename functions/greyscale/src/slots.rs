//! How many conversions run at once (`max_conversions`), so that memory, not luck,
//! bounds a burst of large images. A slot is taken before the input is read (from the
//! request or the store) and held until the result is stored; a request that cannot
//! get one within `conversion_wait` is answered 429, and its body is never read. A slot
//! is owned, not borrowed: the conversion's thread holds it while it works, so a request
//! that ends early (a hang-up, `exec_timeout`) frees its slot only once its CPU work
//! has stopped, and `max_conversions` bounds the work really running.
//!
//! The default comes from the memory limit when the cgroup shows one (faasd and
//! Kubernetes set it from `limits.memory`; faasd ignores CPU limits): the limit over the
//! worst case of one conversion at the pixel and size limits. Without a visible limit it
//! is the number of cores.

use greyfaas_image_kernel::Limits;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Memory a conversion may need at the limits: a 16-bit RGBA decode (8 bytes per
/// pixel), its 16-bit grey+alpha copy (4), the input and the encoded output.
pub fn worst_case_bytes(limits: &Limits, max_image_bytes: u64) -> u64 {
    limits.max_pixels.saturating_mul(12) + 2 * max_image_bytes
}

/// The default number of slots: what fits in `memory_limit` (less 32 MiB for the rest
/// of the process), at least one; `cores` when no limit is known.
pub fn default_slots(memory_limit: Option<u64>, worst_case: u64, cores: usize) -> usize {
    match memory_limit {
        Some(limit) => {
            let fit = limit.saturating_sub(32 << 20) / worst_case.max(1);
            (fit as usize).clamp(1, cores.max(1))
        }
        None => cores.max(1),
    }
}

/// The cgroup memory limit of this process, if one is set and visible (v2, then v1).
pub fn cgroup_memory_limit() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok())
    .and_then(|text| text.trim().parse::<u64>().ok())
    // v1 reports "no limit" as a huge number.
    .filter(|&limit| limit < 1 << 60)
}

/// The conversion slots of this process.
#[derive(Debug)]
pub struct Slots {
    semaphore: Arc<Semaphore>,
    pub count: usize,
    wait: Duration,
}

/// One conversion slot, held until dropped (also on another thread).
#[derive(Debug)]
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// No slot came free in time.
#[derive(Debug, thiserror::Error)]
#[error("busy: all {slots} conversion slots stayed in use for {wait:?}; retry later")]
pub struct Busy {
    pub slots: usize,
    pub wait: Duration,
}

impl Slots {
    pub fn new(count: usize, wait: Duration) -> Slots {
        let count = count.max(1);
        Slots {
            semaphore: Arc::new(Semaphore::new(count)),
            count,
            wait,
        }
    }

    /// Waits up to `conversion_wait` for a slot.
    pub async fn acquire(&self) -> Result<Slot, Busy> {
        let busy = Busy {
            slots: self.count,
            wait: self.wait,
        };
        let semaphore = Arc::clone(&self.semaphore);
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            _ => Err(busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_follows_the_memory_limit() {
        let worst = worst_case_bytes(&Limits::default(), 32 << 20);
        assert_eq!(worst, 600_000_000 + (64 << 20));
        assert_eq!(default_slots(Some(1 << 30), worst, 8), 1, "stack.yml's 1Gi");
        assert_eq!(default_slots(Some(4 << 30), worst, 8), 6);
        assert_eq!(
            default_slots(Some(4 << 30), worst, 2),
            2,
            "never more than cores"
        );
        assert_eq!(default_slots(Some(100 << 20), worst, 8), 1, "at least one");
        assert_eq!(default_slots(None, worst, 3), 3);
    }

    #[tokio::test]
    async fn a_full_house_answers_busy_after_the_wait() {
        let slots = Slots::new(1, Duration::from_millis(50));
        let held = slots.acquire().await.unwrap();
        let started = std::time::Instant::now();
        assert!(slots.acquire().await.is_err());
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(slots.acquire().await.is_ok());
    }
}
