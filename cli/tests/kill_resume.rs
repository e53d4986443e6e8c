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
fn ctrl_c_saves_a_checkpoint_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args([
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
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pact");
    // Let it train a little (its log appears once the first steps are done), then Ctrl-C.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) && !dir.path().join("log.jsonl").exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("interrupted at step"), "{stdout}");
    // The checkpoint interval was never reached: the one checkpoint is the Ctrl-C one.
    assert!(dir.path().join("last.safetensors").exists());
}
