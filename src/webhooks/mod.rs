//! Webhooks: events written to an outbox in the same transaction as the change they
//! report, delivered at least once, signed the Standard Webhooks way, retried for about
//! three days, every attempt logged.

pub mod dispatch;
pub mod guard;
pub mod signing;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::ids::random_bytes;
use crate::domain::lifecycle;
use crate::domain::verification::rfc3339;

pub use signing::WebhookSecret;

/// Where and how a key's events are delivered.
#[derive(Clone, PartialEq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: WebhookSecret,
    /// The secret before the last rotation, still signing until `old_until`.
    pub old_secret: Option<WebhookSecret>,
    pub old_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("old_until", &self.old_until)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// The secrets that sign a delivery at `now`: the current one, and the previous one
    /// during its grace period.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&WebhookSecret> {
        let mut out = vec![&self.secret];
        if let (Some(old), Some(until)) = (&self.old_secret, self.old_until)
            && now < until
        {
            out.push(old);
        }
        out
    }
}

pub use crate::domain::lifecycle::EventType;

/// An event to write with a state change. Its per-verification `sequence` is assigned
/// by the store inside the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: EventType,
    /// What the event reports: `verification_id`, `status`, `extra_data`, and for
    /// `verification.completed` the `decision`.
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

pub fn new_event_id() -> String {
    format!("evt_{}", hex::encode(random_bytes::<16>()))
}

impl NewEvent {
    /// A domain event, ready for the outbox: with its id and time.
    pub fn from_domain(event: &lifecycle::Event, at: DateTime<Utc>) -> NewEvent {
        NewEvent {
            id: new_event_id(),
            event_type: event.event_type,
            data: event.data.to_json(),
            created_at: at,
        }
    }
}

/// The `verification.expired` event of a verification whose link ran out at `at`
/// ([`lifecycle::expired_event`]), ready for the outbox.
pub fn expired_event(
    verification_id: &str,
    extra_data: Option<Value>,
    test: bool,
    at: DateTime<Utc>,
) -> NewEvent {
    NewEvent::from_domain(
        &lifecycle::expired_event(verification_id, extra_data, test),
        at,
    )
}

/// An event as stored in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: String,
    pub key_id: String,
    pub verification_id: String,
    pub event_type: EventType,
    pub sequence: i64,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl StoredEvent {
    /// The delivery body: the same bytes on every attempt.
    pub fn body(&self) -> String {
        let mut data = self.data.clone();
        if let Some(fields) = data.as_object_mut() {
            fields.insert("sequence".into(), json!(self.sequence));
        }
        json!({
            "id": self.id,
            "type": self.event_type,
            "created_at": rfc3339(self.created_at),
            "timestamp": rfc3339(self.created_at),
            "data": data,
        })
        .to_string()
    }
}

/// One delivery attempt, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub event_id: String,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What becomes of an event after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterAttempt {
    Delivered,
    RetryAt(DateTime<Utc>),
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::VariantArray;

    #[test]
    fn event_types_serialise_as_their_names() {
        for &t in EventType::VARIANTS {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
            assert_eq!(
                serde_json::from_value::<EventType>(t.as_str().into()).unwrap(),
                t
            );
        }
        assert_eq!(EventType::Started.as_str(), "verification.started");
        assert_eq!(EventType::Completed.as_str(), "verification.completed");
        assert_eq!(EventType::Expired.as_str(), "verification.expired");
    }
}
