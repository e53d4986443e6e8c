//! Bad data reaches the user as one line naming the file and the problem, and a non-zero exit.

use std::process::Command;

fn train_on(data: &str, out: &std::path::Path) -> (bool, String) {
    let run = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args([
            "train", "--model", "resnet", "--units", "1", "--epochs", "1", "--data", data, "--out",
        ])
        .arg(out)
        .output()
        .expect("run pact");
    (
        run.status.success(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    )
}

#[test]
fn missing_and_corrupt_data_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let missing = dir.path().join("no-cifar");
    std::fs::create_dir_all(&missing).unwrap();

    // CIFAR-10 without its files: where to put which files.
    let (ok, err) = train_on(&format!("cifar10:{}", missing.display()), &out);
    assert!(!ok);
    assert!(
        err.contains("data_batch_1.bin") && err.contains(&missing.display().to_string()),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A truncated CIFAR-10 batch: the file is named.
    let cifar = dir.path().join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    for i in 1..=5 {
        std::fs::write(
            cifar.join(format!("data_batch_{i}.bin")),
            vec![0u8; 3073 + 10],
        )
        .unwrap();
    }
    let (ok, err) = train_on(&format!("cifar10:{}", cifar.display()), &out);
    assert!(!ok);
    assert!(err.contains("data_batch_1.bin"), "{err}");

    // MNIST without files.
    let (ok, err) = train_on(&format!("mnist:{}", missing.display()), &out);
    assert!(!ok);
    assert!(err.contains("train-images-idx3-ubyte"), "{err}");

    // Fashion-MNIST without files: which package installs them.
    let (ok, err) = train_on(&format!("fashion-mnist:{}", missing.display()), &out);
    assert!(!ok);
    assert!(
        err.contains("Fashion-MNIST") && err.contains("apt-get install dataset-fashion-mnist"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // CSV: a non-numeric cell names the line; a NaN pixel is rejected; a shape mismatch too.
    let csv = dir.path().join("images.csv");
    std::fs::write(&csv, "0,0,0,0,1\n0,x,0,0,0\n").unwrap();
    let (ok, err) = train_on(&format!("csv:{}:1x2x2", csv.display()), &out);
    assert!(!ok);
    assert!(
        err.contains("images.csv") && err.contains("line 2"),
        "{err}"
    );
    std::fs::write(&csv, "0,NaN,0,0,1\n").unwrap();
    let (ok, err) = train_on(&format!("csv:{}:1x2x2", csv.display()), &out);
    assert!(!ok);
    assert!(err.contains("images.csv"), "{err}");
    std::fs::write(&csv, "0,0,0,1\n").unwrap();
    let (ok, err) = train_on(&format!("csv:{}:1x2x2", csv.display()), &out);
    assert!(!ok);
    assert!(err.contains("images.csv"), "{err}");
    let (ok, err) = train_on(&format!("csv:{}:1x2", csv.display()), &out);
    assert!(!ok);
    assert!(err.contains("1x2"), "{err}");
}
