//! The command line: what each subcommand does, and the dispatch to it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ops::{OpsArgs, OpsCommand};
use crate::server::Roles;

/// Exit status for a configuration that cannot work (sysexits EX_USAGE).
pub const EXIT_BAD_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Ferry: a self-hosted, QStash-compatible message relay for serverless functions",
    long_about = "Ferry accepts messages over HTTP (the QStash v2 API, so the official \
                  @upstash/qstash and qstash SDKs work by changing the base URL and token), \
                  stores them in Redis streams, and delivers each one to its destination as \
                  a signed request, with retries and a dead-letter queue.\n\n\
                  Try it with `ferry dev` (no Redis needed); run it in production with \
                  `ferry serve --config ferry.toml`; operate it with the \
                  publish, dlq, messages, keys, topics, queues, schedules, flow-control, logs and workflows \
                  commands, which talk to a running \
                  gateway (set FERRY_URL and FERRY_TOKEN)."
)]
pub struct Cli {
    #[command(flatten)]
    pub ops: OpsArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Configuration file (TOML). Every key has a default; FERRY_* environment
    /// variables override the file (nesting with `__`, e.g. FERRY_REDIS__URL).
    #[arg(long, short, env = "FERRY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a complete relay for local development: no Redis needed, the
    /// public QStash development credentials, loopback destinations allowed.
    Dev(crate::dev::DevArgs),
    /// Run the gateway (HTTP API) and the deliverer in one process.
    Serve(ServerArgs),
    /// Run only the HTTP API; deliverers run elsewhere against the same Redis.
    Gateway(ServerArgs),
    /// Run only the delivery daemon; gateways run elsewhere against the same Redis.
    Deliver(ServerArgs),
    #[command(flatten)]
    Ops(OpsCommand),
    /// API tokens for the configuration file.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Measure a Ferry: publish and end-to-end throughput and latency, CPU
    /// time, and every lost or duplicated message, optionally against the
    /// machine's raw-Redis baseline.
    Bench(Box<crate::bench::BenchArgs>),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Print a new random API token and the SHA-256 to put in the
    /// configuration (`token_sha256` of a tenant). Ferry stores only the hash.
    New,
}

impl Command {
    /// The roles a server command runs, or `None` for other commands.
    pub fn roles(&self) -> Option<(Roles, &ServerArgs)> {
        match self {
            Self::Serve(args) => Some((
                Roles {
                    gateway: true,
                    deliver: true,
                },
                args,
            )),
            Self::Gateway(args) => Some((
                Roles {
                    gateway: true,
                    deliver: false,
                },
                args,
            )),
            Self::Deliver(args) => Some((
                Roles {
                    gateway: false,
                    deliver: true,
                },
                args,
            )),
            Self::Dev(_) | Self::Ops(_) | Self::Tokens(_) | Self::Bench(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_commands_take_a_config_file() {
        let cli = Cli::try_parse_from(["ferry", "deliver", "--config", "x.toml"]).unwrap();
        let (roles, args) = cli.command.roles().unwrap();
        assert!(roles.deliver && !roles.gateway);
        assert_eq!(args.config.as_deref(), Some(std::path::Path::new("x.toml")));
    }

    #[test]
    fn operator_commands_parse_at_the_top_level() {
        let cli = Cli::try_parse_from(["ferry", "--json", "dlq", "list"]).unwrap();
        assert!(cli.ops.json);
        assert!(matches!(cli.command, Command::Ops(_)));
    }
}
