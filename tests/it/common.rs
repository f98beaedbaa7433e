//! Test helpers: a fresh database per test (a temp SQLite file, or a fresh Postgres
//! schema), the whole app in-process, a small request helper, and the server binary
//! started on a real port.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tower::ServiceExt;
use v2client::config::{DatabaseKind, Settings};
use v2client::domain::{ApiKeySecret, KeySettings};
use v2client::store::{self, ApiKeyRecord, Store};
use v2client::{AppState, keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Run each listed `async fn name(db: Db)` once per store, as `sqlite::name` and
/// `postgres::name`.
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(crate::common::Db::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(crate::common::Db::Postgres).await }
            )*
        }
    };
}

/// The Postgres URL for tests, or `None` to skip. Under `CI=true` a missing URL panics:
/// CI must never skip the Postgres suite quietly.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: the Postgres suite cannot run")
        }
        _ => {
            eprintln!("skipping Postgres test: TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(db: Db) -> Option<TestDb> {
        Self::with_env(db, &[]).await
    }

    /// A fresh database, with extra settings given as environment variables.
    pub async fn with_env(db: Db, env: &[(&str, &str)]) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, schema) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            ),
            Db::Postgres => {
                let base = postgres_url()?;
                let schema = fresh_schema(&base).await;
                (with_search_path(&base, &schema), Some((base, schema)))
            }
        };
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), url),
            ("V2CLIENT_DATA_DIR".into(), dir.path().display().to_string()),
            ("V2CLIENT_KEY_CACHE_TTL".into(), "0s".into()),
            ("V2CLIENT_PUBLIC_URL".into(), "https://verify.test".into()),
            ("V2CLIENT_DB_MAX_CONNECTIONS".into(), "8".into()),
        ];
        for (k, v) in env {
            vars.retain(|(name, _)| name != k);
            vars.push((k.to_string(), v.to_string()));
        }
        let settings = Settings::load_with(&move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .expect("test settings are valid");
        let expected = match db {
            Db::Sqlite => DatabaseKind::Sqlite,
            Db::Postgres => DatabaseKind::Postgres,
        };
        assert_eq!(settings.database.kind, expected);
        let store = store::connect(&settings.database)
            .await
            .unwrap_or_else(|e| panic!("cannot open the {db:?} test database: {e:?}"));
        Some(TestDb {
            settings,
            store,
            _dir: dir,
            schema,
        })
    }
}

impl TestDb {
    /// The Postgres schema this test owns.
    pub fn schema_name(&self) -> Option<&str> {
        self.schema.as_ref().map(|(_, s)| s.as_str())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        // Drop runs inside the test's runtime; use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(pool) = sqlx::PgPool::connect(&base).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            })
        })
        .join();
    }
}

async fn fresh_schema(base: &str) -> String {
    let schema = format!(
        "v2c_test_{}",
        hex::encode(v2client::domain::ids::random_bytes::<6>())
    );
    let pool = sqlx::PgPool::connect(base)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Postgres at TEST_DATABASE_URL: {e}"));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&pool)
        .await
        .expect("create test schema");
    pool.close().await;
    schema
}

pub fn with_search_path(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// The whole app on a fresh database, with one key ready to use.
pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
    pub router: Router,
    pub key: ApiKeySecret,
    pub key_record: ApiKeyRecord,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    /// Send one request to a router.
    pub async fn from_router(
        router: &Router,
        method: &str,
        path: &str,
        key: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("x-sdk-key", k);
        }
        Reply::collect(router, req.body(Body::empty()).unwrap()).await
    }

    /// Send `req` to `router` and read the whole answer.
    pub async fn collect(router: &Router, req: Request<Body>) -> Reply {
        let res = router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Assert the documented error shape and return the code.
    pub fn error_code(&self) -> String {
        let body = self.json();
        assert!(body["error"].is_string(), "no `error` in {body}");
        assert!(body["details"].is_string(), "no `details` in {body}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "error content type"
        );
        body["code"].as_str().expect("code is a string").to_owned()
    }
}

impl TestApp {
    pub async fn new(db: Db) -> Option<TestApp> {
        Self::with_env(db, &[]).await
    }

    pub async fn with_env(db: Db, env: &[(&str, &str)]) -> Option<TestApp> {
        // Logs go to the test's captured output, shown when it fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("v2client=debug")
            .with_test_writer()
            .try_init();
        let db = TestDb::with_env(db, env).await?;
        let state = AppState::new(db.settings.clone(), db.store.clone()).expect("app state");
        let (key_record, key) = keys::create_key(db.store.as_ref(), "test", KeySettings::default())
            .await
            .expect("create key");
        Some(TestApp {
            router: v2client::app(state.clone()),
            state,
            db,
            key,
            key_record,
        })
    }

