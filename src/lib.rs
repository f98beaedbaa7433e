//! v2client: a self-hostable identity-verification portal, wire-compatible with okID's
//! hosted v2client.
//!
//! [`app`] builds the whole HTTP service from an [`AppState`]; [`run`] serves it on a
//! listener until a shutdown signal. `main.rs` only parses the command line.

pub mod api;
pub mod audit;
pub mod auth;
pub mod backend;
pub mod blobs;
pub mod body;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod document;
pub mod domain;
pub mod error;
pub mod faces;
pub mod files;
pub mod health;
pub mod imaging;
pub mod keys;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod portal;
pub mod ratelimit;
pub mod security_headers;
pub mod serve;
pub mod store;
pub mod web;
pub mod webhooks;
pub mod workflow;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::KeyCache;
use crate::backend::VerificationBackend;
use crate::blobs::BlobStore;
use crate::config::Settings;
use crate::ratelimit::RateLimits;
use crate::store::Store;

/// Choose rustls's `ring` provider for every outbound TLS connection (object storage,
/// remote backend, webhooks). reqwest is built without a default provider so that only one
/// crypto library is linked; this must run before the first client is built. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Everything a request handler may need, behind one `Arc`: every layer and extractor of
/// every request clones the state, and one reference count is cheaper to touch than one
/// per part (measured: cloning and dropping the eight parts was 3–4 % of a loaded
/// server's CPU). Reads go through [`Deref`](std::ops::Deref) to [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub backend: Arc<dyn VerificationBackend>,
    /// Encrypted image storage.
    pub blobs: Arc<dyn BlobStore>,
    pub keys: Arc<KeyCache>,
    pub limits: Arc<RateLimits>,
    pub metrics: Arc<metrics::Metrics>,
    /// Portal steps being processed by this process.
    pub in_flight: Arc<portal::inflight::InFlight>,
}

/// Why the server cannot start with its settings.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("image storage: {0}")]
    Blobs(#[from] blobs::BlobError),
    #[error("{0}")]
    FaceModels(#[from] faces::models::ModelError),
    #[error("{0}")]
    Translations(#[from] portal::i18n::CatalogError),
}

impl AppState {
    /// The configured backend and image storage over `store`.
    pub fn new(settings: Settings, store: Arc<dyn Store>) -> Result<Self, StartError> {
        // Every language's messages, parsed now: a bad catalog stops the server here.
        portal::i18n::load_all()?;
        let backend = backend::from_settings(&settings)?;
        let blobs = settings.blobs.open()?;
        Ok(Self::with_parts(settings, store, backend, blobs))
    }

    /// With explicit parts (tests, or a backend built elsewhere).
    pub fn with_parts(
        settings: Settings,
        store: Arc<dyn Store>,
        backend: Arc<dyn VerificationBackend>,
        blobs: Arc<dyn BlobStore>,
    ) -> Self {
        // Webhook deliveries build TLS clients.
        install_tls_provider();
        let quotas = ratelimit::Quotas::from_settings(&settings.limits);
        let limits = if settings.limits.shared {
            RateLimits::new(
                quotas,
                Arc::new(ratelimit::DatabaseLimiter::new(store.clone())),
            )
        } else {
            RateLimits::local(quotas, settings.limits.max_tracked)
        };
        AppState(Arc::new(Shared {
            keys: Arc::new(KeyCache::new(settings.key_cache_ttl)),
            limits: Arc::new(limits),
            metrics: Arc::default(),
            in_flight: Arc::default(),
            settings: Arc::new(settings),
            store,
            backend,
            blobs,
        }))
    }

    /// The same state with another verification backend (tests wrap the real one).
    pub fn with_backend(&self, backend: Arc<dyn VerificationBackend>) -> AppState {
        AppState(Arc::new(Shared {
            backend,
            ..(*self.0).clone()
        }))
    }
}

/// The complete router: operator API, health, pages, with logging and request ids.
///
/// Every route is registered with its description (see [`openapi`]); the document they
/// make is served at `/openapi.json`.
///
/// Two layers around every route: [`observe::edge`] (extension methods refused, the
/// request id, the time limits of [`serve`], one log line and the request counters, the
/// security headers of [`security_headers`]), and inside it a panic becomes a `500`.
pub fn app(state: AppState) -> Router {
    let documented = openapi::router()
        .merge(api::router(&state))
        .merge(portal::api::router(&state))
        .merge(health::router())
        .merge(web::router())
        .merge(portal::router(&state))
        .merge(dashboard::router())
        .routes(utoipa_axum::routes!(metrics::handler));
    openapi::serve(documented)
        // Every route answers a wrong method in the error shape, pages included.
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .fallback(web::not_found)
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::edge,
        ))
        .with_state(state)
}

