//! Issuing API keys: used by `v2client keys create` and by the first start of the server.

use crate::domain::ids::new_key_id;
use crate::domain::verification::now;
use crate::domain::{ApiKeySecret, KeySettings};
use crate::store::{ApiKeyRecord, Store, StoreError};
use crate::webhooks::{WebhookConfig, WebhookSecret};

/// Whether a new key is live or test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMode {
    #[default]
    Live,
    /// Verifications are test verifications: no checks run, the outcome is simulated.
    Test,
}

/// The longest a test key keeps a decided verification, in days.
pub const TEST_RETENTION_DAYS: u32 = 7;

/// A new key's record and the secret to show once.
pub fn new_key(name: &str, settings: KeySettings) -> (ApiKeyRecord, ApiKeySecret) {
    new_key_in(name, settings, KeyMode::Live)
}

/// A new live or test key. A test key keeps verifications at most
/// [`TEST_RETENTION_DAYS`].
pub fn new_key_in(
    name: &str,
    mut settings: KeySettings,
    mode: KeyMode,
) -> (ApiKeyRecord, ApiKeySecret) {
    let secret = match mode {
        KeyMode::Live => ApiKeySecret::generate(),
        KeyMode::Test => {
            settings.retention_days = settings.retention_days.min(TEST_RETENTION_DAYS);
            ApiKeySecret::generate_test()
        }
    };
    let record = ApiKeyRecord {
        id: new_key_id(),
        name: name.to_owned(),
        prefix: secret
            .display_prefix()
            .expect("generated keys are well formed")
            .to_owned(),
        key_hash: secret.hash(),
        settings,
        qr_token: Some(new_qr_token()),
        webhook: None,
        created_at: now(),
        revoked_at: None,
    };
    (record, secret)
}

/// A public QR token: `qr_` + 128 random bits in hex.
pub fn new_qr_token() -> String {
    format!(
        "qr_{}",
        hex::encode(crate::domain::ids::random_bytes::<16>())
    )
}

pub async fn create_key(
    store: &dyn Store,
    name: &str,
    settings: KeySettings,
) -> Result<(ApiKeyRecord, ApiKeySecret), StoreError> {
    create_key_in(store, name, settings, KeyMode::Live).await
}

pub async fn create_key_in(
    store: &dyn Store,
    name: &str,
    settings: KeySettings,
    mode: KeyMode,
) -> Result<(ApiKeyRecord, ApiKeySecret), StoreError> {
    let (record, secret) = new_key_in(name, settings, mode);
    store.insert_key(&record).await?;
    Ok((record, secret))
}

/// On a database with no key at all, create one so a newcomer can try the API at once.
/// Returns the secret when this call created it.
pub async fn bootstrap_first_key(
    store: &dyn Store,
) -> Result<Option<(ApiKeyRecord, ApiKeySecret)>, StoreError> {
    let (record, secret) = new_key("default", KeySettings::default());
    Ok(store
        .insert_first_key(&record)
        .await?
        .then_some((record, secret)))
}

/// A webhook to `url` (checked: https, and no private address unless allowed) with a new
/// signing secret.
pub fn new_webhook(url: &str, allow_private: bool) -> Result<WebhookConfig, String> {
    let checked = crate::webhooks::guard::check_shape(url, allow_private)
        .map_err(|e| format!("webhook URL `{url}`: {e}"))?;
    Ok(WebhookConfig {
        url: checked.to_string(),
        secret: WebhookSecret::generate(),
        old_secret: None,
        old_until: None,
    })
}

/// How long a replaced webhook secret keeps signing by default, so receivers can switch.
pub const WEBHOOK_SECRET_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// `old` with a new signing secret; the old one also signs for `grace`.
pub fn rotated_webhook(old: &WebhookConfig, grace: std::time::Duration) -> WebhookConfig {
    WebhookConfig {
        url: old.url.clone(),
        secret: WebhookSecret::generate(),
        old_secret: Some(old.secret.clone()),
        old_until: Some(crate::domain::verification::later(
            chrono::Utc::now(),
            grace,
        )),
    }
}
