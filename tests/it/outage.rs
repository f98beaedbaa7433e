//! The database going away: 503 `SERVICE_UNAVAILABLE` within the acquire timeout, never a
//! hang or a 500, and recovery without a restart once it returns.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;
use v2client::AppState;
use v2client::config::Settings;
use v2client::domain::{Attempt, KeySettings, Verification, VerificationId};
use v2client::store::{
    ApiKeyRecord, CreateOutcome, IdempotencyRecord, KeyChanges, Store, StoreError,
};
use v2client::webhooks::{AfterAttempt, DeliveryAttempt, NewEvent, StoredEvent, WebhookConfig};

use crate::common::{TestApp, TestDb, postgres_url, with_search_path};

/// A store whose database is unreachable.
struct DownStore;

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable(
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into(),
    ))
}

struct NoChanges;

#[async_trait]
impl KeyChanges for NoChanges {
    async fn changed(&mut self) -> Result<(), StoreError> {
        down()
    }
}

#[async_trait]
impl Store for DownStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }
    fn key_changes(&self) -> Box<dyn KeyChanges> {
        Box::new(NoChanges)
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        down()
    }
    async fn ping(&self) -> Result<(), StoreError> {
        down()
    }
    async fn insert_key(&self, _: &ApiKeyRecord) -> Result<(), StoreError> {
        down()
    }
    async fn insert_first_key(&self, _: &ApiKeyRecord) -> Result<bool, StoreError> {
        down()
    }
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        down()
    }
    async fn find_key_by_prefix(&self, _: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        down()
    }
    async fn find_key(&self, _: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        down()
    }
    async fn find_key_by_qr_token(&self, _: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        down()
    }
    async fn rotate_qr_token(&self, _: &str, _: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        down()
    }
    async fn revoke_key(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        down()
    }
    async fn create_verification(
        &self,
        _: &Verification,
        _: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        down()
    }
    async fn find_idempotency(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        down()
    }
    async fn purge_idempotency(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        down()
    }
    async fn get_verification(
        &self,
        _: &VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        down()
    }
    async fn get_verification_with_attempts(
        &self,
        _: &VerificationId,
    ) -> Result<Option<(Verification, Vec<Attempt>)>, StoreError> {
        down()
    }
    async fn update_verification(
        &self,
        _: &Verification,
        _: Option<&Attempt>,
        _: &[NewEvent],
    ) -> Result<bool, StoreError> {
        down()
    }
    async fn set_webhook(
        &self,
        _: &str,
        _: Option<&WebhookConfig>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        down()
    }
    async fn claim_due_events(
        &self,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: &str,
        _: u32,
    ) -> Result<Vec<(StoredEvent, Option<WebhookConfig>)>, StoreError> {
        down()
    }
    async fn renew_leases(&self, _: &str, _: DateTime<Utc>) -> Result<u64, StoreError> {
        down()
    }
    async fn record_delivery(
        &self,
        _: &DeliveryAttempt,
        _: AfterAttempt,
    ) -> Result<(), StoreError> {
        down()
    }
    async fn list_events(&self, _: Option<&str>, _: u32) -> Result<Vec<StoredEvent>, StoreError> {
        down()
    }
    async fn list_deliveries(&self, _: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
        down()
    }
    async fn redeliver(&self, _: &str, _: DateTime<Utc>) -> Result<bool, StoreError> {
        down()
    }
    async fn expire_overdue(
        &self,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: u32,
    ) -> Result<Vec<VerificationId>, StoreError> {
        down()
    }
    async fn stalled_processing(
        &self,
        _: DateTime<Utc>,
        _: u32,
    ) -> Result<Vec<VerificationId>, StoreError> {
        down()
    }
    async fn erasable(&self, _: DateTime<Utc>, _: u32) -> Result<Vec<VerificationId>, StoreError> {
        down()
    }
    async fn mark_erased(&self, _: &VerificationId, _: DateTime<Utc>) -> Result<bool, StoreError> {
        down()
    }
    async fn insert_idempotency(&self, _: &IdempotencyRecord) -> Result<bool, StoreError> {
        down()
    }
    async fn list_verifications(
        &self,
        _: &v2client::store::VerificationQuery,
        _: DateTime<Utc>,
    ) -> Result<Vec<v2client::domain::Verification>, StoreError> {
        down()
    }
    async fn append_audit(&self, _: &v2client::audit::AuditEvent) -> Result<i64, StoreError> {
        down()
    }
    async fn list_audit(
        &self,
        _: &v2client::audit::AuditQuery,
    ) -> Result<Vec<v2client::audit::AuditEvent>, StoreError> {
        down()
    }
    async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        down()
    }
    async fn outbox_depth(&self) -> Result<i64, StoreError> {
        down()
    }
    async fn count_verifications(&self, _: &str) -> Result<u64, StoreError> {
        down()
    }
    async fn insert_attempt(&self, _: &Attempt) -> Result<(), StoreError> {
        down()
    }
    async fn list_attempts(&self, _: &VerificationId) -> Result<Vec<Attempt>, StoreError> {
        down()
    }
    async fn hit_rate_window(&self, _: &str, _: i64) -> Result<i64, StoreError> {
        down()
    }
    async fn purge_rate_windows(&self, _: i64) -> Result<u64, StoreError> {
        down()
    }
}

