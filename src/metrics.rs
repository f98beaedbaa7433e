//! Prometheus metrics at `GET /metrics`: requests by route and status with latency
//! histograms, backend step timings, webhook deliveries by outcome, and, read from the
//! database at scrape time, verifications by status and the webhook outbox depth.
//!
//! Not public: the route answers only with `Authorization: Bearer <V2CLIENT_METRICS_TOKEN>`
//! and does not exist (404) when no token is configured.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Upper bounds (seconds) of the latency buckets.
const BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BOUNDS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BOUNDS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Request counters are labelled by method, route template and status class only: all
/// three come from closed sets (standard methods, the routes this service registers plus
/// `(unmatched)`, five classes), so no client can add a series.
#[derive(Default)]
pub struct Metrics {
    /// By route template; one lock for a request's counter and latency, and a route seen
    /// before is found by reference (no allocation per request).
    routes: Mutex<BTreeMap<String, RouteStats>>,
    backend: Mutex<BTreeMap<&'static str, Histogram>>,
    deliveries: Mutex<BTreeMap<&'static str, u64>>,
}

/// One route's requests by method and status class, and their latency.
#[derive(Default)]
struct RouteStats {
    requests: BTreeMap<(&'static str, &'static str), u64>,
    latency: Histogram,
}

impl Metrics {
    /// `method`: a standard method's name; `route`: the matched route template.
    pub fn request(&self, method: &'static str, route: &str, status: u16, took: Duration) {
        let mut routes = self.routes.lock().expect("metrics poisoned");
        let stats = match routes.get_mut(route) {
            Some(stats) => stats,
            None => routes.entry(route.to_owned()).or_default(),
        };
        *stats
            .requests
            .entry((method, status_class(status)))
            .or_default() += 1;
        stats.latency.observe(took.as_secs_f64());
    }

    /// `step`: document, liveness, face_match or decide.
    pub fn backend_step(&self, step: &'static str, took: Duration) {
        self.backend
            .lock()
            .expect("metrics poisoned")
            .entry(step)
            .or_default()
            .observe(took.as_secs_f64());
    }

    /// `outcome`: delivered, retry or failed.
    pub fn delivery(&self, outcome: &'static str) {
        *self
            .deliveries
            .lock()
            .expect("metrics poisoned")
            .entry(outcome)
            .or_default() += 1;
    }

    fn render(
        &self,
        by_status: &[(String, i64)],
        outbox: i64,
        decode: Option<&crate::imaging::DecodeBudget>,
    ) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP v2client_http_requests_total Requests by method, route and status class.\n",
        );
        out.push_str("# TYPE v2client_http_requests_total counter\n");
        let routes = self.routes.lock().expect("metrics poisoned");
        for (route, stats) in routes.iter() {
            for ((method, status), n) in &stats.requests {
                let _ = writeln!(
                    out,
                    "v2client_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP v2client_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE v2client_http_request_duration_seconds histogram\n");
        for (route, stats) in routes.iter() {
            stats.latency.render(
                &mut out,
                "v2client_http_request_duration_seconds",
                &format!("route=\"{}\"", escape(route)),
            );
        }
        drop(routes);
        out.push_str(
            "# HELP v2client_backend_step_duration_seconds Verification backend work by step.\n",
        );
        out.push_str("# TYPE v2client_backend_step_duration_seconds histogram\n");
        for (step, h) in self.backend.lock().expect("metrics poisoned").iter() {
            h.render(
                &mut out,
                "v2client_backend_step_duration_seconds",
                &format!("step=\"{step}\""),
            );
        }
        out.push_str(
            "# HELP v2client_webhook_deliveries_total Webhook delivery attempts by outcome.\n",
        );
        out.push_str("# TYPE v2client_webhook_deliveries_total counter\n");
        for (outcome, n) in self.deliveries.lock().expect("metrics poisoned").iter() {
            let _ = writeln!(
                out,
                "v2client_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str("# HELP v2client_verifications Live verifications by stored status (test verifications are not counted).\n");
        out.push_str("# TYPE v2client_verifications gauge\n");
        for (status, n) in by_status {
            let _ = writeln!(out, "v2client_verifications{{status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP v2client_webhook_outbox_depth Webhook events waiting for delivery.\n");
        out.push_str("# TYPE v2client_webhook_outbox_depth gauge\n");
        let _ = writeln!(out, "v2client_webhook_outbox_depth {outbox}");
        if let Some(b) = decode {
            out.push_str(
                "# HELP v2client_decode_memory_bytes Decoded-image memory budget: capacity, reserved now, most ever reserved.\n",
            );
            out.push_str("# TYPE v2client_decode_memory_bytes gauge\n");
            for (kind, n) in [
                ("capacity", b.capacity()),
                ("reserved", b.in_use()),
                ("peak", b.peak()),
            ] {
                let _ = writeln!(out, "v2client_decode_memory_bytes{{kind=\"{kind}\"}} {n}");
            }
        }
        out
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    summary = "Prometheus metrics (requires V2CLIENT_METRICS_TOKEN; 404 when none is set)",
    tag = "operations",
    security(("MetricsToken" = [])),
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "Missing or wrong token", content_type = "text/plain", body = String),
        (status = 404, description = "Metrics are not enabled: a page", content_type = "text/html", body = String),
        (status = 500, response = crate::openapi::ErrorResponse),
        (status = 503, response = crate::openapi::ErrorResponse),
    ),
)]
pub async fn handler(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.settings.metrics_token.as_deref() else {
        return crate::web::not_found(axum::http::Uri::from_static("/metrics")).await;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        presented.as_bytes(),
        token.as_bytes(),
    )) {
        return (StatusCode::UNAUTHORIZED, "metrics need the bearer token\n").into_response();
    }
    let (by_status, outbox) = match (
        state.store.count_by_status().await,
        state.store.outbox_depth().await,
    ) {
        (Ok(s), Ok(o)) => (s, o),
        (Err(e), _) | (_, Err(e)) => return crate::error::ApiError::from(e).into_response(),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state
            .metrics
            .render(&by_status, outbox, state.backend.decode_budget().as_deref()),
    )
        .into_response()
}
