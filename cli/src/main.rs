//! The `pact` command-line tool.

mod backend;
mod commands;
mod distributed;
mod error;

use clap::{Parser, Subcommand};
pub use error::{CliError, Result};

/// Probabilistic adaptive computation: train, evaluate and compare ACT and PACT models.
#[derive(Parser)]
#[command(name = "pact", version, long_about = None)]
struct Cli {
    /// Where to compute: cpu, or arrayfire[:cuda|opencl|cpu][:INDEX] (a GPU or other
    /// ArrayFire device; needs a pact built with `--features arrayfire`, see docs/gpu.md).
    #[arg(long, global = true, value_name = "BACKEND", default_value = "cpu", value_parser = backend::parse)]
    backend: pact::Device,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train ACT and PACT ResNets and RNNs on built-in data, compare them and write a report (no
    /// download).
    Demo(commands::demo::DemoArgs),
    /// Compare ACT and PACT analytically for given halting probabilities.
    Compare(commands::compare::CompareArgs),
    /// Time training and evaluation steps (same JSON keys as the PyTorch peer).
    Bench(commands::bench::BenchArgs),
    /// Train an adaptive ResNet, or a pondering RNN/LSTM on a sequence task (checkpoints and a
    /// log go to --out).
    Train(Box<commands::train::TrainArgs>),
    /// Evaluate a trained checkpoint: accuracy, FLOPs, units per block, memory, speed.
    Eval(commands::eval::EvalArgs),
    /// Draw figures (PNG or SVG by extension): halting distributions, units histograms,
    /// trade-off curves, training curves, spatial ponder maps.
    Plot(commands::plot::PlotArgs),
    /// Train and evaluate every run of a grid of settings (a TOML file), one JSON record per
    /// run; across MPI ranks under mpirun, one point per SLURM array task (docs/distributed.md).
    Sweep(commands::sweep::SweepArgs),
}

fn main() {
    restore_default_sigpipe();
    let cli = Cli::parse();
    // Training and evaluation reuse the same large buffers every step: keep freed memory
    // instead of faulting fresh pages in again (see the function's docs).
    pact::memory::keep_freed_memory();
    // An invalid `PACT_CPU` (or one naming instructions this CPU lacks) is refused here,
    // before any kernel runs.
    if let Err(e) = pact::backend::cpu::isa::selected() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args, cli.backend),
        Command::Compare(args) => commands::compare::run(args),
        Command::Bench(args) => commands::bench::run(args, cli.backend),
        Command::Eval(args) => commands::eval::run(args, cli.backend),
        Command::Train(args) => commands::train::run(*args, cli.backend),
        Command::Plot(args) => commands::plot::run(args, cli.backend),
        Command::Sweep(args) => commands::sweep::run(args, cli.backend),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Lets output to a pipe whose reader has gone (`pact bench | head -1`) end the process
/// quietly, as it ends other command-line tools. Rust starts programs with SIGPIPE ignored,
/// so such a write fails instead and `println!` panics with a backtrace. Checkpoints are
/// written atomically, so a training run stopped this way loses none.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: sets the default action of one signal, before this program starts any thread
    // or installs any handler of its own.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
