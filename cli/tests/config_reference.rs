//! `docs/reference/config.md` against the real configuration of `pact train --config`:
//! every `toml` example block is accepted (and applied) by the binary, and the table of keys
//! lists exactly the keys of the configuration, each with its real default, which is also
//! the default its flag's help states (those are written by hand in `cli/src/commands/train.rs`).
//!
//! The binary keeps its configuration type private, so the test reads it back from a
//! checkpoint: `pact train` stores the configuration of a run, as JSON, in the checkpoint
//! metadata `pact.train_config`. Each run is tiny (a few 8×8 images, one unit per stage,
//! one step), which needs some settings overridden by flags; the defaults of those come from
//! `pact train --help` instead.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Flags that make a run tiny, and the configuration keys they override.
const TINY: [(&str, &str, &str); 4] = [
    ("data", "--data", "shapes:8:8"),
    ("units", "--units", "1"),
    ("epochs", "--epochs", "1"),
    ("batch_size", "--batch-size", "8"),
];

fn doc() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/reference/config.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```toml blocks of the page.
fn toml_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match current.as_mut() {
            None if line.trim() == "```toml" => current = Some(String::new()),
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(
        current.is_none(),
        "config.md: a ```toml block is not closed"
    );
    blocks
}

/// The rows of the table of keys: key → (default cell, flag cell), backticks removed.
fn key_table(doc: &str) -> BTreeMap<String, (String, String)> {
    let mut rows = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`').to_string())
            .collect();
        assert!(cells.len() >= 5, "config.md: short table row: {line}");
        let previous = rows.insert(cells[0].clone(), (cells[2].clone(), cells[3].clone()));
        assert!(previous.is_none(), "config.md lists `{}` twice", cells[0]);
    }
    rows
}

/// Runs a tiny `pact train` with `config` (if any) and returns the configuration it used.
fn tiny_run(config: Option<&str>, dir: &Path) -> BTreeMap<String, Value> {
    let out = dir.join("run");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pact"));
    cmd.arg("train").arg("--out").arg(&out);
    if let Some(text) = config {
        let file = dir.join("config.toml");
        std::fs::write(&file, text).unwrap();
        cmd.arg("--config").arg(&file);
    }
    for (_, flag, value) in TINY {
        cmd.args([flag, value]);
    }
    let run = cmd.output().expect("run pact");
    assert!(
        run.status.success(),
        "pact train rejected {}:\n{}\n{}",
        config.map_or("no config".to_string(), |c| format!("the config\n{c}")),
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&run.stdout)
    );
    let ckpt = pact::nn::checkpoint::load(out.join("last.safetensors"), pact::Device::Cpu)
        .expect("read the checkpoint");
    let json = ckpt
        .metadata
        .get("pact.train_config")
        .expect("the checkpoint records pact.train_config");
    serde_json::from_str(json).expect("pact.train_config is a JSON object")
}

/// Whether a TOML value written in the doc and a JSON value of the real config agree
/// (numbers compared as numbers, so `1e-4` equals `0.0001` and `0` equals `0.0`).
fn same(doc: &toml::Value, real: &Value) -> bool {
    match (doc, real) {
        (toml::Value::String(a), Value::String(b)) => a == b,
        (toml::Value::Boolean(a), Value::Bool(b)) => a == b,
        (toml::Value::Integer(a), Value::Number(b)) => b.as_f64() == Some(*a as f64),
        (toml::Value::Float(a), Value::Number(b)) => b
            .as_f64()
            .is_some_and(|b| (a - b).abs() <= 1e-12 * a.abs().max(1.0)),
        (toml::Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        _ => false,
    }
}

/// A value as the doc's table writes it (`"sgd"`, `0.1`, `[16, 32, 64]`), parsed as TOML.
fn parse_cell(key: &str, cell: &str) -> toml::Value {
    let table: toml::Table = toml::from_str(&format!("v = {cell}"))
        .unwrap_or_else(|e| panic!("config.md: default of `{key}` ({cell}) is not TOML: {e}"));
    table["v"].clone()
}

/// Whether a default stated by `--help` (`sgd`, `0.1`) is the documented TOML value.
fn agrees(documented: &toml::Value, stated: &str) -> bool {
    // A default that depends on the model reads "X for ACT, Y for …": its first value is the
    // one the configuration struct holds.
    let stated = match stated.split_once(" for ") {
        Some((first, _)) if !matches!(documented, toml::Value::String(_)) => first,
        _ => stated,
    };
    match documented {
        toml::Value::String(s) => s == stated,
        other => toml::from_str::<toml::Table>(&format!("v = {stated}"))
            .ok()
            .and_then(|t| serde_json::to_value(&t["v"]).ok())
            .is_some_and(|v| same(other, &v)),
    }
}

/// `[default: X]` of `--flag` in `pact train --help`.
fn help_default(help: &str, flag: &str) -> Option<String> {
    let is_option = |line: &str| line.trim_start().starts_with('-');
    let mut lines = help
        .lines()
        .skip_while(|l| !(is_option(l) && l.split([' ', ',']).any(|word| word == flag)));
    let first = lines.next()?;
    let text: Vec<&str> = std::iter::once(first)
        .chain(lines.take_while(|l| !is_option(l)))
        .collect();
    let text = text.join(" ");
    let at = text.find("[default: ")? + "[default: ".len();
    Some(text[at..].split(']').next()?.trim().to_string())
}

#[test]
fn every_example_block_is_accepted_and_applied() {
    let doc = doc();
    let blocks = toml_blocks(&doc);
    assert!(blocks.len() >= 3, "config.md has too few ```toml examples");
    for block in &blocks {
        let table: toml::Table = toml::from_str(block)
            .unwrap_or_else(|e| panic!("config.md example is not TOML: {e}\n{block}"));
        if let Some(toml::Value::String(spec)) = table.get("data") {
            // Overridden by the tiny run, so checked here.
            pact_models::data::DataSpec::parse(spec)
                .unwrap_or_else(|e| panic!("config.md example has a bad data spec: {e}"));
        }
        let dir = tempfile::tempdir().unwrap();
        let used = tiny_run(Some(block), dir.path());
        for (key, value) in &table {
            if TINY.iter().any(|(k, _, _)| k == key) {
                continue;
            }
            let real = used
                .get(key)
                .unwrap_or_else(|| panic!("`{key}` is not a configuration key"));
            assert!(
                same(value, real),
                "config.md example sets `{key} = {value}` but the run used {real}\n{block}"
            );
        }
    }
}

