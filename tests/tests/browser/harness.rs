//! The browser tests' machinery: the app served on a real socket, a headless Chromium driven
//! through a chromedriver this process starts, and waiting helpers that fail with the page's
//! URL and text instead of a bare timeout.
//!
//! Invariants: every `Browser` ends its WebDriver session and kills its chromedriver, also
//! when a test fails; nothing waits by sleeping except the polling helpers, which all give up
//! after [`WAIT`]; screenshots are written only when `FORLOB_SCREENSHOTS=1`, so an ordinary
//! run never changes the work tree.

use std::future::Future;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use forlob_engine::{Engine, ManualClock};
use forlob_web::users::{self, UserSpec};
use forlob_web::{AppState, WebSettings};
use serde_json::{Value, json};

use crate::support::{TestApp, TestDb};

/// How long any wait in a browser test may take. Generous: CI machines have two cores, and
/// the first Mermaid render compiles a few megabytes of JavaScript.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Where `scripts/assets.sh` puts htmx, mermaid, swagger-ui and the workbench's bundle.
const ASSETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/assets/node_modules");

const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/screenshots");

/// The people who use the site in these tests; each signs in with `<username>-password`.
const USERS: &[(&str, &str, &str, Option<&str>)] = &[
    ("admin", "Ida Admin", "admin", None),
    ("anna", "Anna Holm", "caseworker", Some("101")),
    ("carl", "Carl Dahl", "caseworker", Some("101")),
    ("bo", "Bo Lund", "caseworker", Some("147")),
    ("dina", "Dina Berg", "designer", None),
    ("ulla", "Ulla Revisor", "auditor", None),
];

/// The app served over HTTP on 127.0.0.1, as a browser needs it. SQLite only: the API tests
/// cover both backends, and nothing a browser does depends on which one stores the data.
pub(crate) struct Site {
    pub(crate) engine: Arc<Engine>,
    pub(crate) clock: Arc<ManualClock>,
    base: String,
    server: tokio::task::JoinHandle<()>,
    _db: TestDb,
}

