//! The dispatcher: drains the outbox. Every instance may run one; on Postgres claimed
//! events are leased with `FOR UPDATE SKIP LOCKED`, so instances never take the same event
//! at once. A lease is renewed while its delivery is in flight, and an instance that dies
//! mid-delivery only delays the event until its lease runs out (at-least-once delivery;
//! receivers de-duplicate on `webhook-id`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::guard;
use super::signing::signature_header;
use super::{AfterAttempt, DeliveryAttempt, StoredEvent, WebhookConfig};
use crate::AppState;
use crate::domain::ids::random_bytes;
use crate::domain::verification::{later, now};
use crate::store::StoreError;

/// Delay before each retry: seconds, then minutes, then hours — about three days in all.
const SCHEDULE: [u64; 11] = [
    5,
    30,
    120,
    600,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    24 * 3600,
    24 * 3600,
];

/// Events taken per round, and deliveries in flight at once.
const BATCH: u32 = 32;
const CONCURRENCY: usize = 8;

/// The wait before attempt `attempts + 1`, with ±20 % jitter so failing receivers are not
/// hit in lockstep; `None` when the schedule is used up.
pub fn retry_delay(attempts: u32) -> Option<Duration> {
    let base = *SCHEDULE.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let r = f64::from(u16::from_le_bytes(random_bytes::<2>())) / f64::from(u16::MAX);
    Some(Duration::from_secs_f64(base as f64 * (0.8 + 0.4 * r)))
}

/// Deliver every event due at `at`. Returns how many were attempted.
///
/// The claimed events are leased to this call for `webhooks.lease`, renewed every third of
/// it while deliveries are in flight, so a receiver slower than the lease (or a batch
/// longer than it) never sees a second instance send the same event meanwhile. If the
/// renewals fail (the database is out of reach), a delivery still in flight when the last
/// lease granted runs out is abandoned, because from then on another instance may take
/// the event; it stays pending and is sent again later (receivers de-duplicate on
/// `webhook-id`).
pub async fn dispatch_due(state: &AppState, at: DateTime<Utc>) -> Result<usize, StoreError> {
    let lease = state.settings.webhooks.lease;
    let owner = hex::encode(random_bytes::<16>());
    let started = tokio::time::Instant::now();
    let claimed = state
        .store
        .claim_due_events(at, later(at, lease), &owner, BATCH)
        .await?;
    let n = claimed.len();
    if n == 0 {
        return Ok(0);
    }
    // Until when, by this process's clock, the leases are surely ours.
    let (held_tx, held) = watch::channel(started + lease);
    let deliveries = futures_util::stream::iter(claimed)
        .map(|(event, hook)| {
            let held = held.clone();
            async move {
                tokio::select! {
                    (attempt, after) = deliver(state, &event, hook.as_ref(), at) => {
                        state.store.record_delivery(&attempt, after).await
                    }
                    () = lease_lost(held) => {
                        tracing::warn!(event_id = %event.id,
                            "webhook lease could not be renewed; delivery abandoned");
                        Ok(())
                    }
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<Result<(), StoreError>>>();
    let renewing = async {
        let every = (lease / 3).max(Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(started + every, every);
        loop {
            tick.tick().await;
            let asked = tokio::time::Instant::now();
            // On the same clock as `at`, which tests may set ahead of the wall clock.
            let until = later(at, asked.duration_since(started) + lease);
            match state.store.renew_leases(&owner, until).await {
                Ok(_) => {
                    let _ = held_tx.send(asked + lease);
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error::chain(&e), "webhook lease renewal failed")
                }
            }
        }
    };
    let results = tokio::select! {
        results = deliveries => results,
        () = renewing => unreachable!("renewal runs until the deliveries end"),
    };
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(n)
}

/// Resolves once the time in `held` has passed without being pushed further.
async fn lease_lost(mut held: watch::Receiver<tokio::time::Instant>) {
    loop {
        let until = *held.borrow_and_update();
        tokio::select! {
            () = tokio::time::sleep_until(until) => return,
            changed = held.changed() => {
                if changed.is_err() {
                    // No more renewals will come: the last one stands.
                    let last = *held.borrow();
                    tokio::time::sleep_until(last).await;
                    return;
                }
            }
        }
    }
}

/// Run until `shutdown`, checking for due events every `poll_interval`.
pub async fn run(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let poll = state.settings.webhooks.poll_interval;
    loop {
        match dispatch_due(&state, now()).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %crate::error::chain(&e), "webhook dispatch failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn deliver(
    state: &AppState,
    event: &StoredEvent,
    hook: Option<&WebhookConfig>,
    at: DateTime<Utc>,
) -> (DeliveryAttempt, AfterAttempt) {
    let started = Instant::now();
    let outcome = match hook {
        None => Err("the key has no webhook URL any more".to_owned()),
        Some(hook) => send(state, event, hook, at).await,
    };
    let attempt_no = u32::try_from(event.attempts)
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let (status_code, error, after) = match outcome {
        Ok(code) if (200..300).contains(&code) => (Some(code), None, AfterAttempt::Delivered),
        Ok(code) => (
            Some(code),
            Some(format!("answered {code}")),
            next_after(attempt_no, at),
        ),
        Err(e) => (None, Some(e), next_after(attempt_no, at)),
    };
    state.metrics.delivery(match after {
        AfterAttempt::Delivered => "delivered",
        AfterAttempt::RetryAt(_) => "retry",
        AfterAttempt::Failed => "failed",
    });
    match &error {
        None => tracing::info!(event_id = %event.id, "webhook delivered"),
        Some(e) => {
            tracing::warn!(event_id = %event.id, attempt = attempt_no, error = %e, "webhook delivery failed")
        }
    }
    let attempt = DeliveryAttempt {
        event_id: event.id.clone(),
        attempted_at: at,
        status_code,
        latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        error,
    };
    (attempt, after)
}

fn next_after(attempts: u32, at: DateTime<Utc>) -> AfterAttempt {
    match retry_delay(attempts) {
        Some(d) => AfterAttempt::RetryAt(later(at, d)),
        None => AfterAttempt::Failed,
    }
}

/// One HTTP attempt: the URL is checked again and resolved, and the connection goes to
/// exactly the addresses checked. Redirects are not followed.
async fn send(
    state: &AppState,
    event: &StoredEvent,
    hook: &WebhookConfig,
    at: DateTime<Utc>,
) -> Result<u16, String> {
    let settings = &state.settings.webhooks;
    let url = guard::check_shape(&hook.url, settings.allow_private)
        .map_err(|e| format!("refused: {e}"))?;
    let addrs = guard::resolve(&url, settings.allow_private)
        .await
        .map_err(|e| format!("refused: {e}"))?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .resolve_to_addrs(&host, &addrs)
        .user_agent(concat!("v2client-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let body = event.body();
    let timestamp = at.timestamp();
    let signature = signature_header(&hook.signing_secrets(at), &event.id, timestamp, &body);
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &event.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else {
                crate::error::chain(&e)
            }
        })?;
    Ok(res.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_grows_to_about_three_days_then_stops() {
        let first = retry_delay(1).unwrap();
        assert!((4.0..=6.0).contains(&first.as_secs_f64()), "{first:?}");
        let total: f64 = (1..=11)
            .map(|n| retry_delay(n).unwrap().as_secs_f64())
            .sum();
        let days = total / 86_400.0;
        assert!((2.2..=3.6).contains(&days), "{days} days");
        assert!(retry_delay(12).is_none());
        assert!(retry_delay(0).is_none());
        assert!(retry_delay(5).unwrap() > retry_delay(2).unwrap());
    }
}
