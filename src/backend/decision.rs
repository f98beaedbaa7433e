//! Deciding a whole verification from its steps: a pure function, shared by every backend.

use serde::{Deserialize, Serialize};

use super::Verdict;
use crate::domain::reasons::Reason;
use crate::domain::{Status, Step};
use crate::faces::{FaceMatch, FaceMatchReason, LIVENESS_SPOOF_SUSPECTED, MatchDecision};

/// The final outcome of one step: its accepted attempt, or its last rejection once the
/// attempts ran out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    pub step: Step,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    /// Checks that passed close to their threshold.
    #[serde(default)]
    pub borderline: Vec<String>,
    /// Findings on an accepted step that need a person's look, as stable codes (for
    /// example `LIVENESS_SPOOF_SUSPECTED`).
    #[serde(default)]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionInput {
    /// Every step the key's flow requires.
    pub required: Vec<Step>,
    pub steps: Vec<StepOutcome>,
    /// The face comparison, when the flow has both a document and a selfie.
    pub face_match: Option<FaceMatch>,
    /// The flow has a document and a selfie, so a missing comparison is a reason.
    #[serde(default)]
    pub face_match_required: bool,
    /// The key's strict liveness mode: a suspected spoof rejects instead of asking for
    /// review.
    #[serde(default)]
    pub strict_liveness: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// `verified`, `needs_manual_review` or `rejected`.
    pub status: Status,
    /// Machine-readable reasons: empty when verified.
    pub reasons: Vec<Reason>,
}

