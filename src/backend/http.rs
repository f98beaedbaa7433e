//! The HTTP backend: the same trait, spoken to a `v2client engine` (protocol in
//! [`super::engine`]). Every call is a pure function of its inputs, so failed connections,
//! timeouts and 502/503/504 answers are retried a bounded number of times.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use serde::de::DeserializeOwned;
use url::Url;

use super::{
    BackendError, Decision, DecisionInput, DocumentResult, LivenessResult, Side,
    VerificationBackend,
};
use crate::domain::DocumentType;
use crate::faces::{Challenge, FaceMatch, Thresholds};

/// Attempts per call, the first included.
const ATTEMPTS: u32 = 3;

pub struct HttpBackend {
    base: Option<Url>,
    token: Option<String>,
    client: reqwest::Client,
}

impl HttpBackend {
    /// `base`: the engine's base URL (`None`: not configured, every call fails with
    /// `SERVER_NOT_CONFIGURED`). `timeout` bounds each request.
    pub fn new(base: Option<Url>, token: Option<String>, timeout: Duration) -> Self {
        crate::install_tls_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3).min(timeout))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with these settings always builds");
        HttpBackend {
            base,
            token,
            client,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: impl Fn() -> Body,
    ) -> Result<T, BackendError> {
        let base = self.base.as_ref().ok_or_else(not_configured)?;
        let url = base
            .join(path)
            .map_err(|e| BackendError::Internal(format!("bad engine URL: {e}")))?;
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * 3u64.pow(attempt - 1))).await;
            }
            let mut req = self.client.post(url.clone());
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            req = match body() {
                Body::Form(form) => req.multipart(form),
                Body::Json(value) => req.json(&value),
            };
            let res = match req.send().await {
                Ok(res) => res,
                Err(e) => {
                    last = format!("{e}");
                    tracing::warn!(attempt, error = %e, "engine request failed");
                    continue;
                }
            };
            let status = res.status();
            if matches!(status.as_u16(), 502..=504) {
                last = format!("engine answered {status}");
                tracing::warn!(attempt, %status, "engine unavailable");
                continue;
            }
            let bytes = res
                .bytes()
                .await
                .map_err(|e| BackendError::Unavailable(format!("reading the answer: {e}")))?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| {
                    BackendError::Internal(format!("engine answer is not understood: {e}"))
                });
            }
            return Err(engine_error(status, &bytes));
        }
        Err(BackendError::Unavailable(last))
    }
}

enum Body {
    Form(Form),
    Json(serde_json::Value),
}

fn not_configured() -> BackendError {
    BackendError::NotConfigured(
        "V2CLIENT_BACKEND is `http` but V2CLIENT_BACKEND_URL is not set".into(),
    )
}

fn file(name: &str, bytes: &Bytes) -> Part {
    Part::stream(reqwest::Body::from(bytes.clone())).file_name(name.to_owned())
}

/// Turn an engine error answer back into the error the engine raised.
fn engine_error(status: reqwest::StatusCode, body: &[u8]) -> BackendError {
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let code = parsed["code"].as_str().unwrap_or("").to_owned();
    let details = parsed["details"]
        .as_str()
        .unwrap_or("no details")
        .to_owned();
    match status.as_u16() {
        422 => BackendError::InvalidImage {
            code,
            message: details,
        },
        400 | 413 => BackendError::InvalidRequest(details),
        401 => BackendError::NotConfigured(
            "the engine refused this instance's V2CLIENT_ENGINE_TOKEN".into(),
        ),
        _ => BackendError::Internal(format!("engine answered {status}: {code} {details}")),
    }
}

#[async_trait]
impl VerificationBackend for HttpBackend {
    fn name(&self) -> &'static str {
        "http"
    }

    fn configuration_problem(&self) -> Option<String> {
        self.base.is_none().then(|| not_configured().to_string())
    }

    async fn check_document(
        &self,
        document_type: DocumentType,
        side: Side,
        image: Bytes,
    ) -> Result<DocumentResult, BackendError> {
        self.call("v1/document", || {
            Body::Form(
                Form::new()
                    .text("document_type", document_type.as_str())
                    .text("side", side.as_str())
                    .part("image", file("image", &image)),
            )
        })
        .await
    }

    async fn check_liveness(
        &self,
        challenge: Challenge,
        frames: Vec<Bytes>,
    ) -> Result<LivenessResult, BackendError> {
        self.call("v1/liveness", || {
            let mut form = Form::new().text("challenge", challenge.as_str());
            for (i, f) in frames.iter().enumerate() {
                form = form.part("frames", file(&format!("frame{i}"), f));
            }
            Body::Form(form)
        })
        .await
    }

    async fn compare_faces(
        &self,
        selfie: Bytes,
        document: Bytes,
        thresholds: Thresholds,
    ) -> Result<FaceMatch, BackendError> {
        self.call("v1/face-match", || {
            Body::Form(
                Form::new()
                    .text("match_threshold", thresholds.matched.to_string())
                    .text("no_match_threshold", thresholds.no_match.to_string())
                    .part("selfie", file("selfie", &selfie))
                    .part("document", file("document", &document)),
            )
        })
        .await
    }

    async fn decide(&self, input: DecisionInput) -> Result<Decision, BackendError> {
        let value = serde_json::to_value(&input)
            .map_err(|e| BackendError::Internal(format!("decision input: {e}")))?;
        self.call("v1/decide", || Body::Json(value.clone())).await
    }
}
