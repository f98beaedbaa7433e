//! Per-key rate limits (governor, GCRA), checked after the key is verified so that junk
//! keys cannot fill memory.
//!
//! Each bucket (generation, configuration checks) keeps one keyed limiter per distinct
//! per-minute quota, since keys may override the instance default. Stale entries are
//! dropped by [`RateLimits::sweep`], which the server runs every minute: memory grows with
//! the keys active in the last minute, not with every key ever seen.
//!
//! Limits are per instance: N instances behind a load balancer allow up to N times the
//! quota (documented in the README).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;
use crate::store::ApiKeyRecord;

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Generate,
    CheckConfig,
}

/// What a successful check tells the client, as `RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset_secs: u64,
}

impl RateInfo {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
    }
}

pub struct RateLimits {
    generate_default: u32,
    check_config_default: u32,
    limiters: Mutex<HashMap<(BucketKey, u32), Arc<KeyedLimiter>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BucketKey {
    Generate,
    CheckConfig,
}

impl RateLimits {
    pub fn new(generate_per_minute: u32, check_config_per_minute: u32) -> Self {
        Self {
            generate_default: generate_per_minute,
            check_config_default: check_config_per_minute,
            limiters: Mutex::new(HashMap::new()),
        }
    }

    /// The per-minute quota that applies to `key` for `bucket`.
    pub fn quota_for(&self, bucket: Bucket, key: &ApiKeyRecord) -> u32 {
        let overrides = &key.settings.rate_limits;
        match bucket {
            Bucket::Generate => overrides
                .generate_per_minute
                .unwrap_or(self.generate_default),
            Bucket::CheckConfig => overrides
                .check_config_per_minute
                .unwrap_or(self.check_config_default),
        }
    }

    fn limiter(&self, bucket: Bucket, per_minute: u32) -> Arc<KeyedLimiter> {
        let bucket_key = match bucket {
            Bucket::Generate => BucketKey::Generate,
            Bucket::CheckConfig => BucketKey::CheckConfig,
        };
        let mut map = self.limiters.lock().expect("rate limiter map poisoned");
        map.entry((bucket_key, per_minute))
            .or_insert_with(|| {
                let n = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
                Arc::new(
                    RateLimiter::keyed(Quota::per_minute(n))
                        .with_middleware::<StateInformationMiddleware>(),
                )
            })
            .clone()
    }

    /// Take one request from `key`'s quota, or say how long to wait.
    pub fn check(&self, bucket: Bucket, key: &ApiKeyRecord) -> Result<RateInfo, ApiError> {
        let per_minute = self.quota_for(bucket, key);
        let limiter = self.limiter(bucket, per_minute);
        // Time to regain one request, and to regain the whole quota from `remaining`.
        let per_request = Duration::from_secs(60) / per_minute.max(1);
        let reset = |remaining: u32| {
            (per_request * (per_minute - remaining.min(per_minute)))
                .as_secs_f64()
                .ceil() as u64
        };
        match limiter.check_key(&key.id) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(RateInfo {
                    limit: per_minute,
                    remaining,
                    reset_secs: reset(remaining),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                Err(ApiError::RateLimited {
                    subject: "this API key",
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                    limit: per_minute,
                    reset_secs: reset(0),
                })
            }
        }
    }

    /// Forget keys whose quota is whole again. Run periodically.
    pub fn sweep(&self) {
        let map = self.limiters.lock().expect("rate limiter map poisoned");
        for limiter in map.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys currently tracked, over every bucket (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        let map = self.limiters.lock().expect("rate limiter map poisoned");
        map.values().map(|l| l.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{KeyHash, KeySettings};
    use chrono::Utc;

    fn key(id: &str, generate: Option<u32>) -> ApiKeyRecord {
        let mut settings = KeySettings::default();
        settings.rate_limits.generate_per_minute = generate;
        ApiKeyRecord {
            id: id.into(),
            name: id.into(),
            prefix: id.into(),
            key_hash: KeyHash([0; 32]),
            settings,
            qr_token: None,
            webhook: None,
            created_at: Utc::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn counts_down_then_refuses_with_a_wait() {
        let limits = RateLimits::new(3, 300);
        let k = key("a", None);
        let remaining: Vec<u32> = (0..3)
            .map(|_| limits.check(Bucket::Generate, &k).unwrap().remaining)
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        match limits.check(Bucket::Generate, &k) {
            Err(ApiError::RateLimited {
                retry_after_secs,
                limit,
                ..
            }) => {
                assert_eq!(limit, 3);
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[test]
    fn keys_and_buckets_are_independent_and_overridable() {
        let limits = RateLimits::new(1, 1);
        let a = key("a", None);
        let b = key("b", Some(5));
        assert!(limits.check(Bucket::Generate, &a).is_ok());
        assert!(limits.check(Bucket::Generate, &a).is_err());
        assert!(limits.check(Bucket::CheckConfig, &a).is_ok());
        for _ in 0..5 {
            assert!(limits.check(Bucket::Generate, &b).is_ok());
        }
        assert!(limits.check(Bucket::Generate, &b).is_err());
        assert_eq!(
            limits.check(Bucket::Generate, &b).unwrap_err().code(),
            "RATE_LIMITED"
        );
    }

    #[test]
    fn sweep_keeps_only_keys_still_limited() {
        // 600/minute: one request is regained every 100 ms.
        let limits = RateLimits::new(600, 600);
        for i in 0..50 {
            limits
                .check(Bucket::Generate, &key(&format!("k{i}"), None))
                .unwrap();
        }
        assert_eq!(limits.tracked_keys(), 50);
        std::thread::sleep(Duration::from_millis(250));
        limits.sweep();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
