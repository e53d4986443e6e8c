//! Opt-in Ctrl-C handling: a process-wide flag that the training loop polls between steps.

use crate::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

static FLAG: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// A flag set by Ctrl-C (SIGINT; SIGTERM and SIGHUP on Unix), installing the handler on
/// the first call. Pass it to [`Trainer::with_stop_flag`](super::Trainer::with_stop_flag):
/// the loop then writes a checkpoint and returns at the next step boundary. A second Ctrl-C
/// while the flag is still set exits the process at once (status 130).
///
/// Nothing is installed unless this is called, so libraries and tests are unaffected. Fails
/// if another Ctrl-C handler was installed in this process by other means.
pub fn ctrl_c_flag() -> Result<Arc<AtomicBool>> {
    let mut installed = FLAG.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(flag) = installed.as_ref() {
        return Ok(flag.clone());
    }
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    })
    .map_err(|e| Error::Signal(e.to_string()))?;
    *installed = Some(flag.clone());
    Ok(flag)
}
