//! `v2client users …`: dashboard accounts from the command line.

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::common::v2client;

async fn run(data_dir: &Path, args: &[&str]) -> Output {
    v2client(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run v2client")
}

/// Run with `input` on standard input (not a terminal: the password is read from it).
async fn run_with_input(data_dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = v2client(data_dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn v2client");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn users(dir: &Path) -> Vec<Value> {
    let listed = run(dir, &["users", "list", "--json"]).await;
    assert!(listed.status.success(), "{listed:?}");
    serde_json::from_str::<Value>(text(&listed.stdout).trim())
        .expect("one JSON array")
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn users_are_created_listed_granted_and_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let key = run(dir.path(), &["keys", "create", "--name", "Shop", "--json"]).await;
    assert!(key.status.success(), "{key:?}");
    let key: Value = serde_json::from_str(text(&key.stdout).trim()).unwrap();
    let (key_id, prefix) = (
        key["id"].as_str().unwrap().to_owned(),
        key["prefix"].as_str().unwrap().to_owned(),
    );

    assert!(users(dir.path()).await.is_empty());
    let created = run_with_input(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "Admin@Example.org",
            "--role",
            "admin",
        ],
        "a long enough password\n",
    )
    .await;
    assert!(created.status.success(), "{created:?}");
    assert!(text(&created.stdout).contains("admin@example.org"));
    // The password is never printed.
    assert!(!text(&created.stdout).contains("a long enough password"));
    assert!(!text(&created.stderr).contains("a long enough password"));

    let reviewer = run_with_input(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "rev@example.org",
            "--role",
            "reviewer",
            "--grant",
            &prefix,
        ],
        "another long password\n",
    )
    .await;
    assert!(reviewer.status.success(), "{reviewer:?}");

    let list = users(dir.path()).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["email"], "admin@example.org");
    assert_eq!(list[0]["role"], "admin");
    assert_eq!(list[1]["role"], "reviewer");
    assert_eq!(list[1]["grants"], serde_json::json!([key_id]));
    assert!(list.iter().all(|u| u["disabled_at"].is_null()));
    assert!(!text(&run(dir.path(), &["users", "list", "--json"]).await.stdout).contains("argon2"));

    // Granting again is harmless; an unknown key or user is an error.
    let again = run(dir.path(), &["users", "grant", "rev@example.org", &key_id]).await;
    assert!(again.status.success(), "{again:?}");
    assert!(text(&again.stdout).contains("already"));
    let bad_key = run(
        dir.path(),
        &["users", "grant", "rev@example.org", "key_nope"],
    )
    .await;
    assert!(!bad_key.status.success());
    assert!(text(&bad_key.stderr).contains("key_nope"));
    let bad_user = run(
        dir.path(),
        &["users", "grant", "nobody@example.org", &key_id],
    )
    .await;
    assert!(!bad_user.status.success());

    let disabled = run(dir.path(), &["users", "disable", "REV@example.org"]).await;
    assert!(disabled.status.success(), "{disabled:?}");
    let list = users(dir.path()).await;
    assert!(list[1]["disabled_at"].is_string());
    assert!(list[0]["disabled_at"].is_null());
    let text_list = run(dir.path(), &["users", "list"]).await;
    assert!(text(&text_list.stdout).contains("disabled"));
}

#[tokio::test]
async fn bad_passwords_emails_and_duplicates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let short = run_with_input(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "a@example.org",
            "--role",
            "admin",
        ],
        "short\n",
    )
    .await;
    assert!(!short.status.success());
    assert!(text(&short.stderr).contains("at least 12"), "{short:?}");

    let bad_email = run_with_input(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "not-an-address",
            "--role",
            "admin",
        ],
        "a long enough password\n",
    )
    .await;
    assert!(!bad_email.status.success());

    let bad_role = run_with_input(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "a@example.org",
            "--role",
            "owner",
        ],
        "a long enough password\n",
    )
    .await;
    assert!(!bad_role.status.success());
    assert!(users(dir.path()).await.is_empty());

    let first = run_with_input(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "a@example.org",
            "--role",
            "admin",
        ],
        "a long enough password\n",
    )
    .await;
    assert!(first.status.success(), "{first:?}");
    let twin = run_with_input(
        dir.path(),
        &[
            "users",
            "create",
            "--email",
            "A@EXAMPLE.org",
            "--role",
            "reviewer",
        ],
        "a long enough password\n",
    )
    .await;
    assert!(!twin.status.success());
    assert!(text(&twin.stderr).contains("already exists"), "{twin:?}");
    assert_eq!(users(dir.path()).await.len(), 1);
}
