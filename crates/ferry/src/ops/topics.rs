//! `ferry topics …`: URL groups, the named sets of endpoints that one publish
//! to the group's name fans out to, so an operator can wire up and inspect
//! fan-out without writing API calls by hand.

use anyhow::Context as _;
use ferry_core::ids::validate_name;
use ferry_sdk::Client;
use ferry_sdk::wire::{Endpoint, UrlGroup};

use super::output::{Fields, Format, Table, confirm, show, timestamp};

/// Subcommands of `ferry topics`.
#[derive(Debug, clap::Subcommand)]
pub enum TopicsCommand {
    /// List every URL group with its number of endpoints
    List,
    /// Show one URL group and its endpoints
    Show {
        /// URL group name
        name: String,
    },
    /// Add endpoints to a URL group, creating the group if it does not exist
    ///
    /// An endpoint whose URL is already in the group takes the new name.
    /// Prints nothing with --json: the API answers with an empty body.
    Add {
        /// URL group name: 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and
        /// '-'
        name: String,
        /// Endpoint URL, optionally followed by =NAME to name the endpoint,
        /// e.g. https://a.example/hook=billing. An '=' that can start the
        /// value of a query parameter belongs to the URL: https://a.example/?x=1
        /// has no endpoint name, https://a.example/?x=1=billing does. An
        /// endpoint name uses the same characters as a URL group name
        #[arg(required = true, value_name = "URL[=NAME]", value_parser = parse_endpoint)]
        endpoints: Vec<Endpoint>,
    },
    /// Remove endpoints from a URL group, by URL or by endpoint name
    ///
    /// A group left without endpoints is deleted. Prints nothing with --json:
    /// the API answers with an empty body.
    #[command(group(
        clap::ArgGroup::new("selection")
            .args(["destinations", "endpoint_names"])
            .required(true)
            .multiple(true)
    ))]
    Remove {
        /// URL group name
        name: String,
        /// Remove the endpoint with this URL (repeat for several)
        #[arg(long = "destination", value_name = "URL")]
        destinations: Vec<String>,
        /// Remove the endpoint with this name (repeat for several)
        #[arg(long = "endpoint", value_name = "NAME")]
        endpoint_names: Vec<String>,
    },
    /// Delete a URL group and all its endpoints
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Delete {
        /// URL group name
        name: String,
    },
}

pub(super) async fn run(client: &Client, cmd: TopicsCommand, format: Format) -> anyhow::Result<()> {
    match cmd {
        TopicsCommand::List => {
            let groups = client.url_groups().await.context("listing URL groups")?;
            show(format, &groups, |groups| render_list(groups))
        }
        TopicsCommand::Show { name } => {
            let group = client
                .url_group(&name)
                .await
                .with_context(|| format!("fetching URL group {name}"))?;
            show(format, &group, render_group)
        }
        TopicsCommand::Add { name, endpoints } => {
            client
                .add_endpoints(&name, &endpoints)
                .await
                .with_context(|| format!("adding endpoints to URL group {name}"))?;
            confirm(
                format,
                &format!("added {} endpoint(s) to {name}", endpoints.len()),
            )
        }
        TopicsCommand::Remove {
            name,
            destinations,
            endpoint_names,
        } => {
            let selection = removal(destinations, endpoint_names);
            client
                .remove_endpoints(&name, &selection)
                .await
                .with_context(|| format!("removing endpoints from URL group {name}"))?;
            confirm(format, &format!("removed endpoints from {name}"))
        }
        TopicsCommand::Delete { name } => {
            client
                .delete_url_group(&name)
                .await
                .with_context(|| format!("deleting URL group {name}"))?;
            confirm(format, &format!("deleted URL group {name}"))
        }
    }
}

/// Parses `URL[=NAME]`: the text after the last `=` is the endpoint name when
/// it is a valid name and the `=` cannot be the one between a query
/// parameter and its value.
fn parse_endpoint(raw: &str) -> Result<Endpoint, String> {
    let (url, name) = match raw.rsplit_once('=') {
        Some((url, name)) if validate_name(name).is_ok() && !ends_in_parameter_name(url) => {
            (url, Some(name.to_owned()))
        }
        _ => (raw, None),
    };
    if url.is_empty() {
        return Err(format!("expected URL[=NAME], got {raw:?}"));
    }
    Ok(Endpoint {
        name,
        url: Some(url.to_owned()),
    })
}

/// Whether `url` ends inside a query parameter's name (`…?a=1&b`), so that an
/// `=` right after it starts that parameter's value.
fn ends_in_parameter_name(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .rsplit('&')
            .next()
            .is_some_and(|parameter| !parameter.contains('='))
    })
}

/// The endpoints a removal names: each URL and each endpoint name on its own,
/// since the relay removes every endpoint that matches either.
fn removal(destinations: Vec<String>, endpoint_names: Vec<String>) -> Vec<Endpoint> {
    let by_url = destinations.into_iter().map(|url| Endpoint {
        name: None,
        url: Some(url),
    });
    let by_name = endpoint_names.into_iter().map(|name| Endpoint {
        name: Some(name),
        url: None,
    });
    by_url.chain(by_name).collect()
}

fn render_list(groups: &[UrlGroup]) -> String {
    if groups.is_empty() {
        return "no URL groups".to_owned();
    }
    let mut table = Table::new(&["NAME", "ENDPOINTS", "CREATED"]);
    for group in groups {
        table.push(vec![
            group.name.clone(),
            group.endpoints.len().to_string(),
            timestamp(group.created_at),
        ]);
    }
    table.render()
}

fn render_group(group: &UrlGroup) -> String {
    let mut fields = Fields::default();
    fields.add("name", &group.name);
    fields.add("created", timestamp(group.created_at));
    fields.add("updated", timestamp(group.updated_at));
    if group.endpoints.is_empty() {
        return format!("{}\n\nno endpoints", fields.render());
    }
    let mut table = Table::new(&["URL", "ENDPOINT NAME"]);
    for endpoint in &group.endpoints {
        table.push(vec![
            endpoint.url.clone().unwrap_or_default(),
            endpoint.name.clone().unwrap_or_default(),
        ]);
    }
    format!("{}\n\n{}", fields.render(), table.render())
}

#[cfg(test)]
mod tests;
