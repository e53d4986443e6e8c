//! ArrayFire devices: which backend library and device a tensor lives on, selecting them per
//! thread before each call, the availability probe, and turning ArrayFire's failures into
//! [`crate::Error`]s.
//!
//! ArrayFire keeps the active backend and device per thread, and an array may only be used
//! (or released) while its own backend is active. Every call into ArrayFire therefore goes
//! through [`guard`], which activates the storage's device first (cached per thread) and
//! catches the failure.
//!
//! The `arrayfire` crate reports failures by calling a process-wide error handler, which
//! panics by default. We register a handler that, inside [`guard`], unwinds with a typed
//! payload (`resume_unwind`, so no panic message is printed) which [`guard`] catches and
//! returns as [`Error::Backend`]; outside it (ArrayFire calls a program makes itself) it
//! panics with the message, like the crate's own handler. The panic-free raw calls used for device selection and the probe
//! (`af_set_backend`, `af_get_available_backends`, …) are declared here directly, so that
//! their error codes — including the 5xx codes of the unified loader, which the crate's
//! `AfError` enum does not list — are read as plain integers.

use crate::{Error, Result};
use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

/// An ArrayFire compute backend (one of its libraries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AfBackend {
    /// Whatever ArrayFire picks: CUDA, then OpenCL, then CPU, the first with a device.
    /// [`crate::Device::arrayfire`] resolves it to a concrete backend.
    #[default]
    Default,
    /// `libafcuda`: NVIDIA GPUs.
    Cuda,
    /// `libafopencl`: OpenCL devices (GPUs of any vendor, some CPUs).
    OpenCl,
    /// `libafcpu`: ArrayFire's own CPU backend.
    Cpu,
}

impl AfBackend {
    /// The concrete backends, in the order ArrayFire prefers them.
    pub const ALL: [AfBackend; 3] = [AfBackend::Cuda, AfBackend::OpenCl, AfBackend::Cpu];

    /// ArrayFire's `af_backend` value.
    fn code(self) -> i32 {
        match self {
            AfBackend::Default => 0,
            AfBackend::Cpu => 1,
            AfBackend::Cuda => 2,
            AfBackend::OpenCl => 4,
        }
    }

    /// The name used on the command line and in [`crate::Device`]'s display.
    pub fn name(self) -> &'static str {
        match self {
            AfBackend::Default => "default",
            AfBackend::Cuda => "cuda",
            AfBackend::OpenCl => "opencl",
            AfBackend::Cpu => "cpu",
        }
    }
}

impl fmt::Display for AfBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AfBackend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "default" => Ok(AfBackend::Default),
            "cuda" => Ok(AfBackend::Cuda),
            "opencl" => Ok(AfBackend::OpenCl),
            "cpu" => Ok(AfBackend::Cpu),
            other => Err(Error::invalid(
                "ArrayFire backend",
                format!("unknown backend `{other}`: expected cuda, opencl or cpu"),
            )),
        }
    }
}

/// One ArrayFire device: a backend and a device index within it (ArrayFire's numbering,
/// from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AfDevice {
    /// The backend library.
    pub backend: AfBackend,
    /// The device within the backend.
    pub index: usize,
}

impl fmt::Display for AfDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arrayfire:{}:{}", self.backend, self.index)
    }
}

/// What ArrayFire reports about one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device.
    pub device: AfDevice,
    /// Its name.
    pub name: String,
    /// The platform (e.g. `CUDA`, `OpenCL`, `CPU`).
    pub platform: String,
    /// The toolkit version.
    pub toolkit: String,
    /// The compute capability or version.
    pub compute: String,
    /// Whether it computes in `f64`.
    pub double: bool,
}

/// A failure reported by ArrayFire: its error code and last error message.
#[derive(Debug)]
struct AfFailure {
    code: i32,
    message: String,
}

