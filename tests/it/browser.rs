//! The portal in a real headless Chromium, driven through chromedriver (WebDriver): the
//! whole flow by file upload, the camera with Chromium's fake capture device, a retry
//! after a rejection, an expired link, the return_url redirect and the SDK's modal on
//! another origin. Each test starts its own server binary and its own browser.
//!
//! Every step is photographed. With `V2CLIENT_SCREENSHOTS=1` the pictures go to
//! `docs/screenshots/` (the README shows them); otherwise to a temp folder.
//!
//! Needs `chromedriver` (Debian's `chromium-driver`; `CHROMEDRIVER` names another path).
//! Without it the tests are skipped, except under `CI=true`, where that is a failure.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use image::{DynamicImage, GenericImageView, RgbImage, imageops::FilterType};
use serde_json::{Value, json};
use v2client::domain::DocumentType;
use v2client::imaging;
use v2client_testkit::synth::{self, Variant};

use crate::backend::id_card_with_face;
use crate::common::{start_server_with, v2client};
use crate::dashboard_browser::accessible;
use crate::faces::{astronaut, zoom_in, zoom_out};

/// Longest wait for anything the page does (an image check in a debug build included).
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

pub(crate) fn chromedriver() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
    );
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but chromedriver is not at {} (install chromium and chromium-driver, or set CHROMEDRIVER)",
            path.display()
        );
    }
    eprintln!(
        "skipping browser test: no chromedriver at {}",
        path.display()
    );
    None
}

