//! A real browser for console tests: Debian's headless Chromium, driven
//! through its chromedriver over WebDriver (`fantoccini`). Each browser
//! starts its own chromedriver on a free loopback port and its own fresh
//! profile, and both go away with it.
//!
//! Chromium runs with the networking it does on its own switched off
//! (component updates, sync, QUIC, background requests): without those
//! flags it stalls trying to reach the internet from a machine that has
//! none. Every wait is on a condition with a deadline, never a fixed sleep.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// How long a page may take to show what a test waits for.
const DEADLINE: Duration = Duration::from_secs(30);
/// Between two looks at the page.
const POLL: Duration = Duration::from_millis(100);

/// The flags every test browser runs with.
const CHROMIUM_ARGS: [&str; 11] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,960",
    "--lang=en-US",
];

/// Where screenshots go: under the target directory, never committed.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("console-screenshots")
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Waits until chromedriver on `port` answers that it is ready.
async fn wait_ready(port: u16) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let status = http
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await;
        if let Ok(status) = status
            && let Ok(body) = status.json::<serde_json::Value>().await
            && body["value"]["ready"] == true
        {
            return;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(POLL).await;
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub async fn start() -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver on PATH (Debian: apt-get install chromium chromium-driver)");
        wait_ready(port).await;
        let profile = std::env::temp_dir().join(format!("ferry-chromium-{}", uuid::Uuid::new_v4()));
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut options = serde_json::json!({ "args": args });
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = "/usr/bin/chromium".into();
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("start a chromium session");
        Self {
            client,
            driver,
            profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn find(&self, css: &str) -> Element {
        self.wait_for(css).await
    }

    /// The element `css` once it is on the page.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                return element;
            }
            assert!(Instant::now() < deadline, "no element {css} on the page");
            tokio::time::sleep(POLL).await;
        }
    }

    /// The text of `css`, once it contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let text = self.text_of(css).await;
            if text.as_deref().is_some_and(|t| t.contains(needle)) {
                return text.unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "{css} never contained {needle:?}; last: {text:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Opens `url` again and again until `css` contains `needle`: for what
    /// the page shows only once the relay has done something.
    pub async fn reload_until_text(&self, url: &str, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.goto(url).await;
            let text = self.text_of(css).await;
            if text.as_deref().is_some_and(|t| t.contains(needle)) {
                return text.unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "{url}: {css} never contained {needle:?}; last: {text:?}"
            );
            tokio::time::sleep(POLL * 3).await;
        }
    }

    async fn text_of(&self, css: &str) -> Option<String> {
        let element = self.client.find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.expect("click");
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.expect("clear the field");
        field.send_keys(text).await.expect("type into the field");
    }

    /// The current page's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Logs in at `base_url` with `token` and waits for the overview.
    pub async fn log_in(&self, base_url: &str, token: &str) {
        self.goto(&format!("{base_url}/console")).await;
        self.fill("#token", token).await;
        self.click("#login").await;
        self.wait_for_text("h1", "Overview").await;
    }

    /// Saves a screenshot of the page as `<name>.png` in [`screenshot_dir`].
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("create the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    /// Ends the session, chromedriver and the profile.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