impl Site {
    /// Adds the users, then serves the whole router with the npm assets, as `forlob serve` does.
    pub(crate) async fn serve(app: TestApp) -> Self {
        let TestApp { engine, clock, db } = app;
        let engine = Arc::new(engine);
        for (username, name, role, municipality) in USERS {
            let spec = UserSpec {
                username: (*username).into(),
                display_name: Some((*name).into()),
                role: (*role).into(),
                municipality: municipality.map(Into::into),
                password: Some(format!("{username}-password")),
            };
            users::add(&engine, spec, &forlob_engine::Actor::system())
                .await
                .expect("test user is valid");
        }
        let settings = WebSettings {
            assets_dir: Some(PathBuf::from(ASSETS)),
            ..WebSettings::default()
        };
        let router = forlob_web::router(AppState::new(engine.clone(), settings));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free local port for the site");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                // The login limiter counts failures per address, which it reads from here.
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("the test site serves until it is dropped");
        });
        Self {
            engine,
            clock,
            base: format!("http://{addr}"),
            server,
            _db: db,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A headless Chromium behind a chromedriver of its own, with a fresh profile.
pub(crate) struct Browser {
    client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

/// The chromedriver process, killed when dropped (a std `Child` is not), so a test that
/// fails anywhere leaves no driver behind.
struct Driver(Child);

impl Browser {
    /// `None` when Chromium, chromedriver or the npm assets are missing: the test says so
    /// loudly and passes, unless `FORLOB_REQUIRE_BROWSER=1` (CI) makes that a failure.
    pub(crate) async fn launch(test: &str) -> Option<Self> {
        let (chromium, chromedriver) = match tools() {
            Ok(found) => found,
            Err(missing) => {
                if std::env::var("FORLOB_REQUIRE_BROWSER").as_deref() == Ok("1") {
                    panic!("FORLOB_REQUIRE_BROWSER=1, but {missing}");
                }
                // Straight to stderr, not `eprintln!`: the test harness swallows what a passing
                // test prints, and a skip nobody sees is a hole nobody fixes.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED browser test {test}: {missing} (set FORLOB_REQUIRE_BROWSER=1 to make this a failure) ***\n"
                );
                return None;
            }
        };
        // A driver that lost the race for its port (see `free_port`), or whose first session
        // did not come up, is replaced by a fresh one on another port: a few tries, each
        // failure kept for the message if all of them fail.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let mut driver = Driver(
                Command::new(&chromedriver)
                    .arg(format!("--port={port}"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("{} does not start: {e}", chromedriver.display())),
            );
            let profile = tempfile::tempdir().expect("a temp dir for the Chromium profile");
            match connect(port, &mut driver, &chromium, profile.path()).await {
                Ok(client) => {
                    return Some(Self {
                        client,
                        _driver: driver,
                        _profile: profile,
                    });
                }
                Err(e) => failures.push(e),
            }
        }
        panic!(
            "chromedriver starts no Chromium session: {}",
            failures.join("; ")
        )
    }

    /// Runs `body` with the browser, then ends the session whatever happened, so Chromium does
    /// not outlive a failing test; a panic in `body` then fails the test with its own message.
    pub(crate) async fn run<F, Fut>(self, body: F)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(body(self.client.clone())).await;
        if let Err(e) = self.client.clone().close().await {
            eprintln!("closing the WebDriver session failed: {e}");
        }
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("the browser test was cancelled: {e}"),
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Already gone is fine; the point is that it is gone.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Chromium and chromedriver (Debian's paths, or FORLOB_CHROMIUM / FORLOB_CHROMEDRIVER), and
/// the npm assets the pages load; what is missing otherwise.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let find = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let chromium = find("FORLOB_CHROMIUM", "/usr/bin/chromium");
    let chromedriver = find("FORLOB_CHROMEDRIVER", "/usr/bin/chromedriver");
    let mut missing = Vec::new();
    for (path, what) in [(&chromium, "chromium"), (&chromedriver, "chromedriver")] {
        if !path.is_file() {
            missing.push(format!(
                "{what} is not at {} (apt-get install chromium chromium-driver)",
                path.display()
            ));
        }
    }
    if !Path::new(ASSETS).join("htmx.org").is_dir()
        || !Path::new(ASSETS)
            .join("forlob-workbench/workbench.js")
            .is_file()
    {
        missing.push(format!(
            "the npm assets are not in {ASSETS} (bash scripts/assets.sh)"
        ));
    }
    if missing.is_empty() {
        Ok((chromium, chromedriver))
    } else {
        Err(missing.join("; "))
    }
}

/// A port nothing listens on right now. chromedriver must be told one; the gap between
/// closing this listener and chromedriver binding the port is the only race, and a lost race
/// costs a retry on another port (`Browser::launch`), never a wrong result.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port for chromedriver")
        .port()
}

/// A WebDriver session of `driver` (listening on `port`), or why there is none.
async fn connect(
    port: u16,
    driver: &mut Driver,
    chromium: &Path,
    profile: &Path,
) -> Result<Client, String> {
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = driver.0.try_wait() {
            return Err(format!("chromedriver on port {port} exited: {status}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("chromedriver does not answer on port {port}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            // Without the background-networking switches Chromium calls home at start, and a
            // machine without outside network refuses those connections slowly.
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1366,900",
                format!("--user-data-dir={}", profile.display()),
            ],
            // A Danish browser, as the users have: the UI follows Accept-Language.
            "prefs": { "intl.accept_languages": "da-DK,da" },
        },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object literal")
    };
    let http = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(http)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| format!("port {port}: {e}"))
}

/// The element `css` finds, once it is there; on a timeout, fails with where the browser is
/// and what the page says.
pub(crate) async fn element(c: &Client, css: &str) -> Element {
    match c.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
        Ok(found) => found,
        Err(e) => panic!("no `{css}` within {WAIT:?} ({e}){}", whereabouts(c).await),
    }
}

/// How many elements `css` finds on the current page (no waiting: call once the page is in).
pub(crate) async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css))
        .await
        .expect("the page can be searched")
        .len()
}

/// The texts of every element `css` finds on the current page, in document order.
pub(crate) async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for found in c
        .find_all(Locator::Css(css))
        .await
        .expect("the page can be searched")
    {
        texts.push(found.text().await.expect("an element has text"));
    }
    texts
}

