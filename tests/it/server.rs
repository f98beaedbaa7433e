//! The real binary's server loop: the header-read timeout, throttling by the connection's
//! peer address, and logs and metrics that stay bounded whatever a client sends.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{start_server_with, v2client};

/// Send `request` on a fresh connection and read until the server closes it.
async fn exchange(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("the server answered and closed")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = v2client(dir.path());
    cmd.env("V2CLIENT_HEADER_READ_TIMEOUT", "1s");
    let (_child, _, address, _log) = start_server_with(cmd).await;
    for partial in [&b""[..], b"GET /healthz HTTP/1.1\r\nHost: x\r\n"] {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream.write_all(partial).await.unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        // A reset or an orderly close: either way the connection is gone.
        let _closed = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut buf))
            .await
            .expect("the server closed the connection");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(800) && waited < Duration::from_secs(10),
            "closed after {waited:?}"
        );
        assert!(
            buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
    }
    // A complete request is still served.
    let answer = exchange(
        &address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn the_connections_peer_is_throttled() {
    v2client::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = v2client(dir.path());
    cmd.env("V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE", "3");
    let (_child, _, address, _log) = start_server_with(cmd).await;
    let client = reqwest::Client::new();
    let url = format!("http://{address}/api/portal/ver_{}", "0".repeat(32));
    for _ in 0..3 {
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
}

#[tokio::test]
async fn made_up_methods_paths_and_ids_leave_no_long_trace() {
    v2client::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = v2client(dir.path());
    cmd.env("V2CLIENT_METRICS_TOKEN", "scrape-me");
    let (mut child, _, address, log) = start_server_with(cmd).await;
    let long = "X".repeat(30 * 1024);
    for i in 0..200 {
        let request =
            format!("{long}{i} /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let answer = exchange(&address, request.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 405"),
            "{}",
            &answer[..60.min(answer.len())]
        );
        assert!(
            answer.contains("\"code\":\"METHOD_NOT_ALLOWED\""),
            "{answer}"
        );
    }
    for i in 0..50 {
        let request = format!(
            "GET /{long}/{i}?{long}={i} HTTP/1.1\r\nHost: x\r\nX-Request-Id: {long}{i}\r\nConnection: close\r\n\r\n"
        );
        let answer = exchange(&address, request.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 404"),
            "{}",
            &answer[..60.min(answer.len())]
        );
    }
    let metrics = reqwest::Client::new()
        .get(format!("http://{address}/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("v2client_http_requests_total{"))
        .count();
    assert!(series <= 3, "{metrics}");
    assert!(
        !metrics.contains("XXXX"),
        "a client's method became a label"
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let log = log.await.unwrap();
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    // A request line in JSON, with its span and timestamp, is about 350 bytes.
    assert!(longest < 400, "a log line of {longest} bytes");
    assert!(!log.contains("XXXXXXXX"), "client text reached the log");
    let requests = log
        .lines()
        .filter(|l| l.contains("\"message\":\"request\""))
        .count();
    // The 404s and the scrape are logged, the made-up methods are not.
    assert_eq!(requests, 51, "{log}");
}