impl fmt::Display for AfFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.code {
            101 => "out of device memory",
            102 => "driver error",
            103 => "runtime error",
            201 => "invalid array",
            202 => "invalid argument",
            203 => "invalid size",
            204 => "unsupported type",
            205 => "type mismatch",
            207 => "invalid batch",
            208 => "wrong device",
            301 => "not supported",
            302 => "not configured in this build",
            303 => "not available without the nonfree build",
            401 => "no double-precision support on this device",
            402 => "no graphics support",
            501 => "backend library could not be loaded",
            502 => "symbol missing from the backend library",
            503 => "array belongs to another backend",
            998 => "internal error",
            _ => "error",
        };
        write!(f, "ArrayFire {name} (code {})", self.code)?;
        let message = self.message.trim();
        if !message.is_empty() && message != "No Last Error" {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// The calls that select devices and probe the installation, without panics.
#[cfg(feature = "arrayfire")]
mod sys {
    use super::{AfBackend, AfFailure};
    use std::os::raw::c_int;

    extern "C" {
        fn af_set_backend(backend: c_int) -> c_int;
        fn af_get_available_backends(backends: *mut c_int) -> c_int;
        fn af_get_device_count(count: *mut c_int) -> c_int;
        fn af_set_device(device: c_int) -> c_int;
        fn af_get_dbl_support(available: *mut bool, device: c_int) -> c_int;
        fn af_get_version(major: *mut c_int, minor: *mut c_int, patch: *mut c_int) -> c_int;
    }

    fn check(code: c_int) -> Result<(), AfFailure> {
        if code == 0 {
            Ok(())
        } else {
            Err(AfFailure {
                code,
                message: ::arrayfire::get_last_error(),
            })
        }
    }

    /// Bit mask of the backend libraries the unified loader found (`af_backend` values).
    pub fn available_backends() -> Result<i32, AfFailure> {
        let mut mask: c_int = 0;
        // SAFETY: plain out-parameter call into the linked ArrayFire library.
        check(unsafe { af_get_available_backends(&mut mask) })?;
        Ok(mask)
    }

    pub fn set_backend(b: AfBackend) -> Result<(), AfFailure> {
        // SAFETY: plain call with an `af_backend` value.
        check(unsafe { af_set_backend(b.code()) })
    }

    /// Devices of the active backend.
    pub fn device_count() -> Result<usize, AfFailure> {
        let mut n: c_int = 0;
        // SAFETY: plain out-parameter call.
        check(unsafe { af_get_device_count(&mut n) })?;
        Ok(n.max(0) as usize)
    }

    pub fn set_device(index: usize) -> Result<(), AfFailure> {
        // SAFETY: plain call; ArrayFire checks the index.
        check(unsafe { af_set_device(index as c_int) })
    }

    /// Whether device `index` of the active backend computes in `f64`.
    pub fn double_support(index: usize) -> Result<bool, AfFailure> {
        let mut ok = false;
        // SAFETY: plain out-parameter call (`bool*` in the C API).
        check(unsafe { af_get_dbl_support(&mut ok, index as c_int) })?;
        Ok(ok)
    }

    /// The library's version.
    pub fn version() -> Result<(i32, i32, i32), AfFailure> {
        let (mut a, mut b, mut c) = (0, 0, 0);
        // SAFETY: plain out-parameter call.
        check(unsafe { af_get_version(&mut a, &mut b, &mut c) })?;
        Ok((a, b, c))
    }

    /// `(name, platform, toolkit, compute)` of the active device.
    pub fn device_info() -> (String, String, String, String) {
        ::arrayfire::device_info()
    }

    /// Frees the memory ArrayFire's allocator keeps cached on the active device.
    pub fn device_gc() {
        ::arrayfire::device_gc()
    }

    /// Waits for the queued work of device `index` of the active backend.
    pub fn sync(index: usize) {
        ::arrayfire::sync(index as i32)
    }

    /// `(allocated bytes, allocated buffers, locked bytes, locked buffers)` of the active
    /// device.
    pub fn mem_info() -> (usize, usize, usize, usize) {
        ::arrayfire::device_mem_info()
    }

    /// Routes the crate's error callback to a typed unwind that [`super::guard`] catches.
    pub fn install_error_handler() {
        fn on_error(code: ::arrayfire::AfError) {
            // Read the raw code: the unified loader's codes (5xx) are not variants of the
            // crate's enum, so the value is never matched on.
            let code = code as i32;
            if code == 0 {
                return;
            }
            let failure = AfFailure {
                code,
                message: ::arrayfire::get_last_error(),
            };
            if super::GUARDED.with(std::cell::Cell::get) {
                // Inside `guard`, which catches it: no panic message.
                std::panic::resume_unwind(Box::new(failure));
            }
            // An ArrayFire call made outside pact: panic, as the crate's own handler does.
            panic!("{failure}");
        }
        ::arrayfire::register_error_handler(::arrayfire::Callback::new(on_error));
    }
}

/// The emulator's stand-ins: the CPU backend with one device, with `f64`.
#[cfg(all(feature = "arrayfire-emulator", not(feature = "arrayfire")))]
mod sys {
    use super::{AfBackend, AfFailure};

    pub fn available_backends() -> Result<i32, AfFailure> {
        Ok(AfBackend::Cpu.code())
    }

    pub fn set_backend(_: AfBackend) -> Result<(), AfFailure> {
        Ok(())
    }

    pub fn device_count() -> Result<usize, AfFailure> {
        Ok(1)
    }

    /// Like the real library's CPU backend, any index is accepted: pact itself checks the
    /// index against [`device_count`].
    pub fn set_device(_index: usize) -> Result<(), AfFailure> {
        Ok(())
    }

    pub fn double_support(_: usize) -> Result<bool, AfFailure> {
        Ok(true)
    }

    pub fn version() -> Result<(i32, i32, i32), AfFailure> {
        Ok((3, 8, 0))
    }

    pub fn device_info() -> (String, String, String, String) {
        let s = |v: &str| v.to_string();
        (s("host emulator"), s("emulator"), s("none"), s("none"))
    }

    pub fn device_gc() {}

    pub fn sync(_: usize) {}

    pub fn mem_info() -> (usize, usize, usize, usize) {
        (0, 0, 0, 0)
    }

    pub fn install_error_handler() {}
}

/// Whether the ArrayFire calls are the host emulator (the `arrayfire-emulator` feature
/// without `arrayfire`).
pub const EMULATED: bool = cfg!(not(feature = "arrayfire"));

thread_local! {
    /// The device last activated on this thread (ArrayFire's selection is per thread).
    static ACTIVE: Cell<Option<AfDevice>> = const { Cell::new(None) };
    /// Whether this thread is inside [`guard`] (which catches ArrayFire's failures).
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with [`GUARDED`] set, catching any unwind.
fn caught<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result
}

fn install_handler_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sys::install_error_handler);
}

