//! The `ferry` binary as a library, so integration tests can build the exact
//! same program and drive it as a child process.
//!
//! **Invariant:** operator commands talk to the gateway over HTTP through
//! `ferry-sdk`, never to Redis; only the server commands open the store,
//! and `ferry bench --baseline`, whose raw-Redis pipeline lives in
//! `ferry_store::baseline` so key names stay in that crate.

pub mod bench;
pub mod cli;
pub mod config;
pub mod dev;
pub mod ops;
pub mod server;
mod signal;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, EXIT_BAD_CONFIG, TokensCommand};

/// Parses the command line and runs the command; the process exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    if let Some((roles, args)) = cli.command.roles() {
        let config = match config::load(args.config.as_deref(), &environment()) {
            Ok(config) => config,
            Err(e) => return bad_config(&e),
        };
        telemetry::init(&config.log);
        return report(server::run(config, roles).await);
    }
    match cli.command {
        Command::Dev(args) => {
            let config = match dev::config(&args, &environment()) {
                Ok(config) => config,
                Err(e) => return bad_config(&e),
            };
            telemetry::init(&config.log);
            report(dev::run(&args, config).await)
        }
        Command::Ops(cmd) => report(ops::run(&cli.ops, cmd).await),
        Command::Bench(args) => bench::run(&cli.ops, *args).await,
        Command::Tokens(TokensCommand::New) => {
            let (token, digest) = config::generate_token();
            println!("token:        {token}");
            println!("token_sha256: {digest}");
            eprintln!("keep the token secret; put only token_sha256 in the configuration");
            ExitCode::SUCCESS
        }
        // Handled above, before the match.
        Command::Serve(_) | Command::Gateway(_) | Command::Deliver(_) => ExitCode::SUCCESS,
    }
}

/// The process environment as UTF-8 pairs. Variables that are not UTF-8
/// cannot be Ferry settings; they are skipped rather than panicking as
/// `std::env::vars` would.
fn environment() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn bad_config(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: invalid configuration: {e:#}");
    ExitCode::from(EXIT_BAD_CONFIG)
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
