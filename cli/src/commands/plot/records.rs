//! Figures drawn from evaluation records (`pact eval --json` files, or the sweep records of
//! `scripts/results.sh`, which hold the same keys and more): the accuracy/FLOPs trade-off.
//!
//! A *run directory* holds one or more records. Its records of one method are one operating
//! point: several records (seeds) give their mean, with ±1 sample standard deviation.

use super::TradeoffArgs;
use crate::{CliError, Result};
use pact_models::plot::{save, TradeoffChart, TradeoffPoint};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One record: its file (for messages) and its JSON.
pub(super) struct Record {
    /// The file, as shown in messages.
    pub file: String,
    /// The parsed JSON object.
    pub value: serde_json::Value,
}

impl Record {
    /// The finite number under `key`, else an error naming the file and the key.
    pub fn number(&self, key: &str) -> Result<f64> {
        self.value
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .filter(|x| x.is_finite())
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{}: no numeric `{key}` (from `pact eval --json`)",
                    self.file
                ))
            })
    }

    /// The numbers of the array under `key` (empty if there is none).
    pub fn numbers(&self, key: &str) -> Vec<f64> {
        self.value
            .get(key)
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default()
    }

    /// The text under `key` (empty if there is none).
    pub fn text(&self, key: &str) -> &str {
        self.value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    }

    /// The method the record measures, from its `model` and `mode` fields.
    pub fn method(&self) -> String {
        method_name(self.text("model"), self.text("mode"))
    }
}

/// The name of a run directory: its last component.
pub(super) fn run_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The `*.json` records in `dir`, in file-name order; none is an error.
pub(super) fn read_records(dir: &Path) -> Result<Vec<Record>> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| CliError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::Usage(format!(
            "{shown}: no *.json files (write them with `pact eval --json > {shown}/eval.json`)"
        )));
    }
    files
        .into_iter()
        .map(|file| {
            let fshown = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| CliError::Io {
                path: fshown.clone(),
                source: e,
            })?;
            let value = serde_json::from_str(&text).map_err(|e| {
                CliError::Usage(format!("{fshown}: not a `pact eval --json` record: {e}"))
            })?;
            Ok(Record {
                file: fshown,
                value,
            })
        })
        .collect()
}

/// The method a `pact eval --json` record measures, from its `model` and `mode` fields.
fn method_name(model: &str, mode: &str) -> String {
    match (model, mode) {
        ("sact-resnet", "act") => "SACT".into(),
        ("spatial-pact-resnet", "pact-deterministic") => "spatial PACT".into(),
        (_, "ponder-net") => "PonderNet".into(),
        (_, "act") => "ACT".into(),
        (_, "pact-deterministic") => "PACT".into(),
        (_, "pact-relaxed") => "PACT (relaxed)".into(),
        ("resnet", _) | (_, "plain") => "ResNet (all units)".into(),
        _ if !model.is_empty() => format!("{model} ({mode})"),
        _ => "unknown".into(),
    }
}

/// The legend name of a run directory: its records' method with the penalty its name gives,
/// e.g. `ACT τ = 0.1`, else the directory's name.
pub(super) fn series_name(dir: &Path, records: &[Record]) -> String {
    let run = run_name(dir);
    match (records.first(), point_label(&run)) {
        (Some(record), Some(label)) => format!("{} {label}", record.method()),
        (Some(record), None) if record.method() == "ResNet (all units)" => record.method(),
        _ => run,
    }
}

/// The short label of a run directory named after its penalty, as `scripts/results.sh` names
/// them: `act-tau-0.05` → `τ = 0.05`, `pact-lambda-0.1` → `λ = 0.1`; `None` for other names.
fn point_label(run: &str) -> Option<String> {
    let named = [
        ("-tau-", "τ"),
        ("-lambda-", "λ"),
        ("tau=", "τ"),
        ("lambda=", "λ"),
    ]
    .iter()
    .find_map(|(key, symbol)| Some((*symbol, run.split_once(key)?.1)));
    // `pact demo`'s directories: METHOD-NETWORK-PENALTY, ACT's penalty τ, PACT's λ.
    let by_method = || {
        let (head, value) = run.rsplit_once('-')?;
        let symbol = if head.starts_with("pact-") {
            "λ"
        } else if head.starts_with("act-") {
            "τ"
        } else {
            return None;
        };
        Some((symbol, value))
    };
    let (symbol, value) = named.or_else(by_method)?;
    value
        .parse::<f64>()
        .ok()
        .map(|_| format!("{symbol} = {value}"))
}

/// The mean of `values` (0 for none).
pub(super) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The sample standard deviation of `values` (divisor n − 1; 0 for fewer than two).
pub(super) fn sample_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// `pact plot tradeoff`.
pub(super) fn tradeoff(args: TradeoffArgs) -> Result<()> {
    // Method name → directory name → the (flops, accuracy) of its records, in name order.
    let mut methods: BTreeMap<String, BTreeMap<String, Vec<(f64, f64)>>> = BTreeMap::new();
    for dir in &args.runs {
        let run = run_name(dir);
        for record in read_records(dir)? {
            let point = (record.number("flops_mean")?, record.number("accuracy")?);
            methods
                .entry(record.method())
                .or_default()
                .entry(run.clone())
                .or_default()
                .push(point);
        }
    }
    let mut chart = TradeoffChart::new(args.title).y_label("test accuracy (%)");
    for (name, runs) in methods {
        let single = runs.len() == 1;
        let mut points: Vec<TradeoffPoint> = runs
            .into_iter()
            .map(|(run, records)| {
                let flops: Vec<f64> = records.iter().map(|r| r.0).collect();
                let accuracy: Vec<f64> = records.iter().map(|r| 100.0 * r.1).collect();
                let point = TradeoffPoint::new(mean(&flops), mean(&accuracy))
                    .errors(sample_std(&flops), sample_std(&accuracy));
                match point_label(&run) {
                    Some(label) => point.label(label),
                    None if single => point,
                    None => point.label(run),
                }
            })
            .collect();
        points.sort_by(|a, b| a.flops.total_cmp(&b.flops));
        chart = chart.points(name, points);
    }
    save(&chart, &args.out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalty_directories_get_short_labels() {
        assert_eq!(point_label("act-tau-0.05").as_deref(), Some("τ = 0.05"));
        assert_eq!(point_label("pact-lambda-0.1").as_deref(), Some("λ = 0.1"));
        assert_eq!(point_label("pact-lambda-x"), None);
        assert_eq!(point_label("resnet"), None);
        // `scripts/results.sh`'s and `pact demo`'s run directories.
        assert_eq!(point_label("tau=0.03").as_deref(), Some("τ = 0.03"));
        assert_eq!(point_label("lambda=0.5").as_deref(), Some("λ = 0.5"));
        assert_eq!(point_label("act-resnet-0.3").as_deref(), Some("τ = 0.3"));
        assert_eq!(point_label("pact-rnn-0.001").as_deref(), Some("λ = 0.001"));
        assert_eq!(point_label("pact-resnet"), None);
        assert_eq!(point_label("resnet-32"), None);
    }

    #[test]
    fn seeds_average_with_a_sample_deviation() {
        assert_eq!(mean(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(sample_std(&[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(sample_std(&[5.0]), 0.0);
        assert_eq!(mean(&[]), 0.0);
    }
}
