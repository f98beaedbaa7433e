//! The reviewer's work in the dashboard, on both stores: the queue of flagged cases, a
//! decision that reaches the operator's webhook, the images (to granted users only, each
//! view logged), the search by id and reference, and the audit log with its export.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::Value;
use v2client::audit::{Action, AuditQuery};
use v2client::domain::Status;
use v2client::domain::verification::now;
use v2client::store::Role;
use v2client::webhooks::dispatch::dispatch_due;

use crate::common::Db;
use crate::dashboard::{Dash, csrf_of, text};
use crate::operator::{flagged, hooked, with_selfie};

both_stores!(
    the_queue_lists_flagged_cases_oldest_first_and_a_decision_reaches_the_webhook,
    images_are_shown_to_granted_users_only_and_each_view_is_logged,
    search_finds_by_id_and_by_reference_within_the_grants,
    the_audit_log_shows_and_exports_what_happened,
);

async fn dash(db: Db) -> Option<Dash> {
    let app =
        crate::common::TestApp::with_env(db, &[("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "true")]).await?;
    Some(Dash { app })
}

async fn the_queue_lists_flagged_cases_oldest_first_and_a_decision_reaches_the_webhook(db: Db) {
    let Some(d) = dash(db).await else {
        return;
    };
    let (rx, _) = hooked(&d.app).await;
    let older = flagged(&d.app, Duration::hours(3), "ORDER-A").await;
    let newer = flagged(&d.app, Duration::hours(1), "ORDER-B").await;
    d.user(
        "rev@example.org",
        Role::Reviewer,
        std::slice::from_ref(&d.app.key_record.id),
    )
    .await;
    let cookie = d.login("rev@example.org").await;

    let queue = d.get("/dashboard", Some(&cookie)).await;
    assert_eq!(queue.status, StatusCode::OK);
    let html = text(&queue);
    let (a, b) = (
        html.find(older.id.as_str())
            .expect("the older case is listed"),
        html.find(newer.id.as_str())
            .expect("the newer case is listed"),
    );
    assert!(a < b, "oldest first");
    assert!(html.contains("FACE_MATCH_UNCERTAIN") && html.contains("ORDER-A"));

    // Open it (logged), approve it with the page's own token.
    let path = format!("/dashboard/verifications/{}", older.id);
    let page = d.get(&path, Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = csrf_of(&page);
    let r = d
        .post_form(
            &format!("{path}/review"),
            Some(&cookie),
            &[
                ("csrf", csrf.as_str()),
                ("decision", "verified"),
                ("reason", "compared by hand"),
                ("note", "old photo"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    assert_eq!(r.header("location"), Some(path.as_str()));
    let stored = d
        .app
        .db
        .store
        .get_verification(&older.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, Status::Verified);
    let review = stored.results.decision().unwrap().review.clone().unwrap();
    assert_eq!(review.reviewer, "rev@example.org");
    assert_eq!(review.reason, "compared by hand");

    // The operator hears it.
    assert_eq!(dispatch_due(&d.app.state, now()).await.unwrap(), 1);
    let bodies = rx.bodies();
    assert_eq!(bodies[0]["type"], "verification.completed");
    assert_eq!(bodies[0]["data"]["decision"]["decided_by"], "operator");
    assert_eq!(bodies[0]["data"]["decision"]["reviewer"], "rev@example.org");

    // It has left the queue; deciding it again is refused.
    let html = text(&d.get("/dashboard", Some(&cookie)).await);
    assert!(!html.contains(older.id.as_str()) && html.contains(newer.id.as_str()));
    let again = d
        .post_form(
            &format!("{path}/review"),
            Some(&cookie),
            &[
                ("csrf", csrf.as_str()),
                ("decision", "rejected"),
                ("reason", "second thoughts"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    // A decision without a reason is refused and changes nothing.
    let r = d
        .post_form(
            &format!("/dashboard/verifications/{}/review", newer.id),
            Some(&cookie),
            &[
                ("csrf", csrf.as_str()),
                ("decision", "verified"),
                ("reason", " "),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let log = d
        .app
        .db
        .store
        .list_audit(&AuditQuery {
            verification_id: Some(older.id.to_string()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let actions: Vec<Action> = log.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![Action::VerificationReviewed, Action::VerificationViewed]
    );
    assert!(log.iter().all(|e| e.actor.label == "rev@example.org"));
}

async fn images_are_shown_to_granted_users_only_and_each_view_is_logged(db: Db) {
    let Some(d) = dash(db).await else {
        return;
    };
    let v = flagged(&d.app, Duration::hours(1), "ORDER-I").await;
    with_selfie(&d.app, &v).await;
    let (other_key, _) = d.app.new_key(Default::default()).await;
    d.user(
        "rev@example.org",
        Role::Reviewer,
        std::slice::from_ref(&d.app.key_record.id),
    )
    .await;
    d.user(
        "stranger@example.org",
        Role::Reviewer,
        std::slice::from_ref(&other_key.id),
    )
    .await;
    let image = format!(
        "/dashboard/verifications/{}/attempts/att_selfie/selfie",
        v.id
    );

    let cookie = d.login("rev@example.org").await;
    // The verification page points at it.
    let page = text(
        &d.get(&format!("/dashboard/verifications/{}", v.id), Some(&cookie))
            .await,
    );
    assert!(page.contains(&image), "the page shows the selfie");
    let r = d.get(&image, Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("image/jpeg"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(&r.body[..], b"\xff\xd8 a selfie \xff\xd9");
    for missing in [
        format!(
            "/dashboard/verifications/{}/attempts/att_other/selfie",
            v.id
        ),
        format!(
            "/dashboard/verifications/{}/attempts/att_selfie/original",
            v.id
        ),
    ] {
        assert_eq!(
            d.get(&missing, Some(&cookie)).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let stranger = d.login("stranger@example.org").await;
    let r = d.get(&image, Some(&stranger)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.body.starts_with(b"\xff\xd8"));
    // Logged out: to the login page, no image.
    assert_eq!(d.get(&image, None).await.status, StatusCode::SEE_OTHER);

    let views: Vec<_> = d
        .app
        .db
        .store
        .list_audit(&AuditQuery {
            verification_id: Some(v.id.to_string()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == Action::ImageViewed)
        .collect();
    assert_eq!(views.len(), 1);
    assert_eq!(
        views[0].target.as_deref(),
        Some("liveness:selfie:att_selfie")
    );
    assert_eq!(views[0].actor.label, "rev@example.org");
}

async fn search_finds_by_id_and_by_reference_within_the_grants(db: Db) {
    let Some(d) = dash(db).await else {
        return;
    };
    let mine = flagged(&d.app, Duration::hours(1), "ORDER-S").await;
    // Another key's verification with the same reference.
    let (other_key, other_secret) = d.app.new_key(Default::default()).await;
    let theirs = d
        .app
        .generate(
            Some(other_secret.expose()),
            Some(serde_json::json!({"extra_data": {"reference_id": "ORDER-S"}})),
        )
        .await
        .json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = other_key;
    d.user(
        "rev@example.org",
        Role::Reviewer,
        std::slice::from_ref(&d.app.key_record.id),
    )
    .await;
    d.user("admin@example.org", Role::Admin, &[]).await;

    let rev = d.login("rev@example.org").await;
    let r = d
        .get(&format!("/dashboard/search?q={}", mine.id), Some(&rev))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.header("location"),
        Some(format!("/dashboard/verifications/{}", mine.id).as_str())
    );
    let html = text(&d.get("/dashboard/search?q=ORDER-S", Some(&rev)).await);
    assert!(html.contains(mine.id.as_str()));
    assert!(!html.contains(&theirs), "a key not granted stays hidden");
    let html = text(&d.get("/dashboard/search?q=ORDER-NONE", Some(&rev)).await);
    assert!(html.contains("No verification has the reference"));
    let form = d.get("/dashboard/search", Some(&rev)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(text(&form).contains("name=\"q\""));

    let admin = d.login("admin@example.org").await;
    let html = text(&d.get("/dashboard/search?q=ORDER-S", Some(&admin)).await);
    assert!(html.contains(mine.id.as_str()) && html.contains(&theirs));
}

async fn the_audit_log_shows_and_exports_what_happened(db: Db) {
    let Some(d) = dash(db).await else {
        return;
    };
    let v = flagged(&d.app, Duration::hours(1), "ORDER-L").await;
    let (other_key, _) = d.app.new_key(Default::default()).await;
    d.user("admin@example.org", Role::Admin, &[]).await;
    d.user(
        "rev@example.org",
        Role::Reviewer,
        std::slice::from_ref(&other_key.id),
    )
    .await;
    let admin = d.login("admin@example.org").await;
    let page = d
        .get(&format!("/dashboard/verifications/{}", v.id), Some(&admin))
        .await;
    let csrf = csrf_of(&page);
    let r = d
        .post_form(
            &format!("/dashboard/verifications/{}/review", v.id),
            Some(&admin),
            &[
                ("csrf", csrf.as_str()),
                ("decision", "rejected"),
                ("reason", "a screen, not a card"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    let html = text(&d.get("/dashboard/audit", Some(&admin)).await);
    assert!(html.contains("verification.reviewed") && html.contains("verification.viewed"));
    assert!(html.contains("admin@example.org") && html.contains(v.id.as_str()));

    let csv = d.get("/dashboard/audit/export", Some(&admin)).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    let body = text(&csv);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], v2client::audit::AuditEvent::CSV_HEADER);
    assert!(lines.iter().any(|l| l.contains(",verification.reviewed,")));

    let json = d
        .get(
            &format!("/dashboard/audit/export?format=json&verification={}", v.id),
            Some(&admin),
        )
        .await;
    let events: Vec<Value> = text(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["verification.reviewed", "verification.viewed"]
    );
    assert_eq!(events[0]["detail"]["decision"], "rejected");
    let r = d
        .get("/dashboard/audit/export?format=xml", Some(&admin))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A reviewer's log holds only their keys' events: nothing here.
    let rev = d.login("rev@example.org").await;
    let body = text(
        &d.get("/dashboard/audit/export?format=json", Some(&rev))
            .await,
    );
    assert!(body.trim().is_empty(), "{body}");
    // Every export is itself in the log.
    let exports = d
        .app
        .db
        .store
        .list_audit(&AuditQuery {
            limit: 50,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == Action::AuditExported)
        .count();
    assert_eq!(exports, 3);
}
