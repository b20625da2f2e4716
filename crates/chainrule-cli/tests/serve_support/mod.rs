//! Helpers of the `chainrule serve` tests: a server on a free loopback
//! port, a minimal HTTP client, and a headless chromium driven through
//! chromedriver. A browser that cannot start fails the test: it is never
//! skipped.

// Each test file uses a different subset.
#![allow(dead_code)]

pub mod steps;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `chainrule serve` process, killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub addr: String,
}

impl Server {
    /// Starts `chainrule serve --port 0 --runs RUNS` and reads the address it prints.
    pub fn start(runs: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chainrule"))
            .args(["serve", "--port", "0", "--runs"])
            .arg(runs)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("chainrule serve starts");
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line)
            .expect("chainrule serve prints its address");
        // Keep its standard output open (and drained): a closed pipe would
        // end the server at its next line.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let base = url.trim_end_matches("/explore").to_string();
        let addr = base.trim_start_matches("http://").to_string();
        Server { child, base, addr }
    }

    /// `GET path` over HTTP/1.0: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "")
    }

    /// One request; the status and the body.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let host = format!("Host: {}", self.addr);
        self.request_with(method, path, &[&host], body)
    }

    /// One request with the given header lines (`Host: …` among them);
    /// the status and the body.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &str,
    ) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connects to the server");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = String::new();
        for h in headers {
            head += h;
            head += "\r\n";
        }
        let _ = write!(
            s,
            "{method} {path} HTTP/1.0\r\n{head}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // A server that refuses a body answers before reading it all and
        // may reset the connection: keep what arrived.
        let mut bytes = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if bytes.is_empty() && e.kind() != std::io::ErrorKind::ConnectionReset => {
                    panic!("reads the response: {e}")
                }
                Err(_) => break,
            }
        }
        parse_response(&bytes)
    }

    /// `GET path` as JSON.
    pub fn json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path);
        let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        (status, v)
    }
}

/// An HTTP/1.0 response's status and body (status 0 when none arrived).
pub fn parse_response(bytes: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (status, body)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The chromium binary: `$CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// A headless chromium session through a chromedriver of our own.
pub struct Browser {
    driver: Child,
    pub client: Client,
}

/// chromedriver's log of the browser console (not in the W3C standard).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

impl Browser {
    /// Starts chromedriver (`$CHROMEDRIVER`, else `chromedriver` on the
    /// PATH) and a headless chromium of `width`×`height`. Panics, with what
    /// to install, when either cannot run.
    pub async fn start(width: u32, height: u32) -> Browser {
        let exe = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        // Port 0: chromedriver takes a free port and prints it, so parallel
        // tests never race for one.
        let mut driver = Command::new(&exe)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {exe} ({e}): the browser tests need chromium and chromedriver \
                     (Debian: apt-get install chromium chromium-driver; .ci/run installs them)"
                )
            });
        let mut out = BufReader::new(driver.stdout.take().unwrap());
        let mut port = None;
        let mut line = String::new();
        while port.is_none() {
            line.clear();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("{exe} exited without starting: is chromium-driver installed?");
            }
            port = line
                .strip_prefix("ChromeDriver was started successfully on port ")
                .and_then(|p| p.trim().trim_end_matches('.').parse::<u16>().ok());
        }
        let port = port.unwrap();
        // Keep reading (and dropping) its output so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let browser = chromium();
        assert!(
            Path::new(&browser).exists(),
            "no chromium at {browser}: apt-get install chromium (or set CHROMIUM)"
        );
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": browser,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", format!("--window-size={width},{height}")],
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = driver.try_wait() {
                        panic!("chromedriver exited ({status}) before a session started: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    let _ = driver.kill();
                    panic!("no browser session from chromedriver at {url} within 30 s: {e}");
                }
            }
        };
        Browser { driver, client }
    }

    /// Opens `url` and waits until the page says it is ready (`data-ready`
    /// on the body) or has shown an error.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .js("return document.body.dataset.ready === '1' || !document.getElementById('error').hidden;")
                .await;
            if ready == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "{url} never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The visible text of the element `locator` finds.
    pub async fn text(&self, locator: fantoccini::Locator<'_>) -> String {
        let element = self
            .client
            .find(locator)
            .await
            .expect("the element is there");
        element.text().await.expect("its text reads")
    }

    /// Clicks the element `locator` finds.
    pub async fn click(&self, locator: fantoccini::Locator<'_>) {
        let element = self
            .client
            .find(locator)
            .await
            .expect("the element is there");
        element.click().await.expect("it takes the click");
    }

    /// Runs `script` in the page; its return value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }

    /// Presses and releases `key` (a WebDriver key code) on the page.
    pub async fn press(&self, key: char) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let actions = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        self.client
            .perform_actions(actions)
            .await
            .expect("keys pressed");
    }

    /// The console's errors (level SEVERE) since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver returns the browser log");
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// Closes the session and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
