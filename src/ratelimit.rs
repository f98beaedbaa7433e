//! Rate limits. Per API key (generation, configuration checks), checked after the key is
//! verified so that junk keys cannot fill memory; and for anonymous traffic, per client
//! address and per verification on the portal, per address and per key on the QR entry.
//!
//! Handlers ask [`RateLimits`] in the terms of the request (this key, this client, this
//! verification); it turns them into a [`Bucket`], a key and a per-minute quota for a
//! [`Limiter`]. The limiter is the pluggable part: [`LocalLimiter`] keeps GCRA state in
//! this process (governor); a limiter shared by several instances (a table in Postgres,
//! Redis) implements the same trait.
//!
//! The local limiter's memory is bounded twice: [`RateLimits::sweep`], which the server
//! runs every minute, drops keys whose quota is whole again, and each limiter tracks at
//! most `max_tracked` keys (a flood of new addresses first sweeps, then starts the
//! limiter afresh rather than grow). Limits are per instance: N instances behind a load
//! balancer allow up to N times a quota (documented in the README).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::LimitSettings;
use crate::domain::VerificationId;
use crate::error::ApiError;
use crate::store::ApiKeyRecord;

/// Which quota a request is counted against. Its name keys the shared counters in the
/// database, so it never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Bucket {
    /// Per API key: verifications generated through the API.
    Generate,
    /// Per API key: configuration checks.
    CheckConfig,
    /// Per client address: every portal route.
    PortalClient,
    /// Per verification: every portal route.
    PortalVerification,
    /// Per client address: the QR entry.
    QrClient,
    /// Per API key: verifications started from its QR code (never the API's quota).
    QrKey,
    /// Per client address: dashboard login attempts.
    DashboardLogin,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whose quota it is, for the error message.
    fn subject(self) -> &'static str {
        match self {
            Bucket::Generate | Bucket::CheckConfig => "this API key",
            Bucket::PortalClient | Bucket::QrClient | Bucket::DashboardLogin => {
                "this client address"
            }
            Bucket::PortalVerification => "this verification",
            Bucket::QrKey => "this QR code",
        }
    }
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

/// A refused request: how long until one more is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
    pub limit: u32,
    pub reset_secs: u64,
}

/// Counts requests against per-minute quotas, one per (bucket, key).
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Take one request from `key`'s quota of `per_minute` in `bucket`.
    async fn check(&self, bucket: Bucket, key: &str, per_minute: u32) -> Result<RateInfo, Limited>;

    /// Forget what no longer matters (keys whose quota is whole again). Run periodically.
    fn sweep(&self);

    /// Keys tracked now, over every bucket.
    fn tracked_keys(&self) -> usize;
}

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The in-process limiter: governor's GCRA, one keyed limiter per (bucket, quota), since
/// API keys may override the instance's quota.
pub struct LocalLimiter {
    max_tracked: usize,
    limiters: Mutex<HashMap<(Bucket, u32), Arc<KeyedLimiter>>>,
}

impl LocalLimiter {
    /// `max_tracked`: most keys one limiter remembers.
    pub fn new(max_tracked: usize) -> Self {
        LocalLimiter {
            max_tracked: max_tracked.max(1),
            limiters: Mutex::new(HashMap::new()),
        }
    }

    fn limiter(&self, bucket: Bucket, per_minute: u32) -> Arc<KeyedLimiter> {
        let mut map = self.limiters.lock().expect("rate limiter map poisoned");
        let limiter = map
            .entry((bucket, per_minute))
            .or_insert_with(|| Arc::new(fresh(per_minute)));
        if limiter.len() >= self.max_tracked {
            // Full: drop the keys whose quota is whole again; if that frees nothing,
            // start over. Memory stays bounded; the price is that, under a flood of new
            // keys, clients briefly get their quota back early.
            limiter.retain_recent();
            if limiter.len() >= self.max_tracked {
                tracing::warn!(
                    bucket = bucket.as_str(),
                    tracked = limiter.len(),
                    "rate limiter full; starting it afresh"
                );
                *limiter = Arc::new(fresh(per_minute));
            }
        }
        limiter.clone()
    }
}

