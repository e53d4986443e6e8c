//! `pact sweep GRID.toml`: every run of a grid of settings (models, τ or λ, seeds, epochs,
//! data), each trained in one process and evaluated, with one JSON record per run, the same
//! as `pact eval --json` writes plus what the training did. Runs with a record are skipped,
//! so running the sweep again runs only what is missing; a run that fails is recorded as
//! failed, with its error, and the others go on.
//!
//! One process runs the runs in order. Under an MPI launcher (`mpirun -np K pact sweep …`)
//! each of the K ranks takes the next run whenever it finishes one ([`schedule`]). Under a
//! SLURM job array, each task runs the grid point `SLURM_ARRAY_TASK_ID` (or `--point`).

mod grid;
mod record;
mod schedule;

use super::eval::{json_record, EvalArgs};
use super::run_config::TrainOptions;
use super::{sequence, train};
use crate::distributed::{self, check::StartCheck, World};
use crate::{CliError, Result};
use grid::{Grid, Point};
use pact::Device;
use pact_models::spec::ModelName;
use schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Arguments of `pact sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The grid: a TOML file of `seeds`, shared `[train]` settings and `[[setting]]` tables
    /// whose array values are crossed (docs/distributed.md; docs/results/fashion/grid.toml is
    /// the Fashion-MNIST sweep).
    pub grid: PathBuf,
    /// Where checkpoints go, RUNS/SETTING/seed-S/ [default: the grid's `runs`]
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Where records go, RECORDS/SETTING/seed-S.json [default: the grid's `records`, else
    /// the grid file's directory]
    #[arg(long)]
    pub records: Option<PathBuf>,
    /// List the grid's runs (index, setting, seed, whether recorded) and stop.
    #[arg(long)]
    pub list: bool,
    /// Run only the grid point with this index (0-based, in --list order) [default:
    /// SLURM_ARRAY_TASK_ID when set, for one point per array task]
    #[arg(long)]
    pub point: Option<usize>,
}

/// How one run ended, as rank 0 reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Outcome {
    setting: String,
    seed: u64,
    rank: usize,
    /// `None` when it succeeded or was interrupted.
    error: Option<String>,
    /// Whether Ctrl-C stopped it (its checkpoint is kept; the next sweep resumes it).
    interrupted: bool,
    seconds: f64,
}

/// Runs `pact sweep`.
pub fn run(args: SweepArgs, device: Device) -> Result<()> {
    let world = distributed::start("pact sweep")?;
    let result = sweep(&world, args, device);
    world.conclude(result)
}

fn sweep(world: &World, args: SweepArgs, device: Device) -> Result<()> {
    let mut grid = Grid::read(&args.grid)?;
    if let Some(r) = &args.records {
        grid.records = r.clone();
    }
    let runs = args.runs.clone().or(grid.runs.clone()).ok_or_else(|| {
        CliError::Usage(format!(
            "{}: say where checkpoints go: `runs = \"DIR\"` in the grid, or --runs DIR",
            args.grid.display()
        ))
    })?;
    let text = std::fs::read(&args.grid).map_err(|e| CliError::Io {
        path: args.grid.display().to_string(),
        source: e,
    })?;
    let settings = [
        (
            "grid",
            format!("{:016x}", distributed::check::hash_bytes(&text)),
        ),
        ("records", grid.records.display().to_string()),
        ("runs", runs.display().to_string()),
        ("backend", device.to_string()),
    ];
    let mine = StartCheck::new(&(), &settings, String::new())?;
    distributed::check::agree(&world.group, "sweep", &mine)?;

    let done = |p: &Point| p.record(&grid.records).is_file();
    if args.list {
        if world.is_root() {
            list(&grid);
        }
        return Ok(());
    }
    let point = match args.point {
        Some(p) => Some(p),
        None => array_task()?,
    };
    if let Some(index) = point {
        if world.size() > 1 {
            return Err(CliError::Usage(
                "--point (or SLURM_ARRAY_TASK_ID) runs one grid point in one process; start it \
                 without mpirun"
                    .into(),
            ));
        }
        let p = grid.points.get(index).ok_or_else(|| {
            CliError::Usage(format!(
                "grid point {index} does not exist: the grid has {} (0 to {}; for a SLURM \
                 array, --array=0-{})",
                grid.points.len(),
                grid.points.len().saturating_sub(1),
                grid.points.len().saturating_sub(1)
            ))
        })?;
        if done(p) {
            println!("{} seed {}: recorded already", p.setting, p.seed);
            return Ok(());
        }
        let outcome = run_point(p, &grid, &runs, device, 0);
        return match outcome.error {
            None => Ok(()),
            Some(e) => Err(CliError::Usage(format!(
                "{} seed {} failed: {e}",
                p.setting, p.seed
            ))),
        };
    }

    let pending: VecDeque<usize> = (0..grid.points.len())
        .filter(|&i| !done(&grid.points[i]))
        .collect();
    if world.is_root() {
        println!(
            "pact sweep: {} runs, {} recorded, {} to run; {}",
            grid.points.len(),
            grid.points.len() - pending.len(),
            pending.len(),
            world.describe()
        );
    }
    let mut schedule = make_schedule(world, pending);
    let stop = pact_inference::trainer::ctrl_c_flag()?;
    let mut outcomes = Vec::new();
    while let Some(index) = schedule.next(stop.load(Ordering::SeqCst)) {
        let p = &grid.points[index];
        let outcome = run_point(p, &grid, &runs, device, world.rank());
        outcomes.push(outcome);
    }
    schedule.finish();
    // Rank 0 gathers every rank's outcomes for the summary.
    let bytes = serde_json::to_vec(&outcomes).map_err(|e| CliError::Usage(e.to_string()))?;
    let all = world.group.allgather_bytes(&bytes)?;
    if !world.is_root() {
        return Ok(());
    }
    let outcomes: Vec<Outcome> = all
        .iter()
        .filter_map(|b| serde_json::from_slice::<Vec<Outcome>>(b).ok())
        .flatten()
        .collect();
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let interrupted = stop.load(Ordering::SeqCst);
    let finished = outcomes
        .iter()
        .filter(|o| o.error.is_none() && !o.interrupted)
        .count();
    println!(
        "pact sweep: {finished} runs done, {} failed{}",
        failed.len(),
        if interrupted {
            "; interrupted (run the sweep again to continue)"
        } else {
            ""
        }
    );
    for o in &failed {
        println!(
            "  failed: {} seed {} (rank {}): {}",
            o.setting,
            o.seed,
            o.rank,
            o.error.as_deref().unwrap_or("")
        );
    }
    if interrupted {
        return Err(CliError::Usage("interrupted".into()));
    }
    Ok(())
}

