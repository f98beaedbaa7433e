//! Storage. One [`Store`] trait, implemented once in `sql.rs` over a `Dialect`
//! for Postgres (production) and SQLite (the embedded default), whose differences are
//! named in `postgres.rs` and `sqlite.rs`; both pass the same conformance suite in
//! `tests/it/store.rs`.
//!
//! SQL lives here and nowhere else. Each method is one use case; multi-statement writes
//! run in one transaction.

mod accounts;
mod dialect;
mod postgres;
mod rows;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{DatabaseKind, DatabaseSettings};
use crate::domain::{Attempt, KeyHash, KeySettings, Verification, VerificationId};
use crate::webhooks::{AfterAttempt, DeliveryAttempt, NewEvent, StoredEvent};

pub use accounts::{AccountStore, Role, SessionRecord, UserRecord};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (connection refused, pool timed out…).
    /// Requests answer 503 and the pool reconnects by itself.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Database(e)
        }
    }
}

/// Errors that mean "the database cannot be reached or is not accepting work right now",
/// as opposed to a bad query: a broken or refused connection (including one cut during
/// the handshake, which surfaces as a protocol error), an exhausted pool, or a server
/// that is shutting down, starting up or full.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
            Some("57P01" | "57P02" | "57P03" | "53300")
        ),
        _ => false,
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// An operator's API key as stored: never the key itself, only its hash and display prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: KeyHash,
    pub settings: KeySettings,
    /// Public token of the key's QR entry (`GET /generate?token=…`). Not a secret: it can
    /// only start verifications, counted against the key's generation limit.
    pub qr_token: Option<String>,
    /// Where this key's events go, if anywhere.
    pub webhook: Option<crate::webhooks::WebhookConfig>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    /// A test key (`v2c_test_…`): its verifications are test verifications.
    pub fn is_test(&self) -> bool {
        crate::domain::ApiKeySecret::is_test_prefix(&self.prefix)
    }
}

/// The stored answer to a generate request made with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub key_id: String,
    pub idempotency_key: String,
    /// SHA-256 (hex) of the request body, to tell a retry from a different request.
    pub request_hash: String,
    pub verification_id: VerificationId,
    /// The response body exactly as first sent.
    pub response: String,
    pub created_at: DateTime<Utc>,
}

/// What [`Store::create_verification`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created,
    /// Another request with the same idempotency key won; here is what it stored.
    Replayed(IdempotencyRecord),
}

/// Which verifications [`Store::list_verifications`] returns, and in what order.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationQuery {
    /// Only these keys' verifications; `None` for every key's.
    pub key_ids: Option<Vec<String>>,
    /// As a reader sees it at the query's `now` ([`Verification::effective_status`]): a
    /// verification past its expiry that the sweeper has not yet marked counts as
    /// `expired`, not as `created` or `in_progress`.
    pub status: Option<crate::domain::Status>,
    /// Created strictly after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created strictly before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// `extra_data.reference_id`, exactly.
    pub reference: Option<String>,
    /// Oldest first (the review queue); newest first otherwise.
    pub oldest_first: bool,
    /// Continue after this verification (the last one of the previous page).
    pub after: Option<ListCursor>,
    pub limit: u32,
}

impl VerificationQuery {
    /// Every verification of `key_id`, newest first, `limit` at a time.
    pub fn of_key(key_id: &str, limit: u32) -> Self {
        VerificationQuery {
            key_ids: Some(vec![key_id.to_owned()]),
            ..VerificationQuery::all(limit)
        }
    }

    /// Every verification of every key, newest first, `limit` at a time.
    pub fn all(limit: u32) -> Self {
        VerificationQuery {
            key_ids: None,
            status: None,
            created_after: None,
            created_before: None,
            reference: None,
            oldest_first: false,
            after: None,
            limit,
        }
    }
}

/// Where a page of verifications ended: the last one's creation time and id. Pages are
/// cut by this key, not by an offset, so a page costs the same however deep it is, and
/// verifications created meanwhile neither repeat nor hide others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl ListCursor {
    pub fn after(v: &Verification) -> Self {
        ListCursor {
            created_at: v.created_at,
            id: v.id.to_string(),
        }
    }

    /// The opaque form clients pass back: URL-safe base64 of `<microseconds>.<id>`.
    pub fn encode(&self) -> String {
        use base64::Engine;
        let raw = format!("{}.{}", self.created_at.timestamp_micros(), self.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// `None` for anything [`ListCursor::encode`] did not make.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        if text.len() > 200 {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (micros, id) = raw.split_once('.')?;
        let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        let id = VerificationId::parse(id)?;
        Some(ListCursor {
            created_at,
            id: id.to_string(),
        })
    }
}