fn backend_error(what: &str, failure: AfFailure) -> Error {
    Error::Backend(format!("{what}: {failure}"))
}

/// Makes `dev` the active ArrayFire backend and device of this thread.
pub(crate) fn activate(dev: AfDevice) -> Result<()> {
    if ACTIVE.with(Cell::get) == Some(dev) {
        return Ok(());
    }
    install_handler_once();
    ACTIVE.with(|a| a.set(None));
    sys::set_backend(dev.backend)
        .map_err(|e| backend_error(&format!("selecting ArrayFire backend {}", dev.backend), e))?;
    // ArrayFire's CPU backend accepts any device index; check it against the count here so
    // that every backend refuses a device that does not exist.
    let count = sys::device_count()
        .map_err(|e| backend_error(&format!("counting the devices of {}", dev.backend), e))?;
    if dev.index >= count {
        return Err(Error::Backend(format!(
            "selecting {dev}: ArrayFire backend {} has {count} device(s), numbered from 0; there \
             is no device {}",
            dev.backend, dev.index
        )));
    }
    sys::set_device(dev.index).map_err(|e| backend_error(&format!("selecting {dev}"), e))?;
    ACTIVE.with(|a| a.set(Some(dev)));
    Ok(())
}

/// Runs `f` (ArrayFire calls) on device `dev`, turning an ArrayFire failure into
/// [`Error::Backend`].
pub(crate) fn guard<R>(dev: AfDevice, f: impl FnOnce() -> R) -> Result<R> {
    activate(dev)?;
    caught(f).map_err(|payload| {
        // The failure may have left the thread's selection anywhere.
        ACTIVE.with(|a| a.set(None));
        Error::Backend(describe(payload))
    })
}

/// Runs `f` with `dev` active, ignoring failures (for releasing arrays in `Drop`).
pub(crate) fn quietly(dev: AfDevice, f: impl FnOnce()) {
    if activate(dev).is_ok() {
        let _ = caught(f);
    }
}

