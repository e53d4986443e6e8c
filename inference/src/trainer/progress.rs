//! The progress bar: steps, epoch, loss, accuracy (when the step reports one) and speed.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    examples: u64,
}

impl Progress {
    /// A bar over `total` steps starting at `position`, or nothing if not `enabled`.
    pub(crate) fn new(enabled: bool, total: u64, position: u64) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise}<{eta_precise}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(position);
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
            examples: 0,
        }
    }

    /// Advances one step of `examples` examples.
    pub(crate) fn step(&mut self, epoch: u64, loss: f64, accuracy: Option<f64>, examples: usize) {
        self.examples += examples as u64;
        let Some(bar) = &self.bar else { return };
        let rate = self.examples as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let acc = accuracy.map_or_else(String::new, |a| format!("  acc {:.1}%", 100.0 * a));
        bar.set_message(format!(
            "epoch {epoch}  loss {loss:.4}{acc}  {rate:.0} ex/s"
        ));
        bar.inc(1);
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
