//! How a verification moves: one pure function, [`apply`], takes a verification and a
//! [`Change`] and returns the verification as it becomes and the events to send, or
//! refuses a change its status does not allow ([`Status::can_become`]). Every writer — the
//! portal's steps, the decision, the upkeep, operators — goes through it; the workflow
//! layer (`crate::workflow`) only runs the backend and the stores around it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mrz::Mrz;
use super::portal::{self, Step};
use super::reasons::Reason;
use super::results::{
    DecidedBy, DecisionRecord, DocumentMetrics, DocumentResults, LivenessMetrics, LivenessResults,
    OperatorReview, Recorded, SideResult,
};
use super::verification::rfc3339;
use super::{Attempt, AttemptOutcome, DocumentType, Status, Verification};
use crate::faces::{Challenge, FaceMatch};

/// A change to a verification.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The user opened the portal.
    Opened,
    /// A step was judged. The verification's attempts passed to [`apply`] include this
    /// one's (terms make no attempt).
    StepJudged {
        step: Step,
        outcome: AttemptOutcome,
        /// What an accepted step records.
        result: StepResult,
    },
    /// Every step is in and the verification was decided.
    Decided {
        decision: DecisionRecord,
        face_match: Option<FaceMatch>,
    },
    /// Deciding failed past recovery: a person has to look.
    Stalled,
    /// The link ran out before the user finished.
    Expired,
    /// The images and personal data were erased; the decision stays.
    Erased,
    /// An operator decided a verification the policy left for review.
    Reviewed(Review),
}

/// An operator's decision on a verification in `needs_manual_review`.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    /// `verified` or `rejected`.
    pub decision: Status,
    /// Why, in the operator's words (required).
    pub reason: String,
    pub note: Option<String>,
    /// Who decided (a dashboard user's email, a name given to the API or the CLI).
    pub reviewer: String,
}

/// What an accepted step records.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    Terms,
    /// Boxed: by far the largest of the results.
    DocumentSide {
        document_type: DocumentType,
        metrics: Box<DocumentMetrics>,
        borderline: Vec<String>,
        /// The zone's fields, when this side's zone parsed.
        mrz: Option<Box<Mrz>>,
        /// This side must carry the zone (a passport's data page, an identity card's
        /// back): its reading wins over one from another side.
        mrz_required: bool,
    },
    Liveness {
        challenge: Challenge,
        metrics: LivenessMetrics,
    },
    Form(std::collections::BTreeMap<String, String>),
    /// Nothing to record (a rejected step).
    Nothing,
}

/// The webhook events, by the `type` they are delivered with (and stored in the outbox).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(prefix = "verification.", serialize_all = "snake_case")]
pub enum EventType {
    #[serde(rename = "verification.started")]
    Started,
    #[serde(rename = "verification.completed")]
    Completed,
    #[serde(rename = "verification.expired")]
    Expired,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        use strum::VariantArray;
        EventType::VARIANTS
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type `{s}`"))
    }
}

/// An event a change sends: its type and its payload (`data`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_type: EventType,
    pub data: EventData,
}

/// An event's `data`: the verification, its status and the operator's `extra_data`, and
/// for `verification.completed` the decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventData {
    pub verification_id: String,
    pub status: Status,
    pub extra_data: Option<Value>,
    /// Whether this is a test verification (made with a test key).
    #[serde(default)]
    pub test: bool,
    /// Present (possibly `null`) on `verification.completed` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Option<DecisionRecord>>,
}

