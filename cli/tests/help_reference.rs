//! `docs/reference/cli.md` is generated from `pact … --help`: this test regenerates it from the
//! binary and fails if the file differs. Set `PACT_BLESS=1` to rewrite the file instead:
//!
//! ```text
//! PACT_BLESS=1 cargo test -p pact-cli --test help_reference
//! ```
//!
//! The commands are found by walking the "Commands:" sections of the help texts (`pact
//! --help`, then each command's own), so a new command or subcommand appears here without
//! changes to this test.

use std::path::PathBuf;
use std::process::Command;

const BLESS_HINT: &str = "PACT_BLESS=1 cargo test -p pact-cli --test help_reference";

fn reference_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/reference/cli.md")
}

/// `pact ARGS --help`, as plain text at the default width (no colours, no terminal).
fn help(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("CLICOLOR")
        .env("COLUMNS", "100")
        .output()
        .expect("run pact");
    assert!(
        out.status.success(),
        "pact {} --help failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("help is UTF-8");
    // Trailing spaces depend on clap's padding; they carry no meaning and Markdown editors
    // strip them.
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// The subcommands a help text lists under "Commands:" (without clap's own `help`).
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut lines = help.lines().skip_while(|l| l.trim() != "Commands:");
    lines.next();
    for line in lines {
        if line.trim().is_empty() {
            break;
        }
        // A command starts at a two-space indent; description continuations are deeper.
        if line.starts_with("  ") && !line.starts_with("   ") {
            let name = line.split_whitespace().next().unwrap_or_default();
            if name != "help" {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// Appends the section of `pact PATH` and of its subcommands, depth first.
fn document(path: &[String], out: &mut String) {
    let text = help(path);
    let title = std::iter::once("pact")
        .chain(path.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    out.push_str(&format!(
        "\n## `{title}`\n\n```text\n$ {title} --help\n{text}\n```\n"
    ));
    for sub in subcommands(&text) {
        let mut next = path.to_vec();
        next.push(sub);
        document(&next, out);
    }
}

fn generate() -> String {
    let mut body = String::new();
    document(&[], &mut body);
    let mut index = String::new();
    for line in body.lines().filter(|l| l.starts_with("## `")) {
        let title = line.trim_start_matches("## ").trim_matches('`');
        let anchor: String = title
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        let depth = title.split(' ').count().saturating_sub(2);
        index.push_str(&format!("{}- [`{title}`](#{anchor})\n", "  ".repeat(depth)));
    }
    format!(
        "# Command-line reference\n\n\
         <!-- Generated from `pact … --help` by cli/tests/help_reference.rs; do not edit by hand.\n     \
         Regenerate with: {BLESS_HINT} -->\n\n\
         Every command and subcommand of `pact`, with its `--help` text. Settings of\n\
         `pact train` can also come from a TOML file: [config.md](config.md); data specs\n\
         (`--data`) are described in [data.md](data.md).\n\n\
         {index}{body}"
    )
}

#[test]
fn cli_reference_matches_help() {
    let generated = generate();
    let path = reference_path();
    if std::env::var("PACT_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current.replace("\r\n", "\n") == generated {
        return;
    }
    let first_difference = current
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("line {}:\n  file:      {a}\n  generated: {b}", i + 1))
        .unwrap_or_else(|| {
            format!(
                "the file has {} lines, the help texts make {}",
                current.lines().count(),
                generated.lines().count()
            )
        });
    panic!(
        "docs/reference/cli.md is out of date with `pact --help` (a flag, command or help text \
         changed).\nFirst difference at {first_difference}\nRegenerate it with:\n    {BLESS_HINT}\n\
         and commit the result."
    );
}

#[test]
fn every_command_is_documented() {
    let top = help(&[]);
    let commands = subcommands(&top);
    for expected in ["demo", "train", "eval", "compare", "plot", "bench"] {
        assert!(
            commands.iter().any(|c| c == expected),
            "`pact --help` does not list `{expected}`; found {commands:?}"
        );
    }
    let plots = subcommands(&help(&["plot".to_string()]));
    for expected in ["halting", "histogram", "tradeoff", "training"] {
        assert!(
            plots.iter().any(|c| c == expected),
            "`pact plot --help` does not list `{expected}`; found {plots:?}"
        );
    }
}
