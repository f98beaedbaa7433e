//! The store conformance suite: the same expectations of both `Store` implementations.

use std::collections::BTreeMap;

use chrono::Duration;
use serde_json::json;
use v2client::domain::verification::{initial_progress, now};
use v2client::domain::{
    Attempt, AttemptMetrics, AttemptOutcome, KeySettings, Module, Status, Step, Verification,
    VerificationId,
};
use v2client::keys::new_key;
use v2client::store::{CreateOutcome, IdempotencyRecord};
use v2client::webhooks::{AfterAttempt, DeliveryAttempt, EventType, NewEvent};

use crate::common::{Db, TestDb};

both_stores!(
    keys_round_trip_and_are_found_by_prefix,
    first_key_is_created_only_once,
    revoking_by_id_or_prefix_keeps_the_first_time,
    verifications_round_trip_every_field,
    idempotency_records_guard_against_duplicates,
    idempotency_records_expire,
    attempts_are_listed_oldest_first,
    migrations_are_idempotent,
    updates_are_versioned_and_carry_their_attempt,
    overdue_open_verifications_expire,
    rate_windows_count_per_bucket_and_restart_with_a_new_window,
    leases_are_renewed_only_by_their_holder,
    stalled_processing_is_found_oldest_first,
    erasure_reaches_return_url_and_webhook_payloads,
    erasable_waits_for_each_keys_retention_period,
    key_changes_are_reported_and_nothing_else,
);

fn verification(key_id: &str) -> Verification {
    let t = now();
    let flow = vec![Module::Terms, Module::Document, Module::Liveness];
    Verification {
        id: VerificationId::generate(),
        key_id: key_id.to_owned(),
        status: Status::Created,
        progress: initial_progress(&flow),
        modules: KeySettings::default().modules(),
        flow,
        results: serde_json::from_value(json!({"document": {"document_type": "passport"}}))
            .unwrap(),
        extra_data: Some(json!({"reference_id": "ABC123", "n": [1, 2.5, null]})),
        return_url: Some("https://your-app.com/done".into()),
        test: false,
        portal: Default::default(),
        version: 0,
        created_at: t,
        updated_at: t,
        expires_at: t + Duration::hours(24),
    }
}

async fn store_with_key(db: Db) -> Option<(TestDb, String)> {
    let tdb = TestDb::new(db).await?;
    let (key, _) = new_key("k", KeySettings::default());
    tdb.store.insert_key(&key).await.unwrap();
    Some((tdb, key.id))
}

async fn keys_round_trip_and_are_found_by_prefix(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let mut settings = KeySettings {
        allowed_return_origins: vec!["https://app.example".into()],
        ..KeySettings::default()
    };
    settings.rate_limits.generate_per_minute = Some(7);
    let (a, secret) = new_key("alpha", settings);
    let (b, _) = new_key("beta", KeySettings::default());
    s.insert_key(&a).await.unwrap();
    s.insert_key(&b).await.unwrap();
    let found = s.find_key_by_prefix(&a.prefix).await.unwrap().unwrap();
    assert_eq!(found, a);
    assert!(found.key_hash.matches(&secret.hash()));
    assert_eq!(s.find_key(&b.id).await.unwrap().unwrap(), b);
    assert!(s.find_key_by_prefix("v2c_nothing").await.unwrap().is_none());
    let all = s.list_keys().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&a) && all.contains(&b));
    // The same prefix or hash cannot be stored twice.
    assert!(s.insert_key(&a).await.is_err());
}

async fn first_key_is_created_only_once(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let (a, _) = new_key("first", KeySettings::default());
    let (b, _) = new_key("second", KeySettings::default());
    assert!(s.insert_first_key(&a).await.unwrap());
    assert!(!s.insert_first_key(&b).await.unwrap());
    assert_eq!(s.list_keys().await.unwrap(), vec![a]);
}

