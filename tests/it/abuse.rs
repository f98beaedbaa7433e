//! The public surface under abuse: each probe an anonymous client (or a careless operator)
//! could run against a default instance, run against the real binary, with the bounded
//! outcome asserted — including the server's own peak memory (`VmHWM`) where the probe is
//! about memory.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{start_server_with, v2client};

/// A running server: the child, its address, the first key and the log collector.
struct Server {
    child: tokio::process::Child,
    addr: String,
    key: String,
    log: tokio::task::JoinHandle<String>,
    data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

const METRICS_TOKEN: &str = "abuse-metrics-token";

async fn server(env: &[(&str, &str)]) -> Server {
    v2client::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    // A folder the server creates itself, so its mode is the server's doing.
    let data = dir.path().join("data");
    let mut cmd = v2client(&data);
    cmd.env("V2CLIENT_METRICS_TOKEN", METRICS_TOKEN);
    cmd.envs(env.iter().copied());
    let (child, key, addr, log) = start_server_with(cmd).await;
    Server {
        child,
        addr,
        key: key.expect("the first start prints a key"),
        log,
        data,
        _dir: dir,
    }
}

impl Server {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's peak resident memory so far, in MB.
    fn peak_mb(&self) -> f64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM");
        kb / 1024.0
    }

    fn data_dir(&self) -> &Path {
        &self.data
    }

    /// A key with this flow, created with the CLI beside the running server.
    async fn key_with_flow(&self, flow: &str) -> String {
        let out = v2client(self.data_dir())
            .args(["keys", "create", "--name", flow, "--flow", flow, "--json"])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["key"].as_str().unwrap().to_owned()
    }

    async fn generate(&self, key: &str) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/api/generate-verification", self.base()))
            .header("X-SDK-Key", key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A verification of `key`, opened in the portal so its steps can be submitted.
    async fn open_verification(&self, key: &str) -> String {
        let (status, v) = self.generate(key).await;
        assert_eq!(status, 200, "{v}");
        let id = v["verificationId"].as_str().unwrap().to_owned();
        let r = reqwest::get(format!("{}/api/portal/{id}", self.base()))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        id
    }

    async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        self.log.await.unwrap()
    }
}

/// Send a request whose body is `total` bytes of `filler`, written while the answer is
/// read: returns the status and how many body bytes the server let in before answering.
async fn post_streaming(
    addr: &str,
    path: &str,
    content_type: &str,
    total: usize,
    filler: u8,
) -> (u16, usize) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {total}\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![filler; 64 * 1024];
    let writer = async {
        let mut sent = 0usize;
        while sent < total {
            let n = chunk.len().min(total - sent);
            if wr.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            sent += n;
        }
        // Keep the connection open for the answer.
        std::future::pending::<()>().await;
        sent
    };
    let reader = async {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        loop {
            let n = rd.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            answer = reader => answer,
            n = writer => { sent.store(n, std::sync::atomic::Ordering::Relaxed); String::new() }
        }
    })
    .await
    .expect("an answer within 30 s");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, sent.into_inner())
}

