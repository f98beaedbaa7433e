//! The one implementation of [`Store`], over either database: every query is written here
//! once, with the fragments on which Postgres and SQLite disagree taken from the backend's
//! [`Dialect`]. `postgres.rs` and `sqlite.rs` keep only what is theirs alone: connecting,
//! migrations, how key changes are heard, and those fragments.
//!
//! It is generic over the sqlx database type rather than stamped out per backend by a
//! macro, so that it reads, formats and type-checks as ordinary code. The price is the
//! `where` clause on the impl: sqlx implements binding, decoding and executing for each
//! driver separately, so the shared code must ask for each capability it uses, and the
//! compiler checks both drivers provide it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::{Json, JsonRawValue};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, Pool, Type};

use super::dialect::{Dialect, RowsAffected};
use super::rows::{
    AttemptRow, AuditRow, DeliveryRow, DueEventRow, EventRow, IdempotencyRow, KeyRow,
    VerificationRow, VerificationWithAttemptsRow, convert,
};
use super::{
    ApiKeyRecord, CreateOutcome, IdempotencyRecord, KeyChanges, Store, StoreError,
    VerificationQuery,
};
use crate::audit::{AuditEvent, AuditQuery};
use crate::domain::{Attempt, Status, Verification, VerificationId};
use crate::webhooks::{AfterAttempt, DeliveryAttempt, NewEvent, StoredEvent, WebhookConfig};

/// A store on a database of dialect `D`: [`super::PgStore`] or [`super::SqliteStore`].
pub struct SqlStore<D: Dialect> {
    pool: Pool<D::Db>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<D: Dialect> SqlStore<D> {
    pub(super) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &Pool<D::Db> {
        &self.pool
    }
}

type Connection<D> = <<D as Dialect>::Db as Database>::Connection;
type Row<D> = <<D as Dialect>::Db as Database>::Row;

/// A value sqlx binds as a parameter on database `DB` (borrowing for `'q`).
pub trait Param<'q, DB: Database>: Encode<'q, DB> + Type<DB> {}
impl<'q, DB: Database, T: Encode<'q, DB> + Type<DB>> Param<'q, DB> for T {}

/// A value sqlx reads from a column on database `DB`.
pub trait Field<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> {}
impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> Field<DB> for T {}

/// A JSON column's value as a parameter (see `dialect.rs`).
type JsonParam = Json<Box<JsonRawValue>>;

fn json<T: serde::Serialize>(value: &T) -> JsonParam {
    Json(serde_json::value::to_raw_value(value).expect("domain values always serialise"))
}

/// The columns of `api_keys` that make a [`KeyRow`].
const KEY_COLUMNS: &str = "id, name, prefix, key_hash, CAST(settings AS TEXT) AS settings,
    qr_token, webhook_url, webhook_secret, webhook_old_secret, webhook_old_secret_until,
    created_at, revoked_at";

/// Keep an idempotency record unless its key is taken: `$1`..`$6` are its fields in order.
const INSERT_IDEMPOTENCY: &str = "INSERT INTO idempotency_keys (key_id, idempotency_key,
        request_hash, verification_id, response, created_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (key_id, idempotency_key) DO NOTHING";

/// The columns of `verifications v` that make a [`VerificationRow`].
const VERIFICATION_COLUMNS: &str = "v.id, v.key_id, v.status, CAST(v.flow AS TEXT) AS flow,
    CAST(v.modules AS TEXT) AS modules, CAST(v.progress AS TEXT) AS progress,
    CAST(v.results AS TEXT) AS results, CAST(v.extra_data AS TEXT) AS extra_data,
    v.return_url, CAST(v.portal AS TEXT) AS portal, v.version, v.created_at, v.updated_at,
    v.expires_at, v.test";

/// The columns of `webhook_events e` that make an [`EventRow`].
const EVENT_COLUMNS: &str = "e.id, e.key_id, e.verification_id, e.type, e.sequence,
    CAST(e.data AS TEXT) AS data, e.created_at, e.state, e.attempts, e.next_attempt_at,
    e.delivered_at";

#[async_trait]
impl<D: Dialect> Store for SqlStore<D>
where
    // What the queries below ask of the sqlx driver; both drivers have it all.
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    for<'a> &'a str: Param<'a, D::Db> + ColumnIndex<Row<D>>,
    for<'a> Option<&'a str>: Param<'a, D::Db>,
    usize: ColumnIndex<Row<D>>,
    for<'q> String: Param<'q, D::Db> + Field<D::Db>,
    for<'q> Option<String>: Param<'q, D::Db>,
    for<'q> i64: Param<'q, D::Db> + Field<D::Db>,
    for<'q> bool: Param<'q, D::Db> + Field<D::Db>,
    i32: Field<D::Db>,
    for<'q> Option<i32>: Param<'q, D::Db>,
    for<'q> DateTime<Utc>: Param<'q, D::Db> + Field<D::Db>,
    for<'q> Option<DateTime<Utc>>: Param<'q, D::Db>,
    for<'q> JsonParam: Param<'q, D::Db>,
    for<'q> Option<JsonParam>: Param<'q, D::Db>,
{
    fn kind(&self) -> &'static str {
        D::KIND
    }

