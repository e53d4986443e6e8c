//! `pact compare`: ACT against PACT for given halting probabilities.
//!
//! The formulas are those of `pact_models::analysis` (math.md §2, §3, §6); this module
//! parses the flags, prints tables or JSON, and draws the plots with `pact_models::plot`.

use crate::{CliError, Result};
use pact_models::analysis::{
    self, list, short, Comparison, SweepPoint, DEFAULT_EPS, DEFAULT_PENALTY,
};
use pact_models::plot::{self, Format};
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `pact compare`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
    pact compare --halting 0.01,0.5,0.6,0.7\n  \
    pact compare --halting 0.01,0.5,0.6,0.7 --json --plot halting.svg\n  \
    pact compare --halting 0.5,0.3 --sweep 2 --plot sweep.png")]
pub struct CompareArgs {
    /// Halting probabilities h_1,…,h_{L-1} of units 1…L−1, comma-separated, each in [0, 1]. The
    /// last unit L always halts (h_L = 1), so k values describe a block of k + 1 units.
    #[arg(long, value_name = "H1,H2,…", allow_hyphen_values = true)]
    pub halting: String,

    /// ACT's threshold slack ε in (0, 1): ACT halts at the first n with h_1 + … + h_n ≥ 1 − ε.
    #[arg(long, value_name = "EPS", default_value_t = DEFAULT_EPS, allow_negative_numbers = true)]
    pub eps: f64,

    /// Time penalty λ ≥ 0 of PACT's truncated geometric prior p(N) ∝ exp(−λN), N = 1…L
    /// (used for the expected log-prior; λ plays the role of ACT's ponder weight τ).
    #[arg(long, value_name = "LAMBDA", default_value_t = DEFAULT_PENALTY, allow_negative_numbers = true)]
    pub penalty: f64,

    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,

    /// Draw a plot to FILE; the extension (.png or .svg) picks the format. Without --sweep: ACT's
    /// halting weights and PACT's q(N) side by side. With --sweep: ACT's ponder cost and PACT's
    /// E_q[N] against the swept halting probability.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// Vary unit K's halting probability (1 ≤ K ≤ L−1) over (0, 1), keeping the others as given
    /// (the value given for unit K is ignored), and compare ACT's ponder cost with PACT's E_q[N].
    /// Needs --plot FILE; prints the sweep as a table (or JSON with --json).
    #[arg(long, value_name = "K")]
    pub sweep: Option<usize>,

    /// Number of values in a sweep: i / (POINTS + 1) for i = 1…POINTS.
    #[arg(long, value_name = "POINTS", default_value_t = 99)]
    pub points: usize,
}

/// Runs `pact compare`.
pub fn run(args: CompareArgs) -> Result<()> {
    let halting = parse_halting(&args.halting)?;
    if let Some(path) = &args.plot {
        Format::from_path(path)?;
    }
    match args.sweep {
        Some(unit) => run_sweep(&args, &halting, unit),
        None => run_compare(&args, &halting),
    }
}

/// Parses `--halting`: comma-separated numbers (spaces allowed). Range checks are the model's.
fn parse_halting(list: &str) -> Result<Vec<f64>> {
    if list.trim().is_empty() {
        return Err(CliError::Usage(
            "--halting: empty list; give the halting probabilities of units 1..L-1, e.g. --halting 0.01,0.5,0.6".into(),
        ));
    }
    list.split(',')
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            item.parse::<f64>().map_err(|_| {
                CliError::Usage(format!(
                    "--halting: value {} ('{item}') is not a number",
                    i + 1
                ))
            })
        })
        .collect()
}

fn run_compare(args: &CompareArgs, halting: &[f64]) -> Result<()> {
    let comparison = analysis::compare(halting, args.eps, args.penalty)?;
    if let Some(path) = &args.plot {
        plot::save(&analysis::comparison_chart(halting, &comparison), path)?;
    }
    if args.json {
        emit(&format!("{}\n", to_json(&comparison)?))?;
        if let Some(path) = &args.plot {
            note(&format!("plot written to {}", path.display()));
        }
        Ok(())
    } else {
        let mut text = comparison_table(args, halting, &comparison);
        if let Some(path) = &args.plot {
            text += &format!("\nplot written to {}\n", path.display());
        }
        emit(&text)
    }
}

