//! The grid of a sweep: a TOML file of settings shared by every run (`[train]`), the seeds,
//! and named settings (`[[setting]]`) whose array values are crossed, expanded into one
//! [`Point`] per run.
//!
//! ```toml
//! records = "."                      # RECORDS/SETTING/seed-S.json (relative to this file)
//! runs = "../runs"                   # checkpoints in RUNS/SETTING/seed-S/
//! seeds = [0, 1, 2]
//! # eval_data = "shapes:900:16"      # the data evaluated on (default: each run's data)
//!
//! [train]                            # every key of `pact train --config`
//! data = "fashion-mnist"
//! epochs = 3
//!
//! [[setting]]
//! name = "act-tau-{tau}"             # {key} is replaced by the run's value of key
//! model = "act-resnet"
//! tau = [0.02, 0.05]                 # an array: one setting per value
//! ```

use crate::commands::run_config::{check, TrainConfig};
use crate::commands::sequence::apply_recurrent_defaults;
use crate::{CliError, Result};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrid {
    records: Option<PathBuf>,
    runs: Option<PathBuf>,
    seeds: Vec<u64>,
    eval_data: Option<String>,
    #[serde(default)]
    train: Table,
    setting: Vec<Table>,
}

/// One run of the grid.
#[derive(Clone, Debug)]
pub struct Point {
    /// The setting's name (its directory under the records and the runs).
    pub setting: String,
    /// The seed.
    pub seed: u64,
    /// Every setting of the run.
    pub config: TrainConfig,
}

/// A sweep's grid, expanded.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Where records go.
    pub records: PathBuf,
    /// Where checkpoints go, if the file says.
    pub runs: Option<PathBuf>,
    /// The data spec evaluated on, if not each run's own.
    pub eval_data: Option<String>,
    /// The runs, seed by seed, settings in file order, crossed values in key order.
    pub points: Vec<Point>,
}

impl Point {
    /// `RECORDS/SETTING/seed-S.json`.
    pub fn record(&self, records: &Path) -> PathBuf {
        records
            .join(&self.setting)
            .join(format!("seed-{}.json", self.seed))
    }

    /// `RECORDS/SETTING/seed-S.failed`: the error of the last failed attempt.
    pub fn failure(&self, records: &Path) -> PathBuf {
        records
            .join(&self.setting)
            .join(format!("seed-{}.failed", self.seed))
    }

    /// `RUNS/SETTING/seed-S/`.
    pub fn run_dir(&self, runs: &Path) -> PathBuf {
        runs.join(&self.setting).join(format!("seed-{}", self.seed))
    }
}

/// A value as it appears in a setting's name: numbers in their shortest exact form.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Float(f) => f.to_string(),
        other => other.to_string(),
    }
}

/// Every combination of the array values of `setting` (one table of scalars each), in key
/// order with the last key varying fastest.
fn combinations(setting: &Table) -> Vec<Table> {
    let mut out = vec![Table::new()];
    for (key, value) in setting {
        let values: Vec<Value> = match value {
            Value::Array(items) => items.clone(),
            scalar => vec![scalar.clone()],
        };
        out = out
            .into_iter()
            .flat_map(|partial| {
                values.iter().map(move |v| {
                    let mut t = partial.clone();
                    t.insert(key.clone(), v.clone());
                    t
                })
            })
            .collect();
    }
    out
}

/// Replaces every `{key}` of `template` by the value of `key` in `values`.
fn fill(template: &str, values: &Table, shown: &str) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            CliError::Usage(format!(
                "{shown}: setting name {template:?} has an unclosed '{{'"
            ))
        })?;
        let key = &after[..close];
        let value = values.get(key).ok_or_else(|| {
            CliError::Usage(format!(
                "{shown}: setting name {template:?} uses {{{key}}}, which the setting does not \
                 give"
            ))
        })?;
        out.push_str(&show(value));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks that `name` can be a directory name.
fn check_name(name: &str, shown: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+=".contains(c));
    if !ok {
        return Err(CliError::Usage(format!(
            "{shown}: setting name {name:?} must be letters, digits and . _ - + = (it names a \
             directory)"
        )));
    }
    Ok(())
}

impl Grid {
    /// Reads and expands the grid file at `path`; paths in it are relative to its directory.
    /// Every run's settings are checked as `pact train` checks them; errors name the file and
    /// the setting.
    pub fn read(path: &Path) -> Result<Grid> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CliError::Io {
            path: shown.clone(),
            source: e,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Grid::parse(&text, &shown, base)
    }

