//! The README's section "Upstash Workflow on Ferry", kept true: its
//! JavaScript and Python examples (`tests/sdk/{js,py}/readme/workflow.*`
//! and `trigger.*`) run here word for word against a real Ferry, with
//! signature verification on, and each step of the run happens once. The
//! scripts see nothing of this process's environment but `PATH` and what
//! the README tells the reader to set.

use std::process::Stdio;
use std::time::Duration;

use ferry_core::ids::TenantId;
use ferry_store::{RunFilter, RunQuery, RunState, Store};
use ferry_tests::ferry::{TENANT, TOKEN, TestFerry};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::Instant;

use crate::readme::{self, README, ScriptExample, check_quoted, fences};

/// How long the endpoint may take to listen, the trigger to run, and the
/// run to finish (it sleeps a second).
const LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// A README workflow example: an endpoint script and a trigger script, run
/// like the README's QStash examples of the same SDK.
struct Example {
    sdk: &'static ScriptExample,
    workflow: &'static str,
    trigger: &'static str,
    /// The order id the trigger sends.
    order: &'static str,
}

const JS: Example = Example {
    sdk: &readme::JS,
    workflow: "readme/workflow.mjs",
    trigger: "readme/trigger.mjs",
    order: "A-1",
};

const PY: Example = Example {
    sdk: &readme::PYTHON,
    workflow: "readme/workflow.py",
    trigger: "readme/trigger.py",
    order: "B-2",
};

impl Example {
    /// `script` with the settings the README names.
    fn command(&self, script: &str, ferry: &TestFerry, url: &str) -> Command {
        let mut command = self.sdk.command(script);
        command
            .env("QSTASH_URL", &ferry.base_url)
            .env("QSTASH_TOKEN", TOKEN)
            .env("QSTASH_CURRENT_SIGNING_KEY", ferry.keys.current.expose())
            .env("QSTASH_NEXT_SIGNING_KEY", ferry.keys.next.expose())
            .env("WORKFLOW_URL", url);
        command
    }

    async fn check_runs_each_step_once(&self) {
        let ferry = TestFerry::start().await;
        let port = ferry_tests::redis::free_port();
        let url = format!("http://127.0.0.1:{port}/api/workflow");
        let mut endpoint = self.command(self.workflow, &ferry, &url);
        endpoint
            .env("PORT", port.to_string())
            .stdout(Stdio::piped());
        let mut endpoint = endpoint
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.workflow));
        let mut lines = BufReader::new(endpoint.stdout.take().expect("piped")).lines();
        wait_for_port(port).await;

        let trigger =
            tokio::time::timeout(LIMIT, self.command(self.trigger, &ferry, &url).output())
                .await
                .expect("the trigger finishes")
                .expect("the trigger runs");
        assert!(
            trigger.status.success(),
            "{}: {}",
            self.trigger,
            String::from_utf8_lossy(&trigger.stderr)
        );

        let confirmed = format!("confirmed {}", self.order);
        let mut printed = Vec::new();
        while !printed.contains(&confirmed) {
            let line = tokio::time::timeout(LIMIT, lines.next_line())
                .await
                .expect("the run confirms the order")
                .expect("reading the endpoint's output")
                .expect("the endpoint keeps running");
            // Flask prints its banner on stdout too.
            if line.starts_with("reserved ") || line.starts_with("confirmed ") {
                printed.push(line);
            }
        }
        wait_for_success(&ferry, &url).await;
        assert_eq!(
            printed,
            [format!("reserved {}", self.order), confirmed],
            "each step once"
        );
    }

    fn check_quoted(&self, readme_fences: &[crate::readme::Fence]) {
        for script in [self.workflow, self.trigger] {
            check_quoted(
                readme_fences,
                script,
                self.sdk.language,
                &self.sdk.source(script),
            );
        }
    }
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + LIMIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the endpoint never listened");
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the one run at `url` succeeded.
async fn wait_for_success(ferry: &TestFerry, url: &str) {
    let tenant = TenantId::new(TENANT).unwrap();
    let query = RunQuery {
        filter: RunFilter {
            url: Some(url.to_owned()),
            url_exact: true,
            ..RunFilter::default()
        },
        cursor: None,
        count: 10,
    };
    let deadline = Instant::now() + LIMIT;
    loop {
        let runs = ferry
            .store
            .workflow_runs(&tenant, &query)
            .await
            .unwrap()
            .runs;
        assert!(runs.len() <= 1, "one run: {runs:#?}");
        if runs.first().is_some_and(|r| r.state == RunState::Success) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the run never succeeded: {runs:#?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn the_readme_js_workflow_runs_each_step_once() {
    JS.check_runs_each_step_once().await;
}

#[tokio::test]
async fn the_readme_python_workflow_runs_each_step_once() {
    PY.check_runs_each_step_once().await;
}

#[test]
fn readme_quotes_the_workflow_examples() {
    let readme = std::fs::read_to_string(README).expect("README.md is readable");
    let readme_fences = fences(&readme);
    JS.check_quoted(&readme_fences);
    PY.check_quoted(&readme_fences);
}
