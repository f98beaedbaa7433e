//! Webhooks end to end with a real receiver on a loopback port: signed events with
//! `extra_data` and increasing `sequence`, retries until the receiver recovers, delivery
//! after a crash, secret rotation, and the SSRF guard.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::Duration;
use serde_json::{Value, json};
use v2client::domain::verification::now;
use v2client::domain::{KeySettings, Module};
use v2client::webhooks::dispatch::dispatch_due;
use v2client::webhooks::signing::verify;
use v2client::webhooks::{WebhookConfig, WebhookSecret};

use crate::common::{Db, TestApp};

both_stores!(
    events_arrive_signed_in_sequence_with_extra_data,
    a_failing_receiver_gets_every_event_after_it_recovers,
    events_committed_before_a_crash_are_delivered_after_restart,
    a_rotated_secret_signs_with_both_during_the_grace_period,
    private_and_metadata_addresses_are_refused_without_a_connection,
    redirects_are_not_followed,
    expiry_is_reported,
    a_delivery_slower_than_the_lease_is_not_sent_by_a_second_instance,
);

#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub(crate) hits: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    fail_next: Arc<AtomicUsize>,
    redirect_to: Option<String>,
}

impl Receiver {
    pub(crate) async fn start(redirect_to: Option<String>) -> (Receiver, String) {
        let r = Receiver {
            redirect_to,
            ..Receiver::default()
        };
        let shared = r.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let r = shared.clone();
                async move {
                    if let Some(to) = &r.redirect_to {
                        return (StatusCode::TEMPORARY_REDIRECT, [("location", to.clone())])
                            .into_response();
                    }
                    if r.fail_next
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                    r.hits.lock().unwrap().push((headers, body));
                    StatusCode::NO_CONTENT.into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, format!("http://{addr}/hook"))
    }

    pub(crate) fn bodies(&self) -> Vec<Value> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }
}

async fn app(db: Db, allow_private: bool) -> Option<TestApp> {
    let allow = if allow_private { "true" } else { "false" };
    TestApp::with_env(db, &[("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", allow)]).await
}

/// A key with the given flow sending webhooks to `url`; returns its secret and API key.
async fn hooked_key(app: &TestApp, url: &str, flow: Vec<Module>) -> (WebhookSecret, String) {
    let (record, key) = app
        .new_key(KeySettings {
            flow,
            ..KeySettings::default()
        })
        .await;
    (hook(app, &record.id, url).await, key.expose().to_owned())
}

/// Send the events of the key `key_id` to `url`, signed with a new secret (returned).
pub(crate) async fn hook(app: &TestApp, key_id: &str, url: &str) -> WebhookSecret {
    let secret = WebhookSecret::generate();
    app.db
        .store
        .set_webhook(
            key_id,
            Some(&WebhookConfig {
                url: url.to_owned(),
                secret: secret.clone(),
                old_secret: None,
                old_until: None,
            }),
        )
        .await
        .unwrap()
        .unwrap();
    secret
}

