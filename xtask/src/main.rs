//! Project automation, so CI and developers run the same steps:
//! `cargo xtask test` runs the whole test suite, `cargo xtask ci` adds the
//! format and lint gates in front of it.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

const USAGE: &str = "usage: cargo xtask <test|ci|sdks>
  test  install the official QStash SDKs (pinned) if missing, then run every
        test (needs redis-server, node, python3, chromium and chromedriver
        on PATH)
  ci    cargo fmt --check, clippy and docs with -D warnings, then test
  sdks  only install the official QStash SDKs used by the compatibility tests";

/// Where the compatibility suites keep the official SDKs they drive.
const JS_SDK_DIR: &str = "tests/sdk/js";
const PY_SDK_DIR: &str = "tests/sdk/py";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("test") => test(),
        Some("ci") => ci(),
        Some("sdks") => install_sdks(),
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
    docs()?;
    test()
}

/// Every crate's documentation builds without warnings (broken links,
/// stray HTML), so `cargo doc` stays usable.
fn docs() -> anyhow::Result<()> {
    eprintln!("xtask: RUSTDOCFLAGS=-D warnings cargo doc --no-deps --workspace");
    let status = Command::new("cargo")
        .args(["doc", "--no-deps", "--workspace", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .context("starting cargo doc")?;
    if !status.success() {
        bail!("cargo doc failed ({status})");
    }
    Ok(())
}

fn test() -> anyhow::Result<()> {
    require(
        "redis-server",
        "install it (Debian: apt-get install redis-server)",
    )?;
    require(
        "chromedriver",
        "the console's browser tests need it (Debian: apt-get install chromium chromium-driver)",
    )?;
    install_sdks()?;
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

/// Installs the pinned JS and Python SDKs from their lock files, once.
fn install_sdks() -> anyhow::Result<()> {
    require(
        "node",
        "install Node.js 20 (Debian: apt-get install nodejs npm)",
    )?;
    require(
        "python3",
        "install Python 3.11 (Debian: apt-get install python3 python3-venv)",
    )?;
    if !Path::new(JS_SDK_DIR)
        .join("node_modules/@upstash/workflow")
        .exists()
    {
        run_in(JS_SDK_DIR, "npm", &["ci", "--no-audit", "--no-fund"])?;
    }
    let venv = Path::new(PY_SDK_DIR).join(".venv");
    if !venv.join("bin").join("python").exists() {
        run_in(PY_SDK_DIR, "python3", &["-m", "venv", ".venv"])?;
    }
    // Also installs what requirements.txt adds to an existing venv; when
    // nothing changed, pip only checks the installed versions.
    run_in(
        PY_SDK_DIR,
        ".venv/bin/pip",
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "requirements.txt",
        ],
    )?;
    Ok(())
}

fn run_in(dir: &str, program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("xtask: (in {dir}) {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("starting {program} in {dir}"))?;
    if !status.success() {
        bail!("{program} {} in {dir} failed ({status})", args.join(" "));
    }
    Ok(())
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
