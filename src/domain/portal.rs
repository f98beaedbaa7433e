//! The end-user flow as pure functions: which step comes next, what a submission may do,
//! and how the verification changes when a step is accepted or fails for good.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Attempt, AttemptOutcome, DocumentType, Module, ProgressState, Status, Verification};

/// What the portal remembers beyond the status: stored with the verification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_accepted_at: Option<DateTime<Utc>>,
    /// Chosen with the first document photo; fixes which sides are needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<DocumentType>,
    /// The liveness challenge the server picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_challenge: Option<crate::faces::Challenge>,
}

/// One submission point of the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = Step::unknown)]
#[derive(utoipa::ToSchema)]
pub enum Step {
    Terms,
    DocumentFront,
    DocumentBack,
    Liveness,
    FormData,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn module(self) -> Module {
        match self {
            Step::Terms => Module::Terms,
            Step::DocumentFront | Step::DocumentBack => Module::Document,
            Step::Liveness => Module::Liveness,
            Step::FormData => Module::FormData,
        }
    }

    fn unknown(given: &str) -> String {
        format!("unknown step `{given}`")
    }
}

/// The steps of a verification in order. Before a document type is chosen, the back side
/// counts as needed when any allowed type has one.
pub fn steps(v: &Verification, allowed_types: &[DocumentType]) -> Vec<Step> {
    let mut out = Vec::new();
    for m in &v.flow {
        match m {
            Module::Terms => out.push(Step::Terms),
            Module::Document => {
                out.push(Step::DocumentFront);
                let has_back = match v.portal.document_type {
                    Some(t) => t.sides().contains(&"back"),
                    None => allowed_types.iter().any(|t| t.sides().contains(&"back")),
                };
                if has_back {
                    out.push(Step::DocumentBack);
                }
            }
            Module::Liveness => out.push(Step::Liveness),
            Module::FormData => out.push(Step::FormData),
        }
    }
    out
}

/// Where each step stands, from the attempts so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepTally {
    pub accepted: Option<Attempt>,
    pub rejected: u32,
    pub last_rejection: Option<Attempt>,
}

pub fn tally(attempts: &[Attempt]) -> BTreeMap<Step, StepTally> {
    let mut out: BTreeMap<Step, StepTally> = BTreeMap::new();
    for a in attempts {
        let t = out.entry(a.step).or_default();
        match a.outcome {
            AttemptOutcome::Accepted => t.accepted = Some(a.clone()),
            AttemptOutcome::Rejected => {
                t.rejected += 1;
                t.last_rejection = Some(a.clone());
            }
        }
    }
    out
}

/// The first step not yet done (terms count as done once accepted); `None` when every
/// step is done.
pub fn current_step(
    v: &Verification,
    allowed_types: &[DocumentType],
    tallies: &BTreeMap<Step, StepTally>,
) -> Option<Step> {
    steps(v, allowed_types).into_iter().find(|s| match s {
        Step::Terms => v.portal.terms_accepted_at.is_none(),
        other => tallies.get(other).is_none_or(|t| t.accepted.is_none()),
    })
}

/// `status.progress` from the tallies: a module is in progress once any of its steps was
/// tried, completed when all are accepted, failed when one ran out of attempts.
pub fn progress(
    v: &Verification,
    allowed_types: &[DocumentType],
    tallies: &BTreeMap<Step, StepTally>,
) -> super::Progress {
    let all = steps(v, allowed_types);
    let mut out = super::Progress::new();
    for m in v.flow.iter().filter(|m| **m != Module::Terms) {
        let mine: Vec<Step> = all.iter().copied().filter(|s| s.module() == *m).collect();
        let get = |s: &Step| tallies.get(s);
        let state = if mine.iter().any(|s| {
            get(s).is_some_and(|t| t.accepted.is_none() && t.rejected >= v.modules.max_attempts(*s))
        }) {
            ProgressState::Failed
        } else if mine
            .iter()
            .all(|s| get(s).is_some_and(|t| t.accepted.is_some()))
        {
            ProgressState::Completed
        } else if mine.iter().any(|s| get(s).is_some()) {
            ProgressState::InProgress
        } else {
            ProgressState::Pending
        };
        out.insert(*m, state);
    }
    out
}

/// Why a submission cannot be taken now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Expired,
    /// The operator erased it: nothing more can be submitted.
    Erased,
    /// Out of order, already done, or the verification is past the user's part.
    InvalidStep(String),
}

