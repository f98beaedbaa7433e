//! `X-SDK-Key` authentication: an extractor that yields the verified key or answers 401.
//!
//! Keys are looked up by their display prefix, then the SHA-256 of what the client sent is
//! compared with the stored hash in constant time. Verified keys are remembered for
//! `keys.cache_ttl` (a few seconds by default) to spare the database a round trip per
//! request, and forgotten as soon as any key changes in the database; unknown keys are
//! never cached, so junk cannot fill memory.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
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
pub struct AuthedKey(pub Arc<ApiKeyRecord>);

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

/// Remembers recently verified keys by hash, for `keys.cache_ttl` at most, and less when
/// keys change: [`follow_key_changes`] clears it whenever any key changes in the database
/// (a revocation by the CLI or another instance included), and while it cannot follow the
/// changes the cache is not used at all.
pub struct KeyCache {
    ttl: Duration,
    state: Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    /// Shared with the requests that read them: a hit clones a pointer, not the record.
    entries: HashMap<[u8; 32], (Arc<ApiKeyRecord>, Instant)>,
    /// Bumped by every clear: a record read from the database before a clear must not be
    /// remembered after it (it may predate the change that caused the clear).
    generation: u64,
    /// Changes cannot be followed right now: every request asks the database.
    suspended: bool,
}

const MAX_CACHED_KEYS: usize = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(Cached::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.state.lock().expect("key cache poisoned")
    }

    /// The stored key matching `secret`, if it exists and is not revoked.
    pub async fn verify(
        &self,
        store: &dyn Store,
        secret: &ApiKeySecret,
    ) -> Result<Option<Arc<ApiKeyRecord>>, StoreError> {
        let Some(prefix) = secret.display_prefix() else {
            return Ok(None);
        };
        let hash = secret.hash();
        let generation = match self.cached(&hash) {
            Ok(hit) => return Ok(Some(hit)),
            Err(generation) => generation,
        };
        let Some(record) = store.find_key_by_prefix(prefix).await? else {
            return Ok(None);
        };
        if !record.key_hash.matches(&hash) || record.revoked_at.is_some() {
            return Ok(None);
        }
        let record = Arc::new(record);
        self.remember(hash, &record, generation);
        Ok(Some(record))
    }

    /// A live entry for `hash`, or the generation to remember a fresh read under.
    fn cached(&self, hash: &KeyHash) -> Result<Arc<ApiKeyRecord>, u64> {
        let state = self.lock();
        if self.ttl.is_zero() || state.suspended {
            return Err(state.generation);
        }
        match state.entries.get(&hash.0) {
            Some((record, at)) if at.elapsed() < self.ttl && record.key_hash.matches(hash) => {
                Ok(Arc::clone(record))
            }
            _ => Err(state.generation),
        }
    }

    fn remember(&self, hash: KeyHash, record: &Arc<ApiKeyRecord>, generation: u64) {
        let mut state = self.lock();
        if self.ttl.is_zero() || state.suspended || state.generation != generation {
            return;
        }
        if state.entries.len() >= MAX_CACHED_KEYS {
            let ttl = self.ttl;
            state.entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if state.entries.len() >= MAX_CACHED_KEYS {
                state.entries.clear();
            }
        }
        state
            .entries
            .insert(hash.0, (Arc::clone(record), Instant::now()));
    }

    /// Forget everything: keys may have changed.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.generation += 1;
    }

    /// Forget everything and stop remembering until [`KeyCache::resume`]: changes to keys
    /// cannot be followed.
    pub fn suspend(&self) {
        self.clear();
        self.lock().suspended = true;
    }

    /// Changes are followed (again): forget what may predate them, and remember anew.
    pub fn resume(&self) {
        self.clear();
        self.lock().suspended = false;
    }

    fn is_suspended(&self) -> bool {
        self.lock().suspended
    }
}

/// Keep `cache` in step with the keys in the database, whoever changes them: cleared on
/// every change (on Postgres a notification from the transaction that made it; on SQLite
/// a counter read four times a second), bypassed while changes cannot be followed. So a
/// revoked key answers 401 on every instance within a second. The cache is suspended from
/// this call until the returned future is watching.
pub fn follow_key_changes(
    store: Arc<dyn Store>,
    cache: Arc<KeyCache>,
) -> impl Future<Output = ()> + Send + 'static {
    let caching = !cache.ttl.is_zero();
    if caching {
        cache.suspend();
    }
    async move {
        if !caching {
            return;
        }
        let mut changes = store.key_changes();
        loop {
            match changes.changed().await {
                Ok(()) => cache.resume(),
                Err(e) => {
                    if !cache.is_suspended() {
                        tracing::warn!(error = %crate::error::chain(&e),
                            "cannot follow key changes; checking keys against the database on every request");
                    }
                    cache.suspend();
                    tokio::time::sleep(RETRY_FOLLOWING).await;
                }
            }
        }
    }
}

/// Pause between attempts to follow key changes again.
const RETRY_FOLLOWING: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::KeySettings;

    fn record() -> (Arc<ApiKeyRecord>, ApiKeySecret) {
        let (rec, secret) = crate::keys::new_key("k", KeySettings::default());
        (Arc::new(rec), secret)
    }

    #[test]
    fn a_clear_wins_over_a_read_that_started_before_it() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let (rec, secret) = record();
        let hash = secret.hash();
        let generation = cache.cached(&hash).unwrap_err();
        // The key changes (and the cache is cleared) while the read is in flight.
        cache.clear();
        cache.remember(secret.hash(), &rec, generation);
        assert!(cache.cached(&hash).is_err(), "a stale read was remembered");
        let generation = cache.cached(&hash).unwrap_err();
        cache.remember(secret.hash(), &rec, generation);
        assert_eq!(cache.cached(&hash).unwrap(), rec);
    }

    #[test]
    fn a_suspended_cache_is_not_used() {
        let cache = KeyCache::new(Duration::from_secs(60));
        let (rec, secret) = record();
        let hash = secret.hash();
        cache.remember(secret.hash(), &rec, 0);
        assert!(cache.cached(&hash).is_ok());
        cache.suspend();
        assert!(cache.cached(&hash).is_err());
        let generation = cache.cached(&hash).unwrap_err();
        cache.remember(secret.hash(), &rec, generation);
        assert!(
            cache.cached(&hash).is_err(),
            "nothing remembered while suspended"
        );
        cache.resume();
        let generation = cache.cached(&hash).unwrap_err();
        cache.remember(secret.hash(), &rec, generation);
        assert!(cache.cached(&hash).is_ok());
    }
}
