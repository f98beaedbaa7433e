//! Row shapes shared by both stores. JSON columns are read as text (`CAST(… AS TEXT)`, which
//! Postgres needs for `jsonb`), so one mapping to domain types serves both databases.

use chrono::{DateTime, Utc};

use super::{ApiKeyRecord, IdempotencyRecord, StoreError, corrupt, from_json, parse_value};
use crate::domain::{Attempt, AttemptMetrics, KeyHash, Step, Verification, VerificationId};
use crate::webhooks::{DeliveryAttempt, StoredEvent, WebhookConfig, WebhookSecret};

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    key_hash: String,
    settings: String,
    qr_token: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    webhook_old_secret: Option<String>,
    webhook_old_secret_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<KeyRow> for ApiKeyRecord {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        let webhook = match (r.webhook_url, r.webhook_secret) {
            (Some(url), Some(secret)) => Some(WebhookConfig {
                url,
                secret: WebhookSecret::parse(&secret)
                    .ok_or_else(|| corrupt("api_keys.webhook_secret", &r.id))?,
                old_secret: r
                    .webhook_old_secret
                    .as_deref()
                    .and_then(WebhookSecret::parse),
                old_until: r.webhook_old_secret_until,
            }),
            _ => None,
        };
        Ok(ApiKeyRecord {
            key_hash: KeyHash::from_hex(&r.key_hash)
                .ok_or_else(|| corrupt("api_keys.key_hash", &r.id))?,
            settings: from_json("api_keys.settings", &r.settings)?,
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            qr_token: r.qr_token,
            webhook,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct VerificationRow {
    id: String,
    key_id: String,
    status: String,
    flow: String,
    modules: String,
    progress: String,
    results: String,
    extra_data: Option<String>,
    return_url: Option<String>,
    portal: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    test: bool,
}

impl TryFrom<VerificationRow> for Verification {
    type Error = StoreError;
    fn try_from(r: VerificationRow) -> Result<Self, StoreError> {
        Ok(Verification {
            status: r
                .status
                .parse()
                .map_err(|e| corrupt("verifications.status", e))?,
            flow: from_json("verifications.flow", &r.flow)?,
            modules: from_json("verifications.modules", &r.modules)?,
            progress: from_json("verifications.progress", &r.progress)?,
            results: from_json("verifications.results", &r.results)?,
            extra_data: parse_value("verifications.extra_data", r.extra_data)?,
            id: VerificationId::from_trusted(r.id),
            key_id: r.key_id,
            return_url: r.return_url,
            portal: from_json("verifications.portal", &r.portal)?,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            expires_at: r.expires_at,
            test: r.test,
        })
    }
}

/// A verification row with its attempts aggregated into one JSON array.
#[derive(sqlx::FromRow)]
pub(crate) struct VerificationWithAttemptsRow {
    #[sqlx(flatten)]
    verification: VerificationRow,
    attempts: String,
}

/// An attempt as the databases render it inside a JSON aggregate.
#[derive(serde::Deserialize)]
struct AttemptJson {
    id: String,
    verification_id: String,
    step: String,
    outcome: String,
    reasons: Vec<String>,
    metrics: serde_json::Value,
    images: std::collections::BTreeMap<String, String>,
    content_hash: Option<String>,
    created_at: String,
}

impl TryFrom<VerificationWithAttemptsRow> for (Verification, Vec<Attempt>) {
    type Error = StoreError;
    fn try_from(r: VerificationWithAttemptsRow) -> Result<Self, StoreError> {
        let verification = Verification::try_from(r.verification)?;
        let attempts: Vec<AttemptJson> = from_json("attempts aggregate", &r.attempts)?;
        let attempts = attempts
            .into_iter()
            .map(|a| {
                let step: Step = a.step.parse().map_err(|e| corrupt("attempts.step", e))?;
                Ok(Attempt {
                    outcome: a
                        .outcome
                        .parse()
                        .map_err(|e| corrupt("attempts.outcome", e))?,
                    created_at: parse_db_time(&a.created_at)?,
                    id: a.id,
                    verification_id: VerificationId::from_trusted(a.verification_id),
                    step,
                    reasons: a.reasons,
                    metrics: AttemptMetrics::from_stored(step, a.metrics),
                    images: a.images,
                    content_hash: a.content_hash,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((verification, attempts))
    }
}

/// A time as Postgres (`2024-01-01T12:00:00.123456+00:00`) or SQLite's stored text render
/// it inside JSON.
fn parse_db_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt("attempts.created_at", e))
}

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    id: String,
    verification_id: String,
    step: String,
    outcome: String,
    reasons: String,
    metrics: String,
    images: String,
    content_hash: Option<String>,
    created_at: DateTime<Utc>,
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = StoreError;
    fn try_from(r: AttemptRow) -> Result<Self, StoreError> {
        let step: Step = r.step.parse().map_err(|e| corrupt("attempts.step", e))?;
        Ok(Attempt {
            outcome: r
                .outcome
                .parse()
                .map_err(|e| corrupt("attempts.outcome", e))?,
            reasons: from_json("attempts.reasons", &r.reasons)?,
            metrics: AttemptMetrics::from_stored(step, from_json("attempts.metrics", &r.metrics)?),
            images: from_json("attempts.images", &r.images)?,
            id: r.id,
            verification_id: VerificationId::from_trusted(r.verification_id),
            step,
            content_hash: r.content_hash,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    key_id: String,
    idempotency_key: String,
    request_hash: String,
    verification_id: String,
    response: String,
    created_at: DateTime<Utc>,
}

impl From<IdempotencyRow> for IdempotencyRecord {
    fn from(r: IdempotencyRow) -> Self {
        IdempotencyRecord {
            key_id: r.key_id,
            idempotency_key: r.idempotency_key,
            request_hash: r.request_hash,
            verification_id: VerificationId::from_trusted(r.verification_id),
            response: r.response,
            created_at: r.created_at,
        }
    }
}

pub(crate) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    at: DateTime<Utc>,
    actor_kind: String,
    actor_id: String,
    actor_label: String,
    address: Option<String>,
    action: String,
    verification_id: Option<String>,
    key_id: Option<String>,
    target: Option<String>,
    detail: Option<String>,
}

impl TryFrom<AuditRow> for crate::audit::AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(crate::audit::AuditEvent {
            seq: r.seq,
            at: r.at,
            actor: crate::audit::Actor {
                kind: r
                    .actor_kind
                    .parse()
                    .map_err(|e| corrupt("audit_events.actor_kind", e))?,
                id: r.actor_id,
                label: r.actor_label,
                address: r.address,
            },
            action: r
                .action
                .parse()
                .map_err(|e| corrupt("audit_events.action", e))?,
            verification_id: r.verification_id,
            key_id: r.key_id,
            target: r.target,
            detail: parse_value("audit_events.detail", r.detail)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: String,
    key_id: String,
    verification_id: String,
    #[sqlx(rename = "type")]
    event_type: String,
    sequence: i64,
    data: String,
    created_at: DateTime<Utc>,
    state: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(StoredEvent {
            data: from_json("webhook_events.data", &r.data)?,
            id: r.id,
            key_id: r.key_id,
            verification_id: r.verification_id,
            event_type: r
                .event_type
                .parse()
                .map_err(|e| corrupt("webhook_events.type", e))?,
            sequence: r.sequence,
            created_at: r.created_at,
            state: r.state,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            delivered_at: r.delivered_at,
        })
    }
}

/// A claimed event with its key's webhook columns.
#[derive(sqlx::FromRow)]
pub(crate) struct DueEventRow {
    #[sqlx(flatten)]
    event: EventRow,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    webhook_old_secret: Option<String>,
    webhook_old_secret_until: Option<DateTime<Utc>>,
}

impl TryFrom<DueEventRow> for (StoredEvent, Option<WebhookConfig>) {
    type Error = StoreError;
    fn try_from(r: DueEventRow) -> Result<Self, StoreError> {
        let hook = match (
            r.webhook_url,
            r.webhook_secret.as_deref().and_then(WebhookSecret::parse),
        ) {
            (Some(url), Some(secret)) => Some(WebhookConfig {
                url,
                secret,
                old_secret: r
                    .webhook_old_secret
                    .as_deref()
                    .and_then(WebhookSecret::parse),
                old_until: r.webhook_old_secret_until,
            }),
            _ => None,
        };
        Ok((StoredEvent::try_from(r.event)?, hook))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    event_id: String,
    attempted_at: DateTime<Utc>,
    status_code: Option<i32>,
    latency_ms: i64,
    error: Option<String>,
}

impl From<DeliveryRow> for DeliveryAttempt {
    fn from(r: DeliveryRow) -> Self {
        DeliveryAttempt {
            event_id: r.event_id,
            attempted_at: r.attempted_at,
            status_code: r.status_code.and_then(|c| u16::try_from(c).ok()),
            latency_ms: r.latency_ms,
            error: r.error,
        }
    }
}