impl EventData {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `verification.expired` event of a verification whose link ran out: one payload,
/// whichever store or sweeper writes it.
pub fn expired_event(verification_id: &str, extra_data: Option<Value>, test: bool) -> Event {
    Event {
        event_type: EventType::Expired,
        data: EventData {
            verification_id: verification_id.to_owned(),
            status: Status::Expired,
            extra_data,
            test,
            decision: None,
        },
    }
}

/// A verification after a change, and the events the change sends, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub verification: Verification,
    pub events: Vec<Event>,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("a verification that is {from} cannot become {to}")]
    Transition {
        from: &'static str,
        to: &'static str,
    },
    #[error("a verification that is {0} cannot take this change")]
    State(&'static str),
    #[error("the verification's data was erased")]
    Erased,
    #[error("the verification's link has not run out yet")]
    NotDue,
}

/// Apply `change` to `v` at `at`. `attempts` are the verification's attempts (for a
/// judged step, including that step's). Pure: the caller persists the result.
pub fn apply(
    v: &Verification,
    attempts: &[Attempt],
    change: Change,
    at: DateTime<Utc>,
) -> Result<Transition, Refused> {
    let mut next = v.clone();
    match change {
        Change::Opened => {
            if v.status != Status::Created {
                return Err(Refused::State(v.status.as_str()));
            }
            next.status = Status::InProgress;
        }
        Change::StepJudged {
            step,
            outcome,
            result,
        } => {
            if !matches!(v.status, Status::Created | Status::InProgress) {
                return Err(Refused::State(v.status.as_str()));
            }
            if outcome == AttemptOutcome::Accepted {
                record(&mut next, step, result, at)?;
            }
            let types = next.modules.document_types();
            let tallies = portal::tally(attempts);
            next.progress = portal::progress(&next, &types, &tallies);
            next.status = Status::InProgress;
            let rejected = tallies.get(&step).map_or(0, |t| t.rejected);
            let out_of_attempts =
                outcome == AttemptOutcome::Rejected && rejected >= next.modules.max_attempts(step);
            if out_of_attempts {
                // A step that ran out of attempts fails the verification.
                next.status = Status::Rejected;
                set_decision(
                    &mut next,
                    DecisionRecord::automatic(Status::Rejected, vec![Reason::StepFailed(step)]),
                )?;
            } else if portal::current_step(&next, &types, &tallies).is_none() {
                next.status = Status::Processing;
            }
        }
        Change::Decided {
            decision,
            face_match,
        } => {
            if v.status != Status::Processing {
                return Err(Refused::State(v.status.as_str()));
            }
            next.status = decision.status;
            moves(v.status, next.status)?;
            if let Some(compared) = face_match {
                recorded(&mut next)?.face_match = Some(compared);
            }
            set_decision(&mut next, decision)?;
        }
        Change::Stalled => {
            if v.status != Status::Processing {
                return Err(Refused::State(v.status.as_str()));
            }
            next.status = Status::NeedsManualReview;
            set_decision(
                &mut next,
                DecisionRecord::automatic(
                    Status::NeedsManualReview,
                    vec![Reason::ProcessingStalled],
                ),
            )?;
        }
        Change::Expired => {
            if at < v.expires_at {
                return Err(Refused::NotDue);
            }
            next.status = Status::Expired;
            // Expired as of the moment the link ran out.
            next.updated_at = v.expires_at;
            moves(v.status, next.status)?;
            let event = expired_event(v.id.as_str(), v.extra_data.clone(), v.test);
            return Ok(Transition {
                verification: next,
                events: vec![event],
            });
        }
        Change::Reviewed(review) => {
            if v.status != Status::NeedsManualReview {
                return Err(Refused::State(v.status.as_str()));
            }
            next.status = review.decision;
            moves(v.status, next.status)?;
            let automatic = recorded(&mut next)?
                .decision
                .take()
                .unwrap_or_else(|| DecisionRecord::automatic(v.status, Vec::new()));
            let reasons = match review.decision {
                Status::Rejected => vec![Reason::OperatorRejected],
                _ => Vec::new(),
            };
            set_decision(
                &mut next,
                DecisionRecord {
                    status: review.decision,
                    reasons,
                    review: Some(OperatorReview {
                        decided_by: DecidedBy::Operator,
                        reviewer: review.reviewer,
                        reason: review.reason,
                        note: review.note,
                        decided_at: rfc3339(at),
                        automatic_decision: Box::new(automatic),
                    }),
                },
            )?;
        }
        Change::Erased => {
            next.results = v.results.erased(at).ok_or(Refused::Erased)?;
            next.extra_data = None;
            next.return_url = None;
            return Ok(Transition {
                verification: next,
                events: Vec::new(),
            });
        }
    }
    check(v.status, next.status)?;
    next.updated_at = at;
    let events = events(v.status, &next);
    Ok(Transition {
        verification: next,
        events,
    })
}

