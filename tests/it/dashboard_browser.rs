//! The reviewers' dashboard in a real headless Chromium: a reviewer logs in, finds a
//! flagged verification in the queue, opens it, sees its attempts and its selfie, and
//! approves it, and the key's webhook receiver hears the operator's decision; a reviewer
//! without a grant and a form without its CSRF token are refused. Every page visited, the portal's steps too, is checked
//! with axe-core (vendored in `tests/fixtures/axe/`) for serious or critical
//! accessibility violations.
//!
//! With `V2CLIENT_SCREENSHOTS=1` the queue and the verification page are photographed at
//! phone and desktop width into `docs/screenshots/dashboard-*.png` (any other value names
//! the folder); otherwise nothing is written.
//!
//! Needs `chromedriver`, as the portal's browser tests do (see `browser.rs`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use chrono::Duration;
use fantoccini::{ClientBuilder, Locator};
use serde_json::{Value, json};
use v2client::dashboard::accounts::create_user;
use v2client::domain::results::{DecisionRecord, Results};
use v2client::domain::verification::now;
use v2client::domain::{
    Attempt, AttemptOutcome, KeySettings, Module, Status, Step, Verification, VerificationId,
};
use v2client::store::{Role, Store};
use zeroize::Zeroizing;

use crate::browser::{Browser, Shots, chromedriver, eventually, free_port};
use crate::common::{start_server_with, v2client};
use crate::webhooks::Receiver;

const PASSWORD: &str = "a long enough password";
const AXE: &str = include_str!("../fixtures/axe/axe.min.js");

/// The server binary on a known port, allowed to send webhooks to loopback, with a key
/// whose webhooks go to a [`Receiver`], and the test's own handle on the same database.
struct Instance {
    _dir: tempfile::TempDir,
    base: String,
    /// The key printed at the first start (the default flow).
    key: String,
    /// The hooked key's id.
    key_id: String,
    store: Arc<dyn Store>,
    blobs: Arc<dyn v2client::blobs::BlobStore>,
    http: reqwest::Client,
    _child: tokio::process::Child,
}