/// The JSON of a sweep.
#[derive(Serialize)]
struct SweepJson<'a> {
    unit: usize,
    halting: &'a [f64],
    eps: f64,
    penalty: f64,
    points: &'a [SweepPoint],
}

fn run_sweep(args: &CompareArgs, halting: &[f64], unit: usize) -> Result<()> {
    let Some(path) = &args.plot else {
        return Err(CliError::Usage(
            "--sweep needs --plot FILE (.png or .svg) to draw the sweep".into(),
        ));
    };
    let points = analysis::sweep(halting, unit, args.points, args.eps, args.penalty)?;
    plot::save(&analysis::sweep_chart(halting, unit, &points), path)?;
    if args.json {
        let json = SweepJson {
            unit,
            halting,
            eps: args.eps,
            penalty: args.penalty,
            points: &points,
        };
        emit(&format!("{}\n", to_json(&json)?))?;
        note(&format!("plot written to {}", path.display()));
        Ok(())
    } else {
        let mut text = sweep_table(args, halting, unit, &points);
        text += &format!("\nplot written to {}\n", path.display());
        emit(&text)
    }
}

/// Writes `text` to stdout; a closed pipe (`pact compare … | head`) is not an error.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Io {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// A line on stderr for the user, when stdout carries JSON.
fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| CliError::Usage(format!("cannot write JSON: {e}")))
}

fn comparison_table(args: &CompareArgs, halting: &[f64], c: &Comparison) -> String {
    let units = halting.len() + 1;
    let mut out = String::new();
    out += &format!(
        "Halting probabilities h = {} for units 1..{}; unit {units} always halts (h = 1).\n\n",
        list(halting),
        units - 1
    );
    out += &format!("ACT (eps = {})\n", short(args.eps));
    out += &format!("  {:<30} {}\n", "N (units executed)", c.act.n);
    out += &format!("  {:<30} {}\n", "remainder R", short(c.act.remainder));
    out += &format!(
        "  {:<30} {}\n",
        "ponder cost rho = N + R",
        short(c.act.ponder)
    );
    out += &format!("PACT (penalty lambda = {})\n", short(args.penalty));
    out += &format!("  {:<30} {}\n", "E_q[N]", short(c.pact.expected_n));
    out += &format!(
        "  {:<30} {}\n",
        "deterministic N (h >= 0.5)", c.pact.deterministic_n
    );
    out += &format!("  {:<30} {}\n", "most probable N (argmax q)", c.pact.map_n);
    out += &format!(
        "  {:<30} {}\n",
        "E_q[log p(N)]",
        short(c.pact.expected_log_prior)
    );
    out += &format!(
        "\n  {:>4}  {:>8}  {:>12}  {:>12}\n",
        "unit", "h", "ACT weight", "PACT q(N)"
    );
    for n in 0..units {
        let h = halting
            .get(n)
            .map_or_else(|| "1 (last)".to_string(), |&h| format!("{h:.4}"));
        out += &format!(
            "  {:>4}  {:>8}  {:>12.4}  {:>12.4}\n",
            n + 1,
            h,
            c.act.weights[n],
            c.pact.q[n]
        );
    }
    out
}

fn sweep_table(args: &CompareArgs, halting: &[f64], unit: usize, points: &[SweepPoint]) -> String {
    let mut out = format!(
        "Sweep of h_{unit} over (0, 1) with h = {} (eps = {}, penalty lambda = {}).\n\n",
        list(halting),
        short(args.eps),
        short(args.penalty)
    );
    out += &format!(
        "  {:>8}  {:>6}  {:>10}  {:>10}  {:>8}  {:>14}\n",
        format!("h_{unit}"),
        "ACT N",
        "ACT rho",
        "E_q[N]",
        "det. N",
        "E_q[log p(N)]"
    );
    for p in points {
        out += &format!(
            "  {:>8.4}  {:>6}  {:>10.4}  {:>10.4}  {:>8}  {:>14.4}\n",
            p.h, p.act_n, p.act_ponder, p.expected_n, p.deterministic_n, p.expected_log_prior
        );
    }
    out
}