/// Create a terms-only verification and walk it to its decision: two events.
async fn started_and_completed(app: &TestApp, key: &str) -> String {
    let r = app
        .generate(Some(key), Some(json!({"extra_data": {"order": "ORDER-1"}})))
        .await;
    let id = r.json()["verificationId"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("/api/portal/{id}"), None).await.status,
        StatusCode::OK
    );
    let r = app
        .send(
            axum::http::Request::builder()
                .method("POST")
                .uri(format!("/api/portal/{id}/terms"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(r#"{"accepted": true}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(r.json()["next_step"], "done");
    id
}

async fn events_arrive_signed_in_sequence_with_extra_data(db: Db) {
    let Some(app) = app(db, true).await else {
        return;
    };
    let (rx, url) = Receiver::start(None).await;
    let (secret, key) = hooked_key(&app, &url, vec![Module::Terms]).await;
    let id = started_and_completed(&app, &key).await;
    assert_eq!(dispatch_due(&app.state, now()).await.unwrap(), 2);
    let hits = rx.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2);
    let mut sequences = Vec::new();
    for (headers, body) in &hits {
        let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
        let ts: i64 = h("webhook-timestamp").parse().unwrap();
        verify(
            &secret,
            &h("webhook-id"),
            ts,
            body,
            &h("webhook-signature"),
            now().timestamp(),
            300,
        )
        .expect("signature verifies");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["id"], json!(h("webhook-id")));
        assert_eq!(v["data"]["verification_id"], json!(id));
        assert_eq!(v["data"]["extra_data"], json!({"order": "ORDER-1"}));
        sequences.push((v["data"]["sequence"].as_i64().unwrap(), v["type"].clone()));
    }
    sequences.sort_by_key(|(s, _)| *s);
    assert_eq!(
        sequences,
        vec![
            (1, json!("verification.started")),
            (2, json!("verification.completed"))
        ]
    );
    let completed = rx
        .bodies()
        .into_iter()
        .find(|b| b["type"] == "verification.completed")
        .unwrap();
    assert_eq!(completed["data"]["status"], "verified");
    assert_eq!(completed["data"]["decision"]["status"], "verified");
    // Logged as delivered, with the attempt.
    let events = app.db.store.list_events(Some(&id), 10).await.unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.state == "delivered" && e.attempts == 1)
    );
    let log = app.db.store.list_deliveries(&events[0].id).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status_code, Some(204));
    // Nothing is delivered twice.
    assert_eq!(dispatch_due(&app.state, now()).await.unwrap(), 0);
}

