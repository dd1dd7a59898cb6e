//! Project automation, so CI and developers run the same steps:
//! `cargo xtask test` runs the whole test suite, `cargo xtask ci` adds the
//! format and lint gates in front of it.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask <test|ci>
  test  run every test (needs redis-server on PATH; tests start their own)
  ci    cargo fmt --check, clippy with -D warnings, then test";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("test") => test(),
        Some("ci") => ci(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> anyhow::Result<()> {
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    test()
}

fn test() -> anyhow::Result<()> {
    require(
        "redis-server",
        "install it (Debian: apt-get install redis-server)",
    )?;
    if has_nextest() {
        run(
            "cargo",
            &[
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ],
        )
    } else {
        run(
            "cargo",
            &["test", "--workspace", "--locked", "--no-fail-fast"],
        )
    }
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn require(program: &str, hint: &str) -> anyhow::Result<()> {
    let found = Command::new(program).arg("--version").output().is_ok();
    if !found {
        bail!("{program} not found on PATH: {hint}; the integration tests never skip");
    }
    Ok(())
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("xtask: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("{program} {} failed ({status})", args.join(" "));
    }
    Ok(())
}
