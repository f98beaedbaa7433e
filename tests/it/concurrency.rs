//! One pipeline run per step at a time: while a step's submission is being checked, a
//! second one of the same step answers `409 INVALID_STEP` at once and runs nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::http::StatusCode;
use bytes::Bytes;
use tokio::sync::Semaphore;
use v2client::backend::{
    BackendError, Decision, DecisionInput, DocumentResult, LivenessResult, Side,
    VerificationBackend,
};
use v2client::domain::{DocumentType, Module};
use v2client::faces::{Challenge, FaceMatch, Thresholds};

use crate::backend::id_card_with;
use crate::common::{Db, Reply, TestApp};
use crate::faces::{astronaut, zoom_in};
use crate::portal::{clean_card, jpeg, state, submit_burst, submit_document, to_document_front};

both_stores!(a_step_being_checked_is_not_checked_twice);

/// The real backend, but each document or liveness check waits for a permit from `gate`
/// after saying it started.
struct Gated {
    inner: Arc<dyn VerificationBackend>,
    gate: Arc<Semaphore>,
    started: Arc<Semaphore>,
    runs: AtomicUsize,
}

impl Gated {
    async fn wait(&self) {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.started.add_permits(1);
        self.gate.acquire().await.expect("gate open").forget();
    }
}

#[async_trait]
impl VerificationBackend for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }

    async fn check_document(
        &self,
        document_type: DocumentType,
        side: Side,
        image: Bytes,
    ) -> Result<DocumentResult, BackendError> {
        self.wait().await;
        self.inner.check_document(document_type, side, image).await
    }

    async fn check_liveness(
        &self,
        challenge: Challenge,
        frames: Vec<Bytes>,
    ) -> Result<LivenessResult, BackendError> {
        self.wait().await;
        self.inner.check_liveness(challenge, frames).await
    }

    async fn compare_faces(
        &self,
        selfie: Bytes,
        document: Bytes,
        thresholds: Thresholds,
    ) -> Result<FaceMatch, BackendError> {
        self.inner.compare_faces(selfie, document, thresholds).await
    }

    async fn decide(&self, input: DecisionInput) -> Result<Decision, BackendError> {
        self.inner.decide(input).await
    }
}

/// The answer of `request`, which must not wait for the gated first submission.
async fn at_once(request: impl std::future::Future<Output = Reply>) -> Reply {
    tokio::time::timeout(std::time::Duration::from_secs(30), request)
        .await
        .expect("the second submission waited for the first instead of being refused")
}

/// The real backend, but a document check that never ends.
pub(crate) struct Stuck(pub Arc<dyn VerificationBackend>);

#[async_trait]
impl VerificationBackend for Stuck {
    fn name(&self) -> &'static str {
        "stuck"
    }

    async fn check_document(
        &self,
        _: DocumentType,
        _: Side,
        _: Bytes,
    ) -> Result<DocumentResult, BackendError> {
        std::future::pending().await
    }

    async fn check_liveness(
        &self,
        challenge: Challenge,
        frames: Vec<Bytes>,
    ) -> Result<LivenessResult, BackendError> {
        self.0.check_liveness(challenge, frames).await
    }

    async fn compare_faces(
        &self,
        selfie: Bytes,
        document: Bytes,
        thresholds: Thresholds,
    ) -> Result<FaceMatch, BackendError> {
        self.0.compare_faces(selfie, document, thresholds).await
    }

    async fn decide(&self, input: DecisionInput) -> Result<Decision, BackendError> {
        self.0.decide(input).await
    }
}

async fn a_step_being_checked_is_not_checked_twice(db: Db) {
    let Some(mut app) = TestApp::new(db).await else {
        return;
    };
    let gated = Arc::new(Gated {
        inner: app.state.backend.clone(),
        gate: Arc::new(Semaphore::new(0)),
        started: Arc::new(Semaphore::new(0)),
        runs: AtomicUsize::new(0),
    });
    app.state = app.state.with_backend(gated.clone());
    app.router = v2client::app(app.state.clone());
    let app = Arc::new(app);
    let id = app.new_verification(None).await;
    to_document_front(&app, &id).await;

    // The first upload enters the pipeline and waits there.
    let first = {
        let (app, id) = (app.clone(), id.clone());
        tokio::spawn(async move {
            let front = jpeg(&id_card_with(&astronaut()));
            submit_document(&app, &id, "front", &front).await
        })
    };
    gated.started.acquire().await.unwrap().forget();
    // A second upload of the same step is refused at once, without running the checks.
    let second = at_once(submit_document(&app, &id, "front", &clean_card(6))).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.error_code(), "INVALID_STEP");
    assert!(
        second.json()["details"]
            .as_str()
            .unwrap()
            .contains("already being processed")
    );
    assert_eq!(gated.runs.load(Ordering::SeqCst), 1);
    // The first one finishes normally.
    gated.gate.add_permits(1);
    let first: Reply = first.await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json()["status"], "accepted", "{}", first.json());
    assert_eq!(app.state.in_flight.len(), 0, "the claim is released");
    assert_eq!(state(&app, &id).await["current_step"], "document_back");
    // Another submission of the same step now sees it done: refused, nothing run.
    let late = submit_document(&app, &id, "front", &clean_card(7)).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(gated.runs.load(Ordering::SeqCst), 1);

    // The same for a liveness burst.
    let (id, _key) = app.verification_with_flow(vec![Module::Liveness]).await;
    let challenge = state(&app, &id).await["liveness_challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = {
        let (app, id, challenge) = (app.clone(), id.clone(), challenge.clone());
        tokio::spawn(async move { submit_burst(&app, &id, &challenge, zoom_in()).await })
    };
    gated.started.acquire().await.unwrap().forget();
    let second = at_once(submit_burst(&app, &id, &challenge, zoom_in())).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.error_code(), "INVALID_STEP");
    assert_eq!(gated.runs.load(Ordering::SeqCst), 2);
    gated.gate.add_permits(1);
    let first = first.await.unwrap();
    assert_eq!(first.json()["status"], "accepted", "{}", first.json());
    let s = state(&app, &id).await;
    assert_eq!(s["attempts_left"]["liveness"], 5);
    assert_eq!(s["current_step"], "done");
}