/// Serve `state` on `listener` until `shutdown` resolves, then finish in-flight requests.
/// Background work runs alongside: the webhook dispatcher, the follower of key changes
/// (which keeps the key cache honest), and once a minute the upkeep
/// (rate-limiter sweeping, settling verifications stalled in `processing`, expiry of
/// overdue verifications, retention, ended dashboard sessions, expiry of idempotency
/// records).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let deadline = state.settings.shutdown_timeout;
    let header_read = state.settings.timeouts.header_read;
    let upkeep = tokio::spawn(upkeep(state.clone()));
    let key_changes = tokio::spawn(auth::follow_key_changes(
        state.store.clone(),
        state.keys.clone(),
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let dispatcher = tokio::spawn(webhooks::dispatch::run(state.clone(), stopped));
    // In-flight requests get until the deadline once the signal came; then the rest are
    // dropped. Every write is a transaction, so a dropped request leaves nothing
    // half-written.
    let result = serve::serve(
        listener,
        app(state),
        header_read,
        async move {
            shutdown.await;
            // Stop taking new work: the listener closes, the dispatcher finishes its round.
            let _ = stop.send(true);
        },
        deadline,
    )
    .await;
    upkeep.abort();
    key_changes.abort();
    if tokio::time::timeout(deadline, dispatcher).await.is_err() {
        tracing::warn!("webhook dispatcher did not stop in time");
    }
    result
}

/// How long a generate response stays replayable under its `Idempotency-Key`.
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Most verifications one sweep marks expired; the next sweep takes the rest.
const SWEEP_BATCH: u32 = 500;

/// How long a verification may sit in `processing` before the upkeep settles it. A
/// decision takes seconds; this leaves room for a slow backend (and is never shorter than
/// twice its timeout, so the upkeep does not race a decision still under way).
pub const PROCESSING_STALL: Duration = Duration::from_secs(120);

fn processing_stall(settings: &Settings) -> Duration {
    PROCESSING_STALL.max(settings.backend.timeout.saturating_mul(2))
}

/// Decide, or send to manual review, every verification that has been in `processing`
/// for longer than [`PROCESSING_STALL`] at `now` (see [`workflow::settle_stalled`]).
/// Returns how many were settled; failures are logged and retried at the next round.
pub async fn settle_stalled(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, store::StoreError> {
    let before = domain::verification::earlier(now, processing_stall(&state.settings));
    let mut settled = 0;
    for id in state.store.stalled_processing(before, SWEEP_BATCH).await? {
        match workflow::settle_stalled(state, &id).await {
            Ok(workflow::Settled::Untouched) => {}
            Ok(how) => {
                tracing::info!(verification_id = %id, outcome = ?how,
                    "verification stalled in processing settled");
                settled += 1;
            }
            Err(e) => tracing::warn!(verification_id = %id, error = %e,
                "a verification stalled in processing could not be settled"),
        }
    }
    Ok(settled)
}

/// Move overdue verifications to `expired`. Returns how many. Reads already show them as
/// expired before this runs; the sweep makes the stored status (and what follows from it)
/// catch up. A verification stalled in `processing` is normally settled first (see
/// [`settle_stalled`]); one that cannot be, not even sent to review, expires here once
/// its expiry has passed too, so that retention erases it in time like any other.
pub async fn sweep_expired(state: &AppState) -> Result<usize, store::StoreError> {
    let mut total = 0;
    loop {
        let t = domain::verification::now();
        let stalled_before = domain::verification::earlier(t, processing_stall(&state.settings));
        let ids = state
            .store
            .expire_overdue(t, stalled_before, SWEEP_BATCH)
            .await?;
        total += ids.len();
        for id in &ids {
            tracing::info!(verification_id = %id, "verification expired");
        }
        if ids.len() < SWEEP_BATCH as usize {
            return Ok(total);
        }
    }
}

/// Erase the images and personal data of verifications whose key's retention period has
/// passed at `now` (images first, so a failure between the two leaves nothing readable and
/// the next run completes it). Returns how many were erased.
pub async fn erase_expired_data(
    state: &AppState,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut erased = 0;
    for id in state.store.erasable(now, SWEEP_BATCH).await? {
        state.blobs.delete_prefix(id.as_str()).await?;
        if state.store.mark_erased(&id, now).await? {
            tracing::info!(verification_id = %id, "images and personal data erased");
            erased += 1;
            let mut event =
                audit::AuditEvent::new(&audit::Actor::system(), audit::Action::VerificationErased)
                    .target("retention period");
            event.verification_id = Some(id.to_string());
            if let Err(e) = state.store.append_audit(&event).await {
                tracing::warn!(verification_id = %id, error = %error::chain(&e), "erasure not written to the audit log");
            }
        }
    }
    Ok(erased)
}

async fn upkeep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        upkeep_round(&state).await;
    }
}

/// One round of the upkeep. Errors are logged; the next round tries again. Stalled
/// verifications are settled before the expiry sweep, which only expires those that could
/// not be settled at all.
pub async fn upkeep_round(state: &AppState) {
    state.limits.sweep();
    if let Err(e) = settle_stalled(state, domain::verification::now()).await {
        tracing::warn!(error = %error::chain(&e), "settling stalled verifications failed");
    }
    if let Err(e) = sweep_expired(state).await {
        tracing::warn!(error = %error::chain(&e), "expiry sweep failed");
    }
    if let Err(e) = erase_expired_data(state, domain::verification::now()).await {
        tracing::warn!(error = %error::chain(&*e), "retention job failed");
    }
    let at = domain::verification::now();
    let idle_before = domain::verification::earlier(at, dashboard::session::IDLE_TIMEOUT);
    match state.store.purge_sessions(at, idle_before).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(purged = n, "ended dashboard sessions removed"),
        Err(e) => tracing::warn!(error = %error::chain(&e), "dashboard session purge failed"),
    }
    let cutoff = domain::verification::earlier(chrono::Utc::now(), IDEMPOTENCY_RETENTION);
    match state.store.purge_idempotency(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "expired idempotency records removed"),
        Err(e) => tracing::warn!(error = %error::chain(&e), "idempotency purge failed"),
    }
}