/// The reference operators search by: `extra_data.reference_id` when it is a string or a
/// number of at most 256 bytes (longer ones are kept in `extra_data` but not indexed).
pub fn reference_of(extra_data: Option<&Value>) -> Option<String> {
    let text = match extra_data?.get("reference_id")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (text.len() <= 256).then_some(text)
}

/// News that keys may have changed in the database, whichever process changed them.
#[async_trait]
pub trait KeyChanges: Send {
    /// Wait until keys may have changed since the previous call returned. The first call
    /// returns as soon as watching has started (what happened before is unknown), and so
    /// does the first after a lost connection is restored. An error means changes may go
    /// unnoticed until a later call succeeds.
    async fn changed(&mut self) -> Result<(), StoreError>;
}

#[async_trait]
pub trait Store: AccountStore + Send + Sync + 'static {
    /// `postgres` or `sqlite`.
    fn kind(&self) -> &'static str;
    /// Follow changes to keys (see [`KeyChanges`]).
    fn key_changes(&self) -> Box<dyn KeyChanges>;
    /// Bring the schema up to date (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;
    /// One round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Insert `key` only if no key exists at all; `false` when some key already did.
    async fn insert_first_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError>;
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    async fn find_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn find_key_by_qr_token(&self, token: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Give a key (by id or prefix) a new QR token; the old one stops working.
    async fn rotate_qr_token(
        &self,
        id_or_prefix: &str,
        token: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Revoke by id or display prefix; returns the key as it now is, `None` when unknown.
    async fn revoke_key(
        &self,
        id_or_prefix: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Insert a verification, and with it (same transaction) the idempotency record when
    /// one is given. If that idempotency key is already taken, nothing is written and the
    /// existing record is returned.
    async fn create_verification(
        &self,
        v: &Verification,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError>;
    async fn find_idempotency(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Keep the answer to a request made with an idempotency key; `false` when another
    /// request took that key first (its record stays).
    async fn insert_idempotency(&self, record: &IdempotencyRecord) -> Result<bool, StoreError>;
    /// Drop idempotency records older than `before`; returns how many.
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    async fn get_verification(
        &self,
        id: &VerificationId,
    ) -> Result<Option<Verification>, StoreError>;
    /// A verification and all its attempts (oldest first) in one round trip, for the
    /// details endpoint.
    async fn get_verification_with_attempts(
        &self,
        id: &VerificationId,
    ) -> Result<Option<(Verification, Vec<Attempt>)>, StoreError>;
    /// Write `v`'s status, progress, results and portal state, and `attempt` with them, in
    /// one transaction — only if the stored version is still `v.version` (which the write
    /// increments). `false`: someone else changed it first; nothing was written.
    /// `events` are written to the webhook outbox in the same transaction (only if the key
    /// has a webhook URL), each with the verification's next `sequence` number.
    async fn update_verification(
        &self,
        v: &Verification,
        attempt: Option<&Attempt>,
        events: &[NewEvent],
    ) -> Result<bool, StoreError>;
    /// Mark up to `limit` verifications whose `expires_at` is at or before `now` as
    /// `expired`, as of their expiry time, with a `verification.expired` event each in the
    /// same transaction: those still waiting on the user (`created`, `in_progress`), and
    /// those that entered `processing` at or before `processing_stalled_before` and were
    /// never decided. Returns their ids.
    async fn expire_overdue(
        &self,
        now: DateTime<Utc>,
        processing_stalled_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<VerificationId>, StoreError>;
    /// Up to `limit` verifications in `processing` since `before` or earlier, oldest first.
    async fn stalled_processing(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<VerificationId>, StoreError>;
    /// Set (or clear) a key's webhook URL and secret.
    async fn set_webhook(
        &self,
        id_or_prefix: &str,
        webhook: Option<&crate::webhooks::WebhookConfig>,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Take up to `limit` pending events due at `now`, leasing them to `owner` until
    /// `lease_until` so that no other dispatcher takes them meanwhile; with each, its key's
    /// webhook.
    async fn claim_due_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        owner: &str,
        limit: u32,
    ) -> Result<Vec<(StoredEvent, Option<crate::webhooks::WebhookConfig>)>, StoreError>;
    /// Extend to `until` the leases `owner` still holds on undelivered events (those not
    /// yet recorded, and not taken over by another dispatcher since). Returns how many.
    async fn renew_leases(&self, owner: &str, until: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Log one delivery attempt and move the event on; its lease ends.
    async fn record_delivery(
        &self,
        attempt: &DeliveryAttempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError>;
    /// Newest first; optionally one verification's only.
    async fn list_events(
        &self,
        verification_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<DeliveryAttempt>, StoreError>;
    /// Queue an event for delivery again now; `false` when there is no such event.
    async fn redeliver(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Up to `limit` decided or expired verifications whose key's retention period has
    /// passed at `now` and whose data is not yet erased, oldest first.
    async fn erasable(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<VerificationId>, StoreError>;
    /// Erase a verification's personal data: `extra_data` (also inside its webhook events'
    /// payloads), `return_url`, results other than the decision, and its attempts' image
    /// references; record `erased_at` in its results.
    /// `false` when it was already erased or does not exist.
    async fn mark_erased(&self, id: &VerificationId, at: DateTime<Utc>)
    -> Result<bool, StoreError>;

    /// A page of verifications (see [`VerificationQuery`]), as of `now`.
    async fn list_verifications(
        &self,
        query: &VerificationQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<Verification>, StoreError>;

    /// Append one event to the audit log; returns its sequence number.
    async fn append_audit(&self, event: &crate::audit::AuditEvent) -> Result<i64, StoreError>;
    /// A page of the audit log, newest first.
    async fn list_audit(
        &self,
        query: &crate::audit::AuditQuery,
    ) -> Result<Vec<crate::audit::AuditEvent>, StoreError>;

    /// Live verifications by stored status, for metrics (test verifications are left out).
    async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Webhook events waiting for delivery.
    async fn outbox_depth(&self) -> Result<i64, StoreError>;

    /// How many verifications a key has created.
    async fn count_verifications(&self, key_id: &str) -> Result<u64, StoreError>;

    async fn insert_attempt(&self, attempt: &Attempt) -> Result<(), StoreError>;
    /// Every attempt of a verification, oldest first.
    async fn list_attempts(&self, id: &VerificationId) -> Result<Vec<Attempt>, StoreError>;

    /// Count one hit in `bucket`'s fixed window starting at `window_start` (Unix seconds),
    /// shared by every instance on this database; the hits counted in that window so far.
    /// A hit for a newer window starts it afresh; one for an older window (a lagging
    /// clock) counts in the current one.
    async fn hit_rate_window(&self, bucket: &str, window_start: i64) -> Result<i64, StoreError>;
    /// Forget windows that started before `before` (Unix seconds).
    async fn purge_rate_windows(&self, before: i64) -> Result<u64, StoreError>;
}

/// Connect to the configured database (creating the SQLite file and folder when needed)
/// and run migrations.
pub async fn connect(settings: &DatabaseSettings) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match settings.kind {
        DatabaseKind::Postgres => Arc::new(PgStore::connect(settings).await?),
        DatabaseKind::Sqlite => Arc::new(SqliteStore::connect(settings).await?),
    };
    store.migrate().await?;
    Ok(store)
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

pub(crate) fn parse_value(what: &str, text: Option<String>) -> Result<Option<Value>, StoreError> {
    text.map(|t| from_json(what, &t)).transpose()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cursor_reads_back_and_nothing_else_reads_as_one() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let c = ListCursor {
            created_at: at,
            id: "ver_0123456789abcdef0123456789abcdef".into(),
        };
        let text = c.encode();
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(ListCursor::decode(&text), Some(c));
        for bad in ["", "x", "aGVsbG8", "MTIz", "bm90LmFuLmlk", &"A".repeat(400)] {
            assert_eq!(ListCursor::decode(bad), None, "{bad}");
        }
        // An id that is not a verification id is refused even when well encoded.
        use base64::Engine;
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("1764000000123456.ver_' OR 1=1 --");
        assert_eq!(ListCursor::decode(&forged), None);
    }

    #[test]
    fn the_reference_is_a_short_string_or_number() {
        assert_eq!(
            reference_of(Some(&json!({"reference_id": "ORDER-1"}))),
            Some("ORDER-1".into())
        );
        assert_eq!(
            reference_of(Some(&json!({"reference_id": 12345}))),
            Some("12345".into())
        );
        assert_eq!(reference_of(Some(&json!({"reference_id": ["a"]}))), None);
        assert_eq!(reference_of(Some(&json!({"reference_id": null}))), None);
        assert_eq!(reference_of(Some(&json!({"other": "x"}))), None);
        assert_eq!(reference_of(None), None);
        let long = "x".repeat(257);
        assert_eq!(reference_of(Some(&json!({"reference_id": long}))), None);
    }
}