async fn revoking_by_id_or_prefix_keeps_the_first_time(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let (a, _) = new_key("a", KeySettings::default());
    let (b, _) = new_key("b", KeySettings::default());
    s.insert_key(&a).await.unwrap();
    s.insert_key(&b).await.unwrap();
    let t1 = now();
    let revoked = s.revoke_key(&a.id, t1).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(t1));
    let again = s
        .revoke_key(&a.prefix, t1 + Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_at, Some(t1), "first revocation time is kept");
    assert!(s.revoke_key("nope", t1).await.unwrap().is_none());
    assert!(
        s.find_key(&b.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
}

async fn verifications_round_trip_every_field(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let v = verification(&key_id);
    assert_eq!(
        s.create_verification(&v, None).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(s.get_verification(&v.id).await.unwrap().unwrap(), v);
    let mut bare = verification(&key_id);
    bare.extra_data = None;
    bare.return_url = None;
    s.create_verification(&bare, None).await.unwrap();
    assert_eq!(s.get_verification(&bare.id).await.unwrap().unwrap(), bare);
    assert!(
        s.get_verification(&VerificationId::generate())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(s.count_verifications(&key_id).await.unwrap(), 2);
    assert_eq!(s.count_verifications("key_other").await.unwrap(), 0);
    // The same id twice is refused, not overwritten.
    assert!(s.create_verification(&v, None).await.is_err());
}

async fn idempotency_records_guard_against_duplicates(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let v1 = verification(&key_id);
    let rec = IdempotencyRecord {
        key_id: key_id.clone(),
        idempotency_key: "idem-1".into(),
        request_hash: "h1".into(),
        verification_id: v1.id.clone(),
        response: r#"{"verificationId":"first"}"#.into(),
        created_at: now(),
    };
    assert_eq!(
        s.create_verification(&v1, Some(&rec)).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        s.find_idempotency(&key_id, "idem-1").await.unwrap(),
        Some(rec.clone())
    );
    // A second verification under the same idempotency key writes nothing.
    let v2 = verification(&key_id);
    let rec2 = IdempotencyRecord {
        verification_id: v2.id.clone(),
        request_hash: "h2".into(),
        response: "{}".into(),
        ..rec.clone()
    };
    assert_eq!(
        s.create_verification(&v2, Some(&rec2)).await.unwrap(),
        CreateOutcome::Replayed(rec.clone())
    );
    assert!(s.get_verification(&v2.id).await.unwrap().is_none());
    assert_eq!(s.count_verifications(&key_id).await.unwrap(), 1);
    assert!(
        s.find_idempotency(&key_id, "idem-2")
            .await
            .unwrap()
            .is_none()
    );
}

async fn idempotency_records_expire(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let t = now();
    for (name, age) in [("old", 48), ("new", 1)] {
        let v = verification(&key_id);
        let rec = IdempotencyRecord {
            key_id: key_id.clone(),
            idempotency_key: name.into(),
            request_hash: "h".into(),
            verification_id: v.id.clone(),
            response: "{}".into(),
            created_at: t - Duration::hours(age),
        };
        s.create_verification(&v, Some(&rec)).await.unwrap();
    }
    assert_eq!(
        s.purge_idempotency(t - Duration::hours(24)).await.unwrap(),
        1
    );
    assert!(s.find_idempotency(&key_id, "old").await.unwrap().is_none());
    assert!(s.find_idempotency(&key_id, "new").await.unwrap().is_some());
    // Purging records never removes verifications.
    assert_eq!(s.count_verifications(&key_id).await.unwrap(), 2);
}

async fn attempts_are_listed_oldest_first(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let v = verification(&key_id);
    s.create_verification(&v, None).await.unwrap();
    let t = now();
    let attempt = |id: &str, secs: i64, outcome, reasons: &[&str]| Attempt {
        id: id.into(),
        verification_id: v.id.clone(),
        step: Step::DocumentFront,
        outcome,
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
        metrics: AttemptMetrics::Other(json!({"sharpness": 12.5})),
        images: BTreeMap::from([("original".to_string(), format!("{}/{id}/original", v.id))]),
        content_hash: Some("abc".into()),
        created_at: t + Duration::seconds(secs),
    };
    let second = attempt("att_2", 5, AttemptOutcome::Accepted, &[]);
    let first = attempt(
        "att_1",
        0,
        AttemptOutcome::Rejected,
        &["IMAGE_BLURRY", "IMAGE_GLARE"],
    );
    let (alone, none) = s
        .get_verification_with_attempts(&v.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((alone, none), (v.clone(), vec![]));
    s.insert_attempt(&second).await.unwrap();
    s.insert_attempt(&first).await.unwrap();
    assert_eq!(
        s.list_attempts(&v.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    // The one-round-trip read gives the same verification and attempts.
    let (read, attempts) = s
        .get_verification_with_attempts(&v.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, v);
    assert_eq!(attempts, vec![first, second]);
    assert!(
        s.get_verification_with_attempts(&VerificationId::generate())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.list_attempts(&VerificationId::generate())
            .await
            .unwrap()
            .is_empty()
    );
    // An attempt must belong to an existing verification.
    let mut orphan = attempt("att_3", 9, AttemptOutcome::Accepted, &[]);
    orphan.verification_id = VerificationId::generate();
    assert!(s.insert_attempt(&orphan).await.is_err());
}

async fn migrations_are_idempotent(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    tdb.store.migrate().await.unwrap();
    tdb.store.migrate().await.unwrap();
    tdb.store.ping().await.unwrap();
    let expected = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    assert_eq!(tdb.store.kind(), expected);
}

async fn updates_are_versioned_and_carry_their_attempt(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let v = verification(&key_id);
    s.create_verification(&v, None).await.unwrap();
    let mut next = v.clone();
    next.status = Status::InProgress;
    next.portal.terms_accepted_at = Some(now());
    next.results = serde_json::from_value(json!({"form_data": {"first_name": "Ada"}})).unwrap();
    next.updated_at = now();
    let attempt = Attempt {
        id: "att_terms".into(),
        verification_id: v.id.clone(),
        step: Step::FormData,
        outcome: AttemptOutcome::Accepted,
        reasons: vec![],
        metrics: AttemptMetrics::Other(json!({})),
        images: BTreeMap::new(),
        content_hash: None,
        created_at: now(),
    };
    assert!(
        s.update_verification(&next, Some(&attempt), &[])
            .await
            .unwrap()
    );
    let stored = s.get_verification(&v.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(stored.status, Status::InProgress);
    assert_eq!(stored.portal, next.portal);
    assert_eq!(stored.results, next.results);
    assert_eq!(s.list_attempts(&v.id).await.unwrap(), vec![attempt]);
    // A writer holding the old version loses, and its attempt is not written either.
    let mut stale = v.clone();
    stale.status = Status::Rejected;
    let lost = Attempt {
        id: "att_lost".into(),
        ..s.list_attempts(&v.id).await.unwrap()[0].clone()
    };
    assert!(
        !s.update_verification(&stale, Some(&lost), &[])
            .await
            .unwrap()
    );
    let after = s.get_verification(&v.id).await.unwrap().unwrap();
    assert_eq!(after.status, Status::InProgress);
    assert_eq!(s.list_attempts(&v.id).await.unwrap().len(), 1);
}

async fn overdue_open_verifications_expire(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let t = now();
    let stalled_before = t - Duration::minutes(2);
    let mut ids = Vec::new();
    for (status, expires_in, in_status_for) in [
        (Status::Created, -60, 0),
        (Status::InProgress, -1, 0),
        // Deciding right now: left alone.
        (Status::Processing, -60, 0),
        (Status::Verified, -60, 0),
        (Status::InProgress, 60, 0),
        // Stuck in processing, never decided: expires with the rest.
        (Status::Processing, -60, 600),
        // Stuck, but not yet expired: settled by the upkeep, not by the sweep.
        (Status::Processing, 60, 600),
    ] {
        let mut v = verification(&key_id);
        v.status = status;
        v.expires_at = t + Duration::seconds(expires_in);
        v.updated_at = t - Duration::seconds(in_status_for);
        s.create_verification(&v, None).await.unwrap();
        ids.push(v.id);
    }
    let mut expired = s.expire_overdue(t, stalled_before, 100).await.unwrap();
    expired.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut want = vec![ids[0].clone(), ids[1].clone(), ids[5].clone()];
    want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(expired, want);
    let v = s.get_verification(&ids[0]).await.unwrap().unwrap();
    assert_eq!(v.status, Status::Expired);
    assert_eq!(v.updated_at, v.expires_at);
    assert_eq!(v.version, 1);
    for (i, status) in [
        (2, Status::Processing),
        (3, Status::Verified),
        (4, Status::InProgress),
        (5, Status::Expired),
        (6, Status::Processing),
    ] {
        assert_eq!(
            s.get_verification(&ids[i]).await.unwrap().unwrap().status,
            status
        );
    }
    assert!(
        s.expire_overdue(t, stalled_before, 100)
            .await
            .unwrap()
            .is_empty(),
        "only once"
    );
}

async fn rate_windows_count_per_bucket_and_restart_with_a_new_window(db: Db) {
    let Some(t) = TestDb::new(db).await else {
        return;
    };
    let s = &t.store;
    for expected in 1..=3 {
        assert_eq!(
            s.hit_rate_window("generate:key_a", 600).await.unwrap(),
            expected
        );
    }
    // Another bucket counts apart.
    assert_eq!(s.hit_rate_window("generate:key_b", 600).await.unwrap(), 1);
    // A lagging instance's hit for the previous window counts in the current one.
    assert_eq!(s.hit_rate_window("generate:key_a", 540).await.unwrap(), 4);
    // The next window starts afresh.
    assert_eq!(s.hit_rate_window("generate:key_a", 660).await.unwrap(), 1);
    assert_eq!(s.purge_rate_windows(660).await.unwrap(), 1);
    assert_eq!(s.hit_rate_window("generate:key_b", 660).await.unwrap(), 1);
    // Many hits at once are all counted.
    let hits =
        futures_util::future::join_all((0..20).map(|_| s.hit_rate_window("burst", 600))).await;
    let mut counts: Vec<i64> = hits.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<_>>());
}

async fn stalled_processing_is_found_oldest_first(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let t = now();
    let mut ids = Vec::new();
    for (status, minutes_ago) in [
        (Status::Processing, 5),
        (Status::Processing, 10),
        (Status::Processing, 1),
        (Status::InProgress, 10),
        (Status::NeedsManualReview, 10),
    ] {
        let mut v = verification(&key_id);
        v.status = status;
        v.updated_at = t - Duration::minutes(minutes_ago);
        s.create_verification(&v, None).await.unwrap();
        ids.push(v.id);
    }
    let before = t - Duration::minutes(2);
    assert_eq!(
        s.stalled_processing(before, 10).await.unwrap(),
        vec![ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(
        s.stalled_processing(before, 1).await.unwrap(),
        vec![ids[1].clone()]
    );
}

async fn erasure_reaches_return_url_and_webhook_payloads(db: Db) {
    let Some((tdb, v, event_id)) = store_with_event(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    assert!(v.return_url.is_some() && v.extra_data.is_some());
    let mut decided = v.clone();
    decided.status = Status::Verified;
    decided.results = serde_json::from_value(json!({
        "decision": {"status": "verified", "reasons": []},
        "form_data": {"first_name": "Ada"}}))
    .unwrap();
    let completed = NewEvent {
        id: v2client::webhooks::new_event_id(),
        event_type: EventType::Completed,
        data: json!({"verification_id": v.id, "status": "verified",
            "extra_data": v.extra_data, "decision": {"status": "verified"}}),
        created_at: now(),
    };
    assert!(
        s.update_verification(&decided, None, std::slice::from_ref(&completed))
            .await
            .unwrap()
    );
    let before = s.list_events(Some(v.id.as_str()), 10).await.unwrap();
    assert_eq!(before.len(), 2);
    assert!(
        before
            .iter()
            .all(|e| e.data["extra_data"] == json!(v.extra_data))
    );

    assert!(s.mark_erased(&v.id, now()).await.unwrap());
    let erased = s.get_verification(&v.id).await.unwrap().unwrap();
    assert_eq!(erased.extra_data, None);
    assert_eq!(erased.return_url, None);
    let results = erased.results.to_json();
    assert_eq!(results["decision"]["status"], "verified");
    assert!(results.get("form_data").is_none());
    let after = s.list_events(Some(v.id.as_str()), 10).await.unwrap();
    assert_eq!(after.len(), 2, "the events stay, for the audit trail");
    for e in &after {
        assert_eq!(e.data["extra_data"], serde_json::Value::Null, "{}", e.id);
        assert_eq!(e.data["verification_id"], json!(v.id));
        assert!(!e.body().contains("ABC123"), "{}", e.body());
    }
    assert!(after.iter().any(|e| e.id == event_id));
    assert_eq!(
        after.iter().find(|e| e.id == completed.id).unwrap().data["decision"]["status"],
        "verified"
    );
    assert!(!s.mark_erased(&v.id, now()).await.unwrap(), "once");
}

async fn erasable_waits_for_each_keys_retention_period(db: Db) {
    let Some(tdb) = TestDb::new(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let (short, _) = new_key(
        "short",
        KeySettings {
            retention_days: 30,
            ..KeySettings::default()
        },
    );
    let (default, _) = new_key("default", KeySettings::default());
    s.insert_key(&short).await.unwrap();
    s.insert_key(&default).await.unwrap();
    let decided_at = now();
    let mut decided = Vec::new();
    for (n, key) in [&short, &default].into_iter().enumerate() {
        let mut v = verification(&key.id);
        v.status = Status::Verified;
        v.results =
            serde_json::from_value(json!({"decision": {"status": "verified", "reasons": []}}))
                .unwrap();
        v.updated_at = decided_at + Duration::seconds(n as i64);
        s.create_verification(&v, None).await.unwrap();
        decided.push(v.id);
    }
    // Still waiting on the user: never erasable, however old.
    let mut open = verification(&short.id);
    open.updated_at = decided_at - Duration::days(400);
    s.create_verification(&open, None).await.unwrap();

    let at = |days| decided_at + Duration::days(days);
    assert_eq!(s.erasable(at(29), 10).await.unwrap(), vec![]);
    assert_eq!(s.erasable(at(31), 10).await.unwrap(), decided[..1]);
    assert_eq!(
        s.erasable(at(91), 10).await.unwrap(),
        decided,
        "oldest first"
    );
    assert_eq!(s.erasable(at(91), 1).await.unwrap(), decided[..1]);
    assert!(s.mark_erased(&decided[0], at(31)).await.unwrap());
    assert_eq!(
        s.erasable(at(91), 10).await.unwrap(),
        decided[1..],
        "an erased one is not listed again"
    );
}

/// A key with a webhook URL and a verification of it with one queued event.
async fn store_with_event(db: Db) -> Option<(TestDb, Verification, String)> {
    let (tdb, key_id) = store_with_key(db).await?;
    let s = tdb.store.as_ref();
    let hook = v2client::webhooks::WebhookConfig {
        url: "https://hooks.example.com/x".into(),
        secret: v2client::webhooks::WebhookSecret::generate(),
        old_secret: None,
        old_until: None,
    };
    s.set_webhook(&key_id, Some(&hook)).await.unwrap().unwrap();
    let v = verification(&key_id);
    s.create_verification(&v, None).await.unwrap();
    let mut next = v.clone();
    next.status = Status::InProgress;
    let event = NewEvent {
        id: v2client::webhooks::new_event_id(),
        event_type: EventType::Started,
        data: json!({"verification_id": v.id, "status": "in_progress",
            "extra_data": v.extra_data}),
        created_at: now(),
    };
    assert!(
        s.update_verification(&next, None, std::slice::from_ref(&event))
            .await
            .unwrap()
    );
    let stored = s.get_verification(&v.id).await.unwrap().unwrap();
    Some((tdb, stored, event.id))
}

async fn leases_are_renewed_only_by_their_holder(db: Db) {
    let Some((tdb, _, event_id)) = store_with_event(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let t = now();
    let claimed = s
        .claim_due_events(t, t + Duration::seconds(30), "first", 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].1.is_some(), "with its webhook");
    let later = t + Duration::seconds(31);
    // Renewed by its holder, the lease outlives its first term.
    assert_eq!(
        s.renew_leases("first", t + Duration::seconds(60))
            .await
            .unwrap(),
        1
    );
    assert!(
        s.claim_due_events(later, later, "second", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.renew_leases("nobody", t).await.unwrap(), 0);
    // Once the lease has lapsed and another dispatcher took the event, the first one's
    // renewals leave it alone.
    let lapsed = t + Duration::seconds(61);
    let taken = s
        .claim_due_events(lapsed, lapsed + Duration::seconds(30), "second", 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        s.renew_leases("first", t + Duration::days(1))
            .await
            .unwrap(),
        0
    );
    // A recorded attempt ends the lease: a retry time is not pushed back by renewals.
    let retry_at = lapsed + Duration::seconds(5);
    s.record_delivery(
        &DeliveryAttempt {
            event_id: event_id.clone(),
            attempted_at: lapsed,
            status_code: Some(500),
            latency_ms: 3,
            error: Some("answered 500".into()),
        },
        AfterAttempt::RetryAt(retry_at),
    )
    .await
    .unwrap();
    assert_eq!(
        s.renew_leases("second", t + Duration::days(1))
            .await
            .unwrap(),
        0
    );
    let events = s.list_events(None, 10).await.unwrap();
    assert_eq!(events[0].next_attempt_at, retry_at);
    assert_eq!(events[0].state, "pending");
}

async fn key_changes_are_reported_and_nothing_else(db: Db) {
    let Some((tdb, key_id)) = store_with_key(db).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let wait = |d: u64| std::time::Duration::from_millis(d);
    let mut changes = s.key_changes();
    tokio::time::timeout(wait(5000), changes.changed())
        .await
        .expect("watching starts")
        .unwrap();
    // Verifications come and go: no news about keys.
    s.create_verification(&verification(&key_id), None)
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(wait(400), changes.changed())
            .await
            .is_err(),
        "a change was reported though no key changed"
    );
    s.revoke_key(&key_id, now()).await.unwrap().unwrap();
    tokio::time::timeout(wait(1000), changes.changed())
        .await
        .expect("the revocation is reported within a second")
        .unwrap();
    let (other, _) = new_key("other", KeySettings::default());
    s.insert_key(&other).await.unwrap();
    s.rotate_qr_token(&other.id, "qr_new")
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(wait(1000), changes.changed())
        .await
        .expect("new keys and new tokens are reported too")
        .unwrap();
}