pub(crate) fn free_port() -> u16 {
    // Taken and released: another process could grab it before the server binds, a race
    // small enough for tests.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `check` until it yields a value, for at most [`PATIENCE`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The real server binary on a port chosen beforehand, so its public URL is known.
struct Server {
    dir: tempfile::TempDir,
    base: String,
    key: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = v2client(dir.path());
        Self::configure(&mut cmd, port);
        let (child, key, address, _log) = start_server_with(cmd).await;
        assert_eq!(address, format!("127.0.0.1:{port}"));
        v2client::install_tls_provider();
        Server {
            dir,
            base: format!("http://127.0.0.1:{port}"),
            key: key.expect("the first start prints a key"),
            http: reqwest::Client::new(),
            _child: child,
        }
    }

    fn configure(cmd: &mut tokio::process::Command, port: u16) {
        cmd.env("V2CLIENT_BIND", format!("127.0.0.1:{port}"))
            .env("V2CLIENT_PUBLIC_URL", format!("http://127.0.0.1:{port}"));
    }

    /// A key made with `v2client keys create` on the same database.
    async fn create_key(&self, args: &[&str]) -> String {
        let out = v2client(self.dir.path())
            .args(["keys", "create", "--name", "browser", "--json"])
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["key"].as_str().unwrap().to_owned()
    }

    /// Move a verification's expiry into the past, as if its TTL (a minute at least) had
    /// run out.
    async fn expire(&self, id: &str) {
        let url = format!("sqlite://{}", self.dir.path().join("v2client.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let past = v2client::domain::verification::now() - chrono::Duration::seconds(1);
        let done = sqlx::query("UPDATE verifications SET expires_at = ?1 WHERE id = ?2")
            .bind(past)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        pool.close().await;
    }

    async fn generate(&self, key: &str, body: Value) -> String {
        let r = self
            .http
            .post(format!("{}/api/generate-verification", self.base))
            .header("X-SDK-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["verificationId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn details(&self, key: &str, id: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/api/get-verification-details/{id}", self.base))
            .header("X-SDK-Key", key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// What the portal API tells the page (the liveness challenge, for one).
    async fn portal_state(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/api/portal/{id}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn verify_url(&self, id: &str) -> String {
        format!("{}/verify?verification_id={id}", self.base)
    }
}

/// chromedriver, its Chromium and one WebDriver session. The driver runs in its own
/// process group, killed whole on drop, so no browser outlives a failed test.
pub(crate) struct Browser {
    pub(crate) client: Client,
    pub(crate) driver: tokio::process::Child,
    pub(crate) _profile: tempfile::TempDir,
    pub(crate) shots: Shots,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Browser {
    /// A phone-sized browser (touch, 390×844), optionally with a fake camera playing
    /// `video`.
    pub(crate) async fn phone(test: &str, video: Option<&Path>) -> Option<Browser> {
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
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            // One renderer for the SDK's cross-origin frame and its host page, so the phone
            // emulation (touch, screen size) reaches the frame too, as on a real phone.
            "--disable-site-isolation-trials".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if let Some(video) = video {
            args.push("--use-fake-ui-for-media-stream".into());
            args.push("--use-fake-device-for-media-stream".into());
            args.push(format!(
                "--use-file-for-fake-video-capture={}",
                video.display()
            ));
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": args,
                "mobileEmulation": {
                    "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 1.0, "touch": true},
                    "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36"
                }
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen.
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
        Some(Browser {
            client,
            driver,
            _profile: profile,
            shots: Shots::new(test),
        })
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Wait until `css` matches a displayed element, and return it.
    pub(crate) async fn visible(&self, css: &str) -> fantoccini::elements::Element {
        let client = &self.client;
        eventually(css, || async move {
            let el = client.find(Locator::Css(css)).await.ok()?;
            el.is_displayed().await.ok()?.then_some(el)
        })
        .await
    }

    /// Wait until the step's section is the one shown.
    pub(crate) async fn step(&self, step: &str) {
        self.visible(&format!("section#step-{step}:not([hidden])"))
            .await;
    }

    pub(crate) async fn click(&self, css: &str) {
        self.visible(css).await.click().await.unwrap();
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        self.visible(css).await.text().await.unwrap()
    }

    /// Choose files in a (possibly hidden) file input: one absolute path per line.
    async fn choose_files(&self, css: &str, files: &[PathBuf]) {
        let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        let input = self.client.find(Locator::Css(css)).await.unwrap();
        input.send_keys(&paths.join("\n")).await.unwrap();
    }

    async fn shot(&mut self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        self.shots.save(name, &png);
    }

    pub(crate) async fn accept_terms(&mut self) {
        self.step("terms").await;
        self.shot("terms").await;
        self.click("#terms-accept").await;
        self.click("#terms-form button[type=submit]").await;
    }

    /// Choose a photo for a document side and send it.
    async fn send_document(&mut self, side: &str, photo: &Path) {
        self.step(&format!("document_{side}")).await;
        self.choose_files(&format!("#file-{side}"), &[photo.to_owned()])
            .await;
        self.visible(&format!("#step-document_{side} img.preview"))
            .await;
        self.shot(&format!("document-{side}")).await;
        self.click(&format!("#step-document_{side} [data-action=send]"))
            .await;
    }
}

/// Where screenshots go, numbered in the order they were taken.
pub(crate) struct Shots {
    dir: PathBuf,
    test: String,
    n: usize,
    _tmp: Option<tempfile::TempDir>,
}

impl Shots {
    pub(crate) fn new(test: &str) -> Shots {
        let (dir, tmp) = if std::env::var("V2CLIENT_SCREENSHOTS").is_ok_and(|v| v == "1") {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            (dir, None)
        } else {
            let tmp = tempfile::tempdir().unwrap();
            (tmp.path().to_owned(), Some(tmp))
        };
        Shots {
            dir,
            test: test.to_owned(),
            n: 0,
            _tmp: tmp,
        }
    }

    fn save(&mut self, name: &str, png: &[u8]) {
        self.n += 1;
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self
            .dir
            .join(format!("{}-{}-{name}.png", self.test, self.n));
        std::fs::write(path, png).unwrap();
    }
}

fn write_jpeg(dir: &Path, name: &str, img: &RgbImage) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, imaging::encode_jpeg(img, 92).unwrap()).unwrap();
    path
}

fn liveness_frames(challenge: &str) -> Vec<DynamicImage> {
    if challenge == "closer" {
        zoom_in()
    } else {
        zoom_out()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow_by_file_upload_ends_verified() {
    let Some(mut browser) = Browser::phone("upload", None).await else {
        return;
    };
    let server = Server::start().await;
    let files = tempfile::tempdir().unwrap();
    let front = write_jpeg(files.path(), "front.jpg", &id_card_with_face());
    let back = write_jpeg(
        files.path(),
        "back.jpg",
        &synth::photo(DocumentType::IdCard, 1280, 960, Variant::Clean, 31).image,
    );
    let id = server.generate(&server.key, json!({})).await;

    browser.goto(&server.verify_url(&id)).await;
    browser.accept_terms().await;

    browser.step("document_type").await;
    browser.shot("document-type").await;
    browser.click("#doctype-id_card").await;
    browser.click("#doctype-form button[type=submit]").await;

    browser.send_document("front", &front).await;
    browser.step("document_back").await;
    accessible(&browser, "document back").await;
    browser.send_document("back", &back).await;

    browser.step("liveness").await;
    accessible(&browser, "liveness").await;
    let challenge = server.portal_state(&id).await["liveness_challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = browser.text("#challenge").await;
    assert!(
        shown.contains(if challenge == "closer" {
            "closer"
        } else {
            "away"
        }),
        "{challenge}: {shown}"
    );
    browser.shot("liveness").await;
    let frames: Vec<PathBuf> = liveness_frames(&challenge)
        .iter()
        .enumerate()
        .map(|(i, f)| write_jpeg(files.path(), &format!("frame-{i}.jpg"), &f.to_rgb8()))
        .collect();
    browser.choose_files("#file-liveness", &frames).await;

    browser.step("form_data").await;
    browser.shot("form").await;
    // The form offers what the document's zone says (the generated holder); the user
    // confirms it as it is.
    for (field, read) in [
        ("first_name", "Anna Maria"),
        ("last_name", "Eriksson"),
        ("date_of_birth", "1974-08-12"),
    ] {
        let el = browser.visible(&format!("#field-{field}")).await;
        assert_eq!(
            el.prop("value").await.unwrap().as_deref(),
            Some(read),
            "{field}"
        );
    }
    assert!(!browser.text("#form-prefilled").await.is_empty());
    accessible(&browser, "form").await;
    browser.shot("form-filled").await;
    browser.click("#details-form button[type=submit]").await;

    browser
        .visible("section#step-done[data-result=verified]:not([hidden])")
        .await;
    assert_eq!(browser.text("#result-title").await, "You are verified");
    accessible(&browser, "result").await;
    browser.shot("verified").await;

    let d = eventually("a decision", || async {
        let d = server.details(&server.key, &id).await;
        (d["status"]["current"] != "processing").then_some(d)
    })
    .await;
    assert_eq!(d["status"]["current"], "verified", "{d}");
    assert_eq!(d["results"]["form_data"]["last_name"], "Eriksson");
    assert_eq!(d["results"]["form_data"]["date_of_birth"], "1974-08-12");
    assert_eq!(d["results"]["document"]["mrz"]["surname"], "ERIKSSON");
    assert_eq!(d["results"]["face_match"]["decision"], "match");
    browser.client.clone().close().await.unwrap();
}

/// A test key's verification in the portal: the banner says so, placeholders stand in for
/// every photo, and the outcome picked in the banner is the one the verification gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_verification_ends_as_the_tester_picked() {
    let Some(mut browser) = Browser::phone("test-mode", None).await else {
        return;
    };
    let server = Server::start().await;
    let key = server.create_key(&["--test"]).await;
    assert!(key.starts_with("v2c_test_"), "{key}");
    let id = server
        .generate(&key, json!({"extra_data": {"test_outcome": "verified"}}))
        .await;

    browser.goto(&server.verify_url(&id)).await;
    browser.step("terms").await;
    let banner = browser.text("#test-banner").await;
    assert!(banner.contains("Test mode"), "{banner}");
    accessible(&browser, "test mode").await;
    // The tester picks the outcome; it wins over extra_data.test_outcome.
    browser
        .visible("#test-outcome")
        .await
        .select_by_value("needs_manual_review")
        .await
        .unwrap();
    browser.shot("banner").await;
    browser.click("#terms-accept").await;
    browser.click("#terms-form button[type=submit]").await;

    browser.step("document_type").await;
    browser.click("#doctype-id_card").await;
    browser.click("#doctype-form button[type=submit]").await;
    for side in ["front", "back"] {
        browser.step(&format!("document_{side}")).await;
        browser
            .click(&format!("#step-document_{side} [data-action=placeholder]"))
            .await;
    }
    browser.step("liveness").await;
    browser
        .click("#step-liveness [data-action=placeholder]")
        .await;

    browser.step("form_data").await;
    browser
        .client
        .execute(
            "for (const [name, value] of [['first_name', 'Test'], ['last_name', 'Person'], \
             ['date_of_birth', '1990-01-01']]) { document.getElementById('field-' + name).value = value; }",
            vec![],
        )
        .await
        .unwrap();
    browser.click("#details-form button[type=submit]").await;
    browser
        .visible("section#step-done[data-result=review]:not([hidden])")
        .await;
    assert!(browser.text("#test-banner").await.contains("Test mode"));
    browser.shot("result").await;

    let d = server.details(&key, &id).await;
    assert_eq!(d["status"]["current"], "needs_manual_review", "{d}");
    assert_eq!(d["test"], true);
    assert_eq!(d["results"]["form_data"]["last_name"], "Person");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "front, back, liveness, form: {d}");
    assert!(
        attempts.iter().all(|a| a["metrics"]["simulated"] == true),
        "{d}"
    );
    browser.client.clone().close().await.unwrap();
}

/// A YUV4MPEG2 video (4:2:0, 10 frames a second) of the given RGB frames, for Chromium's
/// fake camera.
fn y4m(frames: &[RgbImage]) -> Vec<u8> {
    let (w, h) = frames[0].dimensions();
    let mut out = format!("YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for frame in frames {
        out.extend_from_slice(b"FRAME\n");
        let px = |x: u32, y: u32| {
            let p = frame.get_pixel(x, y).0;
            (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]))
        };
        for y in 0..h {
            for x in 0..w {
                let (r, g, b) = px(x, y);
                out.push(
                    (0.299 * r + 0.587 * g + 0.114 * b)
                        .round()
                        .clamp(0.0, 255.0) as u8,
                );
            }
        }
        // Chroma from each 2×2 block's average (full-range BT.601, as JPEG uses).
        let mut u = Vec::new();
        let mut v = Vec::new();
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                let (mut r, mut g, mut b) = (0.0, 0.0, 0.0);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = px((x + dx).min(w - 1), (y + dy).min(h - 1));
                    r += p.0 / 4.0;
                    g += p.1 / 4.0;
                    b += p.2 / 4.0;
                }
                u.push((128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b).clamp(0.0, 255.0) as u8);
                v.push((128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b).clamp(0.0, 255.0) as u8);
            }
        }
        out.extend_from_slice(&u);
        out.extend_from_slice(&v);
    }
    out
}

/// Four seconds of the test face moving steadily closer (or farther): crops of the photo
/// around the face, shrinking from the whole picture to 160 px, each scaled back to full
/// size. The page's two-second burst falls inside the first pass of the loop.
fn camera_video(challenge: &str) -> Vec<RgbImage> {
    let img = astronaut();
    let (w, h) = img.dimensions();
    let face = v2client::faces::detect_faces(&img)[0];
    let (cx, cy) = (face.x + face.width / 2, face.y + face.height / 2);
    let count = 40;
    let mut frames: Vec<RgbImage> = (0..count)
        .map(|i| {
            let t = f64::from(i) / f64::from(count - 1);
            let side = (256.0 * (160.0f64 / 256.0).powf(t)).round() as u32;
            let x = cx.saturating_sub(side / 2).min(w - side);
            let y = cy.saturating_sub(side / 2).min(h - side);
            img.crop_imm(x, y, side, side)
                .resize_exact(w, h, FilterType::Triangle)
                .to_rgb8()
        })
        .collect();
    if challenge != "closer" {
        frames.reverse();
    }
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_camera_records_the_liveness_burst() {
    if chromedriver().is_none() {
        return;
    }
    let server = Server::start().await;
    let key = server.create_key(&["--flow", "liveness"]).await;
    let id = server.generate(&key, json!({})).await;
    // The video must show the movement asked for, so it is made after the challenge is known.
    let challenge = server.portal_state(&id).await["liveness_challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let files = tempfile::tempdir().unwrap();
    let video = files.path().join("face.y4m");
    std::fs::write(&video, y4m(&camera_video(&challenge))).unwrap();
    let Some(mut browser) = Browser::phone("camera", Some(&video)).await else {
        return;
    };

    browser.goto(&server.verify_url(&id)).await;
    browser.step("liveness").await;
    browser.shot("liveness").await;
    browser.click("#step-liveness [data-action=camera]").await;
    browser.click("#step-liveness [data-action=record]").await;
    browser.shot("recording").await;

    // Liveness alone has no document photo to compare the face with: the result is
    // verified or under review, never rejected.
    let done = browser.visible("section#step-done:not([hidden])").await;
    let result = done.attr("data-result").await.unwrap().unwrap_or_default();
    assert!(result == "verified" || result == "review", "{result}");
    browser.shot("done").await;
    let d = server.details(&key, &id).await;
    assert_eq!(d["status"]["progress"]["liveness"], "completed", "{d}");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{d}");
    assert_eq!(attempts[0]["status"], "accepted", "{d}");
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_photo_says_what_to_fix_and_a_retry_is_accepted() {
    let Some(mut browser) = Browser::phone("retry", None).await else {
        return;
    };
    let server = Server::start().await;
    let key = server
        .create_key(&["--flow", "document", "--document-types", "id_card"])
        .await;
    let id = server.generate(&key, json!({})).await;
    let files = tempfile::tempdir().unwrap();
    let blurry = write_jpeg(
        files.path(),
        "blurry.jpg",
        &synth::photo(DocumentType::IdCard, 1280, 960, Variant::Blurred, 3).image,
    );
    let front = write_jpeg(files.path(), "front.jpg", &id_card_with_face());

    browser.goto(&server.verify_url(&id)).await;
    browser.send_document("front", &blurry).await;
    let problem = browser.visible("#problem li").await.text().await.unwrap();
    assert!(problem.to_lowercase().contains("blur"), "{problem}");
    assert_eq!(browser.text("#problem .attempts").await, "Attempts left: 4");
    browser.step("document_front").await;
    browser.shot("rejected").await;

    browser.send_document("front", &front).await;
    browser.step("document_back").await;
    browser.shot("accepted").await;
    let d = server.details(&key, &id).await;
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{d}");
    assert_eq!(attempts[0]["status"], "rejected");
    assert_eq!(attempts[1]["status"], "accepted");
    browser.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_shows_the_expired_page() {
    let Some(mut browser) = Browser::phone("expired", None).await else {
        return;
    };
    let server = Server::start().await;
    let key = server.create_key(&["--ttl", "1m"]).await;
    let id = server.generate(&key, json!({})).await;
    server.expire(&id).await;
    let r = server
        .http
        .get(server.verify_url(&id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);

    browser.goto(&server.verify_url(&id)).await;
    let title = browser.text("h1, h2").await;
    assert!(title.contains("expired"), "{title}");
    assert!(
        browser
            .client
            .source()
            .await
            .unwrap()
            .contains("This link has expired")
    );
    accessible(&browser, "expired link").await;
    browser.shot("expired").await;
    browser.client.clone().close().await.unwrap();
}

/// A small web server on another loopback port: `pages` are served at their paths.
async fn host(pages: Vec<(&'static str, String)>) -> (u16, tokio::task::JoinHandle<()>) {
    let mut router = axum::Router::new();
    for (path, html) in pages {
        router = router.route(
            path,
            axum::routing::get(move || async move { axum::response::Html(html) }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_result_counts_down_and_returns_to_the_service() {
    let Some(mut browser) = Browser::phone("return", None).await else {
        return;
    };
    let server = Server::start().await;
    let (port, site) = host(vec![(
        "/back",
        "<!doctype html><title>back</title><meta name=\"viewport\" content=\"width=device-width\"><h1>Back at the shop</h1>".into(),
    )])
    .await;
    let origin = format!("http://127.0.0.1:{port}");
    let key = server
        .create_key(&["--flow", "terms", "--allowed-return-origin", &origin])
        .await;
    let id = server
        .generate(
            &key,
            json!({"return_url": format!("{origin}/back?order=7")}),
        )
        .await;

    browser.goto(&server.verify_url(&id)).await;
    browser.accept_terms().await;
    browser
        .visible("section#step-done[data-result=verified]:not([hidden])")
        .await;
    let countdown = browser.text("#countdown").await;
    assert!(countdown.starts_with("Taking you back in"), "{countdown}");
    browser.shot("countdown").await;

    let client = &browser.client;
    let url = eventually("the return page", || async move {
        let url = client.current_url().await.ok()?;
        (url.path() == "/back").then_some(url)
    })
    .await;
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query.get("verification_id"), Some(&id));
    assert_eq!(query.get("status").map(String::as_str), Some("verified"));
    assert_eq!(query.get("order").map(String::as_str), Some("7"));
    browser.visible("h1").await;
    browser.shot("returned").await;
    browser.client.clone().close().await.unwrap();
    site.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_modal_on_another_origin_reports_success() {
    let Some(mut browser) = Browser::phone("sdk", None).await else {
        return;
    };
    let server = Server::start().await;
    // The host page is told the portal's address and the verification id in its query.
    let page = format!(
        r#"<!doctype html>
<html><head><title>shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{base}/modal.css">
<script src="{base}/verification-sdk.js"></script>
</head><body><h1>The shop</h1><p id="events"></p>
<script>
  const params = new URLSearchParams(location.search);
  const record = (e) => {{
    document.getElementById('events').textContent += e.type + ':' + e.status + ' ';
    document.title = e.type;
  }};
  const sdk = new VerificationSDK({{
    baseUrl: '{base}',
    onSuccess: record, onNeedsReview: record, onError: record, onClose: record,
  }});
  sdk.openWithVerificationId(params.get('id'));
</script></body></html>"#,
        base = server.base
    );
    let (port, site) = host(vec![("/shop", page)]).await;
    let origin = format!("http://localhost:{port}");
    let key = server
        .create_key(&["--flow", "terms", "--allowed-return-origin", &origin])
        .await;
    let id = server.generate(&key, json!({})).await;

    browser.goto(&format!("{origin}/shop?id={id}")).await;
    let frame = browser.visible(".v2c-modal iframe").await;
    frame.enter_frame().await.unwrap();
    browser.accept_terms().await;
    // On success the SDK closes its modal, frame and all.
    browser.client.enter_parent_frame().await.unwrap();
    let client = &browser.client;
    let title = eventually("onSuccess", || async move {
        let t = client.title().await.ok()?;
        (t == "success").then_some(t)
    })
    .await;
    assert_eq!(title, "success");
    browser.shot("done").await;
    assert!(browser.text("#events").await.contains("success:verified"));
    assert!(
        browser
            .client
            .find_all(Locator::Css(".v2c-overlay"))
            .await
            .unwrap()
            .is_empty(),
        "the modal closed"
    );
    browser.client.clone().close().await.unwrap();
    site.abort();
}