#[test]
fn every_key_is_documented_with_its_default() {
    let doc = doc();
    let table = key_table(&doc);
    let dir = tempfile::tempdir().unwrap();
    let defaults = tiny_run(None, dir.path());
    let help = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(["train", "--help"])
        .output()
        .expect("run pact");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();

    let missing: Vec<&String> = defaults
        .keys()
        .filter(|k| !table.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "configuration keys missing from the table in docs/reference/config.md: {missing:?}"
    );
    let stale: Vec<&String> = table
        .keys()
        .filter(|k| !defaults.contains_key(*k))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/reference/config.md documents keys the configuration does not have: {stale:?}"
    );
    for (key, (cell, flag)) in &table {
        let documented = parse_cell(key, cell);
        let overridden = TINY.iter().any(|(k, _, _)| k == key);
        if !overridden {
            assert!(
                same(&documented, &defaults[key]),
                "config.md: default of `{key}` is {cell}, the real default is {}",
                defaults[key]
            );
        }
        // The flag column names a real flag (or "–" for file-only keys), and the default the
        // flag's help states (by hand: the flags are optional overrides) is the documented one.
        if flag == "–" {
            assert!(!overridden, "config.md: `{key}` has the flag {flag}");
            continue;
        }
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with('-') && l.split([' ', ',']).any(|w| w == flag)),
            "config.md: `{key}` names the flag {flag}, which `pact train --help` lacks"
        );
        match help_default(&help, flag) {
            Some(stated) => assert!(
                agrees(&documented, &stated),
                "config.md: default of `{key}` is {cell}, `pact train --help` says {flag} \
                 [default: {stated}]"
            ),
            None => assert!(
                !overridden && matches!(documented, toml::Value::Boolean(false)),
                "`pact train --help` states no default for {flag}"
            ),
        }
    }
}
