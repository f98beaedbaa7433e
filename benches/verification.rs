//! What one whole verification costs, through the portal API as a browser drives it: the
//! server's router in this process on its embedded SQLite store and local blob store,
//! with the built-in backend; generate, the portal state, terms, two 12 MP document
//! photos (an id card's front with a portrait, and its back with the machine-readable
//! zone), a liveness burst of four 1280 × 720 frames, the form as the zone pre-fills it,
//! then the decision (face match included) and the details.
//!
//! Reports the process's CPU time per verification (every thread), the wall time of each
//! step, the peak memory (VmHWM) and so the verifications one core decides per hour.
//!
//! `cargo bench --bench verification` (`-- N` for N verifications; 5 by default). Pin it
//! to one core with `taskset -c 0` for the per-core figure.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use v2client::domain::KeySettings;
use v2client::{AppState, keys};

#[path = "support/mod.rs"]
mod support;
use support::{VerificationInputs, astronaut, cpu_time, median_of, ms, status_kb};

const BOUNDARY: &str = "v2clientbenchboundary";
const STEPS: [&str; 7] = [
    "generate + open",
    "terms",
    "document front",
    "document back",
    "liveness",
    "form + decision",
    "details",
];

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let inputs = Inputs::new();
    println!(
        "inputs: front {:.1} MB, back {:.1} MB (4000 × 3000 JPEG q90), 4 liveness frames \
         {:.0} kB in all",
        inputs.front.len() as f64 / 1e6,
        inputs.back.len() as f64 / 1e6,
        inputs.frames_closer.iter().map(Vec::len).sum::<usize>() as f64 / 1e3
    );
    let dir = tempfile::tempdir().unwrap();
    let (router, key) = rt.block_on(server(dir.path()));
    // One verification first: the models load, the glyph templates render, the pool fills.
    rt.block_on(verification(&router, &key, &inputs));
    let hwm_before = status_kb("VmHWM");

    let mut cpu = Vec::new();
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); STEPS.len()];
    let mut decided = Vec::new();
    for _ in 0..runs {
        let c0 = cpu_time();
        let (steps, status) = rt.block_on(verification(&router, &key, &inputs));
        cpu.push(cpu_time() - c0);
        for (i, d) in steps.into_iter().enumerate() {
            walls[i].push(d);
        }
        decided.push(status);
    }
    let cpu_median = median_of(cpu.clone());
    println!("decisions: {decided:?}");
    println!("| step | wall (median of {runs}) |");
    println!("|---|---|");
    for (name, samples) in STEPS.iter().zip(walls) {
        println!("| {name} | {:.0} ms |", ms(median_of(samples)));
    }
    println!(
        "CPU per verification (user + system, every thread): median {:.0} ms, min {:.0} ms, \
         max {:.0} ms",
        ms(cpu_median),
        ms(*cpu.iter().min().unwrap()),
        ms(*cpu.iter().max().unwrap())
    );
    println!(
        "verifications per core per hour: {:.0}",
        3600.0 / cpu_median.as_secs_f64()
    );
    println!(
        "peak memory (VmHWM): {:.1} MB after the warm-up verification, {:.1} MB at the end",
        hwm_before as f64 / 1024.0,
        status_kb("VmHWM") as f64 / 1024.0
    );
}

/// The photos and frames every verification sends.
struct Inputs {
    front: Vec<u8>,
    back: Vec<u8>,
    frames_closer: Vec<Vec<u8>>,
    frames_farther: Vec<Vec<u8>>,
}

impl Inputs {
    fn new() -> Inputs {
        let sent = VerificationInputs::new(&astronaut());
        let mut frames_farther = sent.frames_closer.clone();
        frames_farther.reverse();
        Inputs {
            front: sent.front,
            back: sent.back,
            frames_closer: sent.frames_closer,
            frames_farther,
        }
    }
}

