//! What a conversion must hold before it runs: a slot (`max_conversions`, the CPU
//! work at once) and its share of the memory budget (`memory_budget`), so that memory,
//! not luck, bounds a burst of large images, and small images do not wait behind a
//! worst-case reservation.
//!
//! A slot is taken before the input is read (from the request or the store), so a burst
//! queues unread; once the bytes are in, the kernel estimates the conversion's peak
//! memory from the header ([`greyfaas_image_kernel::peak_bytes`]) and that many bytes
//! are taken from the budget. Both are held until the result is stored. A request that
//! gets neither within `conversion_wait` (counted from its arrival) is answered 429; one
//! that needs more than the whole budget, 413. Both are owned, not borrowed: the
//! conversion's thread holds them while it works, so a request that ends early (a
//! hang-up, `exec_timeout`) frees them only once its CPU work has stopped.
//!
//! The budget's default comes from the memory limit when the cgroup shows one (faasd
//! and Kubernetes set it from `limits.memory`): the limit less the rest of the process
//! and the inputs the slots may be reading. Without a visible limit it is as many
//! worst-case conversions as there are slots.

use greyfaas_image_kernel::Limits;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Memory a conversion may need at the limits: a 16-bit RGBA decode (8 bytes per
/// pixel), its 16-bit grey+alpha copy (4), the input and the encoded output.
pub fn worst_case_bytes(limits: &Limits, max_image_bytes: u64) -> u64 {
    limits.max_pixels.saturating_mul(12) + 2 * max_image_bytes
}

/// What the process needs besides its conversions: code, buffers, the runtime.
const PROCESS_BYTES: u64 = 32 << 20;

/// The default memory budget: `memory_limit` less the rest of the process and the
/// inputs `slots` may be reading before their estimate is known; without a limit,
/// `slots` worst cases.
pub fn default_budget(
    memory_limit: Option<u64>,
    slots: usize,
    max_image_bytes: u64,
    worst_case: u64,
) -> u64 {
    match memory_limit {
        Some(limit) => limit
            .saturating_sub(PROCESS_BYTES)
            .saturating_sub(slots as u64 * max_image_bytes),
        None => worst_case.saturating_mul(slots as u64),
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

/// Makes freed image buffers go back to the system, so that the process's memory
/// follows what the budget counts. glibc raises its mmap threshold each time a large
/// block is freed (up to 32 MiB); decoded images then come from the heap of the
/// converting thread's arena and stay resident when freed, and with conversions on
/// several blocking threads, each with an arena, a replica's RSS grows to several
/// conversions' worth while the budget holds one. A fixed threshold (glibc's default,
/// 128 KiB) keeps large buffers mmapped. Measured by local/tests/conversion_limit.rs:
/// three 9 Mpx PNGs at once in a budget for one peaked at 100 MB without it, 67 MB with
/// (one alone: 57 MB).
pub fn return_freed_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets one of the allocator's parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

/// The budget is counted in KiB: a semaphore's permits are a `u32` per acquire.
const UNIT: u64 = 1 << 10;

/// The conversion slots and the memory budget of this process.
#[derive(Debug)]
pub struct Slots {
    slots: Arc<Semaphore>,
    pub count: usize,
    memory: Arc<Semaphore>,
    /// The budget, in bytes.
    pub budget: u64,
    wait: Duration,
}

/// One conversion slot and, once reserved, its memory; held until dropped (also on
/// another thread).
#[derive(Debug)]
pub struct Slot {
    _slot: OwnedSemaphorePermit,
    memory: Option<OwnedSemaphorePermit>,
    /// When the request started waiting: `conversion_wait` counts from here.
    since: Instant,
}

/// Why a conversion was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("busy: all {slots} conversion slots stayed in use for {wait:?}; retry later")]
    NoSlot { slots: usize, wait: Duration },
    #[error(
        "busy: the {needed} bytes this conversion needs did not come free in the memory budget within {wait:?}; retry later"
    )]
    NoMemory { needed: u64, wait: Duration },
    #[error(
        "this image needs about {needed} bytes to convert, more than this function's memory budget of {budget} bytes"
    )]
    OverBudget { needed: u64, budget: u64 },
}

