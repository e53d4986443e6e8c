//! `pact` under `mpirun` (Open MPI; built with `--features mpi`): data-parallel training on
//! K = 1, 2 and 3 ranks ends where one process does, up to the order of floating-point sums
//! (stated below); a run checkpointed by K ranks resumes with another K; a killed rank stops
//! the job within a bounded time, naming it, and its last checkpoint resumes; ranks started
//! with different settings, data or binaries are refused; `pact sweep` shares a grid among
//! ranks. Tiny shapes; ranks oversubscribe the cores.
#![cfg(feature = "mpi")]

use pact::nn::checkpoint;
use pact::Device;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The largest difference allowed between the parameters (and optimiser state) of a K-rank
/// run and one process after the 8 steps below, relative to the value (absolute below 1).
/// Sums over ranks add the same terms in another order (gradients summed per rank in `f32`,
/// batch-norm sums in `f64`, as the fused kernel does); the largest difference measured was
/// 1.6e-6. Over many more steps the runs drift apart, as runs with any other order of sums
/// do: once the parameters differ in the last digit, an activation within that distance of
/// a leaky ReLU's kink takes the other slope (docs/distributed.md).
const TOLERANCE: f64 = 1e-5;

fn pact() -> &'static str {
    env!("CARGO_BIN_EXE_pact")
}

/// Whether this process runs as root (Open MPI then wants `--allow-run-as-root`).
fn as_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

/// `mpirun` allowed more ranks than cores (and to run as root, when it is).
fn mpirun_any() -> Command {
    let mut c = Command::new("mpirun");
    c.arg("--oversubscribe");
    if as_root() {
        c.arg("--allow-run-as-root");
    }
    // Containers often forbid the cross-memory attach of Open MPI's shared-memory transport.
    c.env("OMPI_MCA_btl_vader_single_copy_mechanism", "none");
    c
}

/// `mpirun` with `ranks` processes.
fn mpirun(ranks: usize) -> Command {
    let mut c = mpirun_any();
    c.args(["-np", &ranks.to_string()]);
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    let t = text(&out);
    assert!(out.status.success(), "failed:\n{t}");
    t
}

