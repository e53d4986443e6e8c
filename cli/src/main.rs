//! The `pact` command-line tool.

mod commands;
mod error;

use clap::{Parser, Subcommand};
pub use error::{CliError, Result};

/// Probabilistic adaptive computation: train, evaluate and compare ACT and PACT models.
#[derive(Parser)]
#[command(name = "pact", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train small models on built-in data and report what they learned (no download).
    Demo(commands::demo::DemoArgs),
    /// Compare ACT and PACT analytically for given halting probabilities.
    Compare(commands::compare::CompareArgs),
    /// Time training and evaluation steps (same JSON keys as the PyTorch peer).
    Bench(commands::bench::BenchArgs),
    /// Train an adaptive ResNet (checkpoints and a log go to --out).
    Train(commands::train::TrainArgs),
    /// Evaluate a trained checkpoint: accuracy, FLOPs, units per block, memory, speed.
    Eval(commands::eval::EvalArgs),
    /// Draw figures (PNG or SVG by extension): halting distributions, units histograms,
    /// trade-off curves, training curves.
    Plot(commands::plot::PlotArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Plot(args) => commands::plot::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