impl Instance {
    async fn start(hook: &str) -> Instance {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let with_env = |cmd: &mut tokio::process::Command| {
            cmd.env("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "true")
                .env("V2CLIENT_WEBHOOK_POLL_INTERVAL", "200ms")
                .env("V2CLIENT_BIND", format!("127.0.0.1:{port}"))
                .env("V2CLIENT_PUBLIC_URL", format!("http://127.0.0.1:{port}"));
        };
        let mut cmd = v2client(dir.path());
        with_env(&mut cmd);
        let (child, key, _address, _log) = start_server_with(cmd).await;
        let mut create = v2client(dir.path());
        with_env(&mut create);
        let out = create
            .args(["keys", "create", "--name", "shop", "--json"])
            .args(["--webhook-url", hook])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let created: Value = serde_json::from_slice(&out.stdout).unwrap();
        let db = dir.path().join("v2client.db");
        let vars = [
            (
                "DATABASE_URL".to_owned(),
                format!("sqlite://{}", db.display()),
            ),
            (
                "V2CLIENT_DATA_DIR".to_owned(),
                dir.path().display().to_string(),
            ),
        ];
        let settings = v2client::config::Settings::load_with(&move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .unwrap();
        let store = v2client::store::connect(&settings.database).await.unwrap();
        // The server's own image store: the same folder and key in its data directory.
        let blobs = settings.blobs.open().unwrap();
        v2client::install_tls_provider();
        Instance {
            _dir: dir,
            base: format!("http://127.0.0.1:{port}"),
            key: key.expect("the first start prints a key"),
            key_id: created["id"].as_str().unwrap().to_owned(),
            store,
            blobs,
            http: reqwest::Client::new(),
            _child: child,
        }
    }

    async fn user(&self, email: &str, role: Role, grants: &[String]) {
        create_user(
            self.store.as_ref(),
            email,
            role,
            Zeroizing::new(PASSWORD.to_owned()),
            grants,
        )
        .await
        .expect("create user");
    }

    /// A verification of the hooked key that the automatic policy sent to review, with a
    /// rejected and an accepted attempt at the form and an accepted selfie.
    async fn flagged(&self, reference: &str) -> String {
        let t = now();
        let flow = vec![Module::Terms, Module::FormData];
        let mut results = Results::default();
        results.recorded_mut().unwrap().decision = Some(DecisionRecord::automatic(
            Status::NeedsManualReview,
            vec!["FACE_MATCH_UNCERTAIN".parse().unwrap()],
        ));
        let v = Verification {
            id: VerificationId::generate(),
            key_id: self.key_id.clone(),
            status: Status::NeedsManualReview,
            progress: v2client::domain::verification::initial_progress(&flow),
            flow,
            modules: KeySettings::default().modules(),
            results,
            extra_data: Some(json!({"reference_id": reference})),
            return_url: None,
            test: false,
            portal: Default::default(),
            version: 0,
            created_at: t - Duration::minutes(30),
            updated_at: t - Duration::minutes(25),
            expires_at: t + Duration::hours(23),
        };
        self.store.create_verification(&v, None).await.unwrap();
        for (n, (step, outcome, reasons)) in [
            (
                Step::FormData,
                AttemptOutcome::Rejected,
                vec!["FIELD_INVALID".to_owned()],
            ),
            (Step::FormData, AttemptOutcome::Accepted, vec![]),
        ]
        .into_iter()
        .enumerate()
        {
            self.store
                .insert_attempt(&Attempt {
                    id: format!("att_{n}"),
                    verification_id: v.id.clone(),
                    step,
                    outcome,
                    reasons,
                    metrics: v2client::domain::AttemptMetrics::Other(json!({})),
                    images: Default::default(),
                    content_hash: None,
                    created_at: t - Duration::minutes(29 - n as i64),
                })
                .await
                .unwrap();
        }
        let blob = format!("{}/att_selfie/selfie", v.id);
        let selfie = crate::faces::astronaut().to_rgb8();
        let jpeg = v2client::imaging::encode_jpeg(&selfie, 90).unwrap();
        self.blobs.put(&blob, jpeg.into()).await.unwrap();
        self.store
            .insert_attempt(&Attempt {
                id: "att_selfie".into(),
                verification_id: v.id.clone(),
                step: Step::Liveness,
                outcome: AttemptOutcome::Accepted,
                reasons: vec![],
                metrics: v2client::domain::AttemptMetrics::Other(json!({})),
                images: [("selfie".to_owned(), blob)].into(),
                content_hash: None,
                created_at: t - Duration::minutes(26),
            })
            .await
            .unwrap();
        v.id.to_string()
    }

    async fn status(&self, id: &str) -> Status {
        let id = VerificationId::parse(id).unwrap();
        self.store
            .get_verification(&id)
            .await
            .unwrap()
            .expect("the verification exists")
            .status
    }

    async fn generate(&self) -> String {
        let r = self
            .http
            .post(format!("{}/api/generate-verification", self.base))
            .header("X-SDK-Key", &self.key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["verificationId"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// A desktop-sized browser (1280×900, no touch).
async fn desktop(test: &str) -> Option<Browser> {
    let driver_path = chromedriver()?;
    let port = free_port();
    let driver = tokio::process::Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--window-size=1280,900".into(),
        "--hide-scrollbars".into(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": args,
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = eventually("chromedriver to accept a session", || {
        let caps = caps.clone();
        let url = url.clone();
        async move {
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps)
                .connect(&url)
                .await
                .ok()
        }
    })
    .await;
    // The window's frame takes some of its height: grow it until the page has 1280×900.
    let inner = client
        .execute("return [window.innerWidth, window.innerHeight];", vec![])
        .await
        .unwrap();
    let (w, h) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
    client
        .set_window_size((1280 + 1280 - w) as u32, (900 + 900 - h) as u32)
        .await
        .unwrap();
    Some(Browser {
        client,
        driver,
        _profile: profile,
        shots: Shots::new(test),
    })
}

/// Where `V2CLIENT_SCREENSHOTS` asks the dashboard's pictures to go, if anywhere.
fn screenshot_dir() -> Option<PathBuf> {
    let v = std::env::var("V2CLIENT_SCREENSHOTS").ok()?;
    let dir = match v.as_str() {
        "" => return None,
        "1" => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"),
        other => Path::new(env!("CARGO_MANIFEST_DIR")).join(other),
    };
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

/// Photograph the page as `dashboard-{name}.png`, when screenshots are asked for.
async fn picture(browser: &Browser, name: &str) {
    let png = browser.client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    if let Some(dir) = screenshot_dir() {
        std::fs::write(dir.join(format!("dashboard-{name}.png")), png).unwrap();
    }
}

/// The HTTP status of the page the browser shows.
async fn page_status(browser: &Browser) -> u64 {
    browser
        .client
        .execute(
            "return performance.getEntriesByType('navigation')[0].responseStatus;",
            vec![],
        )
        .await
        .unwrap()
        .as_u64()
        .expect("a navigation status")
}

/// axe-core's violations on the page shown: rule, impact, help and the offending nodes'
/// selectors.
async fn violations(browser: &Browser) -> Vec<Value> {
    let client = &browser.client;
    // Scripts run through WebDriver are not subject to the page's Content-Security-Policy.
    let loaded = client
        .execute(&format!("{AXE}\n;return typeof axe;"), vec![])
        .await
        .unwrap();
    assert_eq!(loaded, "object", "axe-core loaded");
    let found = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
axe.run(document)
  .then(r => done({passes: r.passes.length, violations: r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => n.target.join(' '))
  }))}))
  .catch(e => done({error: String(e)}));"#,
            vec![],
        )
        .await
        .unwrap();
    assert!(found["error"].is_null(), "axe-core failed: {found}");
    assert!(
        found["passes"].as_u64().unwrap() > 0,
        "axe-core checked nothing"
    );
    found["violations"].as_array().unwrap().clone()
}

/// Fail on any serious or critical accessibility violation of the page shown, listing
/// each.
pub(crate) async fn accessible(browser: &Browser, page: &str) {
    let found = violations(browser).await;
    let listed = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        found
            .iter()
            .filter(|v| keep(v))
            .map(|v| {
                format!(
                    "{} ({}): {} at {}",
                    v["id"], v["impact"], v["help"], v["nodes"]
                )
            })
            .collect()
    };
    let serious = |v: &Value| v["impact"] == "serious" || v["impact"] == "critical";
    let bad = listed(&serious);
    let minor = listed(&|v| !serious(v));
    if !minor.is_empty() {
        eprintln!(
            "{page}: minor or moderate accessibility findings:\n{}",
            minor.join("\n")
        );
    }
    assert!(
        bad.is_empty(),
        "{page}: {} serious or critical accessibility violations:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

async fn log_in(browser: &Browser, base: &str, email: &str) {
    browser.goto(&format!("{base}/dashboard/login")).await;
    let field = browser.visible("#email").await;
    field.send_keys(email).await.unwrap();
    browser
        .visible("#password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser.click(".login button[type=submit]").await;
    let client = &browser.client;
    let arrived = tokio::time::timeout(std::time::Duration::from_secs(20), async move {
        loop {
            if client.find(Locator::Css("header.top nav")).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    if arrived.is_err() {
        let url = client.current_url().await.unwrap();
        let source = client.source().await.unwrap();
        panic!("{email} did not reach the dashboard: {url}\n{source}");
    }
}

async fn log_out(browser: &Browser) {
    browser
        .click("form[action='/dashboard/logout'] button[type=submit]")
        .await;
    browser.visible("#email").await;
}

/// The page's main text.
async fn main_text(browser: &Browser) -> String {
    browser.text("main").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reviewer_approves_a_flagged_verification_in_the_browser() {
    let Some(browser) = desktop("dashboard").await else {
        return;
    };
    let (receiver, hook) = Receiver::start(None).await;
    let server = Instance::start(&hook).await;
    let base = server.base.clone();
    server.user("admin@example.org", Role::Admin, &[]).await;
    server
        .user(
            "rita@example.org",
            Role::Reviewer,
            std::slice::from_ref(&server.key_id),
        )
        .await;
    server.user("otto@example.org", Role::Reviewer, &[]).await;
    let id = server.flagged("ORDER-77").await;
    let page = format!("{base}/dashboard/verifications/{id}");

    // The login page, then the queue with the flagged verification and its reason.
    browser.goto(&format!("{base}/dashboard/login")).await;
    browser.visible("#email").await;
    accessible(&browser, "login").await;
    // The check finds what it should: a field without a label is a critical violation.
    browser
        .client
        .execute(
            "const i = document.createElement('input'); i.id = 'unlabelled'; document.querySelector('main').append(i);",
            vec![],
        )
        .await
        .unwrap();
    let found = violations(&browser).await;
    assert!(
        found.iter().any(|v| v["id"] == "label"
            && v["impact"] == "critical"
            && v["nodes"].to_string().contains("#unlabelled")),
        "{found:?}"
    );
    log_in(&browser, &base, "rita@example.org").await;
    let queue = main_text(&browser).await;
    assert!(queue.contains(&id), "{queue}");
    assert!(queue.contains("FACE_MATCH_UNCERTAIN"), "{queue}");
    assert!(queue.contains("ORDER-77"), "{queue}");
    assert!(queue.contains("shop"), "{queue}");
    accessible(&browser, "queue").await;
    picture(&browser, "queue-desktop").await;

    // The verification with its attempts.
    browser
        .click(&format!("ol.queue a[href='/dashboard/verifications/{id}']"))
        .await;
    browser.visible("form.review").await;
    let shown = main_text(&browser).await;
    assert!(shown.contains("needs_manual_review"), "{shown}");
    let attempts = browser
        .client
        .find_all(Locator::Css("ol.attempts > li"))
        .await
        .unwrap();
    assert_eq!(attempts.len(), 3);
    let listed = browser.text("ol.attempts").await;
    assert!(listed.contains("form_data: rejected"), "{listed}");
    assert!(listed.contains("FIELD_INVALID"), "{listed}");
    // The selfie, shown large and as the attempt's thumbnail, is served and decodes.
    let client = &browser.client;
    let sizes = eventually("the images to load", || async move {
        let sizes = client
            .execute(
                "const imgs = [...document.querySelectorAll('main img')]; \
                 return imgs.every(i => i.complete) ? imgs.map(i => i.naturalWidth) : null;",
                vec![],
            )
            .await
            .ok()?;
        sizes.as_array().cloned()
    })
    .await;
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes.iter().all(|w| w.as_u64().unwrap() > 0), "{sizes:?}");
    accessible(&browser, "verification").await;
    picture(&browser, "verification-desktop").await;

    // A decision whose form lost its CSRF token is refused and changes nothing.
    browser
        .client
        .execute(
            "document.querySelector('form.review input[name=csrf]').remove();",
            vec![],
        )
        .await
        .unwrap();
    browser.click("form.review input[value=verified]").await;
    browser
        .visible("#review-reason")
        .await
        .send_keys("forged")
        .await
        .unwrap();
    browser.click("form.review button[type=submit]").await;
    let client = &browser.client;
    eventually("the refusal", || async move {
        let url = client.current_url().await.ok()?;
        url.path().ends_with("/review").then_some(())
    })
    .await;
    assert_eq!(page_status(&browser).await, 403);
    assert!(main_text(&browser).await.contains("Not allowed"));
    accessible(&browser, "403").await;
    assert_eq!(server.status(&id).await, Status::NeedsManualReview);

    // The real decision.
    browser.goto(&page).await;
    browser.click("form.review input[value=verified]").await;
    browser
        .visible("#review-reason")
        .await
        .send_keys("document and selfie compared by hand")
        .await
        .unwrap();
    browser
        .visible("#review-note")
        .await
        .send_keys("glasses in the selfie")
        .await
        .unwrap();
    browser.click("form.review button[type=submit]").await;
    let status = browser.text(".summary .status").await;
    assert_eq!(status, "verified");
    let summary = browser.text(".summary").await;
    assert!(summary.contains("decided by"), "{summary}");
    assert!(
        browser
            .client
            .find_all(Locator::Css("form.review"))
            .await
            .unwrap()
            .is_empty(),
        "a decided verification has no review form"
    );
    assert_eq!(server.status(&id).await, Status::Verified);
    accessible(&browser, "verification (decided)").await;

    // The server's dispatcher tells the key's receiver who decided.
    let completed = eventually("verification.completed", || {
        let receiver = receiver.clone();
        async move {
            receiver
                .bodies()
                .into_iter()
                .find(|b| b["type"] == "verification.completed")
        }
    })
    .await;
    assert_eq!(completed["data"]["verification_id"], json!(id));
    assert_eq!(completed["data"]["status"], "verified");
    let decision = &completed["data"]["decision"];
    assert_eq!(decision["status"], "verified", "{completed}");
    assert_eq!(decision["decided_by"], "operator", "{completed}");
    assert_eq!(decision["reviewer"], "rita@example.org", "{completed}");
    assert_eq!(
        decision["reason"], "document and selfie compared by hand",
        "{completed}"
    );
    assert_eq!(decision["note"], "glasses in the selfie", "{completed}");

    // The queue is empty now.
    browser.goto(&format!("{base}/dashboard")).await;
    assert!(
        main_text(&browser)
            .await
            .contains("Nothing is waiting for review")
    );
    accessible(&browser, "empty queue").await;

    // A reviewer without a grant on the key may not open it.
    log_out(&browser).await;
    log_in(&browser, &base, "otto@example.org").await;
    assert!(!main_text(&browser).await.contains(&id));
    browser.goto(&page).await;
    browser.visible("main h1").await;
    assert_eq!(page_status(&browser).await, 403);
    assert!(main_text(&browser).await.contains("Not allowed"));
    assert!(!main_text(&browser).await.contains("ORDER-77"));
    accessible(&browser, "403").await;

    // The admin's pages.
    browser.goto(&format!("{base}/dashboard")).await;
    log_out(&browser).await;
    log_in(&browser, &base, "admin@example.org").await;
    for (path, heading) in [("keys", "keys"), ("users", "users")] {
        browser.goto(&format!("{base}/dashboard/{path}")).await;
        let h1 = browser.text("main h1").await;
        assert!(h1.to_lowercase().contains(heading), "{h1}");
        accessible(&browser, path).await;
    }
    let users = main_text(&browser).await;
    assert!(users.contains("rita@example.org"), "{users}");
    // Search by reference, and the audit log with the reviewer's decision.
    for (path, name, expect) in [
        ("search?q=ORDER-77", "search", id.as_str()),
        ("audit", "audit", "rita@example.org"),
    ] {
        browser.goto(&format!("{base}/dashboard/{path}")).await;
        browser.visible("main h1").await;
        assert_eq!(page_status(&browser).await, 200, "{name}");
        let text = main_text(&browser).await;
        assert!(text.contains(expect), "{name}: {text}");
        accessible(&browser, name).await;
    }
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_at_phone_width() {
    let Some(browser) = Browser::phone("dashboard-phone", None).await else {
        return;
    };
    let (_receiver, hook) = Receiver::start(None).await;
    let server = Instance::start(&hook).await;
    let base = server.base.clone();
    server
        .user(
            "rita@example.org",
            Role::Reviewer,
            std::slice::from_ref(&server.key_id),
        )
        .await;
    let id = server.flagged("ORDER-77").await;
    log_in(&browser, &base, "rita@example.org").await;
    assert!(main_text(&browser).await.contains(&id));
    accessible(&browser, "queue (phone)").await;
    picture(&browser, "queue-phone").await;
    browser
        .goto(&format!("{base}/dashboard/verifications/{id}"))
        .await;
    browser.visible("form.review").await;
    // Nothing is wider than the phone's screen.
    let width = browser
        .client
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .unwrap();
    assert!(width.as_u64().unwrap() <= 390, "page width {width}");
    accessible(&browser, "verification (phone)").await;
    picture(&browser, "verification-phone").await;
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_steps_have_no_serious_accessibility_violations() {
    let Some(browser) = Browser::phone("portal-axe", None).await else {
        return;
    };
    let (_receiver, hook) = Receiver::start(None).await;
    let server = Instance::start(&hook).await;
    let id = server.generate().await;
    browser
        .goto(&format!("{}/verify?verification_id={id}", server.base))
        .await;
    browser.step("terms").await;
    accessible(&browser, "terms").await;
    // Not `accept_terms`, which photographs the step for the portal's own pictures.
    browser.click("#terms-accept").await;
    browser.click("#terms-form button[type=submit]").await;
    browser.step("document_type").await;
    accessible(&browser, "document type").await;
    browser.click("#doctype-id_card").await;
    browser.click("#doctype-form button[type=submit]").await;
    browser.step("document_front").await;
    accessible(&browser, "document front").await;
    browser.client.clone().close().await.unwrap();
}
