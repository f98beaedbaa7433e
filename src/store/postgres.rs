//! The Postgres store: the production database.

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};

use super::rows::{
    AttemptRow, DeliveryRow, DueEventRow, EventRow, IdempotencyRow, KeyRow, VerificationRow,
    VerificationWithAttemptsRow, convert,
};
use super::{
    ApiKeyRecord, CreateOutcome, IdempotencyRecord, KeyChanges, Store, StoreError, to_json,
};
use crate::config::DatabaseSettings;
use crate::domain::{Attempt, Verification, VerificationId};
use crate::webhooks::{AfterAttempt, DeliveryAttempt, NewEvent, StoredEvent};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

const KEY_COLUMNS: &str =
    "id, name, prefix, key_hash, settings::text AS settings, qr_token, webhook_url,
    webhook_secret, webhook_old_secret, webhook_old_secret_until, created_at, revoked_at";

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)?.application_name("v2client");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            // A request waits this long for a connection, then answers 503; the pool
            // keeps trying to reconnect in the background of later requests.
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The channel the `api_keys` trigger notifies (migration 0007).
const KEYS_CHANNEL: &str = "v2client_keys";

/// `LISTEN v2client_keys` for changes to the keys of this installation (the schema its
/// tables live in), on a connection of its own: outside the request pool, so that even a
/// pool of one connection is never starved by it.
struct PgKeyChanges {
    connection: PgPool,
    listener: Option<(PgListener, String)>,
}

#[async_trait]
impl KeyChanges for PgKeyChanges {
    async fn changed(&mut self) -> Result<(), StoreError> {
        let Some((listener, schema)) = self.listener.as_mut() else {
            let mut listener = PgListener::connect_with(&self.connection).await?;
            // Reconnecting is left to the next call, so that the time without a listener
            // is reported (as an error) rather than spent inside `try_recv`.
            listener.eager_reconnect(false);
            let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
                .fetch_one(&mut listener)
                .await?;
            listener.listen(KEYS_CHANNEL).await?;
            self.listener = Some((listener, schema));
            return Ok(());
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.payload() != schema.as_str() => continue,
                Ok(Some(_)) => return Ok(()),
                // Lost: notifications sent until the next call reconnects are lost too.
                Ok(None) => {
                    self.listener = None;
                    return Err(StoreError::Unavailable(
                        "the connection listening for key changes was lost".into(),
                    ));
                }
                Err(e) => {
                    self.listener = None;
                    return Err(e.into());
                }
            }
        }
    }
}