    /// [`Grid::read`] on the file's text (`shown` names it; relative paths are from `base`).
    pub fn parse(text: &str, shown: &str, base: &Path) -> Result<Grid> {
        let raw: RawGrid =
            toml::from_str(text).map_err(|e| CliError::Usage(format!("{shown}: {e}")))?;
        if raw.seeds.is_empty() {
            return Err(CliError::Usage(format!(
                "{shown}: seeds: give at least one"
            )));
        }
        if raw.setting.is_empty() {
            return Err(CliError::Usage(format!(
                "{shown}: no [[setting]]: give at least one"
            )));
        }
        for key in ["seed", "name"] {
            if raw.train.contains_key(key) {
                return Err(CliError::Usage(format!(
                    "{shown}: [train] may not set {key} (seeds are the grid's `seeds`, names \
                     are the settings')"
                )));
            }
        }
        let mut points = Vec::new();
        let mut seen = BTreeSet::new();
        for &seed in &raw.seeds {
            for (i, setting) in raw.setting.iter().enumerate() {
                let mut setting = setting.clone();
                let template = match setting.remove("name") {
                    Some(Value::String(s)) => s,
                    _ => {
                        return Err(CliError::Usage(format!(
                            "{shown}: [[setting]] number {} needs a name (a string)",
                            i + 1
                        )))
                    }
                };
                if setting.contains_key("seed") {
                    return Err(CliError::Usage(format!(
                        "{shown}: setting {template:?} may not set seed (use the grid's seeds)"
                    )));
                }
                for values in combinations(&setting) {
                    let name = fill(&template, &values, shown)?;
                    check_name(&name, shown)?;
                    if !seen.insert((name.clone(), seed)) {
                        return Err(CliError::Usage(format!(
                            "{shown}: two runs are named {name} (seed {seed}): put the varied \
                             keys in the name, e.g. \"{template}-{{key}}\""
                        )));
                    }
                    let config = run_config(&raw.train, &values, seed)
                        .map_err(|e| CliError::Usage(format!("{shown}: setting {name}: {e}")))?;
                    points.push(Point {
                        setting: name,
                        seed,
                        config,
                    });
                }
            }
        }
        Ok(Grid {
            records: base.join(raw.records.unwrap_or_else(|| PathBuf::from("."))),
            runs: raw.runs.map(|r| base.join(r)),
            eval_data: raw.eval_data,
            points,
        })
    }
}

/// The settings of one run: `[train]`, then the setting's values, then the seed; checked.
fn run_config(
    train: &Table,
    values: &Table,
    seed: u64,
) -> std::result::Result<TrainConfig, String> {
    let mut merged = train.clone();
    for (k, v) in values {
        merged.insert(k.clone(), v.clone());
    }
    let given: BTreeSet<String> = merged.keys().cloned().collect();
    let seed = i64::try_from(seed).map_err(|_| format!("seed {seed} is too large"))?;
    merged.insert("seed".into(), Value::Integer(seed));
    let mut config: TrainConfig = Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().trim().to_string())?;
    apply_recurrent_defaults(&mut config, &given);
    check(&config).map_err(|e| e.to_string())?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: &str = r#"
        seeds = [0, 1]
        runs = "r"
        [train]
        data = "shapes:64:8"
        epochs = 1
        [[setting]]
        name = "resnet"
        model = "resnet"
        [[setting]]
        name = "pact-{lambda}-{units}"
        model = "pact-resnet"
        lambda = [0.02, 0.5]
        units = [1, 2]
    "#;

    #[test]
    fn settings_are_crossed_seed_by_seed() {
        let g = Grid::parse(GRID, "grid.toml", Path::new("d")).unwrap();
        let names: Vec<String> = g
            .points
            .iter()
            .map(|p| format!("{}/{}", p.setting, p.seed))
            .collect();
        assert_eq!(
            names,
            [
                "resnet/0",
                "pact-0.02-1/0",
                "pact-0.02-2/0",
                "pact-0.5-1/0",
                "pact-0.5-2/0",
                "resnet/1",
                "pact-0.02-1/1",
                "pact-0.02-2/1",
                "pact-0.5-1/1",
                "pact-0.5-2/1"
            ]
        );
        let p = &g.points[3];
        assert_eq!(
            (p.config.lambda, p.config.units, p.config.seed),
            (0.5, 1, 0)
        );
        assert_eq!(p.config.model, "pact-resnet");
        assert_eq!(p.config.epochs, 1);
        assert_eq!(g.records, Path::new("d/."));
        assert_eq!(g.runs.as_deref(), Some(Path::new("d/r")));
        assert_eq!(
            p.record(&g.records),
            Path::new("d/./pact-0.5-1/seed-0.json")
        );
    }

    #[test]
    fn bad_grids_are_refused_with_the_reason() {
        let err = |text: &str| {
            Grid::parse(text, "g.toml", Path::new("."))
                .unwrap_err()
                .to_string()
        };
        let e =
            err("seeds = [0]\n[[setting]]\nname = \"a\"\nmodel = \"pact-resnet\"\nlambda = -1.0");
        assert!(e.contains("setting a") && e.contains("--lambda"), "{e}");
        let e = err("seeds = [0]\n[[setting]]\nname = \"a\"\nlambda = [0.1, 0.2]");
        assert!(e.contains("two runs are named a"), "{e}");
        let e = err("seeds = [0]\n[[setting]]\nname = \"a-{tau}\"");
        assert!(e.contains("{tau}"), "{e}");
        let e = err("seeds = [0]\n[[setting]]\nname = \"a/b\"");
        assert!(e.contains("names a directory"), "{e}");
        let e = err("seeds = [0]\n[[setting]]\nname = \"a\"\nlearning_rate = 0.1");
        assert!(e.contains("learning_rate"), "{e}");
        let e = err("seeds = []\n[[setting]]\nname = \"a\"");
        assert!(e.contains("seeds"), "{e}");
        let e = err("seeds = [0]\nsettings = 1\n[[setting]]\nname = \"a\"");
        assert!(e.contains("settings"), "{e}");
    }

    #[test]
    fn recurrent_runs_get_their_defaults() {
        let g = Grid::parse(
            "seeds = [3]\n[[setting]]\nname = \"p\"\nmodel = \"pact-rnn\"\ndata = \"parity:4\"",
            "g.toml",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(g.points[0].config.optimizer, "adam");
        assert_eq!(g.points[0].config.seed, 3);
    }
}
