//! Deciding a whole verification from its steps: a pure function, shared by every backend.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Verdict;
use crate::domain::mrz::Mrz;
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
    /// The document's machine-readable zone (`results.document.mrz`), when one was read.
    /// Its rules apply only when every check digit agreed.
    #[serde(default)]
    pub mrz: Option<Mrz>,
    /// The form's accepted values by field name, cross-checked against the zone.
    #[serde(default)]
    pub form_data: BTreeMap<String, String>,
    /// The key's minimum age in years, if it has one.
    #[serde(default)]
    pub min_age: Option<u32>,
    /// The day expiry and age are judged on (UTC): given by the caller, so deciding
    /// stays a pure function; today when a request leaves it out.
    #[serde(default = "today")]
    pub today: NaiveDate,
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// `verified`, `needs_manual_review` or `rejected`.
    pub status: Status,
    /// Machine-readable reasons: empty when verified.
    pub reasons: Vec<Reason>,
}

/// `rejected` on a hard failure (a failed step, a face mismatch, a suspected spoof in
/// strict mode, an expired document, an underage holder); `needs_manual_review` when
/// something required was not judged (a missing step, a face match not performed or
/// uncertain, an age that could not be read) or passed only narrowly or with a flag (a
/// zone missing or failing its checks), or when the form disagrees with the zone;
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
    document_rules(input, &mut hard, &mut review);
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