impl Slots {
    pub fn new(count: usize, budget: u64, wait: Duration) -> Slots {
        let count = count.max(1);
        let units = (budget / UNIT).clamp(1, Semaphore::MAX_PERMITS as u64);
        Slots {
            slots: Arc::new(Semaphore::new(count)),
            count,
            memory: Arc::new(Semaphore::new(units as usize)),
            budget: units * UNIT,
            wait,
        }
    }

    /// Waits up to `conversion_wait` for a slot.
    pub async fn acquire(&self) -> Result<Slot, Refused> {
        let since = Instant::now();
        let slots = Arc::clone(&self.slots);
        match tokio::time::timeout(self.wait, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                _slot: permit,
                memory: None,
                since,
            }),
            _ => Err(Refused::NoSlot {
                slots: self.count,
                wait: self.wait,
            }),
        }
    }

    /// Takes `bytes` of the budget for `slot`, waiting for what is left of
    /// `conversion_wait`. Waiters are served in order, so a large conversion is not
    /// starved by small ones.
    pub async fn reserve(&self, slot: &mut Slot, bytes: u64) -> Result<(), Refused> {
        let units = bytes.div_ceil(UNIT).max(1);
        if units * UNIT > self.budget {
            return Err(Refused::OverBudget {
                needed: bytes,
                budget: self.budget,
            });
        }
        let left = self.wait.saturating_sub(slot.since.elapsed());
        let memory = Arc::clone(&self.memory);
        // `units` fits: it is at most the budget's units, themselves clamped.
        match tokio::time::timeout(left, memory.acquire_many_owned(units as u32)).await {
            Ok(Ok(permit)) => {
                slot.memory = Some(permit);
                Ok(())
            }
            _ => Err(Refused::NoMemory {
                needed: bytes,
                wait: self.wait,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_budget_follows_the_memory_limit() {
        let worst = worst_case_bytes(&Limits::default(), 32 << 20);
        assert_eq!(worst, 600_000_000 + (64 << 20));
        assert_eq!(
            default_budget(Some(1 << 30), 2, 32 << 20, worst),
            (1 << 30) - (32 << 20) - (64 << 20),
            "stack.yml's 1Gi, two slots reading 32 MiB inputs"
        );
        assert_eq!(default_budget(Some(64 << 20), 2, 32 << 20, worst), 0);
        assert_eq!(default_budget(None, 3, 32 << 20, worst), 3 * worst);
    }

    #[tokio::test]
    async fn a_full_house_answers_busy_after_the_wait() {
        let slots = Slots::new(1, 1 << 30, Duration::from_millis(50));
        let held = slots.acquire().await.unwrap();
        let started = Instant::now();
        assert!(matches!(slots.acquire().await, Err(Refused::NoSlot { .. })));
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(slots.acquire().await.is_ok());
    }

    #[tokio::test]
    async fn memory_is_shared_by_what_each_conversion_needs() {
        let slots = Slots::new(4, 100 << 20, Duration::from_millis(50));
        let mut a = slots.acquire().await.unwrap();
        let mut b = slots.acquire().await.unwrap();
        let mut c = slots.acquire().await.unwrap();
        // Two small conversions fit together, a third that would overflow waits, then 429.
        slots.reserve(&mut a, 40 << 20).await.unwrap();
        slots.reserve(&mut b, 40 << 20).await.unwrap();
        assert!(matches!(
            slots.reserve(&mut c, 40 << 20).await,
            Err(Refused::NoMemory { .. })
        ));
        // More than the whole budget is refused at once.
        let mut d = slots.acquire().await.unwrap();
        let started = Instant::now();
        assert!(matches!(
            slots.reserve(&mut d, 101 << 20).await,
            Err(Refused::OverBudget { .. })
        ));
        assert!(started.elapsed() < Duration::from_millis(50));
        // A finished conversion's memory comes back.
        drop(a);
        let mut e = slots.acquire().await.unwrap();
        slots.reserve(&mut e, 40 << 20).await.unwrap();
    }
}