#[tokio::test]
async fn an_unreachable_database_answers_503_in_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().display().to_string();
    let settings =
        Settings::load_with(&|name| (name == "V2CLIENT_DATA_DIR").then(|| data_dir.clone()))
            .unwrap();
    let state = AppState::new(settings, Arc::new(DownStore)).unwrap();
    let router = v2client::app(state);
    let app = crate::common::Reply::from_router;
    let key = v2client::domain::ApiKeySecret::generate();
    for (method, path) in [
        ("POST", "/api/generate-verification".to_string()),
        (
            "GET",
            format!(
                "/api/get-verification-details/{}",
                VerificationId::generate()
            ),
        ),
        ("GET", "/api/check-config".to_string()),
        ("GET", "/readyz".to_string()),
    ] {
        let r = app(&router, method, &path, Some(key.expose())).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(r.error_code(), "SERVICE_UNAVAILABLE");
        assert!(r.header("retry-after").is_some());
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("refused"), "internal detail leaked: {text}");
    }
    let r = app(&router, "GET", "/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK, "the process itself is up");
}

/// A TCP relay to Postgres that can be cut and restored.
struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().unwrap().push(task.abort_handle());
            }
        });
        Relay { addr, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_quickly_and_recovers_by_itself() {
    let Some(base) = postgres_url() else {
        return;
    };
    // A fresh schema through the normal helper; then the app talks to it via the relay.
    let Some(direct) = TestDb::new(crate::common::Db::Postgres).await else {
        return;
    };
    let mut url = url::Url::parse(&base).unwrap();
    let host = url
        .host_str()
        .unwrap_or("localhost")
        .replace("localhost", "127.0.0.1");
    let target: SocketAddr = format!("{host}:{}", url.port().unwrap_or(5432))
        .parse()
        .expect("TEST_DATABASE_URL host must be an IP address or localhost");
    let relay = Relay::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.addr.port())).unwrap();
    let schema = direct.schema_name().unwrap().to_owned();
    let relayed = with_search_path(url.as_str(), &schema);
    let Some(app) = TestApp::with_env(
        crate::common::Db::Postgres,
        &[
            ("DATABASE_URL", relayed.as_str()),
            ("V2CLIENT_DB_ACQUIRE_TIMEOUT", "1s"),
        ],
    )
    .await
    else {
        return;
    };
    let (_, key) = app.new_key(KeySettings::default()).await;
    assert_eq!(
        app.generate(Some(key.expose()), None).await.status,
        StatusCode::OK
    );

    relay.cut();
    let started = Instant::now();
    let r = app.generate(Some(key.expose()), None).await;
    let waited = started.elapsed();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "SERVICE_UNAVAILABLE");
    // Bounded by the acquire timeout (1 s here), not a 30-second pool hang.
    assert!(waited < Duration::from_secs(15), "waited {waited:?}");
    assert_eq!(
        app.get("/readyz", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    relay.restore();
    let mut recovered = false;
    for _ in 0..50 {
        if app.generate(Some(key.expose()), None).await.status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "the service did not recover after the database returned"
    );
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
}

#[async_trait]
impl v2client::store::AccountStore for DownStore {
    async fn insert_user(&self, _: &v2client::store::UserRecord) -> Result<bool, StoreError> {
        down()
    }
    async fn find_user(&self, _: &str) -> Result<Option<v2client::store::UserRecord>, StoreError> {
        down()
    }
    async fn find_user_by_email(
        &self,
        _: &str,
    ) -> Result<Option<v2client::store::UserRecord>, StoreError> {
        down()
    }
    async fn list_users(&self) -> Result<Vec<v2client::store::UserRecord>, StoreError> {
        down()
    }
    async fn disable_user(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Option<v2client::store::UserRecord>, StoreError> {
        down()
    }
    async fn grant_key(&self, _: &str, _: &str, _: DateTime<Utc>) -> Result<bool, StoreError> {
        down()
    }
    async fn revoke_grant(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        down()
    }
    async fn record_login_failure(
        &self,
        _: &str,
        _: u32,
        _: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        down()
    }
    async fn record_login_success(&self, _: &str) -> Result<(), StoreError> {
        down()
    }
    async fn insert_session(&self, _: &v2client::store::SessionRecord) -> Result<(), StoreError> {
        down()
    }
    async fn find_session(
        &self,
        _: &str,
    ) -> Result<Option<v2client::store::SessionRecord>, StoreError> {
        down()
    }
    async fn touch_session(&self, _: &str, _: DateTime<Utc>) -> Result<bool, StoreError> {
        down()
    }
    async fn delete_session(&self, _: &str) -> Result<bool, StoreError> {
        down()
    }
    async fn delete_user_sessions(&self, _: &str) -> Result<u64, StoreError> {
        down()
    }
    async fn purge_sessions(&self, _: DateTime<Utc>, _: DateTime<Utc>) -> Result<u64, StoreError> {
        down()
    }
}