fn describe(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(f) = payload.downcast_ref::<AfFailure>() {
        f.to_string()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        format!("ArrayFire call failed: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("ArrayFire call failed: {s}")
    } else {
        "ArrayFire call failed".to_string()
    }
}

/// The backends whose libraries ArrayFire loaded.
fn loaded_backends() -> std::result::Result<Vec<AfBackend>, String> {
    let mask = sys::available_backends().map_err(|e| {
        format!(
            "ArrayFire could not load any backend library (libafcuda, libafopencl or libafcpu; \
             check LD_LIBRARY_PATH and AF_PATH, see docs/gpu.md): {e}"
        )
    })?;
    let found: Vec<AfBackend> = AfBackend::ALL
        .into_iter()
        .filter(|b| mask & b.code() != 0)
        .collect();
    if found.is_empty() {
        return Err(
            "ArrayFire found no backend library (libafcuda, libafopencl or libafcpu) on the \
             library path (see docs/gpu.md)"
                .to_string(),
        );
    }
    Ok(found)
}

/// Number of devices of backend `b` (switches this thread's backend).
fn devices_of(b: AfBackend) -> std::result::Result<usize, String> {
    install_handler_once();
    ACTIVE.with(|a| a.set(None));
    sys::set_backend(b).map_err(|e| format!("ArrayFire backend {b}: {e}"))?;
    sys::device_count().map_err(|e| format!("ArrayFire backend {b}: {e}"))
}

/// Checks that `dev` exists, resolving [`AfBackend::Default`] to the first backend with a
/// device (CUDA, OpenCL, CPU). Returns why not otherwise.
pub fn resolve(dev: AfDevice) -> std::result::Result<AfDevice, String> {
    let loaded = loaded_backends()?;
    let candidates: Vec<AfBackend> = match dev.backend {
        AfBackend::Default => loaded.clone(),
        b if loaded.contains(&b) => vec![b],
        b => {
            let names: Vec<&str> = loaded.iter().map(|b| b.name()).collect();
            return Err(format!(
                "the ArrayFire {b} backend library is not installed (found: {})",
                names.join(", ")
            ));
        }
    };
    let mut reasons = Vec::new();
    for b in candidates {
        match devices_of(b) {
            Ok(count) if dev.index < count => {
                return Ok(AfDevice {
                    backend: b,
                    index: dev.index,
                })
            }
            Ok(0) => reasons.push(format!("{b}: no device")),
            Ok(count) => reasons.push(format!(
                "{b}: no device {} (devices 0 to {})",
                dev.index,
                count - 1
            )),
            Err(e) => reasons.push(e),
        }
    }
    Err(format!(
        "no ArrayFire device for {dev}: {}",
        reasons.join("; ")
    ))
}

/// Whether ArrayFire can run here: `Ok` when some backend has a device, else the reason
/// (no backend library found, or no device).
///
/// A program built with the `arrayfire` feature links ArrayFire's unified library
/// (`libaf`); without that library it does not start at all. This probe covers everything
/// after that: the backend libraries (`libafcuda`, `libafopencl`, `libafcpu`) are loaded at
/// run time, and a backend may have no device.
pub fn available() -> std::result::Result<(), String> {
    resolve(AfDevice::default()).map(|_| ())
}

/// Every device of every loaded backend.
pub fn devices() -> Result<Vec<DeviceInfo>> {
    let loaded = loaded_backends().map_err(Error::BackendUnavailable)?;
    let mut out = Vec::new();
    for b in loaded {
        let count = devices_of(b).unwrap_or(0);
        for index in 0..count {
            let device = AfDevice { backend: b, index };
            let (info, double) = guard(device, || {
                let info = sys::device_info();
                (info, sys::double_support(index).unwrap_or(false))
            })?;
            out.push(DeviceInfo {
                device,
                name: info.0.trim().to_string(),
                platform: info.1.trim().to_string(),
                toolkit: info.2.trim().to_string(),
                compute: info.3.trim().to_string(),
                double,
            });
        }
    }
    Ok(out)
}

/// The ArrayFire library's version `(major, minor, patch)`.
pub fn version() -> Result<(i32, i32, i32)> {
    install_handler_once();
    sys::version().map_err(|e| backend_error("ArrayFire version", e))
}

/// Whether `dev` computes in `f64`.
pub fn supports_f64(dev: AfDevice) -> Result<bool> {
    guard(dev, || sys::double_support(dev.index))?.map_err(|e| backend_error(&format!("{dev}"), e))
}

/// Bytes ArrayFire's memory manager holds on `dev` (allocated, including its cache of freed
/// buffers).
pub fn allocated_bytes(dev: AfDevice) -> Result<usize> {
    guard(dev, || sys::mem_info().0)
}

/// Waits until `dev` has finished its queued work.
pub fn synchronize(dev: AfDevice) -> Result<()> {
    guard(dev, || sys::sync(dev.index))
}

/// Releases the buffers ArrayFire's memory manager keeps cached on `dev` (it keeps freed
/// buffers for reuse; see docs/gpu.md).
pub fn free_cached_memory(dev: AfDevice) -> Result<()> {
    guard(dev, sys::device_gc)
}