/// The server's router on a fresh SQLite database in `dir`, and an API key.
async fn server(dir: &std::path::Path) -> (Router, String) {
    let vars = [
        (
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("bench.db").display()),
        ),
        ("V2CLIENT_DATA_DIR", dir.display().to_string()),
        ("V2CLIENT_PUBLIC_URL", "https://verify.bench".to_owned()),
        ("V2CLIENT_LOG", "warn".to_owned()),
    ];
    let settings = v2client::config::Settings::load_with(&move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    let store = v2client::store::connect(&settings.database).await.unwrap();
    let state = AppState::new(settings, store).unwrap();
    let (_, key) = keys::create_key(state.store.as_ref(), "bench", KeySettings::default())
        .await
        .unwrap();
    (v2client::app(state), key.expose().to_owned())
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn json_request(method: &str, path: &str, key: Option<&str>, body: Value) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("x-sdk-key", k);
    }
    req.body(Body::from(body.to_string())).unwrap()
}

fn multipart(path: &str, parts: &[(&str, &[u8])]) -> Request<Body> {
    let mut body = Vec::new();
    for (name, data) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        body.extend_from_slice(
            format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}.jpg\"\r\n\
                 Content-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    Request::builder()
        .method("POST")
        .uri(path)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .unwrap()
}

/// One verification from generate to details: the wall time of each step, and the
/// status it ended in.
async fn verification(router: &Router, key: &str, inputs: &Inputs) -> (Vec<Duration>, String) {
    let mut steps = Vec::new();
    let ok = |what: &str, (status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        body
    };
    let t = Instant::now();
    let made = ok(
        "generate",
        send(
            router,
            json_request("POST", "/api/generate-verification", Some(key), json!({})),
        )
        .await,
    );
    let id = made["verificationId"].as_str().unwrap().to_owned();
    let portal = format!("/api/portal/{id}");
    let state = ok(
        "portal state",
        send(router, Request::get(&portal).body(Body::empty()).unwrap()).await,
    );
    steps.push(t.elapsed());

    let t = Instant::now();
    ok(
        "terms",
        send(
            router,
            json_request(
                "POST",
                &format!("{portal}/terms"),
                None,
                json!({"accepted": true}),
            ),
        )
        .await,
    );
    steps.push(t.elapsed());

    for (side, photo) in [("front", &inputs.front), ("back", &inputs.back)] {
        let t = Instant::now();
        let r = ok(
            side,
            send(
                router,
                multipart(
                    &format!("{portal}/document/{side}"),
                    &[("document_type", b"id_card"), ("image", photo)],
                ),
            )
            .await,
        );
        assert_eq!(r["status"], "accepted", "{side}: {r}");
        steps.push(t.elapsed());
    }

    let frames = if state["liveness_challenge"] == "farther" {
        &inputs.frames_farther
    } else {
        &inputs.frames_closer
    };
    let t = Instant::now();
    let parts: Vec<(&str, &[u8])> = frames.iter().map(|f| ("frames", f.as_slice())).collect();
    let r = ok(
        "liveness",
        send(router, multipart(&format!("{portal}/liveness"), &parts)).await,
    );
    assert_eq!(r["status"], "accepted", "liveness: {r}");
    steps.push(t.elapsed());

    // The form as the document's zone pre-fills it, confirmed.
    let prefill = ok(
        "portal state",
        send(router, Request::get(&portal).body(Body::empty()).unwrap()).await,
    )["form_prefill"]
        .clone();
    let t = Instant::now();
    ok(
        "form",
        send(
            router,
            json_request("POST", &format!("{portal}/form"), None, prefill),
        )
        .await,
    );
    steps.push(t.elapsed());

    let t = Instant::now();
    let details = ok(
        "details",
        send(
            router,
            Request::get(format!("/api/get-verification-details/{id}"))
                .header("x-sdk-key", key)
                .body(Body::empty())
                .unwrap(),
        )
        .await,
    );
    steps.push(t.elapsed());
    let status = details["status"]["current"].as_str().unwrap().to_owned();
    (steps, status)
}