/// Send `body` while reading the answer, as a client whose upload is cut short by an early
/// refusal still sees it: the status and the answer's body.
async fn post_raw(addr: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let writer = async {
        if wr.write_all(head.as_bytes()).await.is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if wr.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
        // The answer may still be on its way.
        std::future::pending::<()>().await;
    };
    let reader = async {
        let mut got = Vec::new();
        let _ = rd.read_to_end(&mut got).await;
        String::from_utf8_lossy(&got).into_owned()
    };
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::select! {
            answer = reader => answer,
            _ = writer => unreachable!(),
        }
    })
    .await
    .expect("an answer within 30 s");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_body_for_an_unknown_verification_is_refused_unread() {
    let s = server(&[]).await;
    let before = s.peak_mb();
    let (status, _) = post_streaming(
        &s.addr,
        "/api/portal/ver_00000000000000000000000000000000/terms",
        "application/json",
        100 * 1024 * 1024,
        b'[',
    )
    .await;
    assert_eq!(status, 404);
    // The same body for a real verification is over the step's limit.
    let id = s.open_verification(&s.key.clone()).await;
    let (status, _) = post_streaming(
        &s.addr,
        &format!("/api/portal/{id}/terms"),
        "application/json",
        100 * 1024 * 1024,
        b'[',
    )
    .await;
    assert_eq!(status, 413);
    let added = s.peak_mb() - before;
    assert!(added < 32.0, "a refused 100 MB body added {added:.1} MB");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_add_no_series_no_memory_and_no_long_log_lines() {
    let s = server(&[]).await;
    let metrics = |s: &Server| {
        let url = format!("{}/metrics", s.base());
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(METRICS_TOKEN)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    // Warm up every code path once, then measure.
    let _ = metrics(&s).await;
    let series_before = metrics(&s)
        .await
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let before = s.peak_mb();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..2_000 {
        let method: String = (0..30 * 1024)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (b'A' + (rng % 26) as u8) as char
            })
            .collect();
        let mut stream = TcpStream::connect(&s.addr).await.unwrap();
        let req = format!(
            "{method} /api/check-config?n={i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            status == 405 || status == 400 || status == 431,
            "{}",
            &text[..text.len().min(300)]
        );
    }
    let text = metrics(&s).await;
    let series_after = text.lines().filter(|l| !l.starts_with('#')).count();
    // One new series at most per status class the odd methods produced.
    assert!(
        series_after <= series_before + 3,
        "{series_before} series before, {series_after} after"
    );
    let added = s.peak_mb() - before;
    assert!(added < 8.0, "2 000 odd methods added {added:.1} MB");
    let log = s.stop().await;
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 1_000, "a log line of {longest} bytes");
    assert!(log.len() < 2_000 * 600, "{} bytes of log", log.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_qr_entry_never_spends_the_api_quota() {
    let s = server(&[]).await;
    let out = v2client(s.data_dir())
        .args(["keys", "list", "--json"])
        .output()
        .await
        .unwrap();
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = keys[0]["qr_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut created = 0;
    for _ in 0..110 {
        let r = client
            .get(format!("{}/generate?token={token}", s.base()))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            303 => created += 1,
            429 => assert!(r.headers().contains_key("retry-after")),
            other => panic!("QR entry answered {other}"),
        }
    }
    assert!(
        created > 0 && created < 110,
        "{created} created by one address"
    );
    // The operator's own API is untouched.
    let (status, v) = s.generate(&s.key.clone()).await;
    assert_eq!(status, 200, "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_with_300_000_unknown_fields_is_refused_and_nothing_is_stored() {
    let s = server(&[]).await;
    let key = s.key_with_flow("form_data").await;
    let id = s.open_verification(&key).await;
    let mut body = String::from(
        "{\"first_name\":\"Ada\",\"last_name\":\"L\",\"date_of_birth\":\"1985-12-10\"",
    );
    for i in 0..300_000 {
        body.push_str(&format!(",\"k{i}\":\"v\""));
    }
    body.push('}');
    // Written while the answer is read: the server may refuse before the upload ends.
    let (status, answer) = post_raw(
        &s.addr,
        &format!("/api/portal/{id}/form"),
        "application/json",
        body.as_bytes(),
    )
    .await;
    assert!(status == 400 || status == 413, "{status} {answer}");
    let v: Value = serde_json::from_str(answer.trim()).unwrap_or(Value::Null);
    assert!(
        v["code"] == "INVALID_REQUEST" || v["code"] == "PAYLOAD_TOO_LARGE",
        "{answer}"
    );
    // A small form with a few unknown fields names them and stores nothing.
    let r = reqwest::Client::new()
        .post(format!("{}/api/portal/{id}/form", s.base()))
        .json(&serde_json::json!({"first_name": "Ada", "last_name": "L",
            "date_of_birth": "1985-12-10", "favourite_colour": "blue"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "INVALID_REQUEST");
    assert!(
        v["details"].as_str().unwrap().contains("favourite_colour"),
        "{v}"
    );
    let details = reqwest::Client::new()
        .get(format!("{}/api/get-verification-details/{id}", s.base()))
        .header("X-SDK-Key", &key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        details.len() < 4_096,
        "details grew to {} bytes",
        details.len()
    );
    assert!(!details.contains("favourite_colour"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_liveness_burst_stays_within_the_memory_budget() {
    let s = server(&[]).await;
    let key = s.key_with_flow("liveness").await;
    let id = s.open_verification(&key).await;
    // A blank 8000×5000 JPEG compresses to little on the wire and is 120 MB decoded.
    let frame = v2client::imaging::encode_jpeg(&image::RgbImage::new(8000, 5000), 50).unwrap();
    let mut form = reqwest::multipart::Form::new();
    for i in 0..8 {
        form = form.part(
            "frames",
            reqwest::multipart::Part::bytes(frame.clone())
                .file_name(format!("f{i}.jpg"))
                .mime_str("image/jpeg")
                .unwrap(),
        );
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/portal/{id}/liveness", s.base()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    // Refused as too large, or judged and rejected: never decoded whole, never a 5xx.
    assert!(
        status == 413
            || status == 422
            || status == 400
            || (status == 200 && v["status"] == "rejected"),
        "{status} {v}"
    );
    let peak = s.peak_mb();
    assert!(peak < 200.0, "peak {peak:.0} MB");
    s.stop().await;
}

#[tokio::test]
async fn an_absurd_verification_ttl_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for ttl in ["3000000d", "99999999999999d", "10s", "31d"] {
        let out = v2client(dir.path())
            .args(["keys", "create", "--name", "x", "--ttl", ttl])
            .output()
            .await
            .unwrap();
        assert!(!out.status.success(), "--ttl {ttl} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("at most 30d") || err.contains("at least 1m"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = server(&[]).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(s.data_dir()), 0o700);
    for entry in std::fs::read_dir(s.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    s.stop().await;
}