async fn a_failing_receiver_gets_every_event_after_it_recovers(db: Db) {
    let Some(app) = app(db, true).await else {
        return;
    };
    let (rx, url) = Receiver::start(None).await;
    let (_, key) = hooked_key(&app, &url, vec![Module::Terms]).await;
    let id = started_and_completed(&app, &key).await;
    // Down for the first three answers.
    rx.fail_next.store(3, Ordering::SeqCst);
    let t0 = now();
    assert_eq!(dispatch_due(&app.state, t0).await.unwrap(), 2);
    assert!(rx.hits.lock().unwrap().is_empty());
    // The first retry waits about five seconds.
    assert_eq!(
        dispatch_due(&app.state, t0 + Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    let events = app.db.store.list_events(Some(&id), 10).await.unwrap();
    for e in &events {
        let wait = (e.next_attempt_at - t0).num_milliseconds();
        assert!((3_500..=6_500).contains(&wait), "{wait} ms");
        assert_eq!(e.state, "pending");
    }
    // Time passes: the next round fails once more, then everything gets through.
    let mut t = t0;
    for _ in 0..6 {
        t += Duration::minutes(5);
        dispatch_due(&app.state, t).await.unwrap();
    }
    assert_eq!(rx.hits.lock().unwrap().len(), 2, "every event arrives");
    let events = app.db.store.list_events(Some(&id), 10).await.unwrap();
    assert!(events.iter().all(|e| e.state == "delivered"));
    let attempts: i32 = events.iter().map(|e| e.attempts).sum();
    assert_eq!(attempts, 5, "three failures and two successes, each logged");
    let mut log = Vec::new();
    for e in &events {
        log.extend(app.db.store.list_deliveries(&e.id).await.unwrap());
    }
    assert_eq!(log.iter().filter(|d| d.status_code == Some(500)).count(), 3);
}

async fn events_committed_before_a_crash_are_delivered_after_restart(db: Db) {
    let Some(app) = app(db, true).await else {
        return;
    };
    let (rx, url) = Receiver::start(None).await;
    let (_, key) = hooked_key(&app, &url, vec![Module::Terms]).await;
    let id = started_and_completed(&app, &key).await;
    // An instance claims the events and dies before delivering them.
    let t = now();
    let claimed = app
        .db
        .store
        .claim_due_events(t, t + Duration::seconds(30), "crashed", 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let ids: Vec<String> = claimed.iter().map(|(e, _)| e.id.clone()).collect();
    // A restarted instance (new state on the same database) leaves them while leased …
    let restarted = v2client::AppState::new(app.db.settings.clone(), app.db.store.clone()).unwrap();
    assert_eq!(dispatch_due(&restarted, t).await.unwrap(), 0);
    // … and delivers them once the lease runs out, with the same webhook-id.
    assert_eq!(
        dispatch_due(&restarted, t + Duration::seconds(31))
            .await
            .unwrap(),
        2
    );
    let mut got: Vec<String> = rx
        .hits
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        app.db.store.list_events(Some(&id), 10).await.unwrap().len(),
        2
    );
}

async fn a_rotated_secret_signs_with_both_during_the_grace_period(db: Db) {
    let Some(app) = app(db, true).await else {
        return;
    };
    let (rx, url) = Receiver::start(None).await;
    let (old, key) = hooked_key(&app, &url, vec![Module::Terms]).await;
    let new = WebhookSecret::generate();
    let record = app
        .db
        .store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.webhook.is_some())
        .unwrap();
    app.db
        .store
        .set_webhook(
            &record.id,
            Some(&WebhookConfig {
                url: url.clone(),
                secret: new.clone(),
                old_secret: Some(old.clone()),
                old_until: Some(now() + Duration::hours(24)),
            }),
        )
        .await
        .unwrap();
    started_and_completed(&app, &key).await;
    dispatch_due(&app.state, now()).await.unwrap();
    let (headers, body) = rx.hits.lock().unwrap()[0].clone();
    let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
    let sig = h("webhook-signature");
    assert_eq!(sig.split(' ').count(), 2, "{sig}");
    let ts: i64 = h("webhook-timestamp").parse().unwrap();
    for secret in [&old, &new] {
        verify(
            secret,
            &h("webhook-id"),
            ts,
            &body,
            &sig,
            now().timestamp(),
            300,
        )
        .unwrap();
    }
    // After the grace period only the new secret signs.
    app.db
        .store
        .set_webhook(
            &record.id,
            Some(&WebhookConfig {
                url,
                secret: new.clone(),
                old_secret: Some(old.clone()),
                old_until: Some(now() - Duration::seconds(1)),
            }),
        )
        .await
        .unwrap();
    started_and_completed(&app, &key).await;
    dispatch_due(&app.state, now()).await.unwrap();
    let (headers, body) = rx.hits.lock().unwrap().last().unwrap().clone();
    let sig = headers["webhook-signature"].to_str().unwrap().to_owned();
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    let ts: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sig.split(' ').count(), 1);
    assert!(verify(&old, &id, ts, &body, &sig, now().timestamp(), 300).is_err());
    verify(&new, &id, ts, &body, &sig, now().timestamp(), 300).unwrap();
}

async fn private_and_metadata_addresses_are_refused_without_a_connection(db: Db) {
    let Some(app) = app(db, false).await else {
        return;
    };
    let (rx, url) = Receiver::start(None).await;
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    for target in [
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://localhost:{port}/hook"),
        "https://10.0.0.1/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        format!("http://127.0.0.1:{port}/hook"),
    ] {
        let (_, key) = hooked_key(&app, &target, vec![Module::Terms]).await;
        let id = started_and_completed(&app, &key).await;
        assert_eq!(
            dispatch_due(&app.state, now()).await.unwrap(),
            2,
            "{target}"
        );
        for e in app.db.store.list_events(Some(&id), 10).await.unwrap() {
            assert_eq!(e.state, "pending", "{target}: retried later, not delivered");
            let log = app.db.store.list_deliveries(&e.id).await.unwrap();
            let err = log[0].error.as_deref().unwrap_or("");
            assert!(err.starts_with("refused"), "{target}: {err}");
            assert_eq!(log[0].status_code, None);
        }
    }
    assert!(
        rx.hits.lock().unwrap().is_empty(),
        "no request reached the receiver"
    );
}