/// The point of a SLURM array task, from `SLURM_ARRAY_TASK_ID`.
fn array_task() -> Result<Option<usize>> {
    match std::env::var("SLURM_ARRAY_TASK_ID") {
        Err(_) => Ok(None),
        Ok(v) => v.trim().parse().map(Some).map_err(|_| {
            CliError::Usage(format!(
                "SLURM_ARRAY_TASK_ID={v:?} is not a grid point index"
            ))
        }),
    }
}

fn make_schedule(world: &World, pending: VecDeque<usize>) -> Schedule {
    if world.size() > 1 && !world.launch.threaded {
        // Without MPI calls from a second thread, rank 0 cannot deal points while it
        // trains: the ranks take every K-th pending point instead.
        let (rank, size) = (world.rank(), world.size());
        return Schedule::Local(
            pending
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % size == rank)
                .map(|(_, p)| p)
                .collect(),
        );
    }
    #[cfg(feature = "mpi")]
    if let Some(m) = world.mpi.filter(|_| world.size() > 1) {
        return if world.is_root() {
            Schedule::Root(schedule::mpi_schedule::Root::new(m, pending))
        } else {
            Schedule::Worker(schedule::mpi_schedule::Worker::new(m))
        };
    }
    let _ = world;
    Schedule::Local(pending)
}

