//! `ferry keys …`: the signing keys that destination handlers verify
//! deliveries with.

use anyhow::Context as _;
use ferry_sdk::Client;
use ferry_sdk::wire::SigningKeys;

use super::output::{Fields, Format, show};

/// Subcommands of `ferry keys`.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Print the current and next signing keys (secrets: handle them like
    /// passwords)
    Show,
    /// Make the next key current and generate a new next key; handlers that
    /// accept both keys keep verifying throughout
    Rotate,
}

pub(super) async fn run(client: &Client, cmd: KeysCommand, format: Format) -> anyhow::Result<()> {
    let keys = match cmd {
        KeysCommand::Show => client.keys().await.context("fetching the signing keys")?,
        KeysCommand::Rotate => client
            .rotate_keys()
            .await
            .context("rotating the signing keys")?,
    };
    show(format, &keys, render)
}

fn render(keys: &SigningKeys) -> String {
    let mut fields = Fields::default();
    fields.add("current", &keys.current);
    fields.add("next", &keys.next);
    fields.render()
}