async fn redirects_are_not_followed(db: Db) {
    let Some(app) = app(db, true).await else {
        return;
    };
    let (inner, inner_url) = Receiver::start(None).await;
    let (_, outer_url) = Receiver::start(Some(inner_url)).await;
    let (_, key) = hooked_key(&app, &outer_url, vec![Module::Terms]).await;
    let id = started_and_completed(&app, &key).await;
    dispatch_due(&app.state, now()).await.unwrap();
    assert!(inner.hits.lock().unwrap().is_empty());
    for e in app.db.store.list_events(Some(&id), 10).await.unwrap() {
        let log = app.db.store.list_deliveries(&e.id).await.unwrap();
        assert_eq!(log[0].status_code, Some(307));
        assert_eq!(e.state, "pending");
    }
}

async fn expiry_is_reported(db: Db) {
    let Some(app) = app(db, true).await else {
        return;
    };
    let (rx, url) = Receiver::start(None).await;
    let (_, key) = hooked_key(&app, &url, vec![Module::Terms]).await;
    let id = app
        .generate(Some(&key), Some(json!({"extra_data": {"order": 9}})))
        .await
        .json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Stored as it would be a day later: the same verification, expiry passed.
    let vid = v2client::domain::VerificationId::parse(&id).unwrap();
    let v = app.db.store.get_verification(&vid).await.unwrap().unwrap();
    let overdue = v2client::domain::Verification {
        id: v2client::domain::VerificationId::generate(),
        expires_at: now() - Duration::seconds(1),
        ..v
    };
    app.db
        .store
        .create_verification(&overdue, None)
        .await
        .unwrap();
    assert_eq!(v2client::sweep_expired(&app.state).await.unwrap(), 1);
    dispatch_due(&app.state, now()).await.unwrap();
    let bodies = rx.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["type"], "verification.expired");
    assert_eq!(bodies[0]["data"]["verification_id"], json!(overdue.id));
    assert_eq!(bodies[0]["data"]["status"], "expired");
    assert_eq!(bodies[0]["data"]["extra_data"], json!({"order": 9}));
    assert_eq!(bodies[0]["data"]["sequence"], 1);
}

async fn a_delivery_slower_than_the_lease_is_not_sent_by_a_second_instance(db: Db) {
    let Some(app) = app(db, true).await else {
        return;
    };
    // A receiver that holds the first request until told to answer.
    let hits = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (h, a, r) = (hits.clone(), arrived.clone(), release.clone());
    let receiver = Router::new().route(
        "/hook",
        post(move || {
            let (h, a, r) = (h.clone(), a.clone(), r.clone());
            async move {
                if h.fetch_add(1, Ordering::SeqCst) == 0 {
                    a.notify_one();
                    r.notified().await;
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let (_, key) = hooked_key(&app, &url, vec![Module::Terms]).await;
    let id = app.generate(Some(&key), None).await.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(&format!("/api/portal/{id}"), None).await.status,
        StatusCode::OK,
        "one event: verification.started"
    );
    // Two instances on one database, with a lease much shorter than the delivery.
    let lease = std::time::Duration::from_millis(800);
    let instance = || {
        let mut settings = app.db.settings.clone();
        settings.webhooks.lease = lease;
        v2client::AppState::new(settings, app.db.store.clone()).unwrap()
    };
    let (first, second) = (instance(), instance());
    let delivering = tokio::spawn(async move { dispatch_due(&first, now()).await });
    tokio::time::timeout(std::time::Duration::from_secs(10), arrived.notified())
        .await
        .expect("the first instance delivers");
    // For three leases the receiver holds on; the second instance finds nothing to send.
    let held = std::time::Instant::now();
    while held.elapsed() < lease * 3 {
        assert_eq!(dispatch_due(&second, now()).await.unwrap(), 0);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    release.notify_one();
    assert_eq!(delivering.await.unwrap().unwrap(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "sent exactly once");
    let events = app.db.store.list_events(Some(&id), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].state, "delivered");
    assert_eq!(events[0].attempts, 1);
    assert_eq!(dispatch_due(&second, now()).await.unwrap(), 0);
}