    pub async fn new_key(&self, settings: KeySettings) -> (ApiKeyRecord, ApiKeySecret) {
        keys::create_key(self.db.store.as_ref(), "other", settings)
            .await
            .expect("create key")
    }

    pub fn key(&self) -> &str {
        self.key.expose()
    }

    /// Send one request through the router.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        Reply::collect(&self.router, req).await
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        Reply::from_router(&self.router, "GET", path, key).await
    }

    /// POST /api/generate-verification with an optional JSON body.
    pub async fn generate(&self, key: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/api/generate-verification")
            .header("content-type", "application/json");
        if let Some(k) = key {
            req = req.header("x-sdk-key", k);
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
        self.send(req.body(body).unwrap()).await
    }

    /// Store a verification directly, owned by this app's key, in any status, expiring
    /// `expires_in` from now (negative: already past).
    pub async fn stored_verification(
        &self,
        status: v2client::domain::Status,
        expires_in: chrono::Duration,
    ) -> v2client::domain::Verification {
        use v2client::domain::verification::{initial_progress, now};
        let t = now();
        let flow = v2client::domain::Module::ALL.to_vec();
        let v = v2client::domain::Verification {
            id: v2client::domain::VerificationId::generate(),
            key_id: self.key_record.id.clone(),
            status,
            progress: initial_progress(&flow),
            flow,
            modules: KeySettings::default().modules(),
            results: Default::default(),
            extra_data: None,
            return_url: None,
            test: false,
            portal: Default::default(),
            version: 0,
            created_at: t - chrono::Duration::hours(3),
            updated_at: t - chrono::Duration::hours(2),
            expires_at: t + expires_in,
        };
        self.db.store.create_verification(&v, None).await.unwrap();
        v
    }

    /// A new key whose flow is `flow`, and a verification it generated: `(id, key)`.
    pub async fn verification_with_flow(
        &self,
        flow: Vec<v2client::domain::Module>,
    ) -> (String, ApiKeySecret) {
        let (_, key) = self
            .new_key(KeySettings {
                flow,
                ..KeySettings::default()
            })
            .await;
        let id = self.generate(Some(key.expose()), None).await.json()["verificationId"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, key)
    }

    /// Generate with this app's key and return the new verification id.
    pub async fn new_verification(&self, body: Option<Value>) -> String {
        let r = self.generate(Some(self.key()), body).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["verificationId"].as_str().unwrap().to_owned()
    }
}

/// The `v2client` binary with a clean environment and the given data folder.
pub fn v2client(data_dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_v2client"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("V2CLIENT_DATA_DIR", data_dir)
        .env("V2CLIENT_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

/// Start `serve`, return the child, the printed key (if any) and the bound address.
pub async fn start_server(
    data_dir: &Path,
) -> (
    tokio::process::Child,
    Option<String>,
    String,
    tokio::task::JoinHandle<String>,
) {
    start_server_with(v2client(data_dir)).await
}

/// [`start_server`] with a command already given its settings (see [`v2client`]).
pub async fn start_server_with(
    mut cmd: tokio::process::Command,
) -> (
    tokio::process::Child,
    Option<String>,
    String,
    tokio::task::JoinHandle<String>,
) {
    if !cmd.as_std().get_envs().any(|(k, _)| k == "V2CLIENT_BIND") {
        cmd.env("V2CLIENT_BIND", "127.0.0.1:0");
    }
    let mut child = cmd
        .env("V2CLIENT_LOG", "info")
        .env("V2CLIENT_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut start_log = String::new();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = err_lines.next_line().await.unwrap() {
            start_log.push_str(&line);
            start_log.push('\n');
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == "v2client listening"
            {
                return v["fields"]["address"].as_str().unwrap().to_owned();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server started in time");
    // Keep draining stderr so the child never blocks, and keep the text (from the start)
    // for checks.
    let log = tokio::spawn(async move {
        let mut all = start_log;
        while let Ok(Some(line)) = err_lines.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // Everything the first start prints comes before it listens.
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 8192];
    if let Ok(Ok(n)) = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::io::AsyncReadExt::read(&mut stdout, &mut buf),
    )
    .await
    {
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("v2c_") && w.len() == 47)
        .map(str::to_owned);
    (child, key, address, log)
}
