//! The `v2client` binary: key management, migrations, start-up errors, and the first
//! start that creates and prints one key.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Db, TestApp, TestDb, start_server, start_server_with, v2client};

both_stores!(a_key_revoked_by_the_cli_is_refused_by_a_running_server_within_a_second);

async fn run(data_dir: &Path, args: &[&str]) -> Output {
    v2client(data_dir)
        .args(args)
        .output()
        .await
        .expect("run v2client")
}

/// The binary with extra settings.
fn configured(data_dir: &Path, env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = v2client(data_dir);
    cmd.envs(env.iter().copied());
    cmd
}

/// Create a verification on a running server; its id.
async fn generate_over_http(client: &reqwest::Client, base: &str, key: &str) -> String {
    let r = client
        .post(format!("{base}/api/generate-verification"))
        .header("X-SDK-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned()
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

    // Webhooks: a secret shown once, an https URL required.
    let hooked = run(
        dir.path(),
        &[
            "keys",
            "create",
            "--name",
            "Hooks",
            "--webhook-url",
            "https://hooks.example.com/v2client",
            "--json",
        ],
    )
    .await;
    assert!(hooked.status.success(), "{hooked:?}");
    let hooked: Value = serde_json::from_str(stdout(&hooked).trim()).unwrap();
    assert!(
        hooked["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(hooked["webhook_url"], "https://hooks.example.com/v2client");
    let refused = run(
        dir.path(),
        &[
            "keys",
            "create",
            "--name",
            "Bad",
            "--webhook-url",
            "http://hooks.example.com/",
        ],
    )
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https"));
    let hook_prefix = hooked["prefix"].as_str().unwrap();
    let rotated = run(
        dir.path(),
        &[
            "keys",
            "rotate-webhook-secret",
            hook_prefix,
            "--grace",
            "1h",
            "--json",
        ],
    )
    .await;
    assert!(rotated.status.success(), "{rotated:?}");
    let rotated: Value = serde_json::from_str(stdout(&rotated).trim()).unwrap();
    assert_ne!(rotated["webhook_secret"], hooked["webhook_secret"]);
    let events = run(dir.path(), &["webhooks", "list", "--json"]).await;
    assert!(events.status.success());
    assert_eq!(stdout(&events).trim(), "[]");
    let missing = run(dir.path(), &["webhooks", "redeliver", "evt_nope"]).await;
    assert!(!missing.status.success());

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
        (vec!["--retention", "4000d"], "at most 3650d"),
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
async fn the_verification_ttl_is_bounded_and_expiry_is_rfc3339() {
    let dir = tempfile::tempdir().unwrap();
    for (ttl, needle) in [
        ("3000000d", "at most 30d"),
        ("31d", "at most 30d"),
        ("99999999999999999999d", "too long"),
        ("30s", "at least 1m"),
        ("0s", "at least 1m"),
    ] {
        let o = run(dir.path(), &["keys", "create", "--name", "x", "--ttl", ttl]).await;
        assert_eq!(o.status.code(), Some(2), "--ttl {ttl}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "--ttl {ttl}: {err}");
    }
    let mut keys = Vec::new();
    for ttl in ["1m", "30d"] {
        let o = run(
            dir.path(),
            &["keys", "create", "--name", ttl, "--ttl", ttl, "--json"],
        )
        .await;
        assert!(o.status.success(), "--ttl {ttl}: {o:?}");
        let out: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        keys.push(out["key"].as_str().unwrap().to_owned());
    }
    let url = format!("sqlite://{}", dir.path().join("v2client.db").display());
    let app = TestApp::with_env(Db::Sqlite, &[("DATABASE_URL", url.as_str())])
        .await
        .unwrap();
    // A key stored before the bounds existed, with a TTL beyond any calendar.
    let (_, ancient) = app
        .new_key(v2client::domain::KeySettings {
            ttl_seconds: u64::MAX,
            ..Default::default()
        })
        .await;
    let expect = [
        (&keys[0], 60),
        (&keys[1], 30 * 86_400),
        (&ancient.expose().to_owned(), 30 * 86_400),
    ];
    for (key, secs) in expect {
        let r = app.generate(Some(key), None).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let body = r.json();
        let text = body["expiresAt"].as_str().unwrap();
        assert!(text.ends_with('Z') && text.len() == 20, "{text}");
        let expires = chrono::DateTime::parse_from_rfc3339(text).unwrap();
        let left = expires.timestamp() - chrono::Utc::now().timestamp();
        assert!(
            (secs - 5..=secs).contains(&left),
            "{text}: {left}s left, not {secs}"
        );
        let id = body["verificationId"].as_str().unwrap();
        let d = app
            .get(&format!("/api/get-verification-details/{id}"), Some(key))
            .await
            .json();
        assert_eq!(d["expires_at"], text);
    }
    let listed = run(dir.path(), &["keys", "list", "--json"]).await;
    let listed: Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    let ttls: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["verification_ttl"].as_str().unwrap())
        .collect();
    assert!(ttls.contains(&"1m") && ttls.contains(&"720h"), "{ttls:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_service_can_read_its_files() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let set = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let db = data.join("v2client.db");
    let files = [
        (data.clone(), 0o700),
        (db.clone(), 0o600),
        (data.join("v2client.db-wal"), 0o600),
        (data.join("v2client.db-shm"), 0o600),
        (data.join("blob.key"), 0o600),
        (data.join("blobs"), 0o700),
    ];
    // Created private on the first start (WAL and shared memory exist while it runs).
    let (child, key, address, _) = start_server(&data).await;
    v2client::install_tls_provider();
    generate_over_http(
        &reqwest::Client::new(),
        &format!("http://{address}"),
        &key.unwrap(),
    )
    .await;
    for (path, want) in &files {
        assert_eq!(mode(path), *want, "{}", path.display());
    }
    terminate(child).await;

    // Loosened (a restored backup, a folder made by hand): tightened at the next start.
    for (path, _) in &files {
        if path.exists() {
            set(path, if path.is_dir() { 0o755 } else { 0o644 });
        }
    }
    let (child, _, _, log) = start_server(&data).await;
    for (path, want) in &files {
        assert_eq!(mode(path), *want, "{} after restart", path.display());
    }
    terminate(child).await;
    let log = log.await.unwrap();
    let warned: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["level"] == "WARN"
                && v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("permissions tightened"))
        })
        .map(|v| v["fields"]["path"].as_str().unwrap().to_owned())
        .collect();
    for path in [&data, &db, &data.join("blob.key"), &data.join("blobs")] {
        assert!(
            warned.contains(&path.display().to_string()),
            "no warning for {}: {warned:?}",
            path.display()
        );
    }
}

async fn a_key_revoked_by_the_cli_is_refused_by_a_running_server_within_a_second(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [("DATABASE_URL", tdb.settings.database.url.as_str())];
    let created = configured(dir.path(), &env)
        .args(["keys", "create", "--name", "soon-revoked", "--json"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let created: Value = serde_json::from_str(stdout(&created).trim()).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let prefix = created["prefix"].as_str().unwrap().to_owned();
    // The server remembers verified keys (5 s by default).
    let (child, _, address, _log) = start_server_with(configured(dir.path(), &env)).await;
    v2client::install_tls_provider();
    let client = reqwest::Client::new();
    let check = || async {
        client
            .get(format!("http://{address}/api/check-config"))
            .header("X-SDK-Key", &key)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(check().await, 200);
    assert_eq!(check().await, 200, "now from the cache");
    // Revoked by another process, on the same database.
    let revoked = configured(dir.path(), &env)
        .args(["keys", "revoke", &prefix])
        .output()
        .await
        .unwrap();
    assert!(revoked.status.success(), "{revoked:?}");
    let since = std::time::Instant::now();
    let took = loop {
        if check().await == 401 {
            break since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_millis(1500),
            "the revoked key still works after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        took <= Duration::from_secs(1),
        "refused only after {took:?}"
    );
    terminate(child).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_uploads_finish_or_fail_cleanly_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (child, key, address, _log) = start_server_with(configured(
        dir.path(),
        &[("V2CLIENT_SHUTDOWN_TIMEOUT", "20s")],
    ))
    .await;
    let key = key.unwrap();
    v2client::install_tls_provider();
    let client = reqwest::Client::new();
    let base = format!("http://{address}");
    // Several verifications, each one upload away from a document check.
    let image = v2client::imaging::encode_jpeg(
        &v2client_testkit::synth::photo(
            v2client::domain::DocumentType::IdCard,
            1280,
            960,
            v2client_testkit::synth::Variant::Clean,
            4,
        )
        .image,
        90,
    )
    .unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = generate_over_http(&client, &base, &key).await;
        let r = client
            .post(format!("{base}/api/portal/{id}/terms"))
            .json(&serde_json::json!({"accepted": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        ids.push(id);
    }
    let upload = |id: &str, side: &str| {
        let form = reqwest::multipart::Form::new()
            .text("document_type", "id_card")
            .part(
                "image",
                reqwest::multipart::Part::bytes(image.clone()).file_name("photo.jpg"),
            );
        let req = client
            .post(format!("{base}/api/portal/{id}/document/{side}"))
            .multipart(form);
        tokio::spawn(async move { req.send().await })
    };
    // Out-of-order `back` uploads are refused quickly; the real work is the front.
    let uploads: Vec<_> = ids.iter().map(|id| upload(id, "back")).collect();
    let fronts: Vec<_> = ids.iter().map(|id| upload(id, "front")).collect();
    // Let the uploads reach the server, then ask it to stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let status = terminate(child).await;
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(25), "exit took {took:?}");
    let mut completed = 0;
    for (task, expect_ok) in uploads
        .into_iter()
        .map(|t| (t, false))
        .chain(fronts.into_iter().map(|t| (t, true)))
    {
        match task.await.unwrap() {
            Ok(res) => {
                let status = res.status().as_u16();
                assert!(status < 500, "no server error during shutdown: {status}");
                let body: Value = res.json().await.unwrap();
                if expect_ok {
                    assert_eq!(status, 200, "{body}");
                    assert!(body["attempt_id"].as_str().is_some());
                    completed += 1;
                } else {
                    assert_eq!(body["code"], "INVALID_STEP");
                }
            }
            // Refused or cut off before it was taken: nothing was written for it.
            Err(e) => assert!(e.is_connect() || e.is_request(), "{e}"),
        }
    }
    assert!(
        completed >= 1,
        "uploads in flight at SIGTERM were allowed to finish"
    );
    // What was answered is what was stored: restart on the same data and compare.
    let (child, _, address, _) = start_server(dir.path()).await;
    let mut stored = 0;
    for id in &ids {
        let d: Value = client
            .get(format!(
                "http://{address}/api/get-verification-details/{id}"
            ))
            .header("X-SDK-Key", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stored += d["attempts"].as_array().unwrap().len();
    }
    assert_eq!(
        stored, completed,
        "every answered upload is stored, nothing more"
    );
    terminate(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_before_a_kill_is_delivered_after_restart() {
    use axum::routing::post;
    // A receiver on a loopback port.
    let hits: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let seen = hits.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                seen.lock().unwrap().push((id, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let dir = tempfile::tempdir().unwrap();
    let allow = [("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "true")];
    let created = v2client(dir.path())
        .envs(allow)
        .args(["keys", "create", "--name", "hooks", "--flow", "terms"])
        .args(["--webhook-url", &hook, "--json"])
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let key: Value = serde_json::from_str(stdout(&created).trim()).unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    // The dispatcher looks once at start, then not for an hour: the event stays queued.
    let (mut child, _, address, _) = start_server_with(configured(
        dir.path(),
        &[allow[0], ("V2CLIENT_WEBHOOK_POLL_INTERVAL", "1h")],
    ))
    .await;
    v2client::install_tls_provider();
    let client = reqwest::Client::new();
    let id = generate_over_http(&client, &format!("http://{address}"), &key).await;
    let r = client
        .get(format!("http://{address}/api/portal/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "verification.started is committed");
    // Killed outright: no shutdown, no delivery.
    child.kill().await.unwrap();
    assert!(hits.lock().unwrap().is_empty());
    let listed = v2client(dir.path())
        .args(["webhooks", "list", "--json"])
        .output()
        .await
        .unwrap();
    let events: Value = serde_json::from_str(stdout(&listed).trim()).unwrap();
    assert_eq!(events[0]["state"], "pending");
    let event_id = events[0]["id"].as_str().unwrap().to_owned();
    // After a restart the event goes out, with the id it was committed with.
    let (child, _, _, _) = start_server_with(configured(dir.path(), &allow)).await;
    for _ in 0..100 {
        if !hits.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(child).await;
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].0, event_id);
    let body: Value = serde_json::from_str(&hits[0].1).unwrap();
    assert_eq!(body["type"], "verification.started");
    assert_eq!(body["data"]["verification_id"], json!(id));
}

/// The test photographs and a blank picture, as files.
fn photo_files(dir: &Path) -> [std::path::PathBuf; 4] {
    let files = [
        (
            "astronaut.jpg",
            include_bytes!("../fixtures/astronaut.jpg").to_vec(),
        ),
        (
            "obama.jpg",
            include_bytes!("../fixtures/obama.jpg").to_vec(),
        ),
        (
            "obama2.jpg",
            include_bytes!("../fixtures/obama2.jpg").to_vec(),
        ),
        (
            "blank.jpg",
            v2client::imaging::encode_jpeg(&image::RgbImage::new(320, 240), 90).unwrap(),
        ),
    ];
    files.map(|(name, bytes)| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    })
}

#[tokio::test]
async fn faces_compare_and_liveness_print_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let [astronaut, obama, obama2, blank] = photo_files(dir.path());
    let s = |p: &std::path::PathBuf| p.to_str().unwrap().to_owned();
    let compare = |a: &std::path::PathBuf, b: &std::path::PathBuf| {
        let (a, b) = (s(a), s(b));
        let dir = dir.path().to_owned();
        async move { run(&dir, &["faces", "compare", &a, &b, "--json"]).await }
    };
    for (a, b, decision) in [(&obama2, &obama, "match"), (&astronaut, &obama, "no_match")] {
        let out = compare(a, b).await;
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
        assert_eq!(v["decision"], decision, "{v}");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["decision", "similarity", "thresholds"]);
        assert_eq!(v["thresholds"], json!({"match": 0.45, "no_match": 0.3}));
        assert!(v["similarity"].as_f64().unwrap().abs() <= 1.0);
    }
    // The instance's thresholds are the ones applied.
    let out = configured(
        dir.path(),
        &[
            ("V2CLIENT_FACE_MATCH_THRESHOLD", "0.99"),
            ("V2CLIENT_FACE_NO_MATCH_THRESHOLD", "0.2"),
        ],
    )
    .args(["faces", "compare", &s(&obama2), &s(&obama), "--json"])
    .output()
    .await
    .unwrap();
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["decision"], "uncertain", "{v}");
    // No face: a non-zero exit and the error shape with its code.
    let out = compare(&blank, &astronaut).await;
    assert!(!out.status.success());
    let v: Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    assert_eq!(v["code"], "FACE_NOT_FOUND");
    assert!(v["details"].as_str().unwrap().contains("blank.jpg"), "{v}");
    assert!(v["error"].is_string());
    let out = run(
        dir.path(),
        &[
            "faces",
            "compare",
            &s(&astronaut),
            "/nonexistent.jpg",
            "--json",
        ],
    )
    .await;
    assert!(!out.status.success());

    let out = run(dir.path(), &["faces", "liveness", &s(&astronaut), "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(v["spoof_score"].as_f64().unwrap() < 0.5, "{v}");
    assert_eq!(v["spoof_suspected"], false);
    let out = run(dir.path(), &["faces", "liveness", &s(&blank), "--json"]).await;
    assert!(!out.status.success());
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["code"], "FACE_NOT_FOUND");
}

#[tokio::test]
async fn a_missing_face_model_stops_the_server_before_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let models = tempfile::tempdir().unwrap();
    let out = configured(
        dir.path(),
        &[
            ("V2CLIENT_FACE_MODELS_DIR", models.path().to_str().unwrap()),
            ("V2CLIENT_BIND", "127.0.0.1:0"),
        ],
    )
    .arg("serve")
    .output()
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fr_detect.onnx"), "{err}");
    assert!(!err.contains("v2client listening"), "{err}");
    // Bad thresholds are refused at start-up too, naming the variable.
    let out = configured(dir.path(), &[("V2CLIENT_FACE_NO_MATCH_THRESHOLD", "0.9")])
        .arg("serve")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("V2CLIENT_FACE_MATCH_THRESHOLD"));
}

#[tokio::test]
async fn keys_carry_their_own_face_thresholds_and_liveness_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "keys",
            "create",
            "--name",
            "Strict",
            "--face-match-threshold",
            "0.6",
            "--face-no-match-threshold",
            "0.35",
            "--strict-liveness",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["face_match"], json!({"match": 0.6, "no_match": 0.35}));
    assert_eq!(v["strict_liveness"], true);
    // Both thresholds or neither; and they must make sense.
    for args in [
        &["--face-match-threshold", "0.6"][..],
        &[
            "--face-match-threshold",
            "0.3",
            "--face-no-match-threshold",
            "0.5",
        ][..],
        &[
            "--face-match-threshold",
            "2",
            "--face-no-match-threshold",
            "0.5",
        ][..],
    ] {
        let mut all = vec!["keys", "create", "--name", "Bad"];
        all.extend_from_slice(args);
        let out = run(dir.path(), &all).await;
        assert!(!out.status.success(), "{args:?} was accepted");
    }
}

/// A 2 MP photo of a document printed for `holder` with `zone` as its zone, on a layout
/// other than the built-in template; with `blot`, the zone's first date digit (TD1: line 2,
/// cell 0) is covered by a blot.
fn document_photo(
    doc: v2client::domain::DocumentType,
    holder: &v2client_testkit::mrz::Holder,
    zone: &[String],
    blot: bool,
) -> Vec<u8> {
    use v2client_testkit::card::{self, FaceLayout, Shot};
    let shot = Shot::clean(doc, 1600, 1200);
    let layout = FaceLayout::portrait_right(doc);
    let mut face = card::document_face_with_zone(doc, shot.face_width(), 5, holder, &layout, zone);
    if blot {
        card::blot_zone_cell(&mut face.image, doc, zone.len(), 1, 0);
    }
    card::photograph_jpeg(&face.image, &shot, 5)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

#[tokio::test]
async fn document_read_prints_the_zone_or_a_coded_error() {
    use v2client::domain::DocumentType::{DrivingLicence, IdCard, Passport};
    use v2client_testkit::mrz::Holder;
    use v2client_testkit::synth::Rng;

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };

    // An identity card: every field, exit 0.
    let holder = Holder::random(IdCard, &mut Rng::new(11));
    let zone = holder.zone(IdCard);
    let card_file = write("card.jpg", &document_photo(IdCard, &holder, &zone, false));
    let out = run(
        dir.path(),
        &[
            "document", "read", &card_file, "--type", "id_card", "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["format"], "TD1", "{v}");
    assert_eq!(v["document_code"], "I");
    assert_eq!(v["document_number"], holder.document_number.as_str());
    assert_eq!(v["issuing_state"], holder.issuing_state.as_str());
    assert_eq!(v["surname"], holder.surname.as_str());
    assert_eq!(v["given_names"], holder.given_names.as_str());
    assert_eq!(v["date_of_birth"], holder.birth_date());
    assert_eq!(
        v["checks"],
        json!({"document_number": true, "date_of_birth": true, "date_of_expiry": true, "composite": true})
    );
    assert_eq!(v["valid"], true);
    // The same as a line of text.
    let out = run(
        dir.path(),
        &["document", "read", &card_file, "--type", "id_card"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let line = stdout(&out);
    assert!(line.starts_with("TD1 I "), "{line}");
    assert!(line.contains(&holder.document_number), "{line}");
    assert!(line.contains("every check digit agrees"), "{line}");

    // A passport is the default type; its TD3 zone has a personal-number check.
    let holder = Holder::for_document(Passport);
    let passport = write(
        "passport.jpg",
        &document_photo(Passport, &holder, &holder.zone(Passport), false),
    );
    let out = run(dir.path(), &["document", "read", &passport, "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["format"], "TD3", "{v}");
    assert_eq!(v["document_number"], "L898902C3");
    assert_eq!(v["date_of_expiry"], "2041-04-15");
    assert_eq!(v["checks"]["personal_number"], true);
    assert_eq!(v["valid"], true);

    // What cannot be read: a non-zero exit and the error shape with its code.
    let holder = Holder::random(IdCard, &mut Rng::new(12));
    let zone = holder.zone(IdCard);
    let blotted = write("blotted.jpg", &document_photo(IdCard, &holder, &zone, true));
    let blank = write(
        "blank.jpg",
        &v2client::imaging::encode_jpeg(&image::RgbImage::new(640, 480), 90).unwrap(),
    );
    let licence = write(
        "licence.jpg",
        &document_photo(DrivingLicence, &holder, &[], false),
    );
    let text = write("notes.txt", b"not an image");
    for (file, doc, code) in [
        (&blotted, "id_card", "MRZ_UNREADABLE"),
        (&licence, "driving_licence", "MRZ_NOT_FOUND"),
        (&blank, "passport", "DOCUMENT_NOT_FOUND"),
        (&text, "passport", "UNSUPPORTED_FORMAT"),
    ] {
        let out = run(
            dir.path(),
            &["document", "read", file, "--type", doc, "--json"],
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{code}: {out:?}");
        let v = json_of(&out);
        assert_eq!(v["code"], code, "{v}");
        assert!(v["error"].is_string() && v["details"].is_string(), "{v}");
    }
    let out = run(
        dir.path(),
        &["document", "read", "/nonexistent.jpg", "--json"],
    )
    .await;
    assert_eq!(json_of(&out)["code"], "FILE_UNREADABLE");
    // An unknown type is refused by the parser, which lists the known ones.
    let out = run(
        dir.path(),
        &["document", "read", &card_file, "--type", "visa"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("id_card") && err.contains("driving_licence"),
        "{err}"
    );
}

#[tokio::test]
async fn document_read_reports_an_altered_date_as_not_valid() {
    use v2client::domain::DocumentType::IdCard;
    use v2client_testkit::mrz::{DateField, Holder, tamper_date};
    use v2client_testkit::synth::Rng;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("altered.jpg");
    // A date of birth altered in the zone, its check digit not: read, exit 0, not valid.
    let holder = Holder::random(IdCard, &mut Rng::new(12));
    let altered = tamper_date(&holder.zone(IdCard), DateField::Birth, &mut Rng::new(3));
    std::fs::write(&file, document_photo(IdCard, &holder, &altered, false)).unwrap();
    let file = file.to_str().unwrap();
    let out = run(
        dir.path(),
        &["document", "read", file, "--type", "id_card", "--json"],
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let v = json_of(&out);
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["checks"]["date_of_birth"], false, "{v}");
    assert_eq!(v["checks"]["document_number"], true, "{v}");
    assert_ne!(v["date_of_birth"], holder.birth_date());
}