fn fresh(per_minute: u32) -> KeyedLimiter {
    let n = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
    RateLimiter::keyed(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>()
}

#[async_trait]
impl Limiter for LocalLimiter {
    async fn check(&self, bucket: Bucket, key: &str, per_minute: u32) -> Result<RateInfo, Limited> {
        let per_minute = per_minute.max(1);
        let limiter = self.limiter(bucket, per_minute);
        // Time to regain one request, and to regain the whole quota from `remaining`.
        let per_request = Duration::from_secs(60) / per_minute;
        let reset = |remaining: u32| {
            (per_request * (per_minute - remaining.min(per_minute)))
                .as_secs_f64()
                .ceil() as u64
        };
        match limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(RateInfo {
                    limit: per_minute,
                    remaining,
                    reset_secs: reset(remaining),
                })
            }
            Err(not_until) => Err(Limited {
                retry_after: not_until.wait_time_from(limiter.clock().now()),
                limit: per_minute,
                reset_secs: reset(0),
            }),
        }
    }

    fn sweep(&self) {
        let map = self.limiters.lock().expect("rate limiter map poisoned");
        for limiter in map.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    fn tracked_keys(&self) -> usize {
        let map = self.limiters.lock().expect("rate limiter map poisoned");
        map.values().map(|l| l.len()).sum()
    }
}

