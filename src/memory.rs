//! Accounting of tensor memory: bytes held by live tensor storage, and the peak since the
//! last reset. Used to measure the activation memory of evaluation (ACT holds a weighted sum
//! beside the current state; PACT's deterministic evaluation holds only the current state).
//!
//! ```
//! use pact::{memory, DType, Device, Tensor};
//! let base = memory::reset_peak();
//! let t = Tensor::zeros([1000], DType::F32, Device::Cpu);
//! assert!(memory::peak_bytes() >= base + 4000);
//! drop(t);
//! ```
//!
//! The counters are process-wide: tensors that other threads create at the same time count
//! too, so measure with nothing else running (the test that compares ACT and PACT memory
//! has a test binary to itself). Tensors dropped concurrently on several threads may be
//! missed by a few bytes (the counters are not a lock).

use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn allocated(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

pub(crate) fn freed(bytes: usize) {
    // Saturating: never wrap below zero.
    let _ = LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(bytes))
    });
}

/// Bytes held by tensor storage now.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The most bytes held at once since the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the current live bytes, which it returns.
pub fn reset_peak() -> usize {
    let live = live_bytes();
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The memory the operating system can still give this machine's programs, in bytes
/// (`MemAvailable` of `/proc/meminfo`), or `None` where it does not say (not Linux).
///
/// ```
/// if let Some(bytes) = pact::memory::available_system_memory() {
///     assert!(bytes > 0);
/// }
/// ```
pub fn available_system_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
}

/// Asks the C allocator to keep freed memory for reuse instead of returning it to the
/// operating system, and returns whether it agreed (only glibc on Linux is tuned; elsewhere
/// this does nothing and returns `false`).
///
/// A training step allocates and frees the same large activation buffers (megabytes each)
/// every step. With glibc's defaults many of them are served by fresh `mmap`s, or by heap
/// memory that was just trimmed away, so every step pays page faults and the kernel's page
/// clearing for them again (about 10% of a ResNet-32 step on two threads). After this call
/// blocks up to 32 MiB come from the heap and the heap is never trimmed: the process keeps
/// its peak footprint, and later steps reuse it. Call it once, at start-up, in programs that
/// run many steps (the `pact` command-line tool does).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::raw::c_int;
        extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        // From glibc's <malloc.h>.
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_MMAP_THRESHOLD: c_int = -3;
        // glibc refuses mmap thresholds above half its largest heap (32 MiB on 64-bit).
        const MMAP_THRESHOLD: c_int = 32 << 20;
        // SAFETY: `mallopt` only changes allocator parameters; both are valid settings.
        let trim = unsafe { mallopt(M_TRIM_THRESHOLD, c_int::MAX) };
        // SAFETY: as above.
        let mmap = unsafe { mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
        trim == 1 && mmap == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keep_freed_memory_is_accepted_on_glibc() {
        let accepted = super::keep_freed_memory();
        assert_eq!(accepted, cfg!(all(target_os = "linux", target_env = "gnu")));
        // Allocation still works afterwards, large and small.
        let big = vec![1u8; 40 << 20];
        let small = vec![2u8; 1 << 10];
        assert_eq!(big[big.len() - 1] + small[0], 3);
    }
}
