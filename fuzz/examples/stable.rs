//! A fuzz driver for any Rust toolchain: runs one of `pact_fuzz`'s targets on random and
//! mutated inputs for a time budget, without coverage feedback (`cargo fuzz` needs nightly;
//! this does not). Inputs that reach a new outcome join the pool that is mutated.
//!
//! ```text
//! cargo run --no-default-features --example stable -- TARGET SECONDS [SEED]
//! cargo run --no-default-features --example stable -- TARGET --replay FILE...
//! cargo run --no-default-features --example stable -- TARGET --write-seeds DIR
//! ```
//!
//! A panic is a finding: the input is written to `artifacts/TARGET/crash-HASH` (beside this
//! crate's Cargo.toml), the panic message printed, and the exit status is 1. `--replay`
//! runs the target on saved inputs (a crash found by either fuzzer, say); `--write-seeds`
//! writes the target's seed inputs to a directory (a starting corpus for `cargo fuzz`).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A small, fast generator (SplitMix64); the driver's own randomness, seeded from the
/// command line so that a run can be repeated.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that tend to sit on boundaries: sizes, magic numbers, extremes.
const WORDS: [u32; 12] = [
    0,
    1,
    2,
    3,
    10,
    255,
    2049,
    2051,
    3073,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// Fragments that matter to the text formats (CSV, TOML, JSON metadata).
const TOKENS: [&str; 28] = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "-1",
    "0",
    "-0",
    "18446744073709551616",
    "65536",
    "1.5",
    ",",
    "\n",
    "\r\n",
    " ",
    "=",
    "[",
    "]",
    "\"",
    "{",
    "}",
    ":",
    "x",
    "units = 0\n",
    "temperature = -1\n",
    "widths = [0, 1]\n",
    "\"units_per_stage\":",
    "\"num_classes\":99999999,",
];

fn mutate(rng: &mut SplitMix, input: &[u8], pool: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..1 + rng.below(6) {
        let len = data.len();
        match rng.below(10) {
            // Flip a bit.
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            // Set a byte.
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next() as u8;
            }
            // Overwrite four bytes with a boundary value, either byte order.
            2 if len >= 4 => {
                let i = rng.below(len - 3);
                let w = WORDS[rng.below(WORDS.len())];
                let b = if rng.below(2) == 0 {
                    w.to_be_bytes()
                } else {
                    w.to_le_bytes()
                };
                data[i..i + 4].copy_from_slice(&b);
            }
            // Truncate.
            3 if len > 0 => data.truncate(rng.below(len)),
            // Delete a range.
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            // Insert random bytes.
            5 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(i..i, bytes);
            }
            // Insert a token.
            6 => {
                let i = rng.below(len + 1);
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                data.splice(i..i, t.iter().copied());
            }
            // Duplicate a chunk.
            7 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let chunk = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            // Splice with another input of the pool.
            8 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            // Append random bytes.
            _ => {
                let n = rng.below(32);
                data.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
    data
}

fn hash(data: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    h.finish()
}

fn artifacts(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(target)
}

fn usage() -> ! {
    eprintln!(
        "usage: stable TARGET SECONDS [SEED] | stable TARGET --replay FILE... | \
         stable TARGET --write-seeds DIR\ntargets: {}",
        pact_fuzz::TARGETS.join(", ")
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(target) = args.first().cloned() else {
        usage()
    };
    if !pact_fuzz::TARGETS.contains(&target.as_str()) {
        usage()
    }
    // Panics are findings: keep their messages and locations, print nothing by default.
    let last_panic = Arc::new(Mutex::new(String::new()));
    let sink = last_panic.clone();
    std::panic::set_hook(Box::new(move |info| {
        *sink.lock().unwrap_or_else(|p| p.into_inner()) = info.to_string();
    }));
    let run_one = |data: &[u8]| -> Result<String, String> {
        catch_unwind(AssertUnwindSafe(|| {
            pact_fuzz::run(&target, data).unwrap_or_default()
        }))
        .map_err(|_| last_panic.lock().unwrap_or_else(|p| p.into_inner()).clone())
    };

    if args.get(1).map(String::as_str) == Some("--write-seeds") {
        let Some(dir) = args.get(2) else { usage() };
        std::fs::create_dir_all(dir).expect("create the seed directory");
        for seed in pact_fuzz::seeds(&target) {
            let file = PathBuf::from(dir).join(format!("seed-{:016x}", hash(&seed)));
            std::fs::write(&file, &seed).expect("write a seed");
        }
        return;
    }
    if args.get(1).map(String::as_str) == Some("--replay") {
        let mut failed = false;
        for file in &args[2..] {
            let data = std::fs::read(file).unwrap_or_else(|e| {
                eprintln!("{file}: {e}");
                std::process::exit(2)
            });
            match run_one(&data) {
                Ok(outcome) => println!("{file}: {outcome}"),
                Err(panic) => {
                    println!("{file}: PANIC {panic}");
                    failed = true;
                }
            }
        }
        std::process::exit(i32::from(failed));
    }

    let Some(seconds) = args.get(1).and_then(|s| s.parse::<f64>().ok()) else {
        usage()
    };
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut rng = SplitMix(seed);
    let mut pool = pact_fuzz::seeds(&target);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut crashes: BTreeSet<String> = BTreeSet::new();
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut runs = 0u64;
    let mut inputs: Vec<Vec<u8>> = pool.clone();
    while start.elapsed() < budget {
        let data = match inputs.pop() {
            Some(d) => d,
            None if pool.is_empty() || rng.below(20) == 0 => {
                let n = rng.below(4096);
                (0..n).map(|_| rng.next() as u8).collect()
            }
            None => {
                let base = pool[rng.below(pool.len())].clone();
                mutate(&mut rng, &base, &pool)
            }
        };
        runs += 1;
        match run_one(&data) {
            Ok(outcome) => {
                let seen = outcomes.entry(outcome).or_insert(0);
                *seen += 1;
                if *seen == 1 && pool.len() < 4096 {
                    pool.push(data);
                }
            }
            Err(panic) => {
                // One report per panic location.
                let location = panic.lines().next().unwrap_or("").to_string();
                if crashes.insert(location) {
                    let dir = artifacts(&target);
                    std::fs::create_dir_all(&dir).ok();
                    let file = dir.join(format!("crash-{:016x}", hash(&data)));
                    std::fs::write(&file, &data).ok();
                    println!(
                        "CRASH {target}: {panic}\n  input ({} bytes) saved to {}",
                        data.len(),
                        file.display()
                    );
                }
            }
        }
    }
    println!(
        "{target}: {runs} inputs in {:.0}s (seed {seed}), {} distinct outcomes, {} crashes",
        start.elapsed().as_secs_f64(),
        outcomes.len(),
        crashes.len()
    );
    let mut common: Vec<(&String, &u64)> = outcomes.iter().collect();
    common.sort_by(|a, b| b.1.cmp(a.1));
    for (outcome, n) in common.iter().take(8) {
        println!("  {n:>9}  {outcome}");
    }
    std::process::exit(i32::from(!crashes.is_empty()));
}