#[async_trait]
impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn key_changes(&self) -> Box<dyn KeyChanges> {
        let connection = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(self.pool.options().get_acquire_timeout())
            .connect_lazy_with((*self.pool.connect_options()).clone());
        Box::new(PgKeyChanges {
            connection,
            listener: None,
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, settings, created_at, revoked_at,
                 qr_token, webhook_url, webhook_secret)
             VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(key.key_hash.to_hex())
        .bind(to_json(&key.settings))
        .bind(key.created_at)
        .bind(key.revoked_at)
        .bind(key.qr_token.as_deref())
        .bind(key.webhook.as_ref().map(|w| w.url.as_str()))
        .bind(key.webhook.as_ref().map(|w| w.secret.expose()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn insert_first_key(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO api_keys (id, name, prefix, key_hash, settings, created_at, revoked_at,
                 qr_token, webhook_url, webhook_secret)
             SELECT $1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10
             WHERE NOT EXISTS (SELECT 1 FROM api_keys)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(key.key_hash.to_hex())
        .bind(to_json(&key.settings))
        .bind(key.created_at)
        .bind(key.revoked_at)
        .bind(key.qr_token.as_deref())
        .bind(key.webhook.as_ref().map(|w| w.url.as_str()))
        .bind(key.webhook.as_ref().map(|w| w.secret.expose()))
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
                 extra_data, return_url, created_at, updated_at, expires_at, portal, version)
             VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb, $9,
                 $10, $11, $12, $13::jsonb, $14)",
        )
        .bind(v.id.as_str())
        .bind(&v.key_id)
        .bind(v.status.as_str())
        .bind(to_json(&v.flow))
        .bind(to_json(&v.modules))
        .bind(to_json(&v.progress))
        .bind(to_json(&v.results))
        .bind(v.extra_data.as_ref().map(to_json))
        .bind(v.return_url.as_deref())
        .bind(v.created_at)
        .bind(v.updated_at)
        .bind(v.expires_at)
        .bind(to_json(&v.portal))
        .bind(v.version);
        let Some(rec) = idempotency else {
            // One statement needs no explicit transaction: one round trip.
            insert.execute(&self.pool).await?;
            return Ok(CreateOutcome::Created);
        };
        let mut tx = self.pool.begin().await?;
        insert.execute(&mut *tx).await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (key_id, idempotency_key, request_hash,
                 verification_id, response, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key_id, idempotency_key) DO NOTHING",
        )
        .bind(&rec.key_id)
        .bind(&rec.idempotency_key)
        .bind(&rec.request_hash)
        .bind(rec.verification_id.as_str())
        .bind(&rec.response)
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
        let row: Option<VerificationRow> = sqlx::query_as(
            "SELECT id, key_id, status, flow::text AS flow, modules::text AS modules,
                 progress::text AS progress, results::text AS results,
                 extra_data::text AS extra_data, return_url, portal::text AS portal, version,
                 created_at, updated_at, expires_at
             FROM verifications WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Verification::try_from).transpose()
    }

    async fn get_verification_with_attempts(
        &self,
        id: &VerificationId,
    ) -> Result<Option<(Verification, Vec<Attempt>)>, StoreError> {
        let row: Option<VerificationWithAttemptsRow> = sqlx::query_as(
            "SELECT v.id, v.key_id, v.status, v.flow::text AS flow, v.modules::text AS modules,
                 v.progress::text AS progress, v.results::text AS results,
                 v.extra_data::text AS extra_data, v.return_url, v.portal::text AS portal,
                 v.version, v.created_at, v.updated_at, v.expires_at,
                 COALESCE((
                     SELECT json_agg(json_build_object(
                         'id', a.id, 'verification_id', a.verification_id, 'step', a.step,
                         'outcome', a.outcome, 'reasons', a.reasons, 'metrics', a.metrics,
                         'images', a.images, 'content_hash', a.content_hash,
                         'created_at', a.created_at) ORDER BY a.created_at, a.id)
                     FROM attempts a WHERE a.verification_id = v.id
                 ), '[]')::text AS attempts
             FROM verifications v WHERE v.id = $1",
        )
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
            "UPDATE verifications SET status = $2, progress = $3::jsonb, results = $4::jsonb,
                 portal = $5::jsonb, updated_at = $6, version = version + 1
             WHERE id = $1 AND version = $7",
        )
        .bind(v.id.as_str())
        .bind(v.status.as_str())
        .bind(to_json(&v.progress))
        .bind(to_json(&v.results))
        .bind(to_json(&v.portal))
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
            insert_attempt(&mut *tx, a).await?;
        }
        for e in events {
            insert_event(&mut *tx, &v.key_id, v.id.as_str(), e).await?;
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
        let rows: Vec<(String, String, Option<String>, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE verifications SET status = 'expired', updated_at = expires_at,
                 version = version + 1
             WHERE id IN (
                 SELECT id FROM verifications
                 WHERE (status IN ('created', 'in_progress')
                        OR (status = 'processing' AND updated_at <= $3))
                   AND expires_at <= $1
                 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING id, key_id, extra_data::text AS extra_data, expires_at",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(processing_stalled_before)
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for (id, key_id, extra_data, expires_at) in rows {
            let extra = super::parse_value("verifications.extra_data", extra_data)?;
            let event = crate::webhooks::expired_event(&id, extra, expires_at);
            insert_event(&mut *tx, &key_id, &id, &event).await?;
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
        Ok(rows
            .into_iter()
            .map(|(id,)| VerificationId::from_trusted(id))
            .collect())
    }

    async fn set_webhook(
        &self,
        id_or_prefix: &str,
        webhook: Option<&crate::webhooks::WebhookConfig>,
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
    ) -> Result<Vec<(StoredEvent, Option<crate::webhooks::WebhookConfig>)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<(String,)> = sqlx::query_as(
            "UPDATE webhook_events SET next_attempt_at = $2, lease_owner = $4
             WHERE id IN (
                 SELECT id FROM webhook_events
                 WHERE state = 'pending' AND next_attempt_at <= $1
                 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id",
        )
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(limit))
        .bind(owner)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let row: DueEventRow = sqlx::query_as(
                "SELECT e.id, e.key_id, e.verification_id, e.type, e.sequence, e.data::text AS data,
                     e.created_at, e.state, e.attempts, e.next_attempt_at, e.delivered_at,
                     k.webhook_url, k.webhook_secret, k.webhook_old_secret,
                     k.webhook_old_secret_until
                 FROM webhook_events e JOIN api_keys k ON k.id = e.key_id WHERE e.id = $1",
            )
            .bind(&id)
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
        .bind(&attempt.event_id)
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
        .bind(&attempt.event_id)
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
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT id, key_id, verification_id, type, sequence, data::text AS data, created_at, state,
                 attempts, next_attempt_at, delivered_at
             FROM webhook_events
             WHERE $1 IS NULL OR verification_id = $1
             ORDER BY created_at DESC, sequence DESC LIMIT $2",
        )
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
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT v.id FROM verifications v JOIN api_keys k ON k.id = v.key_id
             WHERE v.status IN ('verified', 'needs_manual_review', 'rejected', 'expired')
               AND NOT (v.results ? 'erased_at')
               AND v.updated_at + make_interval(
                       days => COALESCE((k.settings->>'retention_days')::int, 90)) <= $1
             ORDER BY v.updated_at LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id,)| VerificationId::from_trusted(id))
            .collect())
    }

    async fn mark_erased(
        &self,
        id: &VerificationId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT results::text FROM verifications WHERE id = $1 FOR UPDATE")
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
            "UPDATE verifications SET results = $2::jsonb, extra_data = NULL,
                 return_url = NULL, version = version + 1
             WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(to_json(&kept))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE attempts SET images = '{}' WHERE verification_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        // The outbox keeps a copy of `extra_data` in every event's payload: those go too
        // (an event still to be delivered is sent without it).
        sqlx::query(
            "UPDATE webhook_events SET data = jsonb_set(data, '{extra_data}', 'null')
             WHERE verification_id = $1 AND data->'extra_data' <> 'null'::jsonb",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn count_by_status(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) FROM verifications GROUP BY status ORDER BY status",
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
        insert_attempt(&self.pool, a).await
    }

    async fn list_attempts(&self, id: &VerificationId) -> Result<Vec<Attempt>, StoreError> {
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT id, verification_id, step, outcome, reasons::text AS reasons,
                 metrics::text AS metrics, images::text AS images, content_hash, created_at
             FROM attempts WHERE verification_id = $1 ORDER BY created_at, id",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn hit_rate_window(&self, bucket: &str, window_start: i64) -> Result<i64, StoreError> {
        let (hits,): (i64,) = sqlx::query_as(
            "INSERT INTO rate_windows (bucket, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
               hits = CASE WHEN excluded.window_start > rate_windows.window_start THEN 1 \
                           ELSE rate_windows.hits + 1 END, \
               window_start = GREATEST(rate_windows.window_start, excluded.window_start) \
             RETURNING hits",
        )
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

async fn insert_attempt<'e, E>(executor: E, a: &Attempt) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query(
        "INSERT INTO attempts (id, verification_id, step, outcome, reasons, metrics, images,
                 content_hash, created_at)
             VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $9)",
    )
    .bind(&a.id)
    .bind(a.verification_id.as_str())
    .bind(a.step.as_str())
    .bind(a.outcome.as_str())
    .bind(to_json(&a.reasons))
    .bind(to_json(&a.metrics))
    .bind(to_json(&a.images))
    .bind(a.content_hash.as_deref())
    .bind(a.created_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// Write `e` to the outbox for `verification_id`, with its next sequence number, if the key
/// has a webhook URL.
async fn insert_event<'e, E>(
    executor: E,
    key_id: &str,
    verification_id: &str,
    e: &NewEvent,
) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query(
        "INSERT INTO webhook_events (id, key_id, verification_id, type, sequence, data,
             created_at, state, attempts, next_attempt_at)
         SELECT $1, k.id, $3, $4,
             COALESCE((SELECT MAX(sequence) FROM webhook_events WHERE verification_id = $3),
                 0) + 1,
             $5::jsonb, $6, 'pending', 0, $6
         FROM api_keys k WHERE k.id = $2 AND k.webhook_url IS NOT NULL",
    )
    .bind(&e.id)
    .bind(key_id)
    .bind(verification_id)
    .bind(e.event_type.as_str())
    .bind(to_json(&e.data))
    .bind(e.created_at)
    .execute(executor)
    .await?;
    Ok(())
}
