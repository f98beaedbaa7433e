//! The operator's own routes: the verification list (filters, keyset pages that neither
//! repeat nor skip while new verifications arrive), the review of a flagged case (the
//! decision, the webhook, idempotency, every state it is refused in), erasure on request
//! (images and personal data gone, the portal and the image routes refused), the audit
//! log those leave behind, and the same from the command line.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};
use v2client::audit::{Action, AuditQuery};
use v2client::domain::results::{DecisionRecord, Results};
use v2client::domain::verification::now;
use v2client::domain::{
    Attempt, AttemptOutcome, KeySettings, Module, Status, Step, Verification, VerificationId,
};
use v2client::webhooks::dispatch::dispatch_due;
use v2client::webhooks::{WebhookConfig, WebhookSecret};

use crate::common::{Db, Reply, TestApp, v2client};
use crate::webhooks::Receiver;

both_stores!(
    pages_neither_repeat_nor_skip_while_new_verifications_arrive,
    the_list_filters_by_status_time_and_reference,
    the_list_refuses_bad_parameters_in_the_error_shape,
    a_review_decides_a_flagged_case_and_the_webhook_tells_it,
    a_review_is_refused_outside_needs_manual_review,
    a_review_with_an_idempotency_key_is_answered_once,
    erasure_removes_images_and_personal_data_and_closes_the_portal,
    the_audit_log_refuses_changes,
    the_cli_lists_reviews_erases_and_exports_the_audit_log,
);

/// A verification of `app`'s key waiting for review, flagged for an uncertain face match,
/// created `age` ago with `reference` as its `extra_data.reference_id`.
pub(crate) async fn flagged(app: &TestApp, age: Duration, reference: &str) -> Verification {
    let t = now();
    let flow = vec![Module::Terms, Module::FormData];
    let mut results = Results::default();
    results.recorded_mut().unwrap().decision = Some(DecisionRecord::automatic(
        Status::NeedsManualReview,
        vec!["FACE_MATCH_UNCERTAIN".parse().unwrap()],
    ));
    let v = Verification {
        id: VerificationId::generate(),
        key_id: app.key_record.id.clone(),
        status: Status::NeedsManualReview,
        progress: v2client::domain::verification::initial_progress(&flow),
        flow,
        modules: KeySettings::default().modules(),
        results,
        extra_data: Some(json!({"reference_id": reference, "user_id": "u-1"})),
        return_url: Some("https://shop.example/done".into()),
        test: false,
        portal: Default::default(),
        version: 0,
        created_at: t - age,
        updated_at: t - age + Duration::minutes(5),
        expires_at: t - age + Duration::hours(24),
    };
    app.db.store.create_verification(&v, None).await.unwrap();
    v
}

fn request(method: Method, path: &str, key: &str, body: Option<Value>) -> Request<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("x-sdk-key", key);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .unwrap()
}

async fn review(app: &TestApp, id: &str, body: Value) -> Reply {
    let path = format!("/api/verifications/{id}/review");
    app.send(request(Method::POST, &path, app.key(), Some(body)))
        .await
}

fn approve() -> Value {
    json!({
        "decision": "verified",
        "reason": "document and selfie compared by hand",
        "note": "glasses in the selfie",
        "reviewer": "ada@example.com",
    })
}

