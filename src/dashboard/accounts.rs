//! Dashboard accounts: email addresses, passwords (Argon2id, hashed off the async
//! threads), and making users. Shared by the `users` commands and the users page.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use zeroize::Zeroizing;

use crate::domain::ids::random_bytes;
use crate::domain::verification::now;
use crate::store::{ApiKeyRecord, Role, Store, StoreError, UserRecord};

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted: hashing is costly, and nobody types more.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// An email address as accounts are keyed: trimmed, lower case, one `@` with something on
/// either side, no spaces or control characters, at most 254 bytes.
pub fn normalise_email(text: &str) -> Result<String, String> {
    let email = text.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(format!("`{}` is not an email address", text.trim()))
    }
}

/// A password as it may be set: long enough, not absurdly long.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the password is too long: use at most {MAX_PASSWORD_LEN} bytes"
        ));
    }
    Ok(())
}

/// Argon2id of `password` with a fresh salt, as a PHC string. CPU-heavy: runs on the
/// blocking pool.
pub async fn hash_password(password: Zeroizing<String>) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| format!("cannot hash the password: {e}"))
    })
    .await
    .map_err(|e| format!("password hashing stopped: {e}"))?
}

/// Whether `password` matches the PHC string `hash` (constant time, on the blocking pool).
/// With no hash (no such user), a stand-in is checked so that the answer takes as long.
pub async fn verify_password(password: Zeroizing<String>, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| STAND_IN.with(Clone::clone));
        let Ok(parsed) = PasswordHash::new(&hash) else {
            tracing::error!("a dashboard user's password hash cannot be read");
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && ok
    })
    .await
    .unwrap_or(false)
}

thread_local! {
    /// A hash of a random password, verified in place of a user who does not exist.
    static STAND_IN: String = Argon2::default()
        .hash_password(&random_bytes::<16>())
        .map(|h| h.to_string())
        .unwrap_or_default();
}

/// Identifier of a dashboard user: `usr_` + 16 hex digits.
pub fn new_user_id() -> String {
    format!("usr_{}", hex::encode(random_bytes::<8>()))
}

/// Why a user could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("a user with the email {0} already exists")]
    EmailTaken(String),
    #[error("no API key has the id or prefix `{0}`")]
    UnknownKey(String),
    #[error("no dashboard user has the email {0}")]
    UnknownUser(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key with this id or display prefix.
pub async fn find_key(store: &dyn Store, id_or_prefix: &str) -> Result<ApiKeyRecord, AccountError> {
    let key = match store.find_key(id_or_prefix).await? {
        Some(k) => Some(k),
        None => store.find_key_by_prefix(id_or_prefix).await?,
    };
    key.ok_or_else(|| AccountError::UnknownKey(id_or_prefix.to_owned()))
}

/// Make a user with `password`, granted the keys named (by id or display prefix).
pub async fn create_user(
    store: &dyn Store,
    email: &str,
    role: Role,
    password: Zeroizing<String>,
    grants: &[String],
) -> Result<UserRecord, AccountError> {
    let email = normalise_email(email).map_err(AccountError::Invalid)?;
    check_password(&password).map_err(AccountError::Invalid)?;
    let mut key_ids = Vec::with_capacity(grants.len());
    for g in grants {
        key_ids.push(find_key(store, g).await?.id);
    }
    key_ids.sort();
    key_ids.dedup();
    let user = UserRecord {
        id: new_user_id(),
        email: email.clone(),
        role,
        password_hash: hash_password(password)
            .await
            .map_err(AccountError::Invalid)?,
        failed_logins: 0,
        locked_until: None,
        disabled_at: None,
        created_at: now(),
        grants: key_ids,
    };
    if !store.insert_user(&user).await? {
        return Err(AccountError::EmailTaken(email));
    }
    Ok(user)
}

/// Let the user with `email` see the verifications of the key named; `false` when they
/// already could.
pub async fn grant(
    store: &dyn Store,
    email: &str,
    key: &str,
) -> Result<(UserRecord, ApiKeyRecord, bool), AccountError> {
    let user = store
        .find_user_by_email(email.trim())
        .await?
        .ok_or_else(|| AccountError::UnknownUser(email.trim().to_owned()))?;
    let key = find_key(store, key).await?;
    let added = store.grant_key(&user.id, &key.id, now()).await?;
    Ok((user, key, added))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalise_email("  Ann.Lee@Example.ORG ").unwrap(),
            "ann.lee@example.org"
        );
        for bad in [
            "",
            "ann",
            "@example.org",
            "ann@",
            "a b@example.org",
            "a@b@c",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_have_a_minimum_length() {
        assert!(check_password("short").is_err());
        assert!(check_password("eleven char").is_err());
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }

    #[tokio::test]
    async fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password(Zeroizing::new("correct horse battery".into()))
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            verify_password(
                Zeroizing::new("correct horse battery".into()),
                Some(hash.clone())
            )
            .await
        );
        assert!(
            !verify_password(Zeroizing::new("correct horse battery!".into()), Some(hash)).await
        );
        assert!(!verify_password(Zeroizing::new("anything at all".into()), None).await);
    }
}
