//! `ferry schedules …`: schedules, which publish the same message whenever a
//! cron pattern fires, so an operator can set up, inspect, pause and remove
//! recurring jobs without writing API calls by hand.

use anyhow::Context as _;
use ferry_sdk::wire::{Schedule, ScheduleCreated};
use ferry_sdk::{Client, ScheduleOptions};

use super::output::{Fields, Format, Table, body_text, confirm, header_lines, show, timestamp};
use super::publish::FlowArgs;
use super::queues::{MessageArgs, yes_no};

/// Shown in a table cell for a time that is not set, e.g. the next run of a
/// paused schedule.
const NOT_SET: &str = "-";

/// Subcommands of `ferry schedules`.
#[derive(Debug, clap::Subcommand)]
pub enum SchedulesCommand {
    /// List every schedule with its cron pattern, destination and next and
    /// last run (RFC 3339, UTC)
    List,
    /// Show one schedule, with its message and the outcome of its last run
    Show {
        /// Schedule id, as listed by `ferry schedules list`
        id: String,
    },
    /// Create a schedule that publishes a message to a URL whenever its cron
    /// pattern fires, or replace the schedule named by --id
    ///
    /// Prints the new schedule's id.
    Create(Box<CreateArgs>),
    /// Stop a schedule from firing until it is resumed
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Pause {
        /// Schedule id
        id: String,
    },
    /// Let a paused schedule fire again, from its next tick on; ticks missed
    /// while it was paused are not fired
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Resume {
        /// Schedule id
        id: String,
    },
    /// Delete a schedule; messages it already published are not affected
    ///
    /// Prints nothing with --json: the API answers with an empty body.
    Delete {
        /// Schedule id
        id: String,
    },
}

/// Arguments of `ferry schedules create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Destination URL the relay delivers each tick's message to, e.g.
    /// `https://api.example.com/reports/daily`, or the name of a URL group
    /// (see `ferry topics`): each tick then goes to every endpoint the group
    /// has at that moment
    #[arg(value_name = "URL|GROUP")]
    destination: String,

    /// When to publish, as a 5-field cron pattern "MINUTE HOUR DAY-OF-MONTH
    /// MONTH DAY-OF-WEEK" read in UTC, e.g. "*/10 * * * *" (every 10
    /// minutes) or "0 3 * * 1-5" (03:00 on weekdays). Fields take `*`,
    /// numbers, ranges `a-b`, lists `a,b` and steps `*/n`. Prefix the pattern
    /// with `CRON_TZ=ZONE` (an IANA zone name) to read it in another time zone, e.g.
    /// "CRON_TZ=Europe/Paris 0 9 * * *"
    #[arg(long, value_name = "PATTERN")]
    cron: String,

    /// Schedule id: 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'.
    /// A schedule with this id is replaced, keeping its creation time
    /// [default: a new id chosen by the relay]
    #[arg(long, value_name = "ID")]
    id: Option<String>,

    /// Delay of each tick's message after the tick, as a duration such as
    /// 30s, 10m or 1h30m [default: deliver at the tick]
    #[arg(long, value_name = "DURATION")]
    delay: Option<String>,

    /// Queue each tick's message is enqueued to (created with parallelism 1
    /// if missing), so ticks are delivered in order behind its other
    /// messages; cannot be combined with --delay or a URL group
    #[arg(long, value_name = "NAME", conflicts_with = "delay")]
    queue: Option<String>,

    #[command(flatten)]
    message: MessageArgs,

    #[command(flatten)]
    flow: FlowArgs,
}

pub(super) async fn run(
    client: &Client,
    cmd: SchedulesCommand,
    format: Format,
) -> anyhow::Result<()> {
    match cmd {
        SchedulesCommand::List => {
            let schedules = client.schedules().await.context("listing schedules")?;
            show(format, &schedules, |schedules| render_list(schedules))
        }
        SchedulesCommand::Show { id } => {
            let schedule = client
                .schedule(&id)
                .await
                .with_context(|| format!("fetching schedule {id}"))?;
            show(format, &schedule, render_schedule)
        }
        SchedulesCommand::Create(args) => create(client, &args, format).await,
        SchedulesCommand::Pause { id } => {
            client
                .pause_schedule(&id)
                .await
                .with_context(|| format!("pausing schedule {id}"))?;
            confirm(format, &format!("paused schedule {id}"))
        }
        SchedulesCommand::Resume { id } => {
            client
                .resume_schedule(&id)
                .await
                .with_context(|| format!("resuming schedule {id}"))?;
            confirm(format, &format!("resumed schedule {id}"))
        }
        SchedulesCommand::Delete { id } => {
            client
                .delete_schedule(&id)
                .await
                .with_context(|| format!("deleting schedule {id}"))?;
            confirm(format, &format!("deleted schedule {id}"))
        }
    }
}

