//! The start-up check of a multi-process run: every rank describes its settings, its data
//! and its binary; ranks that differ are refused, with what differs.

use crate::{CliError, Result};
use pact::collective::Collective;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::{Arc, OnceLock};

/// What every rank of a run must agree on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StartCheck {
    /// Settings by name (compared one by one).
    pub settings: BTreeMap<String, String>,
    /// The data, as a size and a hash of its contents.
    pub data: String,
    /// The program: its version and a hash of the executable file.
    pub binary: String,
}

impl StartCheck {
    /// A check of `settings` (a serialisable value whose JSON object's keys are its
    /// settings) and `data`, with this binary's description.
    pub fn new(settings: &impl Serialize, extra: &[(&str, String)], data: String) -> Result<Self> {
        let value = serde_json::to_value(settings).map_err(|e| CliError::Usage(e.to_string()))?;
        let mut map = BTreeMap::new();
        if let serde_json::Value::Object(fields) = value {
            for (k, v) in fields {
                map.insert(k, v.to_string());
            }
        }
        for (k, v) in extra {
            map.insert(k.to_string(), v.clone());
        }
        Ok(StartCheck {
            settings: map,
            data,
            binary: binary(),
        })
    }

    /// What `other` (rank `rank`) has that rank 0 (`self`) does not, one item per line.
    fn differences(&self, other: &StartCheck, rank: usize) -> Vec<String> {
        let mut out = Vec::new();
        let keys: std::collections::BTreeSet<&String> =
            self.settings.keys().chain(other.settings.keys()).collect();
        for k in keys {
            let (a, b) = (self.settings.get(k), other.settings.get(k));
            if a != b {
                out.push(format!(
                    "setting {k}: {} on rank 0, {} on rank {rank}",
                    a.map_or("(none)", String::as_str),
                    b.map_or("(none)", String::as_str)
                ));
            }
        }
        if self.data != other.data {
            out.push(format!(
                "data: {} on rank 0, {} on rank {rank}",
                self.data, other.data
            ));
        }
        if self.binary != other.binary {
            out.push(format!(
                "binary: {} on rank 0, {} on rank {rank}",
                self.binary, other.binary
            ));
        }
        out
    }
}

/// The start check of a training run on `group` (nothing for one process): the settings `c`,
/// the output directory, whether it resumes, the kind of device (without its index: ranks on
/// one node use different devices) and `data()`, a description of the training data, computed
/// only when there are other ranks to compare it with.
pub fn agree_on_training(
    group: &Arc<dyn Collective>,
    c: &impl Serialize,
    out: &std::path::Path,
    resume: bool,
    device: pact::Device,
    data: impl FnOnce() -> String,
) -> Result<()> {
    if group.size() < 2 {
        return Ok(());
    }
    let data = data();
    let extra = [
        ("out", out.display().to_string()),
        ("resume", resume.to_string()),
        ("backend", super::device_kind(device)),
    ];
    agree(group, "training run", &StartCheck::new(c, &extra, data)?)
}

/// Refuses to go on unless every rank of `group` has the same `mine`; the error (the same on
/// every rank) lists what differs from rank 0, rank by rank.
pub fn agree(group: &Arc<dyn Collective>, what: &str, mine: &StartCheck) -> Result<()> {
    if group.size() < 2 {
        return Ok(());
    }
    let bytes = serde_json::to_vec(mine).map_err(|e| CliError::Usage(e.to_string()))?;
    let all = group.allgather_bytes(&bytes)?;
    let parsed: Vec<Option<StartCheck>> =
        all.iter().map(|b| serde_json::from_slice(b).ok()).collect();
    let Some(Some(first)) = parsed.first() else {
        return Err(CliError::Usage(
            "rank 0 sent an unreadable start-up description".into(),
        ));
    };
    let mut lines = Vec::new();
    for (rank, other) in parsed.iter().enumerate().skip(1) {
        match other {
            None => lines.push(format!(
                "rank {rank}: an unreadable start-up description (another pact version?)"
            )),
            Some(o) => lines.extend(first.differences(o, rank)),
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    Err(CliError::Agreed(format!(
        "the {} ranks of this {what} were not started alike; every rank must run the same \
         pact binary with the same settings on the same data:\n  {}",
        group.size(),
        lines.join("\n  ")
    )))
}

/// This program: its version and the size and hash of its executable file.
pub fn binary() -> String {
    static BINARY: OnceLock<String> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let version = env!("CARGO_PKG_VERSION");
            match std::env::current_exe().and_then(std::fs::read) {
                Ok(bytes) => format!(
                    "pact {version} (executable of {} bytes, hash {:016x})",
                    bytes.len(),
                    hash_bytes(&bytes)
                ),
                Err(_) => format!("pact {version} (executable unreadable)"),
            }
        })
        .clone()
}

/// A 64-bit hash of `bytes` (the same in every process of one build).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// A description of a batch of generated sequences that differs if any input or target does:
/// ranks whose generators disagree (another version of the task) are refused (for
/// [`StartCheck`]).
pub fn describe_sequences(set: &pact_models::data::SequenceSet) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in &set.inputs {
        h.write_u32(v.to_bits());
    }
    for &t in &set.targets {
        h.write_usize(t);
    }
    format!(
        "{} sequences of {} steps, {} inputs, {}×{} outputs (hash {:016x})",
        set.len(),
        set.steps,
        set.input_size,
        set.outputs_per_step,
        set.num_classes,
        h.finish()
    )
}

/// A description of an image set: its size, shape and a hash of its pixels and labels.
pub fn describe_images(set: &pact_models::data::ImageSet) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in &set.images {
        h.write_u32(v.to_bits());
    }
    for &l in &set.labels {
        h.write_usize(l);
    }
    let [c, height, w] = set.shape();
    format!(
        "{} images {c}x{height}x{w} in {} classes (hash {:016x})",
        set.len(),
        set.num_classes,
        h.finish()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pact::collective::ThreadGroup;

    #[derive(Serialize)]
    struct Settings {
        lr: f64,
        units: usize,
    }

    #[test]
    fn ranks_that_differ_are_refused_with_what_differs() {
        let members = ThreadGroup::new(3);
        let errors: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = members
                .into_iter()
                .map(|m| {
                    s.spawn(move || {
                        let rank = m.rank();
                        let group: Arc<dyn Collective> = Arc::new(m);
                        let lr = if rank == 1 { 0.2 } else { 0.1 };
                        let data = if rank == 2 { "b" } else { "a" };
                        let mine =
                            StartCheck::new(&Settings { lr, units: 5 }, &[], data.into()).unwrap();
                        agree(&group, "training run", &mine)
                            .unwrap_err()
                            .to_string()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for e in &errors {
            assert!(
                e.contains("setting lr: 0.1 on rank 0, 0.2 on rank 1"),
                "{e}"
            );
            assert!(e.contains("data: a on rank 0, b on rank 2"), "{e}");
            assert!(!e.contains("units"), "{e}");
            assert_eq!(e, &errors[0]);
        }
    }

    #[test]
    fn ranks_that_agree_go_on() {
        let members = ThreadGroup::new(2);
        std::thread::scope(|s| {
            for m in members {
                s.spawn(move || {
                    let group: Arc<dyn Collective> = Arc::new(m);
                    let mine =
                        StartCheck::new(&Settings { lr: 0.1, units: 5 }, &[], "a".into()).unwrap();
                    agree(&group, "training run", &mine).unwrap();
                });
            }
        });
    }
}