/// May the user submit `step` now?
pub fn check_submission(
    v: &Verification,
    step: Step,
    current: Option<Step>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if v.results.is_erased() {
        return Err(Refusal::Erased);
    }
    let (status, _) = v.effective_status(now);
    if status == Status::Expired {
        return Err(Refusal::Expired);
    }
    if !matches!(status, Status::Created | Status::InProgress) {
        return Err(Refusal::InvalidStep(format!(
            "this verification is {}; nothing more can be submitted",
            status.as_str()
        )));
    }
    match current {
        Some(c) if c == step => Ok(()),
        Some(c) => Err(Refusal::InvalidStep(format!(
            "the next step is {}, not {}",
            c.as_str(),
            step.as_str()
        ))),
        None => Err(Refusal::InvalidStep("every step is already done".into())),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::VerificationId;
    use crate::domain::verification::{initial_progress, now};
    use serde_json::json;

    fn verification(flow: &[Module]) -> Verification {
        let t = now();
        Verification {
            id: VerificationId::generate(),
            key_id: "key_1".into(),
            status: Status::InProgress,
            flow: flow.to_vec(),
            modules: Default::default(),
            progress: initial_progress(flow),
            results: Default::default(),
            extra_data: None,
            return_url: None,
            test: false,
            portal: PortalState::default(),
            version: 0,
            created_at: t,
            updated_at: t,
            expires_at: t + chrono::Duration::hours(1),
        }
    }

    /// An attempt with nothing measured, for tests.
    pub(crate) fn attempt(step: Step, outcome: AttemptOutcome) -> Attempt {
        Attempt {
            id: format!("att_{}", step.as_str()),
            verification_id: VerificationId::generate(),
            step,
            outcome,
            reasons: vec![],
            metrics: crate::domain::AttemptMetrics::Other(json!({})),
            images: Default::default(),
            content_hash: None,
            created_at: now(),
        }
    }

    #[test]
    fn passports_have_no_back_side() {
        let mut v = verification(&Module::ALL);
        assert_eq!(
            steps(&v, &DocumentType::ALL),
            vec![
                Step::Terms,
                Step::DocumentFront,
                Step::DocumentBack,
                Step::Liveness,
                Step::FormData
            ]
        );
        assert_eq!(
            steps(&v, &[DocumentType::Passport]),
            vec![
                Step::Terms,
                Step::DocumentFront,
                Step::Liveness,
                Step::FormData
            ]
        );
        v.portal.document_type = Some(DocumentType::Passport);
        assert!(!steps(&v, &DocumentType::ALL).contains(&Step::DocumentBack));
    }

    #[test]
    fn the_current_step_walks_the_flow() {
        let mut v = verification(&Module::ALL);
        let none = BTreeMap::new();
        assert_eq!(
            current_step(&v, &DocumentType::ALL, &none),
            Some(Step::Terms)
        );
        v.portal.terms_accepted_at = Some(now());
        assert_eq!(
            current_step(&v, &DocumentType::ALL, &none),
            Some(Step::DocumentFront)
        );
        let t = tally(&[
            attempt(Step::DocumentFront, AttemptOutcome::Rejected),
            attempt(Step::DocumentFront, AttemptOutcome::Accepted),
        ]);
        v.portal.document_type = Some(DocumentType::IdCard);
        assert_eq!(
            current_step(&v, &DocumentType::ALL, &t),
            Some(Step::DocumentBack)
        );
        let p = progress(&v, &DocumentType::ALL, &t);
        assert_eq!(p[&Module::Document], ProgressState::InProgress);
        assert_eq!(p[&Module::Liveness], ProgressState::Pending);
    }

    #[test]
    fn running_out_of_attempts_fails_the_module() {
        let allowing = |max_attempts| {
            let mut v = verification(&[Module::Liveness]);
            v.modules = crate::domain::Modules::of(&crate::domain::KeySettings {
                flow: vec![Module::Liveness],
                max_attempts,
                ..Default::default()
            });
            v
        };
        let t = tally(&[
            attempt(Step::Liveness, AttemptOutcome::Rejected),
            attempt(Step::Liveness, AttemptOutcome::Rejected),
        ]);
        assert_eq!(
            progress(&allowing(2), &[], &t)[&Module::Liveness],
            ProgressState::Failed
        );
        assert_eq!(
            progress(&allowing(3), &[], &t)[&Module::Liveness],
            ProgressState::InProgress
        );
    }

    #[test]
    fn submissions_are_checked_for_order_and_state() {
        let mut v = verification(&Module::ALL);
        let t = now();
        assert!(check_submission(&v, Step::Terms, Some(Step::Terms), t).is_ok());
        assert!(matches!(
            check_submission(&v, Step::Liveness, Some(Step::Terms), t),
            Err(Refusal::InvalidStep(_))
        ));
        v.status = Status::Processing;
        assert!(matches!(
            check_submission(&v, Step::Terms, Some(Step::Terms), t),
            Err(Refusal::InvalidStep(_))
        ));
        v.status = Status::InProgress;
        assert_eq!(
            check_submission(&v, Step::Terms, Some(Step::Terms), v.expires_at),
            Err(Refusal::Expired)
        );
    }
}
