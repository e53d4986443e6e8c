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
