//! Progress reports: steps, epoch, loss, accuracy (when the step reports one) and speed.
//!
//! On a terminal this is an `indicatif` bar (on standard error). When standard error is not a
//! terminal (a batch job, a CI log, output piped to a file) a bar would print nothing, so a
//! plain line is written to standard output instead every [`LINE_EVERY_PERCENT`] percent of
//! the steps, and at the last one; standard error stays for errors.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// How often, in percent of the run's steps, a line is printed when standard error is not a
/// terminal.
pub const LINE_EVERY_PERCENT: u64 = 5;

enum Output {
    Bar(ProgressBar),
    Lines {
        total: u64,
        first: u64,
        position: u64,
        next: u64,
    },
    Silent,
}

pub(crate) struct Progress {
    output: Output,
    start: Instant,
    examples: u64,
}

impl Progress {
    /// A report over `total` steps starting at `position`, or nothing if not `enabled`.
    pub(crate) fn new(enabled: bool, total: u64, position: u64) -> Self {
        let output = if !enabled {
            Output::Silent
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise}<{eta_precise}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(position);
            Output::Bar(bar)
        } else {
            Output::Lines {
                total,
                first: position,
                position,
                next: next_line_at(position, total),
            }
        };
        Progress {
            output,
            start: Instant::now(),
            examples: 0,
        }
    }

    /// Advances one step of `examples` examples.
    pub(crate) fn step(&mut self, epoch: u64, loss: f64, accuracy: Option<f64>, examples: usize) {
        self.examples += examples as u64;
        let seconds = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = self.examples as f64 / seconds;
        let acc = accuracy.map_or_else(String::new, |a| format!("  acc {:.1}%", 100.0 * a));
        let message = format!("epoch {epoch}  loss {loss:.4}{acc}  {rate:.0} ex/s");
        match &mut self.output {
            Output::Bar(bar) => {
                bar.set_message(message);
                bar.inc(1);
            }
            Output::Lines {
                total,
                first,
                position,
                next,
            } => {
                *position += 1;
                if *position >= *next {
                    let left = remaining(*position - *first, *total - *position, seconds);
                    println!("{}", line(*position, *total, &message, seconds, left));
                    *next = next_line_at(*position, *total);
                }
            }
            Output::Silent => {}
        }
    }

    pub(crate) fn finish(&self) {
        if let Output::Bar(bar) = &self.output {
            bar.finish();
        }
    }
}

/// The step at which the next line is due after `position`: the next multiple of
/// [`LINE_EVERY_PERCENT`] percent of `total`, and at least the next step.
fn next_line_at(position: u64, total: u64) -> u64 {
    let every = (total * LINE_EVERY_PERCENT / 100).max(1);
    ((position / every + 1) * every).min(total.max(position + 1))
}

/// The seconds the `left` remaining steps should take at the pace of the `done` steps run in
/// `seconds`.
fn remaining(done: u64, left: u64, seconds: f64) -> f64 {
    left as f64 * seconds / done.max(1) as f64
}

/// One progress line: `step 470/940 (50%)  epoch 1  loss …  [1m05s, about 1m05s left]`.
fn line(position: u64, total: u64, message: &str, seconds: f64, left: f64) -> String {
    let percent = (100 * position + total / 2) / total.max(1);
    format!(
        "step {position}/{total} ({percent}%)  {message}  [{}, about {} left]",
        clock(seconds),
        clock(left)
    )
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_every_five_percent_and_at_the_end() {
        let mut at = Vec::new();
        let mut next = next_line_at(0, 100);
        for position in 1..=100 {
            if position >= next {
                at.push(position);
                next = next_line_at(position, 100);
            }
        }
        assert_eq!(at, (1..=20).map(|k| 5 * k).collect::<Vec<u64>>());
        // Short runs report every step; a resumed run picks up at the next multiple.
        assert_eq!(next_line_at(0, 7), 1);
        assert_eq!(next_line_at(33, 200), 40);
        assert_eq!(next_line_at(199, 200), 200);
    }

    #[test]
    fn a_line_says_where_the_run_is() {
        let l = line(
            50,
            200,
            "epoch 1  loss 0.5000",
            30.0,
            remaining(50, 150, 30.0),
        );
        assert_eq!(
            l,
            "step 50/200 (25%)  epoch 1  loss 0.5000  [0m30s, about 1m30s left]"
        );
        assert_eq!(clock(3725.0), "1h02m");
        // A resumed run estimates from the steps it ran itself.
        assert_eq!(remaining(10, 40, 5.0), 20.0);
    }
}