/// `rejected` on a hard failure (a failed step, a face mismatch, a suspected spoof in
/// strict mode); `needs_manual_review` when something required was not judged (a missing
/// step, a face match not performed or uncertain) or passed only narrowly or with a flag;
/// otherwise `verified`. Nothing reaches `verified` by omission.
pub fn decide(input: &DecisionInput) -> Decision {
    let mut hard = Vec::new();
    let mut review = Vec::new();
    for step in &input.steps {
        match step.verdict {
            Verdict::Rejected => {
                hard.push(Reason::StepFailed(step.step));
                hard.extend(
                    step.reasons
                        .iter()
                        .map(|code| Reason::StepRejected(step.step, code.clone())),
                );
            }
            Verdict::Accepted => {
                review.extend(
                    step.borderline
                        .iter()
                        .map(|code| Reason::Borderline(step.step, code.clone())),
                );
                for flag in &step.flags {
                    if input.strict_liveness && flag == LIVENESS_SPOOF_SUSPECTED {
                        hard.push(Reason::Flag(flag.clone()));
                    } else {
                        review.push(Reason::Flag(flag.clone()));
                    }
                }
            }
        }
    }
    for required in &input.required {
        if !input.steps.iter().any(|s| s.step == *required) {
            review.push(Reason::StepNotJudged(*required));
        }
    }
    match &input.face_match {
        Some(FaceMatch::Performed { decision, .. }) => match decision {
            MatchDecision::Match => {}
            MatchDecision::Uncertain => review.push(Reason::FaceMatchUncertain),
            MatchDecision::NoMatch => hard.push(Reason::FaceMismatch),
        },
        Some(FaceMatch::NotPerformed { reason }) => {
            review.push(Reason::FaceMatchNotPerformed);
            review.push(Reason::FaceMatch(*reason));
        }
        None if input.face_match_required => {
            review.push(Reason::FaceMatchNotPerformed);
            review.push(Reason::FaceMatch(FaceMatchReason::ImageMissing));
        }
        None => {}
    }
    if !hard.is_empty() {
        Decision {
            status: Status::Rejected,
            reasons: hard,
        }
    } else if !review.is_empty() {
        Decision {
            status: Status::NeedsManualReview,
            reasons: review,
        }
    } else {
        Decision {
            status: Status::Verified,
            reasons: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::{ModelInfo, Thresholds};

    fn step(name: &str, verdict: Verdict, reasons: &[&str], borderline: &[&str]) -> StepOutcome {
        StepOutcome {
            step: name.parse().unwrap(),
            verdict,
            reasons: reasons.iter().map(|s| s.to_string()).collect(),
            borderline: borderline.iter().map(|s| s.to_string()).collect(),
            flags: Vec::new(),
        }
    }

    fn input(steps: Vec<StepOutcome>, face_match: Option<FaceMatch>) -> DecisionInput {
        DecisionInput {
            required: vec![Step::DocumentFront, Step::Liveness],
            steps,
            face_match,
            face_match_required: false,
            strict_liveness: false,
        }
    }

    fn performed(similarity: f64) -> FaceMatch {
        let thresholds = Thresholds::default();
        FaceMatch::Performed {
            similarity,
            decision: thresholds.decide(similarity),
            thresholds,
            model: ModelInfo {
                name: "test".into(),
                version: "0".into(),
                source: "test".into(),
                sha256: Default::default(),
            },
        }
    }

    fn both_accepted() -> Vec<StepOutcome> {
        vec![
            step("document_front", Verdict::Accepted, &[], &[]),
            step("liveness", Verdict::Accepted, &[], &[]),
        ]
    }

    #[test]
    fn uncertain_faces_need_review() {
        let d = decide(&input(both_accepted(), Some(performed(0.3))));
        assert_eq!(d.status, Status::NeedsManualReview);
        assert_eq!(d.reasons, vec!["FACE_MATCH_UNCERTAIN"]);
    }

    #[test]
    fn a_required_comparison_that_is_missing_fails_closed() {
        let mut i = input(both_accepted(), None);
        i.face_match_required = true;
        let d = decide(&i);
        assert_eq!(d.status, Status::NeedsManualReview);
        assert_eq!(
            d.reasons,
            vec!["FACE_MATCH_NOT_PERFORMED", "FACE_IMAGE_MISSING"]
        );
    }

    #[test]
    fn a_suspected_spoof_needs_review_or_rejects_in_strict_mode() {
        let mut steps = both_accepted();
        steps[1].flags = vec![LIVENESS_SPOOF_SUSPECTED.into()];
        let mut i = input(steps, Some(performed(0.9)));
        let d = decide(&i);
        assert_eq!(d.status, Status::NeedsManualReview);
        assert_eq!(d.reasons, vec![LIVENESS_SPOOF_SUSPECTED]);
        i.strict_liveness = true;
        let d = decide(&i);
        assert_eq!(d.status, Status::Rejected);
        assert_eq!(d.reasons, vec![LIVENESS_SPOOF_SUSPECTED]);
    }

    #[test]
    fn everything_passed_and_matched_is_verified() {
        let d = decide(&input(
            vec![
                step("document_front", Verdict::Accepted, &[], &[]),
                step("liveness", Verdict::Accepted, &[], &[]),
            ],
            Some(performed(0.9)),
        ));
        assert_eq!(d.status, Status::Verified);
        assert!(d.reasons.is_empty());
    }

    #[test]
    fn face_match_not_performed_needs_review_never_a_pass() {
        let d = decide(&input(
            vec![
                step("document_front", Verdict::Accepted, &[], &[]),
                step("liveness", Verdict::Accepted, &[], &[]),
            ],
            Some(FaceMatch::NotPerformed {
                reason: FaceMatchReason::ModelUnavailable,
            }),
        ));
        assert_eq!(d.status, Status::NeedsManualReview);
        assert!(
            d.reasons
                .iter()
                .any(|r| *r == "FACE_MATCH_MODEL_UNAVAILABLE")
        );
    }

    #[test]
    fn a_failed_step_or_mismatch_rejects() {
        let d = decide(&input(
            vec![
                step("document_front", Verdict::Rejected, &["IMAGE_BLURRY"], &[]),
                step("liveness", Verdict::Accepted, &[], &[]),
            ],
            None,
        ));
        assert_eq!(d.status, Status::Rejected);
        assert!(
            d.reasons
                .iter()
                .any(|r| *r == "document_front:IMAGE_BLURRY")
        );
        let d = decide(&input(
            vec![
                step("document_front", Verdict::Accepted, &[], &[]),
                step("liveness", Verdict::Accepted, &[], &[]),
            ],
            Some(performed(0.1)),
        ));
        assert_eq!(d.status, Status::Rejected);
        assert_eq!(d.reasons, vec!["FACE_MISMATCH"]);
    }

    #[test]
    fn borderline_or_missing_steps_need_review() {
        let d = decide(&input(
            vec![
                step("document_front", Verdict::Accepted, &[], &["IMAGE_BLURRY"]),
                step("liveness", Verdict::Accepted, &[], &[]),
            ],
            None,
        ));
        assert_eq!(d.status, Status::NeedsManualReview);
        assert_eq!(d.reasons, vec!["BORDERLINE:document_front:IMAGE_BLURRY"]);
        let d = decide(&input(
            vec![step("document_front", Verdict::Accepted, &[], &[])],
            None,
        ));
        assert_eq!(d.status, Status::NeedsManualReview);
        assert_eq!(d.reasons, vec!["STEP_NOT_JUDGED:liveness"]);
    }
}
