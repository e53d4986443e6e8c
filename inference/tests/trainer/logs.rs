//! Log files: one record per logged step with the expected keys, in either format.

use crate::common::*;
use pact::nn::{Sgd, SgdConfig};
use pact_inference::{Stop, Trainer, TrainerConfig};
use std::path::Path;

const KEYS: [&str; 9] = [
    "accuracy",
    "elapsed_s",
    "epoch",
    "examples_per_s",
    "grad_norm",
    "loss",
    "lr",
    "noise",
    "step",
];

fn train_with_log(path: &Path) {
    let data = data();
    let (store, mlp) = model(1);
    let opt = Sgd::new(store.trainable(), SgdConfig::default());
    let config = TrainerConfig {
        batch_size: 8,
        stop: Stop::Steps(7),
        log_path: Some(path.to_path_buf()),
        log_every: 2,
        ..Default::default()
    };
    let mut trainer = Trainer::new(config, store, opt).unwrap();
    let summary = fit(&mut trainer, &mlp, &data).unwrap();
    assert_eq!(summary.records.len(), 4);
}

#[test]
fn jsonl_has_one_object_per_logged_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    train_with_log(&path);
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps: Vec<u64> = records
        .iter()
        .map(|r| r["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [2, 4, 6, 7]);
    for r in &records {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, KEYS);
        assert!(r["loss"].as_f64().unwrap().is_finite());
        assert_eq!(r["lr"].as_f64(), Some(0.1));
    }
    assert_eq!(records[3]["epoch"].as_u64(), Some(2));
}

#[test]
fn csv_has_a_header_and_one_row_per_logged_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.csv");
    train_with_log(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut sorted = header.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, KEYS);
    assert_eq!(header[0], "step");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows.iter().map(|r| r[0]).collect::<Vec<_>>(),
        ["2", "4", "6", "7"]
    );
    let loss = header.iter().position(|h| *h == "loss").unwrap();
    for row in &rows {
        assert_eq!(row.len(), header.len());
        assert!(row[loss].parse::<f64>().unwrap().is_finite());
    }
}
