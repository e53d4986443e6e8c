//! Log files: one record per line, as JSON lines or CSV.

use super::metrics::Record;
use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The format of a log file, chosen by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson` or `.json`).
    JsonLines,
    /// Comma-separated values with a header line (`.csv`).
    Csv,
}

impl LogFormat {
    /// The format for `path`'s extension; any other extension is an error.
    ///
    /// ```
    /// use pact_inference::trainer::LogFormat;
    /// assert_eq!(LogFormat::from_path("run/log.csv".as_ref())?, LogFormat::Csv);
    /// assert!(LogFormat::from_path("run/log.txt".as_ref()).is_err());
    /// # Ok::<(), pact_inference::Error>(())
    /// ```
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson" | "json") => Ok(LogFormat::JsonLines),
            Some("csv") => Ok(LogFormat::Csv),
            _ => Err(Error::InvalidConfig(format!(
                "log_path {}: the extension must be .jsonl (JSON lines) or .csv",
                path.display()
            ))),
        }
    }
}

/// The columns of a record, in order; integers stay integers.
fn fields(r: &Record) -> Vec<(String, serde_json::Value)> {
    let mut out = vec![
        ("step".to_string(), r.step.into()),
        ("epoch".to_string(), r.epoch.into()),
        ("lr".to_string(), r.lr.into()),
        ("loss".to_string(), r.loss.into()),
        ("grad_norm".to_string(), r.grad_norm.into()),
    ];
    out.extend(r.metrics.iter().map(|(k, v)| (k.clone(), (*v).into())));
    out.push(("examples_per_s".to_string(), r.examples_per_s.into()));
    out.push(("elapsed_s".to_string(), r.elapsed_s.into()));
    out
}

fn csv_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(i) => i.to_string(),
            None => n.as_f64().map_or_else(String::new, |f| f.to_string()),
        },
        serde_json::Value::Null => "NaN".to_string(),
        other => other.to_string(),
    }
}

/// An open log file.
pub(crate) struct LogWriter {
    path: PathBuf,
    format: LogFormat,
    out: BufWriter<File>,
    /// The CSV header, fixed by the first record.
    columns: Option<Vec<String>>,
}

impl LogWriter {
    /// Starts a new, empty log at `path`, creating its directory if needed.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let format = LogFormat::from_path(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(LogWriter {
            path: path.to_path_buf(),
            format,
            out: BufWriter::new(file),
            columns: None,
        })
    }

    /// Reopens the log of a resumed run, keeping only the complete records whose step passes
    /// `keep` (those a killed run wrote after its last checkpoint are dropped, since the
    /// resumed run writes them again).
    pub(crate) fn reopen(path: &Path, keep: impl Fn(u64) -> bool) -> Result<Self> {
        let format = LogFormat::from_path(path)?;
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::create(path),
            Err(e) => return Err(Error::io(path, e)),
        };
        // Only newline-terminated lines are complete; a torn last line is dropped.
        let mut lines = text
            .split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .map(|l| l.strip_suffix('\r').unwrap_or(l));
        let mut kept = String::new();
        let mut columns = None;
        match format {
            LogFormat::JsonLines => {
                for line in lines {
                    let value: Option<serde_json::Value> = serde_json::from_str(line).ok();
                    let step = value.as_ref().and_then(|v| v.get("step")?.as_u64());
                    if step.is_some_and(&keep) {
                        kept.push_str(line);
                        kept.push('\n');
                    }
                }
            }
            LogFormat::Csv => {
                if let Some(header) = lines.next() {
                    let cols: Vec<String> = header.split(',').map(str::to_string).collect();
                    kept.push_str(header);
                    kept.push('\n');
                    for line in lines {
                        let cells: Vec<&str> = line.split(',').collect();
                        let step = cells.first().and_then(|c| c.parse::<u64>().ok());
                        if cells.len() == cols.len() && step.is_some_and(&keep) {
                            kept.push_str(line);
                            kept.push('\n');
                        }
                    }
                    columns = Some(cols);
                }
            }
        }
        pact::nn::checkpoint::write_atomic(path, kept.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(LogWriter {
            path: path.to_path_buf(),
            format,
            out: BufWriter::new(file),
            columns,
        })
    }

    /// Appends one record and flushes it, so a killed run leaves whole lines.
    pub(crate) fn write(&mut self, record: &Record) -> Result<()> {
        let fields = fields(record);
        let line = match self.format {
            LogFormat::JsonLines => {
                let map: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
                serde_json::Value::Object(map).to_string()
            }
            LogFormat::Csv => {
                let mut line = String::new();
                if self.columns.is_none() {
                    let names: Vec<String> = fields.iter().map(|(k, _)| k.clone()).collect();
                    line = names.join(",") + "\n";
                    self.columns = Some(names);
                }
                let columns = self.columns.as_deref().unwrap_or_default();
                if let Some((name, _)) = fields.iter().find(|(k, _)| !columns.contains(k)) {
                    return Err(Error::InvalidConfig(format!(
                        "metric {name} is not a column of the CSV log {} (columns: {}); \
                         report the same metrics at every step",
                        self.path.display(),
                        columns.join(",")
                    )));
                }
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        fields
                            .iter()
                            .find(|(k, _)| k == c)
                            .map_or_else(String::new, |(_, v)| csv_cell(v))
                    })
                    .collect();
                line + &cells.join(",")
            }
        };
        writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}
