//! `X-SDK-Key` authentication: an extractor that yields the verified key or answers 401.
//!
//! Keys are looked up by their display prefix, then the SHA-256 of what the client sent is
//! compared with the stored hash in constant time. Verified keys are remembered for
//! `keys.cache_ttl` (a few seconds by default) to spare the database a round trip per
//! request; unknown keys are never cached, so junk cannot fill memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::AppState;
use crate::domain::{ApiKeySecret, KeyHash};
use crate::error::ApiError;
use crate::store::{ApiKeyRecord, Store, StoreError};

pub const HEADER: &str = "x-sdk-key";

/// The calling operator's key, verified and not revoked.
#[derive(Debug, Clone)]
pub struct AuthedKey(pub ApiKeyRecord);

impl FromRequestParts<AppState> for AuthedKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::InvalidApiKey)?;
        let key = state
            .keys
            .verify(
                state.store.as_ref(),
                &ApiKeySecret::from_presented(presented),
            )
            .await?
            .ok_or(ApiError::InvalidApiKey)?;
        tracing::Span::current().record("key_prefix", key.prefix.as_str());
        Ok(AuthedKey(key))
    }
}

/// Remembers recently verified keys by hash.
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (ApiKeyRecord, Instant)>>,
}

const MAX_CACHED_KEYS: usize = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The stored key matching `secret`, if it exists and is not revoked.
    pub async fn verify(
        &self,
        store: &dyn Store,
        secret: &ApiKeySecret,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(prefix) = secret.display_prefix() else {
            return Ok(None);
        };
        let hash = secret.hash();
        if let Some(hit) = self.cached(&hash) {
            return Ok(Some(hit));
        }
        let Some(record) = store.find_key_by_prefix(prefix).await? else {
            return Ok(None);
        };
        if !record.key_hash.matches(&hash) || record.revoked_at.is_some() {
            return Ok(None);
        }
        self.remember(hash, &record);
        Ok(Some(record))
    }

    fn cached(&self, hash: &KeyHash) -> Option<ApiKeyRecord> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().expect("key cache poisoned");
        let (record, at) = entries.get(&hash.0)?;
        (at.elapsed() < self.ttl && record.key_hash.matches(hash)).then(|| record.clone())
    }

    fn remember(&self, hash: KeyHash, record: &ApiKeyRecord) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("key cache poisoned");
        if entries.len() >= MAX_CACHED_KEYS {
            let ttl = self.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= MAX_CACHED_KEYS {
                entries.clear();
            }
        }
        entries.insert(hash.0, (record.clone(), Instant::now()));
    }

    /// Forget everything, e.g. after this process revoked a key.
    pub fn clear(&self) {
        self.entries.lock().expect("key cache poisoned").clear();
    }
}
