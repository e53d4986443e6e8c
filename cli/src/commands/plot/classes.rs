//! `pact plot classes`: where each run spends its computation, and how well it does, class by
//! class: mean units executed per example (summed over blocks) and accuracy per class, one
//! bar series per run directory.

use super::records::{mean, read_records, series_name};
use crate::{CliError, Result};
use pact_models::plot::{save, Figure, GroupedBarChart, Panel, YAxis};
use std::path::PathBuf;

/// Arguments of `pact plot classes`.
#[derive(clap::Args, Debug)]
pub struct ClassesArgs {
    /// Directories holding `*.json` records written by `pact eval --json` (with
    /// `units_by_class` and `accuracy_by_class`); each directory is one series, averaged over
    /// its records.
    #[arg(long, num_args = 1.., required = true)]
    pub runs: Vec<PathBuf>,
    /// Output file: `.png` or `.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// Chart title.
    #[arg(long, default_value = "Computation and accuracy per class")]
    pub title: String,
}

/// One run directory's per-class figures, averaged over its records.
struct PerClass {
    name: String,
    units: Vec<f64>,
    accuracy: Vec<f64>,
}

/// `pact plot classes`.
pub(super) fn classes(args: ClassesArgs) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    let mut runs = Vec::new();
    for dir in &args.runs {
        let records = read_records(dir)?;
        let mut units: Vec<Vec<f64>> = Vec::new();
        let mut accuracy: Vec<Vec<f64>> = Vec::new();
        for r in &records {
            let per_block = r
                .value
                .get("units_by_class")
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "{}: no `units_by_class` (written by `pact eval --json` of this \
                         version)",
                        r.file
                    ))
                })?;
            let total: Vec<f64> = per_block
                .iter()
                .map(|blocks| {
                    blocks
                        .as_array()
                        .map_or(0.0, |b| b.iter().filter_map(|u| u.as_f64()).sum())
                })
                .collect();
            let acc = r.numbers("accuracy_by_class");
            if acc.len() != total.len() {
                return Err(CliError::Usage(format!(
                    "{}: {} classes in `accuracy_by_class` but {} in `units_by_class`",
                    r.file,
                    acc.len(),
                    total.len()
                )));
            }
            if names.is_empty() {
                names = match r.value.get("class_names").and_then(|v| v.as_array()) {
                    Some(n) => n
                        .iter()
                        .map(|s| s.as_str().unwrap_or("").to_string())
                        .collect(),
                    None => (0..total.len()).map(|c| c.to_string()).collect(),
                };
            }
            if total.len() != names.len() {
                return Err(CliError::Usage(format!(
                    "{}: {} classes, but the other records have {}",
                    r.file,
                    total.len(),
                    names.len()
                )));
            }
            units.push(total);
            accuracy.push(acc);
        }
        let average = |rows: &[Vec<f64>]| -> Vec<f64> {
            (0..names.len())
                .map(|c| mean(&rows.iter().map(|row| row[c]).collect::<Vec<f64>>()))
                .collect()
        };
        runs.push(PerClass {
            name: series_name(dir, &records),
            units: average(&units),
            accuracy: average(&accuracy),
        });
    }
    let mut units_chart = GroupedBarChart::new("units executed per example", names.clone())
        .x_label("class")
        .y_label("units (all blocks)");
    let mut accuracy_chart = GroupedBarChart::new("accuracy", names)
        .x_label("class")
        .y_label("accuracy (test)")
        .y_axis(YAxis::Probability);
    for run in runs {
        units_chart = units_chart.series(run.name.clone(), run.units);
        accuracy_chart = accuracy_chart.series(run.name, run.accuracy);
    }
    let figure = Figure::new(args.title, 1)
        .cell(1400, 420)
        .panel(Panel::Bars {
            chart: units_chart,
            lines: Vec::new(),
        })
        .panel(Panel::Bars {
            chart: accuracy_chart,
            lines: Vec::new(),
        });
    save(&figure, &args.out)?;
    Ok(())
}