/// Every id of every page of `path` (which has no query yet besides `query`).
async fn ids_of(app: &TestApp, query: &str) -> Vec<String> {
    let r = app
        .get(&format!("/api/verifications?{query}"), Some(app.key()))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["verifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["verification_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn pages_neither_repeat_nor_skip_while_new_verifications_arrive(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let mut existing = Vec::new();
    for i in 0..23 {
        existing.push(
            app.new_verification(Some(
                json!({"extra_data": {"reference_id": format!("R-{i}")}}),
            ))
            .await,
        );
    }
    // Another key's verifications never show.
    let (_, other) = app.new_key(KeySettings::default()).await;
    app.generate(Some(other.expose()), None).await;

    let mut seen: Vec<String> = Vec::new();
    let mut created: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/api/verifications?limit=10".to_owned(),
            Some(c) => format!("/api/verifications?limit=10&cursor={c}"),
        };
        let r = app.get(&path, Some(app.key())).await;
        assert_eq!(r.status, StatusCode::OK);
        let body = r.json();
        let items = body["verifications"].as_array().unwrap();
        assert!(items.len() <= 10);
        for item in items {
            // The details shape, without the attempts.
            assert!(item["status"]["current"].is_string());
            assert!(item["extra_data"]["reference_id"].is_string());
            assert!(item.get("attempts").is_none(), "{item}");
            created.push(item["created_at"].as_str().unwrap().to_owned());
            seen.push(item["verification_id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        // New verifications arrive between pages.
        app.new_verification(None).await;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    // Newest first, each one once, and every one that existed when paging began.
    let mut expected = existing.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let mut sorted = created.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(created, sorted);
}

async fn the_list_filters_by_status_time_and_reference(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let old = flagged(&app, Duration::days(3), "ORDER-1").await;
    let recent = flagged(&app, Duration::hours(1), "ORDER-2").await;
    let open = app
        .stored_verification(Status::InProgress, Duration::hours(1))
        .await;
    let overdue = app
        .stored_verification(Status::Created, Duration::minutes(-5))
        .await;
    let verified = app
        .stored_verification(Status::Verified, Duration::hours(1))
        .await;

    let review = ids_of(&app, "status=needs_manual_review").await;
    assert_eq!(review, vec![recent.id.to_string(), old.id.to_string()]);
    // Statuses as a reader sees them: created but past its expiry reads expired.
    assert_eq!(
        ids_of(&app, "status=expired").await,
        vec![overdue.id.to_string()]
    );
    assert!(ids_of(&app, "status=created").await.is_empty());
    assert_eq!(
        ids_of(&app, "status=in_progress").await,
        vec![open.id.to_string()]
    );
    assert_eq!(
        ids_of(&app, "status=verified").await,
        vec![verified.id.to_string()]
    );
    let r = app
        .get("/api/verifications?status=expired", Some(app.key()))
        .await;
    assert_eq!(r.json()["verifications"][0]["status"]["current"], "expired");

    assert_eq!(
        ids_of(&app, "reference=ORDER-1").await,
        vec![old.id.to_string()]
    );
    assert!(ids_of(&app, "reference=ORDER-9").await.is_empty());

    let day_ago = (now() - Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let before = ids_of(&app, &format!("created_before={day_ago}")).await;
    assert_eq!(before, vec![old.id.to_string()]);
    let after = ids_of(
        &app,
        &format!("created_after={day_ago}&status=needs_manual_review"),
    )
    .await;
    assert_eq!(after, vec![recent.id.to_string()]);

    // Another key sees none of them.
    let (_, other) = app.new_key(KeySettings::default()).await;
    let r = app
        .get(
            "/api/verifications?status=needs_manual_review",
            Some(other.expose()),
        )
        .await;
    assert_eq!(r.json()["verifications"], json!([]));
    assert_eq!(r.json()["next_cursor"], Value::Null);
}

async fn the_list_refuses_bad_parameters_in_the_error_shape(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "status=approved",
        "created_after=yesterday",
        "created_before=2026-13-01T00:00:00Z",
        "cursor=not-a-cursor",
        // A well-formed base64 text that is no cursor.
        "cursor=aGVsbG8",
    ] {
        let r = app
            .get(&format!("/api/verifications?{query}"), Some(app.key()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(r.error_code(), "INVALID_REQUEST", "{query}");
    }
    let long = "x".repeat(300);
    let r = app
        .get(
            &format!("/api/verifications?reference={long}"),
            Some(app.key()),
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    let r = app
        .get("/api/verifications?limit=100", Some(app.key()))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get("/api/verifications", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "INVALID_API_KEY");
}

pub(crate) async fn hooked(app: &TestApp) -> (Receiver, WebhookSecret) {
    let (rx, url) = Receiver::start(None).await;
    let secret = WebhookSecret::generate();
    app.db
        .store
        .set_webhook(
            &app.key_record.id,
            Some(&WebhookConfig {
                url,
                secret: secret.clone(),
                old_secret: None,
                old_until: None,
            }),
        )
        .await
        .unwrap()
        .unwrap();
    (rx, secret)
}

async fn a_review_decides_a_flagged_case_and_the_webhook_tells_it(db: Db) {
    let Some(app) = TestApp::with_env(db, &[("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "true")]).await
    else {
        return;
    };
    let (rx, _) = hooked(&app).await;
    let v = flagged(&app, Duration::hours(1), "ORDER-7").await;
    let id = v.id.to_string();

    let r = review(&app, &id, approve()).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let decided = r.json();
    assert_eq!(decided["status"]["current"], "verified");
    let decision = &decided["results"]["decision"];
    assert_eq!(decision["status"], "verified");
    assert_eq!(decision["decided_by"], "operator");
    assert_eq!(decision["reviewer"], "ada@example.com");
    assert_eq!(decision["reason"], "document and selfie compared by hand");
    assert_eq!(decision["note"], "glasses in the selfie");
    assert!(decision["decided_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        decision["automatic_decision"],
        json!({"status": "needs_manual_review", "reasons": ["FACE_MATCH_UNCERTAIN"]})
    );
    // The details say the same.
    let details = app
        .get(
            &format!("/api/get-verification-details/{id}"),
            Some(app.key()),
        )
        .await
        .json();
    assert_eq!(details["results"]["decision"], *decision);
    assert_eq!(details["status"]["current"], "verified");

    // The receiver hears it with the operator's decision and the operator's data.
    assert_eq!(dispatch_due(&app.state, now()).await.unwrap(), 1);
    let bodies = rx.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["type"], "verification.completed");
    assert_eq!(bodies[0]["data"]["status"], "verified");
    assert_eq!(bodies[0]["data"]["decision"], *decision);
    assert_eq!(bodies[0]["data"]["extra_data"]["reference_id"], "ORDER-7");

    // In the audit log, with where it came from.
    let log = app
        .db
        .store
        .list_audit(&AuditQuery {
            verification_id: Some(id.clone()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, Action::VerificationReviewed);
    assert_eq!(log[0].actor.id, app.key_record.id);
    assert_eq!(log[0].key_id.as_deref(), Some(app.key_record.id.as_str()));
    assert_eq!(log[0].detail.as_ref().unwrap()["decision"], "verified");

    // A rejection sends its own reason code.
    let other = flagged(&app, Duration::hours(2), "ORDER-8").await;
    let mut reject = approve();
    reject["decision"] = json!("rejected");
    reject["note"] = Value::Null;
    let r = review(&app, other.id.as_str(), reject).await;
    assert_eq!(r.status, StatusCode::OK);
    let decision = &r.json()["results"]["decision"];
    assert_eq!(decision["status"], "rejected");
    assert_eq!(decision["reasons"], json!(["OPERATOR_REJECTED"]));
    assert_eq!(decision["note"], Value::Null);
}

async fn a_review_is_refused_outside_needs_manual_review(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    for status in [
        Status::Created,
        Status::InProgress,
        Status::Processing,
        Status::Verified,
        Status::Rejected,
        Status::Expired,
    ] {
        let v = app.stored_verification(status, Duration::hours(1)).await;
        let r = review(&app, v.id.as_str(), approve()).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{status:?}");
        assert_eq!(r.error_code(), "INVALID_STATE", "{status:?}");
        let stored = app.db.store.get_verification(&v.id).await.unwrap().unwrap();
        assert_eq!(stored.status, status);
    }
    let v = flagged(&app, Duration::hours(1), "R").await;
    let bad = [
        json!({"decision": "expired", "reason": "r", "reviewer": "a"}),
        json!({"decision": "needs_manual_review", "reason": "r", "reviewer": "a"}),
        json!({"decision": "maybe", "reason": "r", "reviewer": "a"}),
        json!({"decision": "verified", "reason": "  ", "reviewer": "a"}),
        json!({"decision": "verified", "reviewer": "a"}),
        json!({"decision": "verified", "reason": "r", "reviewer": ""}),
        json!({"decision": "verified", "reason": "r".repeat(501), "reviewer": "a"}),
        json!({"decision": "verified", "reason": "two\nlines", "reviewer": "a"}),
        json!({"decision": "verified", "reason": "r", "reviewer": "a", "extra": 1}),
    ];
    for body in bad {
        let r = review(&app, v.id.as_str(), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.error_code(), "INVALID_REQUEST", "{body}");
    }
    let path = format!("/api/verifications/{}/review", v.id);
    let r = app
        .send(request(Method::POST, &path, app.key(), None))
        .await;
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    // Nothing of that changed it.
    let stored = app.db.store.get_verification(&v.id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::NeedsManualReview);

    // Another key's: 403. Unknown and malformed ids: 404.
    let (_, other) = app.new_key(KeySettings::default()).await;
    let r = app
        .send(request(
            Method::POST,
            &path,
            other.expose(),
            Some(approve()),
        ))
        .await;
    assert_eq!(r.error_code(), "ACCESS_DENIED");
    for id in [
        VerificationId::generate().to_string(),
        "nonsense".to_owned(),
    ] {
        let r = review(&app, &id, approve()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.error_code(), "VERIFICATION_NOT_FOUND");
    }
}

async fn a_review_with_an_idempotency_key_is_answered_once(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let v = flagged(&app, Duration::hours(1), "R").await;
    let path = format!("/api/verifications/{}/review", v.id);
    let with_key = |body: Value, idem: &str| {
        let mut req = request(Method::POST, &path, app.key(), Some(body));
        req.headers_mut()
            .insert("idempotency-key", idem.parse().unwrap());
        req
    };
    let first = app.send(with_key(approve(), "review-1")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = app.send(with_key(approve(), "review-1")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    // The same key with another body is a mistake.
    let mut other = approve();
    other["decision"] = json!("rejected");
    let r = app.send(with_key(other, "review-1")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "IDEMPOTENCY_CONFLICT");
    // Without a key, a second review is refused: it was decided once.
    let r = review(&app, v.id.as_str(), approve()).await;
    assert_eq!(r.error_code(), "INVALID_STATE");
    // One decision, one event.
    let events = app
        .db
        .store
        .list_events(Some(v.id.as_str()), 10)
        .await
        .unwrap();
    assert!(events.is_empty(), "the key has no webhook: {events:?}");
    let reviews = app
        .db
        .store
        .list_audit(&AuditQuery {
            verification_id: Some(v.id.to_string()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(reviews.len(), 1);
}

/// Store an accepted selfie for `v`; its blob key.
pub(crate) async fn with_selfie(app: &TestApp, v: &Verification) -> String {
    let blob = format!("{}/att_selfie/selfie", v.id);
    app.state
        .blobs
        .put(
            &blob,
            bytes::Bytes::from_static(b"\xff\xd8 a selfie \xff\xd9"),
        )
        .await
        .unwrap();
    let attempt = Attempt {
        id: "att_selfie".into(),
        verification_id: v.id.clone(),
        step: Step::Liveness,
        outcome: AttemptOutcome::Accepted,
        reasons: vec![],
        metrics: v2client::domain::AttemptMetrics::Other(json!({})),
        images: [("selfie".to_owned(), blob.clone())].into(),
        content_hash: None,
        created_at: now(),
    };
    app.db.store.insert_attempt(&attempt).await.unwrap();
    blob
}

async fn erasure_removes_images_and_personal_data_and_closes_the_portal(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    // A decided verification with a selfie.
    let v = flagged(&app, Duration::hours(1), "ORDER-5").await;
    let blob = with_selfie(&app, &v).await;
    let selfie = format!("/api/get-verification-image-selfie/{}", v.id);
    assert_eq!(
        app.get(&selfie, Some(app.key())).await.status,
        StatusCode::OK
    );

    let path = format!("/api/verifications/{}", v.id);
    let (_, other) = app.new_key(KeySettings::default()).await;
    let r = app
        .send(request(Method::DELETE, &path, other.expose(), None))
        .await;
    assert_eq!(r.error_code(), "ACCESS_DENIED");

    let r = app
        .send(request(Method::DELETE, &path, app.key(), None))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert!(
        body["results"]["erased_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(body["results"]["decision"]["status"], "needs_manual_review");
    assert_eq!(body["extra_data"], Value::Null);
    assert_eq!(body["return_url"], Value::Null);
    // The image is gone from the route and from storage; the reference is no longer found.
    let r = app.get(&selfie, Some(app.key())).await;
    assert_eq!(r.error_code(), "IMAGE_NOT_FOUND");
    assert!(app.state.blobs.get(&blob).await.unwrap().is_none());
    assert!(ids_of(&app, "reference=ORDER-5").await.is_empty());
    // Erasing again changes nothing.
    let again = app
        .send(request(Method::DELETE, &path, app.key(), None))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["results"], body["results"]);
    // An erased case can no longer be reviewed.
    let r = review(&app, v.id.as_str(), approve()).await;
    assert_eq!(r.error_code(), "INVALID_STATE");

    // A verification still in the user's hands: the portal refuses to go on.
    let (id, key) = app
        .verification_with_flow(vec![Module::Terms, Module::FormData])
        .await;
    assert_eq!(
        app.get(&format!("/api/portal/{id}"), None).await.status,
        StatusCode::OK
    );
    let path = format!("/api/verifications/{id}");
    let r = app
        .send(request(Method::DELETE, &path, key.expose(), None))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let terms = Request::builder()
        .method("POST")
        .uri(format!("/api/portal/{id}/terms"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"accepted": true}"#))
        .unwrap();
    let r = app.send(terms).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.error_code(), "VERIFICATION_ERASED");
    let r = app.get(&format!("/api/portal/{id}"), None).await;
    assert_eq!(r.error_code(), "VERIFICATION_ERASED");
    let page = app
        .get(&format!("/verify?verification_id={id}"), None)
        .await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(String::from_utf8_lossy(&page.body).contains("This verification was closed"));

    // The audit log has the image read and both erasures, not the repeated one.
    let log = app
        .db
        .store
        .list_audit(&AuditQuery {
            verification_id: Some(v.id.to_string()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<Action> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![Action::VerificationErased, Action::ImageViewed]
    );
    assert_eq!(log[1].target.as_deref(), Some("liveness:selfie"));
}

async fn the_audit_log_refuses_changes(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let v = flagged(&app, Duration::hours(1), "R").await;
    assert_eq!(
        review(&app, v.id.as_str(), approve()).await.status,
        StatusCode::OK
    );
    let url = app.db.settings.database.url.clone();
    let tamper = [
        "UPDATE audit_events SET actor_id = 'someone else'",
        "DELETE FROM audit_events",
    ];
    for sql in tamper {
        let refused = match db {
            Db::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.is_err()
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(sql).execute(&pool).await.is_err()
            }
        };
        assert!(refused, "{sql} was allowed");
    }
    let log = app
        .db
        .store
        .list_audit(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor.id, app.key_record.id);
}

async fn the_cli_lists_reviews_erases_and_exports_the_audit_log(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let queued = flagged(&app, Duration::hours(2), "ORDER-C1").await;
    let later = flagged(&app, Duration::hours(1), "ORDER-C2").await;
    let cli = |args: &[&str]| {
        let mut cmd = v2client(&app.db.settings.data_dir);
        cmd.env("DATABASE_URL", &app.db.settings.database.url)
            .env("USER", "ops-ada")
            .args(args);
        cmd
    };
    // The review queue, oldest first.
    let out = cli(&[
        "verifications",
        "list",
        "--status",
        "needs_manual_review",
        "--oldest-first",
        "--json",
    ])
    .output()
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = listed["verifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["verification_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![queued.id.as_str(), later.id.as_str()]);
    // Text: one line each, with why it was flagged.
    let out = cli(&["verifications", "list", "--reference", "ORDER-C1"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(queued.id.as_str()) && text.contains("FACE_MATCH_UNCERTAIN"));

    let out = cli(&[
        "verifications",
        "review",
        queued.id.as_str(),
        "--decision",
        "rejected",
        "--reason",
        "the document photo is of a screen",
        "--json",
    ])
    .output()
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let decided: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decided["results"]["decision"]["status"], "rejected");
    assert_eq!(decided["results"]["decision"]["reviewer"], "ops-ada");
    // Twice is refused, with the reason.
    let out = cli(&[
        "verifications",
        "review",
        queued.id.as_str(),
        "--decision",
        "verified",
        "--reason",
        "changed my mind",
    ])
    .output()
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs_manual_review"));

    let out = cli(&["verifications", "erase", later.id.as_str(), "--json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let erased: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(erased["results"]["erased_at"].is_string());
    assert_eq!(erased["extra_data"], Value::Null);

    let out = cli(&["audit", "export", "--format", "csv"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], v2client::audit::AuditEvent::CSV_HEADER);
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].contains(",cli,ops-ada,ops-ada,,verification.erased,"));
    assert!(lines[2].contains(",cli,ops-ada,ops-ada,,verification.reviewed,"));
    // JSON lines, and the export itself is logged.
    let out = cli(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--verification",
        queued.id.as_str(),
    ])
    .output()
    .await
    .unwrap();
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["action"], "verification.reviewed");
    assert_eq!(events[0]["actor"]["kind"], "cli");
    let all = app
        .db
        .store
        .list_audit(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all[0].action, Action::AuditExported);
}