/// What the document's zone says against the key's rules and the form. A zone whose
/// check digits disagree says nothing here: its `MRZ_CHECK_FAILED` flag already sends the
/// verification to a person, and dates or names read from it cannot be trusted.
fn document_rules(input: &DecisionInput, hard: &mut Vec<Reason>, review: &mut Vec<Reason>) {
    let Some(zone) = input.mrz.as_ref().filter(|m| m.valid) else {
        if input.min_age.is_some() {
            review.push(Reason::AgeNotVerified);
        }
        return;
    };
    if zone.expired_on(input.today) {
        hard.push(Reason::DocumentExpired);
    }
    if let Some(min_age) = input.min_age {
        match zone.age_on(input.today) {
            Some(age) if age < min_age => hard.push(Reason::Underage),
            Some(_) => {}
            None => review.push(Reason::AgeNotVerified),
        }
    }
    review.extend(
        zone.mismatches(&input.form_data)
            .into_iter()
            .map(Reason::DataMismatch),
    );
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
            mrz: None,
            form_data: BTreeMap::new(),
            min_age: None,
            today: "2026-11-28".parse().unwrap(),
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

    /// The zone's rules, as a table: (zone, its checks valid, form values, min_age,
    /// flags on the document step, status, reasons). The day is 2026-11-28; the holder
    /// is ERIKSSON / ANNA MARIA, born 1974-08-12 (52).
    #[test]
    fn the_zones_rules_decide_as_the_policy_says() {
        use crate::domain::mrz::tests::sample;
        let zone = |born: &str, expires: &str, valid: bool| Mrz {
            date_of_birth: born.parse().ok(),
            date_of_expiry: expires.parse().ok(),
            valid,
            ..sample()
        };
        let good = zone("1974-08-12", "2030-04-15", true);
        let holder: &[(&str, &str)] = &[
            ("first_name", "Anna"),
            ("last_name", "Eriksson"),
            ("date_of_birth", "1974-08-12"),
        ];
        type Row<'a> = (
            Option<Mrz>,
            &'a [(&'a str, &'a str)],
            Option<u32>,
            &'a [&'a str],
            Status,
            &'a [&'a str],
        );
        let table: Vec<Row> = vec![
            (Some(good.clone()), holder, None, &[], Status::Verified, &[]),
            (
                Some(good.clone()),
                holder,
                Some(18),
                &[],
                Status::Verified,
                &[],
            ),
            // Valid through its expiry day; rejected the day after.
            (
                Some(zone("1974-08-12", "2026-11-28", true)),
                holder,
                None,
                &[],
                Status::Verified,
                &[],
            ),
            (
                Some(zone("1974-08-12", "2026-11-27", true)),
                holder,
                None,
                &[],
                Status::Rejected,
                &["DOCUMENT_EXPIRED"],
            ),
            // 18 tomorrow: still underage today.
            (
                Some(zone("2008-11-29", "2030-01-01", true)),
                &[],
                Some(18),
                &[],
                Status::Rejected,
                &["UNDERAGE"],
            ),
            (
                Some(zone("2008-11-28", "2030-01-01", true)),
                &[],
                Some(18),
                &[],
                Status::Verified,
                &[],
            ),
            // Rejections outrank the review a mismatch asks for.
            (
                Some(zone("2010-01-01", "2020-01-01", true)),
                &[("first_name", "Ada")],
                Some(18),
                &[],
                Status::Rejected,
                &["DOCUMENT_EXPIRED", "UNDERAGE"],
            ),
            (
                Some(good.clone()),
                &[
                    ("first_name", "Ada"),
                    ("last_name", "Eriksson"),
                    ("date_of_birth", "1985-12-10"),
                ],
                None,
                &[],
                Status::NeedsManualReview,
                &["DATA_MISMATCH:first_name", "DATA_MISMATCH:date_of_birth"],
            ),
            (
                Some(good.clone()),
                &[("first_name", "anna-maria"), ("last_name", " ERIKSSON ")],
                None,
                &[],
                Status::Verified,
                &[],
            ),
            // A zone that failed its checks is never verified and judges nothing else:
            // not its expiry, not the holder's age, not the form.
            (
                Some(zone("2010-01-01", "2020-01-01", false)),
                &[("first_name", "Ada")],
                None,
                &["MRZ_CHECK_FAILED"],
                Status::NeedsManualReview,
                &["MRZ_CHECK_FAILED"],
            ),
            (
                Some(zone("2010-01-01", "2020-01-01", false)),
                &[],
                Some(18),
                &["MRZ_CHECK_FAILED"],
                Status::NeedsManualReview,
                &["MRZ_CHECK_FAILED", "AGE_NOT_VERIFIED"],
            ),
            // No zone after the last attempt: a person looks.
            (
                None,
                holder,
                None,
                &["MRZ_NOT_FOUND"],
                Status::NeedsManualReview,
                &["MRZ_NOT_FOUND"],
            ),
            (
                None,
                holder,
                None,
                &["MRZ_UNREADABLE"],
                Status::NeedsManualReview,
                &["MRZ_UNREADABLE"],
            ),
            // No zone at all (a driving licence): nothing to cross-check, but a minimum
            // age cannot be confirmed.
            (None, holder, None, &[], Status::Verified, &[]),
            (
                None,
                holder,
                Some(18),
                &[],
                Status::NeedsManualReview,
                &["AGE_NOT_VERIFIED"],
            ),
            // A zone without a date of birth cannot confirm one either.
            (
                Some(zone("unknown", "2030-01-01", true)),
                &[("date_of_birth", "1974-08-12")],
                Some(18),
                &[],
                Status::NeedsManualReview,
                &["AGE_NOT_VERIFIED"],
            ),
        ];
        for (n, (mrz, form, min_age, flags, status, reasons)) in table.into_iter().enumerate() {
            let mut steps = both_accepted();
            steps[0].flags = flags.iter().map(|f| f.to_string()).collect();
            let mut i = input(steps, Some(performed(0.9)));
            i.mrz = mrz;
            i.form_data = form
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            i.min_age = min_age;
            let d = decide(&i);
            assert_eq!(d.status, status, "row {n}: {:?}", d.reasons);
            let got: Vec<String> = d.reasons.iter().map(ToString::to_string).collect();
            assert_eq!(got, reasons, "row {n}");
        }
    }

    #[test]
    fn an_input_without_the_zones_fields_still_reads() {
        let old = serde_json::json!({
            "required": ["document_front"],
            "steps": [{"step": "document_front", "verdict": "accepted", "reasons": []}],
            "face_match": null,
        });
        let i: DecisionInput = serde_json::from_value(old).unwrap();
        assert!(i.mrz.is_none() && i.min_age.is_none());
        assert!(i.form_data.is_empty());
        assert_eq!(i.today, chrono::Utc::now().date_naive());
        assert_eq!(decide(&i).status, Status::Verified);
    }
}