fn list(grid: &Grid) {
    println!("{:>5}  {:<28} {:>5}  status", "point", "setting", "seed");
    for (i, p) in grid.points.iter().enumerate() {
        let status = if p.record(&grid.records).is_file() {
            "recorded"
        } else if p.failure(&grid.records).is_file() {
            "failed"
        } else {
            "to run"
        };
        println!("{i:>5}  {:<28} {:>5}  {status}", p.setting, p.seed);
    }
}

/// Trains (or finishes training) and evaluates one point and writes its record; an error,
/// or a panic, is recorded as the point's failure.
fn run_point(p: &Point, grid: &Grid, runs: &Path, device: Device, rank: usize) -> Outcome {
    let start = Instant::now();
    println!("[rank {rank}] {} seed {}: started", p.setting, p.seed);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train_and_record(p, grid, runs, device)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(CliError::Usage(format!("panicked: {what}")))
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut interrupted = false;
    let error = match result {
        Ok(Some(summary)) => {
            println!(
                "[rank {rank}] {} seed {}: {summary} ({seconds:.0} s)",
                p.setting, p.seed
            );
            None
        }
        // Interrupted: neither recorded nor failed.
        Ok(None) => {
            println!(
                "[rank {rank}] {} seed {}: interrupted; its checkpoint is kept",
                p.setting, p.seed
            );
            interrupted = true;
            None
        }
        Err(e) => {
            let message = e.to_string();
            eprintln!(
                "[rank {rank}] {} seed {}: failed: {message}",
                p.setting, p.seed
            );
            let failure = record::failed(&p.setting, p.seed, &message);
            if let Err(w) = record::write(&p.failure(&grid.records), &failure) {
                eprintln!("[rank {rank}] cannot record the failure: {w}");
            }
            Some(message)
        }
    };
    Outcome {
        setting: p.setting.clone(),
        seed: p.seed,
        rank,
        error,
        interrupted,
        seconds,
    }
}

/// Trains `p` in `RUNS/SETTING/seed-S/` (resuming its checkpoint; skipped if a `trained`
/// file says it finished), evaluates its last checkpoint and writes the record. `None` if
/// the training was interrupted; else a one-line summary.
fn train_and_record(p: &Point, grid: &Grid, runs: &Path, device: Device) -> Result<Option<String>> {
    let dir = p.run_dir(runs);
    std::fs::create_dir_all(&dir).map_err(|e| CliError::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    let trained_marker = dir.join("trained");
    if !trained_marker.exists() {
        let resume = dir.join("last.safetensors").exists();
        if !resume {
            // A start cut short before its first checkpoint.
            std::fs::remove_file(dir.join("log.jsonl")).ok();
        }
        let options = TrainOptions {
            resume,
            verbose: false,
            ..TrainOptions::single(resume)
        };
        let interrupted = if ModelName::parse(&p.config.model).is_ok() {
            train::train_with(&p.config, &dir, &options, device)?.interrupted
        } else {
            let name = pact_models::spec::RecurrentName::parse(&p.config.model)?;
            sequence::train(&p.config, name, &dir, &options, device)?.interrupted
        };
        if interrupted {
            return Ok(None);
        }
        std::fs::write(&trained_marker, b"").map_err(|e| CliError::Io {
            path: trained_marker.display().to_string(),
            source: e,
        })?;
    }
    let eval = EvalArgs {
        checkpoint: dir.join("last.safetensors"),
        data: grid
            .eval_data
            .clone()
            .unwrap_or_else(|| p.config.data.clone()),
        mode: None,
        temperature: 0.5,
        batch_size: 256,
        seed: p.seed,
        json: true,
        examples: 1000,
    };
    let line = json_record(&eval, device)?;
    let rec = record::finished(&line, &p.setting, p.seed, &dir.join("log.jsonl"))?;
    record::write(&p.record(&grid.records), &rec)?;
    std::fs::remove_file(p.failure(&grid.records)).ok();
    let accuracy = rec["accuracy"].as_f64().unwrap_or(f64::NAN);
    let flops = rec["flops_mean"].as_f64().unwrap_or(f64::NAN);
    Ok(Some(format!(
        "accuracy {:.2}%, {flops:.3e} FLOPs per example",
        100.0 * accuracy
    )))
}
