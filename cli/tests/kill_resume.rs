//! A run killed mid-training leaves its last checkpoint readable, and `--resume` finishes it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn killed_run_resumes_from_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    let args = [
        "train",
        "--model",
        "pact-resnet",
        "--data",
        "shapes:256:8",
        "--units",
        "2",
        "--epochs",
        "400",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "2",
        "--out",
        &out,
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pact");
    let ckpt = dir.path().join("last.safetensors");
    let start = Instant::now();
    // Wait for a few checkpoints, then kill the process without warning (SIGKILL).
    while start.elapsed() < Duration::from_secs(120) {
        if ckpt.exists() && start.elapsed() > Duration::from_millis(1500) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill pact");
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run finished before it could be killed"
    );
    assert!(ckpt.exists(), "no checkpoint was written");
    // The checkpoint is complete and readable (a temporary file may remain beside it if the
    // kill came mid-write; the rename makes the checkpoint itself all-or-nothing).
    let eval = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args([
            "eval",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--data",
            "shapes:32:8",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    // The checkpoint says how far the run got; resume it for one more epoch beyond that.
    let ckpt_data = pact::nn::checkpoint::load(&ckpt, pact::Device::Cpu).unwrap();
    let step: u64 = ckpt_data.metadata["step"].parse().unwrap();
    assert!(step >= 2 && step % 2 == 0, "checkpoint at step {step}");
    let epochs = step / 16 + 2;
    let epochs_text = epochs.to_string();
    let mut resume_args = args.to_vec();
    resume_args[8] = &epochs_text;
    resume_args.push("--resume");
    let resumed = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(&resume_args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&resumed.stdout).into_owned();
    assert!(
        resumed.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        stdout.contains(&format!("trained {} steps", epochs * 16)),
        "{stdout}"
    );
}

#[test]
fn kills_at_any_moment_leave_a_readable_checkpoint() {
    // A checkpoint after every step, so that the kills often land mid-write; each kill
    // comes at another moment, and every run resumes from the one before.
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("last.safetensors");
    let mut last_step = 0;
    for (round, delay_ms) in [150u64, 420, 700, 990, 1230].into_iter().enumerate() {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pact"))
            .args([
                "train",
                "--model",
                "pact-resnet",
                "--data",
                "shapes:256:8",
                "--units",
                "1",
                "--epochs",
                "400",
                "--batch-size",
                "8",
                "--checkpoint-every",
                "1",
                "--out",
            ])
            .arg(dir.path())
            .args(if round > 0 { vec!["--resume"] } else { vec![] })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pact");
        // Wait for this run's first checkpoint, then a little more, then SIGKILL.
        let start = Instant::now();
        let step_now = || {
            pact::nn::checkpoint::load(&ckpt, pact::Device::Cpu)
                .ok()
                .and_then(|c| c.metadata["step"].parse::<u64>().ok())
                .unwrap_or(0)
        };
        while start.elapsed() < Duration::from_secs(120) && step_now() <= last_step {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().expect("kill pact");
        assert!(!child.wait().unwrap().success(), "round {round}: finished");
        // Whatever the moment, the checkpoint is whole and at least as far as before.
        let saved = pact::nn::checkpoint::load(&ckpt, pact::Device::Cpu)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let step: u64 = saved.metadata["step"].parse().unwrap();
        assert!(
            step > last_step,
            "round {round}: step {step} after {last_step}"
        );
        last_step = step;
    }
}

/// Starts a long training run into `out`, waits until it has trained a little, sends it
/// `signal` (as `kill -SIGNAL` would) and returns its stdout after it exits cleanly.
fn interrupt_training(out: &std::path::Path, signal: &str) -> String {
    let child = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(INTERRUPTED_RUN)
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pact");
    // Let it train a little (its log appears once the first steps are done), then signal.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) && !out.join("log.jsonl").exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let done = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "{signal}: {stdout}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    stdout
}

/// A run of 400 epochs that checkpoints only at the end, unless interrupted; `--out` last.
const INTERRUPTED_RUN: &[&str] = &[
    "train",
    "--model",
    "act-resnet",
    "--data",
    "shapes:256:8",
    "--units",
    "2",
    "--epochs",
    "400",
    "--batch-size",
    "16",
    "--checkpoint-every",
    "100000",
    "--out",
];

/// The step of an interrupted run's report, `interrupted at step N; ...`.
fn interrupted_step(stdout: &str) -> u64 {
    let rest = stdout
        .split("interrupted at step ")
        .nth(1)
        .unwrap_or_else(|| panic!("not interrupted: {stdout}"));
    rest.split(';').next().unwrap().trim().parse().unwrap()
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = interrupt_training(dir.path(), "-INT");
    let step = interrupted_step(&stdout);
    assert!(
        stdout.contains("continue with the same command and --resume"),
        "{stdout}"
    );
    // The checkpoint interval was never reached: the one checkpoint is the Ctrl-C one, at
    // the step the run reports.
    let ckpt = dir.path().join("last.safetensors");
    let saved = pact::nn::checkpoint::load(&ckpt, pact::Device::Cpu).unwrap();
    assert_eq!(saved.metadata["step"], step.to_string());
    assert!(step >= 1, "{stdout}");
    // `--resume` continues from it: one more epoch beyond the interrupted one.
    let epochs = (step / 16 + 1).to_string();
    let mut args = INTERRUPTED_RUN.to_vec();
    args[8] = &epochs;
    let resumed = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(&args)
        .arg(dir.path())
        .arg("--resume")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&resumed.stdout);
    assert!(
        resumed.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let total = (step / 16 + 1) * 16;
    assert!(out.contains(&format!("trained {total} steps")), "{out}");
}

#[test]
fn sigterm_is_handled_like_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = interrupt_training(dir.path(), "-TERM");
    let step = interrupted_step(&stdout);
    let saved =
        pact::nn::checkpoint::load(dir.path().join("last.safetensors"), pact::Device::Cpu).unwrap();
    assert_eq!(saved.metadata["step"], step.to_string());
}