/// Who is calling, as far as throttling goes: the peer's address, or the address a trusted
/// proxy reports. IPv6 addresses count by their /64 network, what one subscriber usually
/// gets, so rotating through it buys nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// From the connection's peer address and, when `trusted_header` is configured, the
    /// last address in that header (the one the proxy in front of us appended). Without
    /// a usable header value, the peer address counts.
    pub fn from_request(
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        trusted_header: Option<&HeaderName>,
    ) -> ClientAddr {
        let forwarded = trusted_header.and_then(|name| {
            let last_value = headers.get_all(name).iter().next_back()?;
            let last = last_value.to_str().ok()?.rsplit(',').next()?.trim();
            last.parse::<IpAddr>()
                .ok()
                .or_else(|| last.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        });
        ClientAddr(forwarded.or(peer))
    }

    /// The limiter key: `v4:<address>`, `v6:<first 64 bits>::/64`, or `unknown` when the
    /// server was not told the peer (in-process use): unknown callers share one quota.
    pub fn key(&self) -> String {
        match self.0.map(canonical) {
            Some(IpAddr::V4(a)) => format!("v4:{a}"),
            Some(IpAddr::V6(a)) => {
                let s = a.segments();
                format!("v6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => "unknown".to_owned(),
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, from dual-stack sockets) are IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Per-minute quotas of the instance (keys may override their own API quotas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub generate: u32,
    pub check_config: u32,
    pub portal_per_client: u32,
    pub portal_per_verification: u32,
    pub qr_per_client: u32,
    pub qr_per_key: u32,
}

impl Quotas {
    pub fn from_settings(l: &LimitSettings) -> Quotas {
        Quotas {
            generate: l.generate_per_minute,
            check_config: l.check_config_per_minute,
            portal_per_client: l.portal_per_client_per_minute,
            portal_per_verification: l.portal_per_verification_per_minute,
            qr_per_client: l.qr_per_client_per_minute,
            qr_per_key: l.qr_per_key_per_minute,
        }
    }
}

/// A limiter shared by every instance on one database: each (bucket, key) counts its hits
/// in fixed one-minute windows in the `rate_windows` table, one upsert per request. Chosen
/// with `V2CLIENT_RATE_LIMIT_STORE=database`, for several instances behind a load balancer;
/// the in-process [`LocalLimiter`] stays the single-instance default.
///
/// A fixed window can let up to twice a quota through across a window boundary (the end of
/// one minute and the start of the next); the local limiter's GCRA does not. When the
/// database cannot be reached the request is let through and the failure logged: a limiter
/// outage must not become an API outage, and the request itself will meet the database
/// anyway.
pub struct DatabaseLimiter {
    store: Arc<dyn crate::store::Store>,
}

impl DatabaseLimiter {
    pub fn new(store: Arc<dyn crate::store::Store>) -> Self {
        DatabaseLimiter { store }
    }
}

const WINDOW_SECS: i64 = 60;

#[async_trait]
impl Limiter for DatabaseLimiter {
    async fn check(&self, bucket: Bucket, key: &str, per_minute: u32) -> Result<RateInfo, Limited> {
        let per_minute = per_minute.max(1);
        let now = chrono::Utc::now().timestamp();
        let window_start = now - now.rem_euclid(WINDOW_SECS);
        let reset_secs = (window_start + WINDOW_SECS - now).max(1) as u64;
        let name = format!("{}:{key}", bucket.as_str());
        match self.store.hit_rate_window(&name, window_start).await {
            Ok(hits) if hits > i64::from(per_minute) => Err(Limited {
                retry_after: Duration::from_secs(reset_secs),
                limit: per_minute,
                reset_secs,
            }),
            Ok(hits) => Ok(RateInfo {
                limit: per_minute,
                remaining: per_minute.saturating_sub(u32::try_from(hits).unwrap_or(u32::MAX)),
                reset_secs,
            }),
            Err(e) => {
                tracing::warn!(error = %e, bucket = bucket.as_str(), "shared rate limit unavailable; request let through");
                Ok(RateInfo {
                    limit: per_minute,
                    remaining: per_minute,
                    reset_secs,
                })
            }
        }
    }

    fn sweep(&self) {
        // Windows older than two minutes can no longer count; drop them off the request path.
        let store = self.store.clone();
        let before = chrono::Utc::now().timestamp() - 2 * WINDOW_SECS;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = store.purge_rate_windows(before).await {
                    tracing::warn!(error = %e, "could not purge old rate-limit windows");
                }
            });
        }
    }

    fn tracked_keys(&self) -> usize {
        // Kept in the database, not in this process.
        0
    }
}

/// Dashboard login attempts allowed per minute from one client address, whatever the
/// accounts tried (each account also locks after a few failures in a row).
pub const DASHBOARD_LOGINS_PER_CLIENT_PER_MINUTE: u32 = 20;

/// The service's rate limits over a [`Limiter`].
pub struct RateLimits {
    quotas: Quotas,
    limiter: Arc<dyn Limiter>,
}

impl RateLimits {
    pub fn new(quotas: Quotas, limiter: Arc<dyn Limiter>) -> Self {
        RateLimits { quotas, limiter }
    }

    /// With the in-process limiter.
    pub fn local(quotas: Quotas, max_tracked: usize) -> Self {
        Self::new(quotas, Arc::new(LocalLimiter::new(max_tracked)))
    }

    /// The per-minute quota that applies to `key` for a per-key `bucket`.
    pub fn quota_for(&self, bucket: Bucket, key: &ApiKeyRecord) -> u32 {
        let overrides = &key.settings.rate_limits;
        match bucket {
            Bucket::Generate => overrides
                .generate_per_minute
                .unwrap_or(self.quotas.generate),
            Bucket::CheckConfig => overrides
                .check_config_per_minute
                .unwrap_or(self.quotas.check_config),
            Bucket::QrKey => self.quotas.qr_per_key,
            Bucket::PortalClient => self.quotas.portal_per_client,
            Bucket::PortalVerification => self.quotas.portal_per_verification,
            Bucket::QrClient => self.quotas.qr_per_client,
            Bucket::DashboardLogin => DASHBOARD_LOGINS_PER_CLIENT_PER_MINUTE,
        }
    }

    /// Take one request from `key`'s quota in a per-key bucket (generation, configuration
    /// checks, QR entry), or say how long to wait.
    pub async fn check(&self, bucket: Bucket, key: &ApiKeyRecord) -> Result<RateInfo, ApiError> {
        self.take(bucket, &key.id, self.quota_for(bucket, key))
            .await
    }

    /// One portal request from `client`.
    pub async fn portal_client(&self, client: &ClientAddr) -> Result<RateInfo, ApiError> {
        self.take(
            Bucket::PortalClient,
            &client.key(),
            self.quotas.portal_per_client,
        )
        .await
    }

    /// One portal request about verification `id`.
    pub async fn portal_verification(&self, id: &VerificationId) -> Result<RateInfo, ApiError> {
        self.take(
            Bucket::PortalVerification,
            id.as_str(),
            self.quotas.portal_per_verification,
        )
        .await
    }

    /// One QR-entry request from `client`.
    pub async fn qr_client(&self, client: &ClientAddr) -> Result<RateInfo, ApiError> {
        self.take(Bucket::QrClient, &client.key(), self.quotas.qr_per_client)
            .await
    }

    /// One dashboard login attempt from `client`.
    pub async fn dashboard_login(&self, client: &ClientAddr) -> Result<RateInfo, ApiError> {
        self.take(
            Bucket::DashboardLogin,
            &client.key(),
            DASHBOARD_LOGINS_PER_CLIENT_PER_MINUTE,
        )
        .await
    }

    async fn take(&self, bucket: Bucket, key: &str, per_minute: u32) -> Result<RateInfo, ApiError> {
        self.limiter
            .check(bucket, key, per_minute)
            .await
            .map_err(|l| ApiError::RateLimited {
                subject: bucket.subject(),
                retry_after_secs: l.retry_after.as_secs_f64().ceil().max(1.0) as u64,
                limit: l.limit,
                reset_secs: l.reset_secs,
            })
    }

    /// Forget keys whose quota is whole again. Run periodically.
    pub fn sweep(&self) {
        self.limiter.sweep();
    }

    /// Keys currently tracked, over every bucket (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.limiter.tracked_keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{KeyHash, KeySettings};
    use chrono::Utc;

    #[test]
    fn bucket_names_stay_as_stored() {
        let names = [
            (Bucket::Generate, "generate"),
            (Bucket::CheckConfig, "check_config"),
            (Bucket::PortalClient, "portal_client"),
            (Bucket::PortalVerification, "portal_verification"),
            (Bucket::QrClient, "qr_client"),
            (Bucket::QrKey, "qr_key"),
        ];
        for (bucket, name) in names {
            assert_eq!(bucket.as_str(), name);
        }
    }

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

    fn quotas(generate: u32, check_config: u32) -> Quotas {
        Quotas {
            generate,
            check_config,
            portal_per_client: 5,
            portal_per_verification: 3,
            qr_per_client: 2,
            qr_per_key: 2,
        }
    }

    #[tokio::test]
    async fn counts_down_then_refuses_with_a_wait() {
        let limits = RateLimits::local(quotas(3, 300), 1000);
        let k = key("a", None);
        let mut remaining = Vec::new();
        for _ in 0..3 {
            remaining.push(limits.check(Bucket::Generate, &k).await.unwrap().remaining);
        }
        assert_eq!(remaining, vec![2, 1, 0]);
        match limits.check(Bucket::Generate, &k).await {
            Err(ApiError::RateLimited {
                retry_after_secs,
                limit,
                subject,
                ..
            }) => {
                assert_eq!(limit, 3);
                assert_eq!(subject, "this API key");
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn keys_and_buckets_are_independent_and_overridable() {
        let limits = RateLimits::local(quotas(1, 1), 1000);
        let a = key("a", None);
        let b = key("b", Some(5));
        assert!(limits.check(Bucket::Generate, &a).await.is_ok());
        assert!(limits.check(Bucket::Generate, &a).await.is_err());
        assert!(limits.check(Bucket::CheckConfig, &a).await.is_ok());
        // The QR entry has its own quota: the API's being spent does not matter.
        assert!(limits.check(Bucket::QrKey, &a).await.is_ok());
        for _ in 0..5 {
            assert!(limits.check(Bucket::Generate, &b).await.is_ok());
        }
        let err = limits.check(Bucket::Generate, &b).await.unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED");
    }

    #[tokio::test]
    async fn anonymous_buckets_count_clients_and_verifications() {
        let limits = RateLimits::local(quotas(1, 1), 1000);
        let one = ClientAddr(Some("192.0.2.1".parse().unwrap()));
        let two = ClientAddr(Some("192.0.2.2".parse().unwrap()));
        for _ in 0..5 {
            limits.portal_client(&one).await.unwrap();
        }
        assert!(limits.portal_client(&one).await.is_err());
        assert!(limits.portal_client(&two).await.is_ok());
        // The QR entry's per-client bucket is apart from the portal's.
        assert!(limits.qr_client(&one).await.is_ok());
        let id = VerificationId::generate();
        for _ in 0..3 {
            limits.portal_verification(&id).await.unwrap();
        }
        let err = limits.portal_verification(&id).await.unwrap_err();
        assert!(matches!(
            err,
            ApiError::RateLimited {
                subject: "this verification",
                ..
            }
        ));
    }

    #[test]
    fn client_addresses_from_peer_or_trusted_header() {
        let peer: IpAddr = "198.51.100.7".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 10.0.0.2".parse().unwrap());
        let xff = HeaderName::from_static("x-forwarded-for");
        // Without a trusted header configured, what the client wrote is ignored.
        assert_eq!(
            ClientAddr::from_request(&h, Some(peer), None).key(),
            "v4:198.51.100.7"
        );
        // With it, the last address counts: the one our proxy appended.
        assert_eq!(
            ClientAddr::from_request(&h, Some(peer), Some(&xff)).key(),
            "v4:10.0.0.2"
        );
        h.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(
            ClientAddr::from_request(&h, Some(peer), Some(&xff)).key(),
            "v4:198.51.100.7"
        );
        let v6: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        assert_eq!(ClientAddr(Some(v6)).key(), "v6:2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ClientAddr(Some(mapped)).key(), "v4:192.0.2.1");
        assert_eq!(ClientAddr(None).key(), "unknown");
    }

    #[tokio::test]
    async fn sweep_keeps_only_keys_still_limited() {
        // 600/minute: one request is regained every 100 ms.
        let limits = RateLimits::local(quotas(600, 600), 1000);
        for i in 0..50 {
            limits
                .check(Bucket::Generate, &key(&format!("k{i}"), None))
                .await
                .unwrap();
        }
        assert_eq!(limits.tracked_keys(), 50);
        std::thread::sleep(Duration::from_millis(250));
        limits.sweep();
        assert_eq!(limits.tracked_keys(), 0);
    }

    #[tokio::test]
    async fn a_flood_of_new_clients_cannot_grow_the_limiter() {
        let limits = RateLimits::local(quotas(1, 1), 100);
        for i in 0..10_000u32 {
            let addr = ClientAddr(Some(IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + i))));
            let _ = limits.portal_client(&addr).await;
            assert!(limits.tracked_keys() <= 100, "at {i}");
        }
        // Clients keep being limited after the limiter started afresh.
        let addr = ClientAddr(Some("192.0.2.77".parse().unwrap()));
        for _ in 0..5 {
            limits.portal_client(&addr).await.unwrap();
        }
        assert!(limits.portal_client(&addr).await.is_err());
    }
}