    fn key_changes(&self) -> Box<dyn KeyChanges> {
        D::key_changes(&self.pool)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        D::MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        bind_key(sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, settings, created_at, revoked_at,
                 qr_token, webhook_url, webhook_secret)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        ), key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn insert_first_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        let done = bind_key(sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, settings, created_at, revoked_at,
                 qr_token, webhook_url, webhook_secret)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
             WHERE NOT EXISTS (SELECT 1 FROM api_keys)",
        ), key)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn find_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = $1"
        )))
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRecord::try_from).transpose()
    }

    async fn find_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRecord::try_from).transpose()
    }

    async fn find_key_by_qr_token(&self, token: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE qr_token = $1"
        )))
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRecord::try_from).transpose()
    }

    async fn rotate_qr_token(
        &self,
        id_or_prefix: &str,
        token: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE api_keys SET qr_token = $2 WHERE id = $1 OR prefix = $1
             RETURNING {KEY_COLUMNS}"
        )))
        .bind(id_or_prefix)
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRecord::try_from).transpose()
    }

    async fn revoke_key(
        &self,
        id_or_prefix: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2)
             WHERE id = $1 OR prefix = $1 RETURNING {KEY_COLUMNS}"
        )))
        .bind(id_or_prefix)
        .bind(at)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRecord::try_from).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn create_verification(
        &self,
        v: &Verification,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        let insert = sqlx::query(
            "INSERT INTO verifications (id, key_id, status, flow, modules, progress, results,
                 extra_data, return_url, created_at, updated_at, expires_at, portal, version,
                 reference, test)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(v.id.as_str())
        .bind(v.key_id.as_str())
        .bind(v.status.as_str())
        .bind(json(&v.flow))
        .bind(json(&v.modules))
        .bind(json(&v.progress))
        .bind(json(&v.results))
        .bind(v.extra_data.as_ref().map(json))
        .bind(v.return_url.as_deref())
        .bind(v.created_at)
        .bind(v.updated_at)
        .bind(v.expires_at)
        .bind(json(&v.portal))
        .bind(v.version)
        .bind(super::reference_of(v.extra_data.as_ref()))
        .bind(v.test);
        let Some(rec) = idempotency else {
            // One statement needs no explicit transaction: one round trip.
            insert.execute(&self.pool).await?;
            return Ok(CreateOutcome::Created);
        };
        let mut tx = self.pool.begin().await?;
        insert.execute(&mut *tx).await?;
        let inserted = sqlx::query(INSERT_IDEMPOTENCY)
            .bind(rec.key_id.as_str())
            .bind(rec.idempotency_key.as_str())
            .bind(rec.request_hash.as_str())
            .bind(rec.verification_id.as_str())
            .bind(rec.response.as_str())
            .bind(rec.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            let existing = self
                .find_idempotency(&rec.key_id, &rec.idempotency_key)
                .await?
                .ok_or_else(|| super::corrupt("idempotency_keys", "conflict without row"))?;
            return Ok(CreateOutcome::Replayed(existing));
        }
        tx.commit().await?;
        Ok(CreateOutcome::Created)
    }

    async fn find_idempotency(
        &self,
        key_id: &str,
        idempotency_key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row: Option<IdempotencyRow> = sqlx::query_as(
            "SELECT key_id, idempotency_key, request_hash, verification_id, response, created_at
             FROM idempotency_keys WHERE key_id = $1 AND idempotency_key = $2",
        )
        .bind(key_id)
        .bind(idempotency_key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn insert_idempotency(&self, rec: &IdempotencyRecord) -> Result<bool, StoreError> {
        let inserted = sqlx::query(INSERT_IDEMPOTENCY)
            .bind(rec.key_id.as_str())
            .bind(rec.idempotency_key.as_str())
            .bind(rec.request_hash.as_str())
            .bind(rec.verification_id.as_str())
            .bind(rec.response.as_str())
            .bind(rec.created_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    #[tracing::instrument(skip_all)]
    async fn get_verification(
        &self,
        id: &VerificationId,
    ) -> Result<Option<Verification>, StoreError> {
        let row: Option<VerificationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERIFICATION_COLUMNS} FROM verifications v WHERE v.id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Verification::try_from).transpose()
    }

    async fn get_verification_with_attempts(
        &self,
        id: &VerificationId,
    ) -> Result<Option<(Verification, Vec<Attempt>)>, StoreError> {
        let row: Option<VerificationWithAttemptsRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {VERIFICATION_COLUMNS}, {attempts} AS attempts
                 FROM verifications v WHERE v.id = $1",
                attempts = D::ATTEMPTS_JSON,
            )))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn update_verification(
        &self,
        v: &Verification,
        attempt: Option<&Attempt>,
        events: &[NewEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query(
            "UPDATE verifications SET status = $2, progress = $3, results = $4, portal = $5,
                 updated_at = $6, version = version + 1
             WHERE id = $1 AND version = $7",
        )
        .bind(v.id.as_str())
        .bind(v.status.as_str())
        .bind(json(&v.progress))
        .bind(json(&v.results))
        .bind(json(&v.portal))
        .bind(v.updated_at)
        .bind(v.version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // After the versioned UPDATE, which holds the row: writers of one verification are
        // serialised, so event sequence numbers cannot collide.
        if let Some(a) = attempt {
            attempt_insert(a).execute(&mut *tx).await?;
        }
        for e in events {
            event_insert(&v.key_id, v.id.as_str(), e)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn expire_overdue(
        &self,
        now: DateTime<Utc>,
        processing_stalled_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<VerificationId>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(String, String, Option<String>, DateTime<Utc>, bool)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE verifications SET status = 'expired', updated_at = expires_at,
                     version = version + 1
                 WHERE id IN (
                     SELECT id FROM verifications
                     WHERE (status IN ('created', 'in_progress')
                            OR (status = 'processing' AND updated_at <= $3))
                       AND expires_at <= $1
                     ORDER BY expires_at LIMIT $2{skip_locked})
                 RETURNING id, key_id, CAST(extra_data AS TEXT) AS extra_data, expires_at, test",
                skip_locked = D::SKIP_LOCKED,
            )))
            .bind(now)
            .bind(i64::from(limit))
            .bind(processing_stalled_before)
            .fetch_all(&mut *tx)
            .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for (id, key_id, extra_data, expires_at, test) in rows {
            let extra = super::parse_value("verifications.extra_data", extra_data)?;
            let event = crate::webhooks::expired_event(&id, extra, test, expires_at);
            event_insert(&key_id, &id, &event).execute(&mut *tx).await?;
            ids.push(VerificationId::from_trusted(id));
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn stalled_processing(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<VerificationId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM verifications
             WHERE status = 'processing' AND updated_at <= $1
             ORDER BY updated_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(ids(rows))
    }

    async fn set_webhook(
        &self,
        id_or_prefix: &str,
        webhook: Option<&WebhookConfig>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE api_keys SET webhook_url = $2, webhook_secret = $3,
                 webhook_old_secret = $4, webhook_old_secret_until = $5
             WHERE id = $1 OR prefix = $1 RETURNING {KEY_COLUMNS}"
        )))
        .bind(id_or_prefix)
        .bind(webhook.map(|w| w.url.as_str()))
        .bind(webhook.map(|w| w.secret.expose()))
        .bind(
            webhook
                .and_then(|w| w.old_secret.as_ref())
                .map(|s| s.expose()),
        )
        .bind(webhook.and_then(|w| w.old_until))
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiKeyRecord::try_from).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn claim_due_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        owner: &str,
        limit: u32,
    ) -> Result<Vec<(StoredEvent, Option<WebhookConfig>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_events SET next_attempt_at = $2, lease_owner = $4
             WHERE id IN (
                 SELECT id FROM webhook_events
                 WHERE state = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $3{skip_locked})
             RETURNING id",
            skip_locked = D::SKIP_LOCKED,
        )))
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(limit))
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let row: DueEventRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {EVENT_COLUMNS}, k.webhook_url, k.webhook_secret, k.webhook_old_secret,
                     k.webhook_old_secret_until
                 FROM webhook_events e JOIN api_keys k ON k.id = e.key_id WHERE e.id = $1"
            )))
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            out.push(row.try_into()?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn renew_leases(&self, owner: &str, until: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_events SET next_attempt_at = $2
             WHERE lease_owner = $1 AND state = 'pending'",
        )
        .bind(owner)
        .bind(until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_delivery(
        &self,
        attempt: &DeliveryAttempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (event_id, attempted_at, status_code, latency_ms,
                 error)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(attempt.event_id.as_str())
        .bind(attempt.attempted_at)
        .bind(attempt.status_code.map(i32::from))
        .bind(attempt.latency_ms)
        .bind(attempt.error.as_deref())
        .execute(&mut *tx)
        .await?;
        let (state, next, delivered) = match after {
            AfterAttempt::Delivered => (
                "delivered",
                attempt.attempted_at,
                Some(attempt.attempted_at),
            ),
            AfterAttempt::RetryAt(t) => ("pending", t, None),
            AfterAttempt::Failed => ("failed", attempt.attempted_at, None),
        };
        sqlx::query(
            "UPDATE webhook_events SET state = $2, next_attempt_at = $3,
                 delivered_at = $4, attempts = attempts + 1, lease_owner = NULL
             WHERE id = $1",
        )
        .bind(attempt.event_id.as_str())
        .bind(state)
        .bind(next)
        .bind(delivered)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_events(
        &self,
        verification_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM webhook_events e
             WHERE $1 IS NULL OR e.verification_id = $1
             ORDER BY e.created_at DESC, e.sequence DESC LIMIT $2"
        )))
        .bind(verification_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn list_deliveries(&self, event_id: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT event_id, attempted_at, status_code, latency_ms, error
             FROM webhook_deliveries WHERE event_id = $1 ORDER BY attempted_at, id",
        )
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn redeliver(&self, event_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_events SET state = 'pending', next_attempt_at = $2,
                 lease_owner = NULL
             WHERE id = $1",
        )
        .bind(event_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn erasable(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<VerificationId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT v.id FROM verifications v JOIN api_keys k ON k.id = v.key_id
             WHERE v.status IN ('verified', 'needs_manual_review', 'rejected', 'expired')
               AND {not_erased}
               AND {retention_passed}
             ORDER BY v.updated_at LIMIT $2",
            not_erased = D::NOT_ERASED,
            retention_passed = D::RETENTION_PASSED,
        )))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(ids(rows))
    }

    async fn mark_erased(
        &self,
        id: &VerificationId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(results AS TEXT) FROM verifications WHERE id = $1{for_update}",
            for_update = D::FOR_UPDATE,
        )))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((results,)) = row else {
            return Ok(false);
        };
        let results: serde_json::Value = super::from_json("verifications.results", &results)?;
        let Some(kept) = crate::domain::verification::erased_results(&results, at) else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE verifications SET results = $2, extra_data = NULL,
                 return_url = NULL, reference = NULL, version = version + 1
             WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(json(&kept))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE attempts SET images = '{}' WHERE verification_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        // The outbox keeps a copy of `extra_data` in every event's payload: those go too
        // (an event still to be delivered is sent without it).
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_events SET data = {without_extra}
             WHERE verification_id = $1 AND {has_extra}",
            without_extra = D::EVENT_DATA_WITHOUT_EXTRA,
            has_extra = D::EVENT_HAS_EXTRA,
        )))
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(skip_all)]
    async fn list_verifications(
        &self,
        q: &VerificationQuery,
        now: DateTime<Utc>,
    ) -> Result<Vec<Verification>, StoreError> {
        let mut filter = Filter::default();
        if let Some(keys) = &q.key_ids {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let places: Vec<String> = keys
                .iter()
                .map(|k| filter.bind(Bind::Text(k.clone())))
                .collect();
            filter.and(format!("v.key_id IN ({})", places.join(", ")));
        }
        if let Some(status) = q.status {
            // What a reader sees (`Verification::effective_status`): open past expiry
            // reads `expired`.
            let now = filter.bind(Bind::Time(now));
            let condition = match status {
                Status::Created | Status::InProgress => {
                    let s = filter.bind(Bind::Text(status.as_str().to_owned()));
                    format!("v.status = {s} AND v.expires_at > {now}")
                }
                Status::Expired => format!(
                    "(v.status = 'expired' OR (v.status IN ('created', 'in_progress')
                       AND v.expires_at <= {now}))"
                ),
                _ => {
                    let s = filter.bind(Bind::Text(status.as_str().to_owned()));
                    format!("v.status = {s}")
                }
            };
            filter.and(condition);
        }
        if let Some(t) = q.created_after {
            let t = filter.bind(Bind::Time(t));
            filter.and(format!("v.created_at > {t}"));
        }
        if let Some(t) = q.created_before {
            let t = filter.bind(Bind::Time(t));
            filter.and(format!("v.created_at < {t}"));
        }
        if let Some(reference) = &q.reference {
            let r = filter.bind(Bind::Text(reference.clone()));
            filter.and(format!("v.reference = {r}"));
        }
        let (order, past) = if q.oldest_first {
            ("ASC", ">")
        } else {
            ("DESC", "<")
        };
        if let Some(after) = &q.after {
            let t = filter.bind(Bind::Time(after.created_at));
            let id = filter.bind(Bind::Text(after.id.clone()));
            filter.and(format!("(v.created_at, v.id) {past} ({t}, {id})"));
        }
        let limit = filter.bind(Bind::Int(i64::from(q.limit)));
        let sql = format!(
            "SELECT {VERIFICATION_COLUMNS} FROM verifications v {where_}
             ORDER BY v.created_at {order}, v.id {order} LIMIT {limit}",
            where_ = filter.where_clause(),
        );
        let mut query = sqlx::query_as::<_, VerificationRow>(sqlx::AssertSqlSafe(sql));
        for b in filter.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Time(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        convert(query.fetch_all(&self.pool).await?)
    }

    async fn append_audit(&self, e: &AuditEvent) -> Result<i64, StoreError> {
        let (seq,): (i64,) = sqlx::query_as(
            "INSERT INTO audit_events (at, actor_kind, actor_id, actor_label, address, action,
                 verification_id, key_id, target, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .bind(e.at)
        .bind(e.actor.kind.as_str())
        .bind(e.actor.id.as_str())
        .bind(e.actor.label.as_str())
        .bind(e.actor.address.as_deref())
        .bind(e.action.as_str())
        .bind(e.verification_id.as_deref())
        .bind(e.key_id.as_deref())
        .bind(e.target.as_deref())
        .bind(e.detail.as_ref().map(json))
        .fetch_one(&self.pool)
        .await?;
        Ok(seq)
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let mut filter = Filter::default();
        if let Some(id) = &q.verification_id {
            let id = filter.bind(Bind::Text(id.clone()));
            filter.and(format!("verification_id = {id}"));
        }
        if let Some(keys) = &q.key_ids {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let places: Vec<String> = keys
                .iter()
                .map(|k| filter.bind(Bind::Text(k.clone())))
                .collect();
            filter.and(format!("key_id IN ({})", places.join(", ")));
        }
        if let Some(seq) = q.before_seq {
            let seq = filter.bind(Bind::Int(seq));
            filter.and(format!("seq < {seq}"));
        }
        let limit = filter.bind(Bind::Int(i64::from(q.limit)));
        let sql = format!(
            "SELECT seq, at, actor_kind, actor_id, actor_label, address, action,
                 verification_id, key_id, target, CAST(detail AS TEXT) AS detail
             FROM audit_events {where_} ORDER BY seq DESC LIMIT {limit}",
            where_ = filter.where_clause(),
        );
        let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql));
        for b in filter.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Time(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        convert(query.fetch_all(&self.pool).await?)
    }

    async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) FROM verifications WHERE NOT test
             GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn outbox_depth(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM webhook_events WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    async fn count_verifications(&self, key_id: &str) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM verifications WHERE key_id = $1")
            .bind(key_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn insert_attempt(&self, a: &Attempt) -> Result<(), StoreError> {
        attempt_insert(a).execute(&self.pool).await?;
        Ok(())
    }

    async fn list_attempts(&self, id: &VerificationId) -> Result<Vec<Attempt>, StoreError> {
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT id, verification_id, step, outcome, CAST(reasons AS TEXT) AS reasons,
                 CAST(metrics AS TEXT) AS metrics, CAST(images AS TEXT) AS images,
                 content_hash, created_at
             FROM attempts WHERE verification_id = $1 ORDER BY created_at, id",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn hit_rate_window(&self, bucket: &str, window_start: i64) -> Result<i64, StoreError> {
        let (hits,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO rate_windows (bucket, window_start, hits) VALUES ($1, $2, 1)
             ON CONFLICT (bucket) DO UPDATE SET
               hits = CASE WHEN excluded.window_start > rate_windows.window_start THEN 1
                           ELSE rate_windows.hits + 1 END,
               window_start = {greatest}(rate_windows.window_start, excluded.window_start)
             RETURNING hits",
            greatest = D::GREATEST,
        )))
        .bind(bucket)
        .bind(window_start)
        .fetch_one(&self.pool)
        .await?;
        Ok(hits)
    }

    async fn purge_rate_windows(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM rate_windows WHERE window_start < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

type Query<DB> = sqlx::query::Query<'static, DB, <DB as Database>::Arguments>;

/// `key` bound to `$1`…`$10` of an insert into `api_keys`.
fn bind_key<DB: Database>(query: Query<DB>, key: &ApiKeyRecord) -> Query<DB>
where
    for<'a> &'a str: Param<'a, DB>,
    for<'a> Option<&'a str>: Param<'a, DB>,
    for<'q> String: Param<'q, DB>,
    for<'q> Option<String>: Param<'q, DB>,
    for<'q> DateTime<Utc>: Param<'q, DB>,
    for<'q> Option<DateTime<Utc>>: Param<'q, DB>,
    for<'q> JsonParam: Param<'q, DB>,
{
    query
        .bind(key.id.as_str())
        .bind(key.name.as_str())
        .bind(key.prefix.as_str())
        .bind(key.key_hash.to_hex())
        .bind(json(&key.settings))
        .bind(key.created_at)
        .bind(key.revoked_at)
        .bind(key.qr_token.as_deref())
        .bind(key.webhook.as_ref().map(|w| w.url.as_str()))
        .bind(key.webhook.as_ref().map(|w| w.secret.expose()))
}

fn attempt_insert<DB: Database>(a: &Attempt) -> Query<DB>
where
    for<'a> &'a str: Param<'a, DB>,
    for<'a> Option<&'a str>: Param<'a, DB>,
    for<'q> DateTime<Utc>: Param<'q, DB>,
    for<'q> JsonParam: Param<'q, DB>,
{
    sqlx::query(
        "INSERT INTO attempts (id, verification_id, step, outcome, reasons, metrics, images,
             content_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id.as_str())
    .bind(a.verification_id.as_str())
    .bind(a.step.as_str())
    .bind(a.outcome.as_str())
    .bind(json(&a.reasons))
    .bind(json(&a.metrics))
    .bind(json(&a.images))
    .bind(a.content_hash.as_deref())
    .bind(a.created_at)
}

/// Write `e` to the outbox for `verification_id`, with its next sequence number, if the key
/// has a webhook URL.
fn event_insert<DB: Database>(key_id: &str, verification_id: &str, e: &NewEvent) -> Query<DB>
where
    for<'a> &'a str: Param<'a, DB>,
    for<'q> DateTime<Utc>: Param<'q, DB>,
    for<'q> JsonParam: Param<'q, DB>,
{
    sqlx::query(
        "INSERT INTO webhook_events (id, key_id, verification_id, type, sequence, data,
             created_at, state, attempts, next_attempt_at)
         SELECT $1, k.id, $3, $4,
             COALESCE((SELECT MAX(sequence) FROM webhook_events WHERE verification_id = $3),
                 0) + 1,
             $5, $6, 'pending', 0, $6
         FROM api_keys k WHERE k.id = $2 AND k.webhook_url IS NOT NULL",
    )
    .bind(e.id.as_str())
    .bind(key_id)
    .bind(verification_id)
    .bind(e.event_type.as_str())
    .bind(json(&e.data))
    .bind(e.created_at)
}

/// A query's parameter, in the order the placeholders number them.
enum Bind {
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

/// The `WHERE` of a query whose conditions depend on what was asked, with its
/// parameters: values are always bound, never written into the SQL.
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    /// Bind `value`; its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }
}

fn ids(rows: Vec<(String,)>) -> Vec<VerificationId> {
    rows.into_iter()
        .map(|(id,)| VerificationId::from_trusted(id))
        .collect()
}
