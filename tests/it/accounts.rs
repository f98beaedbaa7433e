//! The dashboard's account store: the same expectations of both stores.

use chrono::Duration;
use v2client::domain::KeySettings;
use v2client::domain::verification::now;
use v2client::keys::new_key;
use v2client::store::{Role, SessionRecord, UserRecord};

use crate::common::{Db, TestDb};

both_stores!(
    users_round_trip_with_their_grants,
    emails_are_unique_whatever_their_case,
    disabling_ends_every_session_of_the_user_only,
    grants_are_added_once_and_taken_back,
    the_fifth_failure_in_a_row_locks_and_a_success_resets,
    sessions_round_trip_and_are_touched_deleted_and_purged,
);

fn user(email: &str, role: Role, grants: Vec<String>) -> UserRecord {
    UserRecord {
        id: v2client::dashboard::accounts::new_user_id(),
        email: email.to_owned(),
        role,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        failed_logins: 0,
        locked_until: None,
        disabled_at: None,
        created_at: now(),
        grants,
    }
}

fn session(user_id: &str, id: &str) -> SessionRecord {
    let t = now();
    SessionRecord {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        csrf_token: format!("csrf-{id}"),
        created_at: t,
        last_seen_at: t,
        expires_at: t + Duration::hours(12),
        address: Some("127.0.0.1".into()),
        user_agent: Some("test agent".into()),
    }
}

async fn db_with_keys(db: Db, n: usize) -> Option<(TestDb, Vec<String>)> {
    let tdb = TestDb::new(db).await?;
    let mut ids = Vec::new();
    for i in 0..n {
        let (k, _) = new_key(&format!("k{i}"), KeySettings::default());
        tdb.store.insert_key(&k).await.unwrap();
        ids.push(k.id);
    }
    ids.sort();
    Some((tdb, ids))
}

async fn users_round_trip_with_their_grants(db: Db) {
    let Some((tdb, keys)) = db_with_keys(db, 2).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let ann = user("ann@example.org", Role::Reviewer, keys.clone());
    let bob = user("bob@example.org", Role::Admin, vec![]);
    assert!(s.insert_user(&ann).await.unwrap());
    assert!(s.insert_user(&bob).await.unwrap());
    assert_eq!(s.find_user(&ann.id).await.unwrap().unwrap(), ann);
    assert_eq!(
        s.find_user_by_email("ANN@example.org")
            .await
            .unwrap()
            .unwrap(),
        ann
    );
    assert_eq!(s.find_user("usr_nobody").await.unwrap(), None);
    assert_eq!(
        s.find_user_by_email("nobody@example.org").await.unwrap(),
        None
    );
    let all = s.list_users().await.unwrap();
    assert_eq!(all, vec![ann, bob]);
}

async fn emails_are_unique_whatever_their_case(db: Db) {
    let Some((tdb, _)) = db_with_keys(db, 0).await else {
        return;
    };
    let s = tdb.store.as_ref();
    assert!(
        s.insert_user(&user("ann@example.org", Role::Admin, vec![]))
            .await
            .unwrap()
    );
    let twin = user("Ann@Example.org", Role::Reviewer, vec![]);
    assert!(!s.insert_user(&twin).await.unwrap());
    assert_eq!(s.find_user(&twin.id).await.unwrap(), None);
    assert_eq!(s.list_users().await.unwrap().len(), 1);
}

async fn disabling_ends_every_session_of_the_user_only(db: Db) {
    let Some((tdb, _)) = db_with_keys(db, 0).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let ann = user("ann@example.org", Role::Reviewer, vec![]);
    let bob = user("bob@example.org", Role::Reviewer, vec![]);
    s.insert_user(&ann).await.unwrap();
    s.insert_user(&bob).await.unwrap();
    for (u, id) in [(&ann, "a1"), (&ann, "a2"), (&bob, "b1")] {
        s.insert_session(&session(&u.id, id)).await.unwrap();
    }
    let t = now();
    let disabled = s.disable_user("ANN@example.org", t).await.unwrap().unwrap();
    assert_eq!(disabled.disabled_at, Some(t));
    assert_eq!(s.find_session("a1").await.unwrap(), None);
    assert_eq!(s.find_session("a2").await.unwrap(), None);
    assert!(s.find_session("b1").await.unwrap().is_some());
    // Disabling again keeps the first time.
    let again = s
        .disable_user("ann@example.org", t + Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.disabled_at, Some(t));
    assert_eq!(s.disable_user("nobody@example.org", t).await.unwrap(), None);
}