/// Refuse a status change [`Status::can_become`] forbids; staying put is no change.
fn check(from: Status, to: Status) -> Result<(), Refused> {
    if from == to { Ok(()) } else { moves(from, to) }
}

/// Refuse anything but a move [`Status::can_become`] allows.
fn moves(from: Status, to: Status) -> Result<(), Refused> {
    if from.can_become(to) {
        Ok(())
    } else {
        Err(Refused::Transition {
            from: from.as_str(),
            to: to.as_str(),
        })
    }
}

/// The events of a move from `before` to `next.status`: leaving `created` starts the
/// verification (even when the first submission goes further at once), a decision
/// completes it.
fn events(before: Status, next: &Verification) -> Vec<Event> {
    let event = |event_type, status| Event {
        event_type,
        data: EventData {
            verification_id: next.id.to_string(),
            status,
            extra_data: next.extra_data.clone(),
            test: next.test,
            decision: (event_type == EventType::Completed)
                .then(|| next.results.decision().cloned()),
        },
    };
    let mut out = Vec::new();
    if before == Status::Created && next.status != Status::Created {
        out.push(event(EventType::Started, Status::InProgress));
    }
    if before != next.status
        && matches!(
            next.status,
            Status::Verified | Status::NeedsManualReview | Status::Rejected
        )
    {
        out.push(event(EventType::Completed, next.status));
    }
    out
}

fn recorded(v: &mut Verification) -> Result<&mut Recorded, Refused> {
    v.results.recorded_mut().ok_or(Refused::Erased)
}

fn set_decision(v: &mut Verification, decision: DecisionRecord) -> Result<(), Refused> {
    recorded(v)?.decision = Some(decision);
    Ok(())
}

