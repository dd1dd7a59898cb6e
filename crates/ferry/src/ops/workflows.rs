//! `ferry workflows …`: Upstash Workflow runs, so an operator can see which
//! runs exist, how far one got, and stop runs that should not go on.

use anyhow::Context as _;
use ferry_sdk::wire::{WorkflowRunList, WorkflowRunLog};
use ferry_sdk::{Client, WorkflowCancel, WorkflowRunQuery};
use serde_json::Value;

use super::output::{Fields, Format, Table, show, timestamp};

/// Subcommands of `ferry workflows`.
#[derive(Debug, clap::Subcommand)]
pub enum WorkflowsCommand {
    /// List workflow runs, newest first, one page at a time
    List(ListArgs),
    /// Show one run: its state, result and steps
    Show {
        /// Run id, as listed by `ferry workflows list` (e.g. wfr_…)
        id: String,
    },
    /// Cancel active runs: their pending steps are dropped and their apps
    /// find them ended
    #[command(group(clap::ArgGroup::new("which").required(true).args(["ids", "url_prefix", "all"])))]
    Cancel {
        /// Run ids
        ids: Vec<String>,
        /// Every active run whose workflow URL starts with this (at most
        /// 1000 per call)
        #[arg(long, value_name = "URL")]
        url_prefix: Option<String>,
        /// Every active run (at most 1000 per call)
        #[arg(long)]
        all: bool,
    },
}

/// Arguments of `ferry workflows list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Runs per page, 1 to 100 [default: 10]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    count: Option<u32>,

    /// Start after the page that printed this cursor
    #[arg(long)]
    cursor: Option<String>,

    /// Only runs in this state
    #[arg(long, value_enum)]
    state: Option<State>,

    /// Only runs whose workflow URL starts with this
    #[arg(long, value_name = "URL")]
    url_prefix: Option<String>,

    /// Only runs carrying this label
    #[arg(long, value_name = "LABEL")]
    label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum State {
    /// Still running
    Started,
    /// Finished
    Success,
    /// Failed for good
    Failed,
    /// Cancelled
    Canceled,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Started => "RUN_STARTED",
            Self::Success => "RUN_SUCCESS",
            Self::Failed => "RUN_FAILED",
            Self::Canceled => "RUN_CANCELED",
        }
    }
}

pub(super) async fn run(
    client: &Client,
    cmd: WorkflowsCommand,
    format: Format,
) -> anyhow::Result<()> {
    match cmd {
        WorkflowsCommand::List(args) => list(client, &args, format).await,
        WorkflowsCommand::Show { id } => {
            let query = WorkflowRunQuery {
                filters: vec![("workflowRunId".to_owned(), id.clone())],
                ..WorkflowRunQuery::default()
            };
            let page = client
                .workflow_runs(&query)
                .await
                .with_context(|| format!("fetching workflow run {id}"))?;
            let run = page
                .runs
                .into_iter()
                .next()
                .with_context(|| format!("workflow run {id} not found"))?;
            show(format, &run, render_run)
        }
        WorkflowsCommand::Cancel {
            ids,
            url_prefix,
            all,
        } => {
            let which = match (url_prefix, all) {
                (Some(prefix), _) => WorkflowCancel::UrlPrefix(prefix),
                (None, true) => WorkflowCancel::All,
                (None, false) => WorkflowCancel::Ids(ids),
            };
            let cancelled = client
                .cancel_workflow_runs(&which)
                .await
                .context("cancelling workflow runs")?;
            show(format, &cancelled, |c| {
                format!("cancelled {} run(s)", c.cancelled)
            })
        }
    }
}

async fn list(client: &Client, args: &ListArgs, format: Format) -> anyhow::Result<()> {
    let mut filters = Vec::new();
    if let Some(state) = args.state {
        filters.push(("state", state.as_str().to_owned()));
    }
    if let Some(prefix) = &args.url_prefix {
        filters.push(("workflowUrl", prefix.clone()));
        filters.push(("workflowUrlExactMatch", "false".to_owned()));
    }
    if let Some(label) = &args.label {
        filters.push(("label", label.clone()));
    }
    let query = WorkflowRunQuery {
        cursor: args.cursor.clone(),
        count: args.count,
        filters: filters
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    };
    let page = client
        .workflow_runs(&query)
        .await
        .context("listing workflow runs")?;
    show(format, &page, render_list)?;
    if let (Format::Human, Some(cursor)) = (format, &page.cursor) {
        eprintln!("more runs: run again with --cursor {cursor}");
    }
    Ok(())
}

fn render_list(page: &WorkflowRunList) -> String {
    if page.runs.is_empty() {
        return "no workflow runs".to_owned();
    }
    let mut table = Table::new(&["RUN ID", "STATE", "URL", "STEPS", "CREATED"]);
    for run in &page.runs {
        table.push(vec![
            run.workflow_run_id.clone(),
            run.workflow_state.clone(),
            run.workflow_url.clone(),
            steps(run).len().to_string(),
            timestamp(run.workflow_run_created_at),
        ]);
    }
    table.render()
}

/// The run's steps, out of their groups.
fn steps(run: &WorkflowRunLog) -> Vec<&Value> {
    run.steps
        .iter()
        .filter_map(|group| group["steps"].as_array())
        .flatten()
        .collect()
}

fn render_run(run: &WorkflowRunLog) -> String {
    let mut fields = Fields::default();
    fields.add("run id", &run.workflow_run_id);
    fields.add("state", &run.workflow_state);
    fields.add("url", &run.workflow_url);
    fields.add("created", timestamp(run.workflow_run_created_at));
    fields.add_opt("completed", run.workflow_run_completed_at.map(timestamp));
    fields.add_opt("result", run.workflow_run_response.as_deref());
    fields.add_opt(
        "invoked by",
        run.invoker.as_ref().map(|i| i.workflow_run_id.as_str()),
    );
    fields.add_opt(
        "labels",
        Some(run.labels.join(", ")).filter(|l| !l.is_empty()),
    );
    let mut table = Table::new(&["STEP", "NAME", "TYPE", "OUT"]);
    for step in steps(run) {
        let text = |key: &str| match &step[key] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        table.push(vec![
            text("stepId"),
            text("stepName"),
            text("stepType"),
            text("out"),
        ]);
    }
    format!("{}\n\n{}", fields.render(), table.render())
}
