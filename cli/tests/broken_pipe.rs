//! Output to a pipe whose reader has gone (`pact bench | head -1`) ends `pact` quietly, by
//! SIGPIPE as it ends other command-line tools, instead of a panic in `println!`.

#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_pact_without_a_panic() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(["bench", "--batch", "2", "--steps", "1", "--threads", "1"])
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pact");
    // The reader goes before `pact` has printed anything: its first line meets a closed pipe.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait for pact");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        status.signal(),
        Some(13),
        "ended by SIGPIPE: {status:?}, {stderr}"
    );
}