/// Waits until the JavaScript expression `condition` is true on the current page.
pub(crate) async fn until(c: &Client, condition: &str) {
    let script = format!("return !!({condition});");
    let deadline = Instant::now() + WAIT;
    loop {
        // A page that is still navigating may refuse the script; that is "not yet".
        if let Ok(Value::Bool(true)) = c.execute(&script, vec![]).await {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "`{condition}` did not hold within {WAIT:?}{}",
                whereabouts(c).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the browser shows `path` (a link or a redirect has landed).
pub(crate) async fn on_path(c: &Client, path: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(url) = c.current_url().await
            && url.path() == path
        {
            return;
        }
        if Instant::now() > deadline {
            panic!("never reached {path}{}", whereabouts(c).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The current URL and the start of the page's text, for failure messages.
async fn whereabouts(c: &Client) -> String {
    let url = c
        .current_url()
        .await
        .map_or_else(|e| format!("(no URL: {e})"), |u| u.to_string());
    let text = c
        .execute(
            "return document.body ? document.body.innerText : ''",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let text: String = text.chars().take(1500).collect();
    format!("\n  at {url}\n  page text:\n{text}")
}

/// The text of the element `css` finds, once it is there.
pub(crate) async fn text_of(c: &Client, css: &str) -> String {
    element(c, css)
        .await
        .text()
        .await
        .expect("the element has text")
}

/// Clicks the element `css` finds, once it is there.
pub(crate) async fn click(c: &Client, css: &str) {
    element(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("`{css}` cannot be clicked: {e}"));
}

/// Signs in through the login form and waits for the signed-in chrome of the page that
/// follows (each role lands on its own start page).
pub(crate) async fn sign_in(c: &Client, site: &Site, username: &str) {
    c.goto(&site.url("/login"))
        .await
        .expect("the login page loads");
    fill(c, "#username", username).await;
    fill(c, "#password", &format!("{username}-password")).await;
    click(c, "form[action='/login'] button[type=submit]").await;
    element(c, "header.top .who").await;
}

/// Signs out and waits for the sign-in page: a navigation started before the sign-out has
/// landed would cut it off, and the next sign-in would find the old session.
pub(crate) async fn sign_out(c: &Client) {
    click(c, "form[action='/logout'] button").await;
    on_path(c, "/login").await;
}

/// Types `text` into the field `css` finds, replacing what was there.
pub(crate) async fn fill(c: &Client, css: &str, text: &str) {
    let field = element(c, css).await;
    field.clear().await.expect("the field can be cleared");
    field.send_keys(text).await.expect("the field takes keys");
}

/// Presses and releases `key` on whatever has the focus, as a keyboard does.
pub(crate) async fn press(c: &Client, key: Key) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() });
    c.perform_actions(keys).await.expect("keys can be pressed");
}

/// Presses `key` while `modifier` is held (Ctrl+Home), on whatever has the focus.
pub(crate) async fn chord(c: &Client, modifier: Key, key: Key) {
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down {
            value: modifier.into(),
        })
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() })
        .then(KeyAction::Up {
            value: modifier.into(),
        });
    c.perform_actions(keys).await.expect("keys can be pressed");
}

/// A short description of the focused element: its id, else its tag and text.
pub(crate) async fn focused(c: &Client) -> String {
    c.execute(
        "const e = document.activeElement; \
         return e.id ? '#' + e.id : e.tagName.toLowerCase() + ':' + e.textContent.trim();",
        vec![],
    )
    .await
    .ok()
    .and_then(|v| v.as_str().map(str::to_owned))
    .unwrap_or_default()
}

/// Saves the viewport as `docs/screenshots/<name>`, only when FORLOB_SCREENSHOTS=1.
pub(crate) async fn screenshot(c: &Client, name: &str) {
    if std::env::var("FORLOB_SCREENSHOTS").as_deref() != Ok("1") {
        return;
    }
    let png = c.screenshot().await.expect("the page can be captured");
    std::fs::create_dir_all(SCREENSHOTS).expect("docs/screenshots can be created");
    let path = Path::new(SCREENSHOTS).join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
