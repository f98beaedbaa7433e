//! The `v2client` binary: key management, migrations, start-up errors, and the first
//! start that creates and prints one key.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use crate::common::{Db, TestApp, start_server, v2client};

async fn run(data_dir: &Path, args: &[&str]) -> Output {
    v2client(data_dir)
        .args(args)
        .output()
        .await
        .expect("run v2client")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn keys_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let created = run(
        dir.path(),
        &[
            "keys",
            "create",
            "--name",
            "Shop",
            "--flow",
            "liveness,terms",
            "--ttl",
            "15m",
            "--allowed-return-origin",
            "https://app.example",
            "--generate-per-minute",
            "10",
            "--json",
        ],
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    // Exactly one JSON object on stdout.
    let text = stdout(&created);
    let out: Value = serde_json::from_str(text.trim()).expect("one JSON object");
    let key = out["key"].as_str().unwrap().to_owned();
    let prefix = out["prefix"].as_str().unwrap().to_owned();
    assert_eq!(out["name"], "Shop");
    assert!(out["id"].as_str().unwrap().starts_with("key_"));
    assert!(key.starts_with(&prefix) && prefix.starts_with("v2c_"));
    assert_eq!(out["flow"], serde_json::json!(["terms", "liveness"]));
    assert_eq!(out["verification_ttl"], "15m");
    assert_eq!(
        out["allowed_return_origins"],
        serde_json::json!(["https://app.example"])
    );
    assert_eq!(out["rate_limits"]["generate_per_minute"], 10);
    let qr_token = out["qr_token"].as_str().unwrap().to_owned();
    assert!(qr_token.starts_with("qr_"));

    // The key is accepted by the API on the same database.
    let url = format!("sqlite://{}", dir.path().join("v2client.db").display());
    let app = TestApp::with_env(Db::Sqlite, &[("DATABASE_URL", url.as_str())])
        .await
        .unwrap();
    assert_eq!(app.generate(Some(&key), None).await.status, StatusCode::OK);

    let listed = run(dir.path(), &["keys", "list"]).await;
    assert!(listed.status.success());
    let list = stdout(&listed);
    assert!(list.contains(&prefix) && list.contains("active") && list.contains("Shop"));
    assert!(!list.contains(&key), "list must never show keys");
    let listed = run(dir.path(), &["keys", "list", "--json"]).await;
    let json_list = stdout(&listed);
    assert!(!json_list.contains(&key));
    let parsed: Value = serde_json::from_str(&json_list).unwrap();
    assert!(parsed.as_array().unwrap().len() >= 2, "{parsed}");

    let revoked = run(dir.path(), &["keys", "revoke", &prefix]).await;
    assert!(revoked.status.success(), "{revoked:?}");
    assert!(stdout(&revoked).contains(&prefix));
    assert!(stdout(&run(dir.path(), &["keys", "list"]).await).contains("revoked"));
    let r = app.generate(Some(&key), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let rotated = run(dir.path(), &["keys", "rotate-qr", &prefix]).await;
    assert!(rotated.status.success(), "{rotated:?}");
    assert!(stdout(&rotated).contains("generate?token=qr_"));
    assert!(!stdout(&rotated).contains(&qr_token), "a new token");

    let missing = run(dir.path(), &["keys", "revoke", "key_doesnotexist"]).await;
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("key_doesnotexist"));
}

#[tokio::test]
async fn bad_arguments_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["--flow", "terms,selfie"], "selfie"),
        (vec!["--ttl", "10x"], "unit"),
        (
            vec!["--allowed-return-origin", "http://app.example"],
            "https",
        ),
        (
            vec!["--allowed-return-origin", "https://app.example/path"],
            "origin",
        ),
        (vec!["--redact", "face"], "face"),
    ] {
        let mut full = vec!["keys", "create", "--name", "x"];
        full.extend(args.iter());
        let o = run(dir.path(), &full).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(o.stdout.is_empty());
    }
}

#[tokio::test]
async fn unknown_database_scheme_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = v2client(dir.path())
        .env("DATABASE_URL", "mysql://localhost/v2client")
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("DATABASE_URL") && err.contains("mysql"),
        "{err}"
    );
}

#[tokio::test]
async fn migrate_creates_the_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("not/yet/there");
    let o = run(&nested, &["migrate"]).await;
    assert!(o.status.success(), "{o:?}");
    assert!(nested.join("v2client.db").exists());
    assert!(stdout(&o).contains("up to date"));
}

async fn terminate(mut child: tokio::process::Child) -> std::process::ExitStatus {
    let pid = child.id().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("server stopped after SIGTERM")
        .unwrap()
}

#[tokio::test]
async fn first_start_creates_one_key_and_serves_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (child, key, address, log) = start_server(dir.path()).await;
    let key = key.expect("the first start prints a key");
    v2client::install_tls_provider();
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{address}/api/generate-verification"))
        .header("X-SDK-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some());
    let id = r.json::<Value>().await.unwrap()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client
        .get(format!(
            "http://{address}/api/get-verification-details/{id}"
        ))
        .header("X-SDK-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let health = v2client(dir.path())
        .env("V2CLIENT_BIND", &address)
        .arg("healthcheck")
        .output()
        .await
        .unwrap();
    assert!(health.status.success(), "{health:?}");
    let status = terminate(child).await;
    assert!(status.success(), "graceful exit on SIGTERM: {status:?}");
    let log = log.await.unwrap();
    // One line per request with method, route, status and latency; the key never logged.
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["fields"]["message"] == "request")
        .collect();
    // generate, details, and the health check.
    assert_eq!(lines.len(), 3, "{log}");
    assert_eq!(lines[2]["fields"]["route"], "/healthz");
    assert_eq!(lines[0]["fields"]["method"], "POST");
    assert_eq!(lines[0]["fields"]["route"], "/api/generate-verification");
    assert_eq!(lines[0]["fields"]["status"], 200);
    assert!(
        lines[0]["fields"]["latency_ms"].is_string()
            || lines[0]["fields"]["latency_ms"].is_number()
    );
    assert!(lines[1]["span"]["request_id"].is_string(), "{}", lines[1]);
    assert!(!log.contains(&key), "the key appeared in the log");
    assert!(
        !log.contains(&format!("details/{id}")),
        "raw paths appeared in the log"
    );

    // With nothing listening, the health check fails.
    let health = v2client(dir.path())
        .env("V2CLIENT_BIND", &address)
        .arg("healthcheck")
        .output()
        .await
        .unwrap();
    assert!(!health.status.success());

    // The second start finds a key and prints none.
    let (child, key_again, _, _) = start_server(dir.path()).await;
    assert_eq!(key_again, None);
    terminate(child).await;
}