async fn create(client: &Client, args: &CreateArgs, format: Format) -> anyhow::Result<()> {
    let body = args.message.body()?;
    let opts = ferry_sdk::PublishOptions {
        delay: args.delay.clone(),
        flow_control: args.flow.flow_control(),
        ..args.message.options()
    };
    let schedule = ScheduleOptions {
        schedule_id: args.id.clone(),
        queue: args.queue.clone(),
    };
    let schedule_id = client
        .create_schedule(&args.destination, &args.cron, body, &opts, &schedule)
        .await
        .with_context(|| format!("creating a schedule for {}", args.destination))?;
    show(format, &ScheduleCreated { schedule_id }, |created| {
        format!("created schedule {}", created.schedule_id)
    })
}

/// A time for a table cell: RFC 3339 when set, a dash when not.
pub(super) fn optional_time(unix_ms: Option<u64>) -> String {
    unix_ms.map_or_else(|| NOT_SET.to_owned(), timestamp)
}

fn render_list(schedules: &[Schedule]) -> String {
    if schedules.is_empty() {
        return "no schedules".to_owned();
    }
    let mut table = Table::new(&[
        "ID",
        "CRON",
        "DESTINATION",
        "PAUSED",
        "NEXT RUN",
        "LAST RUN",
    ]);
    for schedule in schedules {
        table.push(vec![
            schedule.schedule_id.clone(),
            schedule.cron.clone(),
            schedule.destination.clone(),
            yes_no(schedule.is_paused).to_owned(),
            optional_time(schedule.next_schedule_time),
            optional_time(schedule.last_schedule_time),
        ]);
    }
    table.render()
}

fn render_schedule(schedule: &Schedule) -> String {
    let mut fields = Fields::default();
    fields.add("schedule id", &schedule.schedule_id);
    fields.add("cron", &schedule.cron);
    fields.add("destination", &schedule.destination);
    fields.add("method", &schedule.method);
    fields.add("paused", yes_no(schedule.is_paused));
    fields.add("created", timestamp(schedule.created_at));
    fields.add("next run", optional_time(schedule.next_schedule_time));
    fields.add("last run", optional_time(schedule.last_schedule_time));
    fields.add("retries", schedule.retries);
    fields.add_opt("retry delay", schedule.retry_delay_expression.as_ref());
    fields.add_opt("delay (s)", schedule.delay);
    fields.add_opt("timeout (s)", schedule.timeout);
    fields.add_opt("callback", schedule.callback.as_ref());
    fields.add_opt("failure callback", schedule.failure_callback.as_ref());
    fields.add_opt("caller ip", schedule.caller_ip.as_ref());
    fields.add_opt("queue", schedule.queue_name.as_ref());
    fields.add_opt("flow control key", schedule.flow_control_key.as_ref());
    fields.add_opt("flow parallelism", schedule.parallelism);
    fields.add_opt("flow rate", schedule.rate);
    fields.add_opt("flow period (s)", schedule.period);
    fields.add_opt(
        "labels",
        (!schedule.labels.is_empty()).then(|| schedule.labels.join(", ")),
    );
    fields.add_opt("headers", schedule.header.as_ref().map(header_lines));
    fields.add_opt(
        "body",
        body_text(schedule.body.as_deref(), schedule.body_base64.as_deref()),
    );
    fields.add_opt("last run outcome", last_run_outcome(schedule));
    fields.render()
}

/// One `message id: STATE` line per message the last tick published.
fn last_run_outcome(schedule: &Schedule) -> Option<String> {
    let lines: Vec<String> = schedule
        .last_schedule_states
        .iter()
        .map(|(message_id, state)| format!("{message_id}: {state}"))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests;