async fn grants_are_added_once_and_taken_back(db: Db) {
    let Some((tdb, keys)) = db_with_keys(db, 2).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let ann = user("ann@example.org", Role::Reviewer, vec![]);
    s.insert_user(&ann).await.unwrap();
    assert!(s.grant_key(&ann.id, &keys[1], now()).await.unwrap());
    assert!(!s.grant_key(&ann.id, &keys[1], now()).await.unwrap());
    assert!(s.grant_key(&ann.id, &keys[0], now()).await.unwrap());
    assert_eq!(s.find_user(&ann.id).await.unwrap().unwrap().grants, keys);
    assert!(s.revoke_grant(&ann.id, &keys[0]).await.unwrap());
    assert!(!s.revoke_grant(&ann.id, &keys[0]).await.unwrap());
    assert_eq!(
        s.find_user(&ann.id).await.unwrap().unwrap().grants,
        vec![keys[1].clone()]
    );
    // A grant of a key that does not exist is refused by the database.
    assert!(s.grant_key(&ann.id, "key_missing", now()).await.is_err());
}

async fn the_fifth_failure_in_a_row_locks_and_a_success_resets(db: Db) {
    let Some((tdb, _)) = db_with_keys(db, 0).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let ann = user("ann@example.org", Role::Reviewer, vec![]);
    s.insert_user(&ann).await.unwrap();
    let until = now() + Duration::minutes(15);
    for n in 1..=3 {
        assert_eq!(
            s.record_login_failure(&ann.id, 5, until).await.unwrap(),
            None
        );
        assert_eq!(
            s.find_user(&ann.id).await.unwrap().unwrap().failed_logins,
            n
        );
    }
    s.record_login_success(&ann.id).await.unwrap();
    assert_eq!(
        s.find_user(&ann.id).await.unwrap().unwrap().failed_logins,
        0
    );
    for _ in 1..=4 {
        assert_eq!(
            s.record_login_failure(&ann.id, 5, until).await.unwrap(),
            None
        );
    }
    assert_eq!(
        s.record_login_failure(&ann.id, 5, until).await.unwrap(),
        Some(until)
    );
    let locked = s.find_user(&ann.id).await.unwrap().unwrap();
    assert_eq!(locked.locked_until, Some(until));
    assert_eq!(
        locked.failed_logins, 0,
        "the count starts again after a lock"
    );
    s.record_login_success(&ann.id).await.unwrap();
    assert_eq!(
        s.find_user(&ann.id).await.unwrap().unwrap().locked_until,
        None
    );
}

async fn sessions_round_trip_and_are_touched_deleted_and_purged(db: Db) {
    let Some((tdb, _)) = db_with_keys(db, 0).await else {
        return;
    };
    let s = tdb.store.as_ref();
    let ann = user("ann@example.org", Role::Admin, vec![]);
    s.insert_user(&ann).await.unwrap();
    let a = session(&ann.id, "a");
    s.insert_session(&a).await.unwrap();
    assert_eq!(s.find_session("a").await.unwrap().unwrap(), a);
    let later = a.last_seen_at + Duration::minutes(5);
    assert!(s.touch_session("a", later).await.unwrap());
    assert_eq!(
        s.find_session("a").await.unwrap().unwrap().last_seen_at,
        later
    );
    assert!(!s.touch_session("missing", later).await.unwrap());

    let mut idle = session(&ann.id, "idle");
    idle.last_seen_at = a.created_at - Duration::hours(1);
    let mut over = session(&ann.id, "over");
    over.expires_at = a.created_at - Duration::seconds(1);
    s.insert_session(&idle).await.unwrap();
    s.insert_session(&over).await.unwrap();
    let purged = s
        .purge_sessions(a.created_at, a.created_at - Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(purged, 2);
    assert!(s.find_session("a").await.unwrap().is_some());

    s.insert_session(&session(&ann.id, "b")).await.unwrap();
    assert!(s.delete_session("a").await.unwrap());
    assert!(!s.delete_session("a").await.unwrap());
    assert_eq!(s.delete_user_sessions(&ann.id).await.unwrap(), 1);
    assert_eq!(s.find_session("b").await.unwrap(), None);
}