/// A PACT ResNet on 36 augmented 8×8 shapes, batches of 10 (the last of each epoch has 6):
/// 4 steps per epoch.
fn train_args(out: &Path, epochs: usize) -> Vec<String> {
    [
        "train",
        "--model",
        "pact-resnet",
        "--data",
        "shapes:36:8",
        "--units",
        "2",
        "--epochs",
        &epochs.to_string(),
        "--batch-size",
        "10",
        "--augment",
        "--schedule",
        "constant",
        "--penalty-warmup",
        "0",
        "--lr",
        "0.05",
        "--checkpoint-every",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Every parameter and buffer of a checkpoint, by name (optimiser state too).
fn tensors(path: &Path) -> Vec<(String, Vec<f64>)> {
    let ckpt = checkpoint::load(path, Device::Cpu).unwrap();
    ckpt.tensors
        .into_iter()
        .map(|(n, t)| (n, t.to_f64_vec()))
        .collect()
}

fn assert_close(got: &Path, want: &Path) {
    let (got, want) = (tensors(got), tensors(want));
    assert_eq!(got.len(), want.len());
    let mut worst = 0.0f64;
    for ((name, g), (wname, w)) in got.iter().zip(&want) {
        assert_eq!(name, wname);
        for (a, b) in g.iter().zip(w) {
            let d = (a - b).abs() / b.abs().max(1.0);
            worst = worst.max(d);
            assert!(
                d <= TOLERANCE,
                "{name}: {a} on the ranks, {b} in one process"
            );
        }
    }
    eprintln!("largest relative difference {worst:.2e}");
}

fn step_of(path: &Path) -> u64 {
    let ckpt = checkpoint::load(path, Device::Cpu).unwrap();
    ckpt.metadata["step"].parse().unwrap()
}

#[test]
fn one_two_and_three_ranks_train_as_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let alone = dir.path().join("alone");
    ok(Command::new(pact())
        .args(train_args(&alone, 2))
        .output()
        .unwrap());
    for k in 1..=3 {
        let out = dir.path().join(format!("k{k}"));
        let t = ok(mpirun(k)
            .arg(pact())
            .args(train_args(&out, 2))
            .output()
            .unwrap());
        if k > 1 {
            assert!(t.contains(&format!("{k} processes")), "{t}");
        }
        let ckpt = out.join("last.safetensors");
        assert_eq!(step_of(&ckpt), 8);
        if k == 1 {
            // One rank computes exactly what one process does.
            assert_eq!(tensors(&ckpt), tensors(&alone.join("last.safetensors")));
        }
        assert_close(&ckpt, &alone.join("last.safetensors"));
        let log = std::fs::read_to_string(out.join("log.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 8);
    }
}

#[test]
fn a_run_checkpointed_by_two_ranks_continues_on_three() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    ok(Command::new(pact())
        .args(train_args(&straight, 2))
        .output()
        .unwrap());
    let split = dir.path().join("split");
    ok(mpirun(2)
        .arg(pact())
        .args(train_args(&split, 1))
        .output()
        .unwrap());
    assert_eq!(step_of(&split.join("last.safetensors")), 4);
    let mut resume = train_args(&split, 2);
    resume.push("--resume".into());
    ok(mpirun(3).arg(pact()).args(&resume).output().unwrap());
    assert_close(
        &split.join("last.safetensors"),
        &straight.join("last.safetensors"),
    );
}

/// The pid of the rank `rank` of the `pact` job writing to `out`, from /proc.
fn rank_pid(out: &Path, rank: usize) -> Option<u32> {
    let needle = out.to_str().unwrap();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.contains(needle) || !cmdline.starts_with(pact()) {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
        if environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_killed_rank_stops_the_job_and_the_run_resumes_on_another_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = train_args(&out, 400);
    args.splice(
        args.iter().position(|a| a == "--checkpoint-every").unwrap() + 1..,
        [
            "2".to_string(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ],
    );
    let child = mpirun(2)
        .arg(pact())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ckpt = out.join("last.safetensors");
    let start = Instant::now();
    while !(ckpt.exists() && step_of(&ckpt) >= 4) {
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = rank_pid(&out, 1).expect("rank 1 of the job");
    let killed = Instant::now();
    Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let result = child.wait_with_output().unwrap();
    let stopped_in = killed.elapsed();
    let t = text(&result);
    assert!(!result.status.success(), "{t}");
    assert!(stopped_in < Duration::from_secs(60), "took {stopped_in:?}");
    assert!(t.contains("rank 1"), "the error does not name rank 1:\n{t}");
    // The last checkpoint is whole and the run resumes on one rank and then on three.
    let at = step_of(&ckpt);
    assert!(at >= 4);
    // Continue from wherever the kill left it to the end of the next epoch (4 steps each),
    // in one process, then one epoch more on three ranks.
    let epochs = at as usize / 4 + 1;
    let mut resume = train_args(&out, epochs);
    resume.push("--resume".into());
    ok(Command::new(pact()).args(&resume).output().unwrap());
    assert_eq!(step_of(&ckpt), 4 * epochs as u64);
    let mut longer = train_args(&out, epochs + 1);
    longer.push("--resume".into());
    ok(mpirun(3).arg(pact()).args(&longer).output().unwrap());
    assert_eq!(step_of(&ckpt), 4 * (epochs + 1) as u64);
}

#[test]
fn ranks_started_with_other_settings_are_refused_with_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut other = train_args(&out, 2);
    let lr = other.iter().position(|a| a == "--lr").unwrap();
    other[lr + 1] = "0.07".into();
    let result = mpirun_any()
        .args(["-np", "1", pact()])
        .args(train_args(&out, 2))
        .args([":", "-np", "1", pact()])
        .args(&other)
        .output()
        .unwrap();
    let t = text(&result);
    assert!(!result.status.success(), "{t}");
    assert!(
        t.contains("setting lr: 0.05 on rank 0, 0.07 on rank 1"),
        "{t}"
    );
    assert!(!out.join("last.safetensors").exists());
}

#[test]
fn ranks_running_another_binary_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The same program with one more byte at the end: another build, as far as pact can tell.
    let copy = dir.path().join("pact-copy");
    let mut bytes = std::fs::read(pact()).unwrap();
    bytes.push(0);
    std::fs::write(&copy, bytes).unwrap();
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = dir.path().join("run");
    let result = mpirun_any()
        .args(["-np", "1", pact()])
        .args(train_args(&out, 2))
        .args([":", "-np", "1", copy.to_str().unwrap()])
        .args(train_args(&out, 2))
        .output()
        .unwrap();
    let t = text(&result);
    assert!(!result.status.success(), "{t}");
    assert!(t.contains("binary: pact"), "{t}");
}

/// A CSV data set of 20 one-channel 4×4 images; `shift` changes its pixels.
fn csv(dir: &Path, shift: f32) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    for i in 0..20 {
        let pixels: Vec<String> = (0..16)
            .map(|p| format!("{}", ((i * 7 + p) % 11) as f32 / 11.0 + shift))
            .collect();
        text.push_str(&format!("{},{}\n", pixels.join(","), i % 2));
    }
    let path = dir.join("data.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn ranks_reading_other_data_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // The same relative path, read from two working directories with different files.
    csv(&dir.path().join("a"), 0.0);
    csv(&dir.path().join("b"), 0.5);
    let out = dir.path().join("run");
    let args = [
        "train",
        "--model",
        "resnet",
        "--data",
        "csv:data.csv:1x4x4",
        "--units",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--out",
        out.to_str().unwrap(),
    ];
    let result = mpirun_any()
        .args([
            "-np",
            "1",
            "--wdir",
            dir.path().join("a").to_str().unwrap(),
            pact(),
        ])
        .args(args)
        .args([
            ":",
            "-np",
            "1",
            "--wdir",
            dir.path().join("b").to_str().unwrap(),
            pact(),
        ])
        .args(args)
        .output()
        .unwrap();
    let t = text(&result);
    assert!(!result.status.success(), "{t}");
    assert!(t.contains("data: 20 images 1x4x4"), "{t}");
    assert!(!t.contains("\n  setting"), "only the data differs:\n{t}");
}

#[test]
fn a_sweep_shares_its_grid_among_ranks_and_records_failures() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("grid.toml");
    std::fs::write(
        &grid,
        r#"
        runs = "runs"
        seeds = [0, 1]
        [train]
        data = "shapes:32:8"
        units = 1
        epochs = 1
        batch_size = 16
        [[setting]]
        name = "pact-{lambda}"
        model = "pact-resnet"
        lambda = [0.1, 0.3]
        [[setting]]
        name = "broken"
        model = "resnet"
        data = "csv:missing.csv:1x8x8"
        "#,
    )
    .unwrap();
    let t = ok(mpirun(2)
        .arg(pact())
        .args(["sweep", grid.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(t.contains("6 runs, 0 recorded, 6 to run"), "{t}");
    assert!(t.contains("4 runs done, 2 failed"), "{t}");
    // Both ranks ran some of them.
    assert!(t.contains("[rank 0]") && t.contains("[rank 1]"), "{t}");
    for setting in ["pact-0.1", "pact-0.3"] {
        for seed in [0, 1] {
            let record = dir.path().join(setting).join(format!("seed-{seed}.json"));
            let r: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
            assert_eq!(r["setting"], setting);
            assert_eq!(r["seed"], seed);
            assert_eq!(r["model"], "pact-resnet");
            assert_eq!(r["train_steps"], 2);
        }
    }
    let failed = dir.path().join("broken/seed-0.failed");
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(failed).unwrap()).unwrap();
    assert!(f["error"].as_str().unwrap().contains("missing.csv"), "{f}");
    // Again: only the failed runs are tried.
    let t = ok(mpirun(2)
        .arg(pact())
        .args(["sweep", grid.to_str().unwrap()])
        .output()
        .unwrap());
    assert!(t.contains("6 runs, 4 recorded, 2 to run"), "{t}");
}

#[test]
fn a_stop_request_to_one_rank_stops_every_rank_at_the_same_step_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = train_args(&out, 400);
    let every = args.iter().position(|a| a == "--checkpoint-every").unwrap();
    args[every + 1] = "1000".into();
    let child = mpirun(2)
        .arg(pact())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for training to be under way (the log grows), then send SIGTERM (what SLURM
    // sends every task at the time limit) to rank 1 alone.
    let log = out.join("log.jsonl");
    let start = Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |l| l.lines().count()) < 5 {
        assert!(start.elapsed() < Duration::from_secs(300), "no training");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = rank_pid(&out, 1).expect("rank 1 of the job");
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let result = child.wait_with_output().unwrap();
    let t = text(&result);
    assert!(result.status.success(), "{t}");
    let at: u64 = t
        .split("interrupted at step ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no interruption reported:\n{t}"));
    // No periodic checkpoint was due: rank 0 wrote this one when every rank stopped.
    assert_eq!(step_of(&out.join("last.safetensors")), at);
}

/// A pondering RNN on parity:4, batches of 12 sequences: PACT draws Concrete noise per
/// sequence, ACT's rule stops when every sequence on every rank has halted.
fn recurrent_args(model: &str, out: &Path) -> Vec<String> {
    [
        "train",
        "--model",
        model,
        "--data",
        "parity:4",
        "--steps",
        "6",
        "--batch-size",
        "12",
        "--hidden",
        "8",
        "--checkpoint-every",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn recurrent_models_train_on_two_and_three_ranks_as_one_process() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["pact-rnn", "act-lstm"] {
        let alone = dir.path().join(format!("{model}-alone"));
        ok(Command::new(pact())
            .args(recurrent_args(model, &alone))
            .output()
            .unwrap());
        for k in [2, 3] {
            let out = dir.path().join(format!("{model}-k{k}"));
            let t = ok(mpirun(k)
                .arg(pact())
                .args(recurrent_args(model, &out))
                .output()
                .unwrap());
            assert!(t.contains(&format!("{k} processes")), "{t}");
            let ckpt = out.join("last.safetensors");
            assert_eq!(step_of(&ckpt), 6);
            assert_close(&ckpt, &alone.join("last.safetensors"));
        }
    }
}
