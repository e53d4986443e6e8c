//! A sweep's records: the `pact eval --json` record of each finished run with what the
//! training did (`setting`, `seed`, `train_steps`, `train_seconds`, `final_train_units`,
//! `commit`), or the error of a failed one; written atomically.

use crate::{CliError, Result};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::Path;

/// What built this binary: `PACT_COMMIT` at build time (for example `git describe --always
/// --dirty`), else the version.
pub fn commit() -> String {
    option_env!("PACT_COMMIT")
        .map(str::to_string)
        .unwrap_or_else(|| format!("pact {}", env!("CARGO_PKG_VERSION")))
}

/// What a run's `log.jsonl` says about its training: the last step, the training seconds
/// over every call (a resumed run's log restarts its clock), and the last record's units per
/// block.
pub fn training_summary(log: &Path) -> Result<(u64, f64, Vec<f64>)> {
    let text = std::fs::read_to_string(log).map_err(|e| CliError::Io {
        path: log.display().to_string(),
        source: e,
    })?;
    let records: Vec<Map<String, Value>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let (mut seconds, mut last) = (0.0, 0.0);
    for r in &records {
        let elapsed = r.get("elapsed_s").and_then(Value::as_f64).unwrap_or(0.0);
        if elapsed < last {
            seconds += last;
        }
        last = elapsed;
    }
    seconds += last;
    let Some(final_record) = records.last() else {
        return Ok((0, 0.0, Vec::new()));
    };
    let step = final_record
        .get("step")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    // Keys in order (the map is sorted), as units_1, units_2, ...
    let units = final_record
        .iter()
        .filter(|(k, _)| k.starts_with("units_"))
        .filter_map(|(_, v)| v.as_f64())
        .collect();
    Ok((step, (seconds * 10.0).round() / 10.0, units))
}

/// The record of a finished run: `eval` (a `pact eval --json` line) with the training's
/// summary added.
pub fn finished(eval: &str, setting: &str, seed: u64, log: &Path) -> Result<Value> {
    let mut record: Map<String, Value> = serde_json::from_str(eval)
        .map_err(|e| CliError::Usage(format!("evaluation record unreadable: {e}")))?;
    let (steps, seconds, units) = training_summary(log)?;
    record.insert("setting".into(), setting.into());
    record.insert("seed".into(), seed.into());
    record.insert("train_steps".into(), steps.into());
    record.insert("train_seconds".into(), seconds.into());
    record.insert("final_train_units".into(), json!(units));
    record.insert("commit".into(), commit().into());
    Ok(Value::Object(record))
}

/// The record of a failed run.
pub fn failed(setting: &str, seed: u64, error: &str) -> Value {
    json!({
        "setting": setting,
        "seed": seed,
        "failed": true,
        "error": error,
        "commit": commit(),
    })
}

/// Writes `value` as indented JSON to `path`, atomically (creating its directory).
pub fn write(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CliError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
    }
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    value
        .serialize(&mut ser)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    bytes.push(b'\n');
    pact::nn::checkpoint::write_atomic(path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_seconds_add_up_over_resumed_calls() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.jsonl");
        let lines = [
            r#"{"step": 1, "elapsed_s": 2.0, "units_1": 3.0}"#,
            r#"{"step": 2, "elapsed_s": 4.0, "units_1": 2.5}"#,
            r#"{"step": 3, "elapsed_s": 1.5, "units_2": 1.0, "units_1": 2.0}"#,
        ];
        std::fs::write(&log, lines.join("\n")).unwrap();
        let (steps, seconds, units) = training_summary(&log).unwrap();
        assert_eq!((steps, seconds, units), (3, 5.5, vec![2.0, 1.0]));
        let r = finished(r#"{"accuracy": 0.5}"#, "a", 2, &log).unwrap();
        assert_eq!(r["accuracy"], 0.5);
        assert_eq!(r["setting"], "a");
        assert_eq!(r["train_seconds"], 5.5);
        let path = dir.path().join("x/seed-2.json");
        write(&path, &r).unwrap();
        let back: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
