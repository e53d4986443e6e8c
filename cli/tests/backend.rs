//! `--backend`: parsed before any command runs; asking for ArrayFire from a pact built
//! without it says how to enable it.

use std::process::Command;

fn pact(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

#[cfg(not(feature = "arrayfire"))]
#[test]
fn arrayfire_without_the_feature_is_a_usage_error_that_says_how_to_enable_it() {
    for spec in ["arrayfire", "arrayfire:cuda", "arrayfire:opencl:1"] {
        for args in [
            vec!["--backend", spec, "demo", "--quick"],
            vec!["bench", "--backend", spec, "--steps", "1"],
        ] {
            let out = pact(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(
                stderr.contains(
                    "this pact was built without ArrayFire; rebuild with \
                     `cargo build --release --features arrayfire` (see docs/gpu.md)"
                ),
                "{args:?}: {stderr}"
            );
            assert!(out.stdout.is_empty(), "{args:?}: nothing may run");
        }
    }
}

#[test]
fn unknown_backends_are_usage_errors() {
    let out = pact(&["--backend", "tpu", "demo", "--quick"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("tpu") && stderr.contains("arrayfire[:cuda|opencl|cpu]"),
        "{stderr}"
    );
}

#[test]
fn the_backend_flag_is_listed_in_help() {
    let out = pact(&["--help"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("--backend <BACKEND>"), "{stdout}");
}