/// Record what an accepted step brought: its result, and what it fixes for the rest of
/// the flow (the terms' acceptance, the document type).
fn record(
    v: &mut Verification,
    step: Step,
    result: StepResult,
    at: DateTime<Utc>,
) -> Result<(), Refused> {
    match result {
        StepResult::Terms => v.portal.terms_accepted_at = Some(at),
        StepResult::DocumentSide {
            document_type,
            metrics,
            borderline,
            mrz,
            mrz_required,
        } => {
            v.portal.document_type = Some(document_type);
            let document = recorded(v)?
                .document
                .get_or_insert_with(DocumentResults::default);
            document.document_type = Some(document_type);
            // The side that must carry the zone is the one the decision reads; a zone on
            // another side counts only while that one has given none.
            if let Some(read) = mrz
                && (mrz_required || document.mrz.is_none())
            {
                document.mrz = Some(*read);
            }
            let side = SideResult {
                document_type,
                metrics: *metrics,
                borderline,
            };
            if step == Step::DocumentBack {
                document.back = Some(side);
            } else {
                document.front = Some(side);
            }
        }
        StepResult::Liveness { challenge, metrics } => {
            recorded(v)?.liveness = Some(LivenessResults { challenge, metrics });
        }
        StepResult::Form(values) => recorded(v)?.form_data = Some(values),
        StepResult::Nothing => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::{Map, json};

    use super::*;
    use crate::domain::results::Results;
    use crate::domain::verification::initial_progress;
    use crate::domain::{KeySettings, Module, Modules, PortalState, VerificationId};

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    fn verification(status: Status, flow: &[Module]) -> Verification {
        let settings = KeySettings {
            flow: flow.to_vec(),
            max_attempts: 2,
            ..KeySettings::default()
        };
        Verification {
            id: VerificationId::parse("ver_0123456789abcdef0123456789abcdef").unwrap(),
            key_id: "key_1".into(),
            status,
            flow: flow.to_vec(),
            modules: Modules::of(&settings),
            progress: initial_progress(flow),
            results: Results::default(),
            extra_data: Some(json!({"reference_id": "R-1"})),
            return_url: None,
            test: false,
            portal: PortalState::default(),
            version: 3,
            created_at: t0(),
            updated_at: t0(),
            expires_at: t0() + Duration::hours(1),
        }
    }

    fn attempt(step: Step, outcome: AttemptOutcome) -> Attempt {
        Attempt {
            created_at: t0(),
            ..crate::domain::portal::tests::attempt(step, outcome)
        }
    }

    fn decided(status: Status, reasons: &[&str]) -> Change {
        Change::Decided {
            decision: DecisionRecord::automatic(
                status,
                reasons.iter().map(|r| r.parse().unwrap()).collect(),
            ),
            face_match: None,
        }
    }

    fn reviewed(decision: Status) -> Change {
        Change::Reviewed(Review {
            decision,
            reason: "documents checked by hand".into(),
            note: Some("called the holder".into()),
            reviewer: "ada@example.com".into(),
        })
    }

    fn form_judged(outcome: AttemptOutcome) -> Change {
        let result = match outcome {
            AttemptOutcome::Accepted => {
                StepResult::Form([("first_name".to_owned(), "Ada".to_owned())].into())
            }
            AttemptOutcome::Rejected => StepResult::Nothing,
        };
        Change::StepJudged {
            step: Step::FormData,
            outcome,
            result,
        }
    }

    /// Each event as (type, status, decision reasons when it carries a decision).
    fn summary(events: &[Event]) -> Vec<(EventType, Status, Option<Vec<String>>)> {
        events
            .iter()
            .map(|e| {
                let reasons = e.data.decision.clone().map(|d| {
                    d.iter()
                        .flat_map(|d| d.reasons.iter().map(ToString::to_string))
                        .collect()
                });
                (e.event_type, e.data.status, reasons)
            })
            .collect()
    }

    #[test]
    fn changes_move_verifications_and_send_events() {
        use AttemptOutcome as A;
        use EventType::{Completed, Expired as ExpiredEvent, Started};
        use Module::{FormData, Terms};
        use Status::*;
        let after_expiry = t0() + Duration::hours(2);
        let reasons = |r: &[&str]| Some(r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        type Row = (
            Status,
            &'static [Module],
            Vec<Attempt>,
            Change,
            DateTime<Utc>,
            Result<(Status, Vec<(EventType, Status, Option<Vec<String>>)>), Refused>,
        );
        let table: Vec<Row> = vec![
            (
                Created,
                &[Terms, FormData],
                vec![],
                Change::Opened,
                t0(),
                Ok((InProgress, vec![(Started, InProgress, None)])),
            ),
            (
                InProgress,
                &[Terms],
                vec![],
                Change::Opened,
                t0(),
                Err(Refused::State("in_progress")),
            ),
            (
                Expired,
                &[Terms],
                vec![],
                Change::Opened,
                t0(),
                Err(Refused::State("expired")),
            ),
            // Terms leave the flow open; the first step starts the verification.
            (
                Created,
                &[Terms, FormData],
                vec![],
                Change::StepJudged {
                    step: Step::Terms,
                    outcome: A::Accepted,
                    result: StepResult::Terms,
                },
                t0(),
                Ok((InProgress, vec![(Started, InProgress, None)])),
            ),
            // The last step sends the verification to its decision.
            (
                InProgress,
                &[FormData],
                vec![attempt(Step::FormData, A::Accepted)],
                form_judged(A::Accepted),
                t0(),
                Ok((Processing, vec![])),
            ),
            (
                Created,
                &[FormData],
                vec![attempt(Step::FormData, A::Accepted)],
                form_judged(A::Accepted),
                t0(),
                Ok((Processing, vec![(Started, InProgress, None)])),
            ),
            // A rejection with attempts left changes nothing but the progress …
            (
                InProgress,
                &[FormData],
                vec![attempt(Step::FormData, A::Rejected)],
                form_judged(A::Rejected),
                t0(),
                Ok((InProgress, vec![])),
            ),
            // … the last allowed one rejects the verification.
            (
                InProgress,
                &[FormData],
                vec![
                    attempt(Step::FormData, A::Rejected),
                    attempt(Step::FormData, A::Rejected),
                ],
                form_judged(A::Rejected),
                t0(),
                Ok((
                    Rejected,
                    vec![(Completed, Rejected, reasons(&["STEP_FAILED:form_data"]))],
                )),
            ),
            (
                Rejected,
                &[FormData],
                vec![],
                form_judged(A::Accepted),
                t0(),
                Err(Refused::State("rejected")),
            ),
            (
                Processing,
                &[FormData],
                vec![],
                form_judged(A::Accepted),
                t0(),
                Err(Refused::State("processing")),
            ),
            // Decisions.
            (
                Processing,
                &[FormData],
                vec![],
                decided(Verified, &[]),
                t0(),
                Ok((Verified, vec![(Completed, Verified, reasons(&[]))])),
            ),
            (
                Processing,
                &[FormData],
                vec![],
                decided(NeedsManualReview, &["FACE_MATCH_UNCERTAIN"]),
                t0(),
                Ok((
                    NeedsManualReview,
                    vec![(
                        Completed,
                        NeedsManualReview,
                        reasons(&["FACE_MATCH_UNCERTAIN"]),
                    )],
                )),
            ),
            (
                InProgress,
                &[FormData],
                vec![],
                decided(Verified, &[]),
                t0(),
                Err(Refused::State("in_progress")),
            ),
            (
                Verified,
                &[FormData],
                vec![],
                decided(Rejected, &[]),
                t0(),
                Err(Refused::State("verified")),
            ),
            // A decision that cannot be a decision is refused by `can_become`.
            (
                Processing,
                &[FormData],
                vec![],
                decided(InProgress, &[]),
                t0(),
                Err(Refused::Transition {
                    from: "processing",
                    to: "in_progress",
                }),
            ),
            (
                Processing,
                &[FormData],
                vec![],
                Change::Stalled,
                t0(),
                Ok((
                    NeedsManualReview,
                    vec![(
                        Completed,
                        NeedsManualReview,
                        reasons(&["PROCESSING_STALLED"]),
                    )],
                )),
            ),
            (
                Verified,
                &[FormData],
                vec![],
                Change::Stalled,
                t0(),
                Err(Refused::State("verified")),
            ),
            // Expiry.
            (
                Created,
                &[FormData],
                vec![],
                Change::Expired,
                after_expiry,
                Ok((Expired, vec![(ExpiredEvent, Expired, None)])),
            ),
            (
                InProgress,
                &[FormData],
                vec![],
                Change::Expired,
                after_expiry,
                Ok((Expired, vec![(ExpiredEvent, Expired, None)])),
            ),
            (
                Processing,
                &[FormData],
                vec![],
                Change::Expired,
                after_expiry,
                Ok((Expired, vec![(ExpiredEvent, Expired, None)])),
            ),
            (
                InProgress,
                &[FormData],
                vec![],
                Change::Expired,
                t0(),
                Err(Refused::NotDue),
            ),
            (
                Verified,
                &[FormData],
                vec![],
                Change::Expired,
                after_expiry,
                Err(Refused::Transition {
                    from: "verified",
                    to: "expired",
                }),
            ),
            (
                Expired,
                &[FormData],
                vec![],
                Change::Expired,
                after_expiry,
                Err(Refused::Transition {
                    from: "expired",
                    to: "expired",
                }),
            ),
            // An operator's review closes a flagged case, and only a flagged case.
            (
                NeedsManualReview,
                &[FormData],
                vec![],
                reviewed(Verified),
                t0(),
                Ok((Verified, vec![(Completed, Verified, Some(vec![]))])),
            ),
            (
                NeedsManualReview,
                &[FormData],
                vec![],
                reviewed(Rejected),
                t0(),
                Ok((
                    Rejected,
                    vec![(Completed, Rejected, Some(vec!["OPERATOR_REJECTED".into()]))],
                )),
            ),
            (
                NeedsManualReview,
                &[FormData],
                vec![],
                reviewed(Expired),
                t0(),
                Err(Refused::Transition {
                    from: "needs_manual_review",
                    to: "expired",
                }),
            ),
            (
                Verified,
                &[FormData],
                vec![],
                reviewed(Rejected),
                t0(),
                Err(Refused::State("verified")),
            ),
            (
                Processing,
                &[FormData],
                vec![],
                reviewed(Verified),
                t0(),
                Err(Refused::State("processing")),
            ),
            // Erasure keeps the status and sends nothing.
            (
                Verified,
                &[FormData],
                vec![],
                Change::Erased,
                t0(),
                Ok((Verified, vec![])),
            ),
            (
                Expired,
                &[FormData],
                vec![],
                Change::Erased,
                t0(),
                Ok((Expired, vec![])),
            ),
        ];
        for (i, (status, flow, attempts, change, at, expected)) in table.into_iter().enumerate() {
            let v = verification(status, flow);
            let got = apply(&v, &attempts, change.clone(), at)
                .map(|t| (t.verification.status, summary(&t.events)));
            assert_eq!(got, expected, "row {i}: {status:?} + {change:?}");
        }
    }

    #[test]
    fn a_status_moves_only_where_can_become_allows() {
        let statuses = [
            Status::Created,
            Status::InProgress,
            Status::Processing,
            Status::Verified,
            Status::NeedsManualReview,
            Status::Rejected,
            Status::Expired,
        ];
        let late = t0() + Duration::hours(2);
        for from in statuses {
            let mut changes = vec![
                Change::Opened,
                form_judged(AttemptOutcome::Accepted),
                form_judged(AttemptOutcome::Rejected),
                Change::Stalled,
                Change::Expired,
                Change::Erased,
            ];
            changes.extend(statuses.map(|to| decided(to, &[])));
            changes.extend(statuses.map(reviewed));
            for change in changes {
                let v = verification(from, &[Module::FormData]);
                let attempts = [attempt(Step::FormData, AttemptOutcome::Rejected)];
                if let Ok(t) = apply(&v, &attempts, change.clone(), late) {
                    let to = t.verification.status;
                    assert!(
                        to == from || from.can_become(to),
                        "{from:?} + {change:?} -> {to:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_review_keeps_the_automatic_decision_it_replaces() {
        let mut v = verification(Status::NeedsManualReview, &[Module::FormData]);
        let flagged = DecisionRecord::automatic(
            Status::NeedsManualReview,
            vec!["FACE_MATCH_UNCERTAIN".parse().unwrap()],
        );
        v.results.recorded_mut().unwrap().decision = Some(flagged.clone());
        let at = t0() + Duration::minutes(30);
        let t = apply(&v, &[], reviewed(Status::Verified), at).unwrap();
        let decision = t.verification.results.decision().unwrap();
        assert_eq!(decision.status, Status::Verified);
        assert!(decision.reasons.is_empty());
        let review = decision.review.as_ref().unwrap();
        assert_eq!(review.decided_by, DecidedBy::Operator);
        assert_eq!(review.reviewer, "ada@example.com");
        assert_eq!(review.note.as_deref(), Some("called the holder"));
        assert_eq!(*review.automatic_decision, flagged);
        assert_eq!(t.verification.updated_at, at);
        // The shape operators read, flat beside status and reasons, and back again.
        let json = serde_json::to_value(decision).unwrap();
        assert_eq!(json["decided_by"], "operator");
        assert_eq!(json["decided_at"], "2026-11-28T12:30:00Z");
        assert_eq!(json["reason"], "documents checked by hand");
        assert_eq!(json["automatic_decision"]["status"], "needs_manual_review");
        assert_eq!(
            json["automatic_decision"]["reasons"],
            json!(["FACE_MATCH_UNCERTAIN"])
        );
        assert!(json["automatic_decision"].get("decided_by").is_none());
        let back: DecisionRecord = serde_json::from_value(json).unwrap();
        assert_eq!(&back, decision);
        // The event carries the same decision.
        assert_eq!(t.events.len(), 1);
        assert_eq!(t.events[0].data.decision, Some(Some(decision.clone())));
        // Decided once: a second review is refused.
        assert_eq!(
            apply(&t.verification, &[], reviewed(Status::Rejected), at),
            Err(Refused::State("verified"))
        );
    }

    #[test]
    fn accepted_steps_record_their_results() {
        let v = verification(Status::InProgress, &[Module::Terms, Module::FormData]);
        let at = t0() + Duration::minutes(5);
        let terms = Change::StepJudged {
            step: Step::Terms,
            outcome: AttemptOutcome::Accepted,
            result: StepResult::Terms,
        };
        let t = apply(&v, &[], terms, at).unwrap();
        assert_eq!(t.verification.portal.terms_accepted_at, Some(at));
        assert_eq!(t.verification.updated_at, at);

        let form = form_judged(AttemptOutcome::Accepted);
        let attempts = [attempt(Step::FormData, AttemptOutcome::Accepted)];
        let t = apply(&t.verification, &attempts, form, at).unwrap();
        let recorded = t.verification.results.recorded().unwrap();
        assert_eq!(recorded.form_data.as_ref().unwrap()["first_name"], "Ada");
        assert_eq!(
            t.verification.progress[&Module::FormData],
            crate::domain::ProgressState::Completed
        );

        let document = Change::StepJudged {
            step: Step::DocumentBack,
            outcome: AttemptOutcome::Accepted,
            result: StepResult::DocumentSide {
                document_type: DocumentType::IdCard,
                metrics: Box::new(DocumentMetrics {
                    document_type: Some(DocumentType::IdCard),
                    corners: None,
                    portrait: None,
                    located: None,
                    measured: Map::new(),
                }),
                borderline: vec!["IMAGE_GLARE".into()],
                mrz: None,
                mrz_required: true,
            },
        };
        let v = verification(Status::InProgress, &[Module::Document]);
        let t = apply(
            &v,
            &[attempt(Step::DocumentBack, AttemptOutcome::Accepted)],
            document,
            at,
        )
        .unwrap();
        assert_eq!(
            t.verification.portal.document_type,
            Some(DocumentType::IdCard)
        );
        let document = t
            .verification
            .results
            .recorded()
            .unwrap()
            .document
            .clone()
            .unwrap();
        assert!(document.front.is_none());
        assert_eq!(document.back.unwrap().borderline, ["IMAGE_GLARE"]);
        assert_eq!(document.mrz, None);
    }

    #[test]
    fn the_zone_comes_from_the_side_that_must_carry_it() {
        let side = |step, mrz: Option<&str>, mrz_required| Change::StepJudged {
            step,
            outcome: AttemptOutcome::Accepted,
            result: StepResult::DocumentSide {
                document_type: DocumentType::IdCard,
                metrics: Box::new(DocumentMetrics {
                    document_type: Some(DocumentType::IdCard),
                    corners: None,
                    portrait: None,
                    located: None,
                    measured: Map::new(),
                }),
                borderline: vec![],
                mrz: mrz.map(|number| {
                    Box::new(Mrz {
                        document_number: number.into(),
                        ..crate::domain::mrz::tests::sample()
                    })
                }),
                mrz_required,
            },
        };
        let number = |v: &Verification| {
            let r = v.results.recorded().unwrap();
            r.document
                .as_ref()
                .unwrap()
                .mrz
                .as_ref()
                .map(|m| m.document_number.clone())
        };
        let at = t0();
        let front = [attempt(Step::DocumentFront, AttemptOutcome::Accepted)];
        let both = [
            attempt(Step::DocumentFront, AttemptOutcome::Accepted),
            attempt(Step::DocumentBack, AttemptOutcome::Accepted),
        ];
        let v = verification(Status::InProgress, &[Module::Document]);
        // A front that happens to carry a zone fills it; the back's zone replaces it.
        let t = apply(
            &v,
            &front,
            side(Step::DocumentFront, Some("FRONT"), false),
            at,
        )
        .unwrap();
        assert_eq!(number(&t.verification).as_deref(), Some("FRONT"));
        let t2 = apply(
            &t.verification,
            &both,
            side(Step::DocumentBack, Some("BACK"), true),
            at,
        )
        .unwrap();
        assert_eq!(number(&t2.verification).as_deref(), Some("BACK"));
        // A back that gave none leaves the front's.
        let t3 = apply(
            &t.verification,
            &both,
            side(Step::DocumentBack, None, true),
            at,
        )
        .unwrap();
        assert_eq!(number(&t3.verification).as_deref(), Some("FRONT"));
        // Erasure takes it with the rest of the document's results.
        let mut decided = t2.verification.clone();
        decided.status = Status::Verified;
        let erased = apply(&decided, &both, Change::Erased, at).unwrap();
        let json = erased.verification.results.to_json();
        assert!(
            json.get("document").is_none() && !json.to_string().contains("BACK"),
            "{json}"
        );
    }

    #[test]
    fn events_carry_the_extra_data_and_a_completed_one_the_decision() {
        let v = verification(Status::Processing, &[Module::FormData]);
        let t = apply(&v, &[], decided(Status::Verified, &[]), t0()).unwrap();
        assert_eq!(
            t.events[0].data.to_json(),
            json!({
                "verification_id": "ver_0123456789abcdef0123456789abcdef",
                "status": "verified",
                "extra_data": {"reference_id": "R-1"},
                "test": false,
                "decision": {"status": "verified", "reasons": []},
            })
        );
        let expired = expired_event("ver_x", None, false);
        assert_eq!(
            expired.data.to_json(),
            json!({"verification_id": "ver_x", "status": "expired", "extra_data": null, "test": false})
        );
        // A test verification's events say so.
        let mut test = v.clone();
        test.test = true;
        let t = apply(&test, &[], decided(Status::Verified, &[]), t0()).unwrap();
        assert_eq!(t.events[0].data.to_json()["test"], json!(true));
        assert_eq!(
            expired_event("ver_x", None, true).data.to_json()["test"],
            json!(true)
        );
    }

    #[test]
    fn erasure_clears_personal_data_once() {
        let mut v = verification(Status::Verified, &[Module::FormData]);
        v.return_url = Some("https://app.example/done".into());
        let t = apply(&v, &[], Change::Erased, t0()).unwrap();
        assert_eq!(t.verification.extra_data, None);
        assert_eq!(t.verification.return_url, None);
        assert_eq!(
            t.verification.results.erased_at(),
            Some("2026-11-28T12:00:00Z")
        );
        assert_eq!(
            apply(&t.verification, &[], Change::Erased, t0()),
            Err(Refused::Erased)
        );
    }
}
