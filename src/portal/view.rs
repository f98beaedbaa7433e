//! `GET /api/portal/{id}`'s answer: where the user stands, what the next step needs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::modules::FieldSpec;
use crate::domain::portal::{self, Step};
use crate::domain::verification::{now, rfc3339};
use crate::domain::{AttemptOutcome, DocumentType, Module, PortalState, Progress, Status};
use crate::faces::Challenge;
use crate::workflow::{Loaded, step_name};

#[derive(Debug, Serialize)]
pub struct PortalView<'a> {
    verification_id: &'a str,
    status: Status,
    flow: &'a [Module],
    /// The step to submit next; `done` once the user's part is over.
    current_step: &'static str,
    steps: Vec<Step>,
    progress: &'a Progress,
    document_type: Option<DocumentType>,
    document_types: &'a [DocumentType],
    /// The document sides still to send.
    document_sides: Vec<&'static str>,
    form_fields: &'a [FieldSpec],
    attempts_left: BTreeMap<Step, u32>,
    last_rejection: Option<LastRejection<'a>>,
    liveness_challenge: Option<Challenge>,
    return_url: Option<&'a str>,
    expires_at: String,
}

/// Why the last rejected submission was rejected, for the page to say what to fix.
#[derive(Debug, Serialize)]
struct LastRejection<'a> {
    step: Step,
    reasons: &'a [String],
}

impl<'a> PortalView<'a> {
    pub fn of(loaded: &'a Loaded) -> Self {
        let v = &loaded.verification; // read throughout
        let (status, _) = v.effective_status(now());
        let PortalState { document_type, .. } = v.portal;
        let sides: &[&'static str] = match document_type {
            Some(doc) => doc.sides(),
            None if loaded
                .document_types
                .iter()
                .any(|d| d.sides().contains(&"back")) =>
            {
                &["front", "back"]
            }
            None => &["front"],
        };
        let document_sides = sides
            .iter()
            .copied()
            .filter(|side| {
                let step = if *side == "front" {
                    Step::DocumentFront
                } else {
                    Step::DocumentBack
                };
                loaded
                    .tallies
                    .get(&step)
                    .is_none_or(|t| t.accepted.is_none())
            })
            .collect();
        let steps = portal::steps(v, &loaded.document_types);
        let attempts_left = steps
            .iter()
            .filter(|s| **s != Step::Terms)
            .map(|s| (*s, loaded.attempts_left(*s)))
            .collect();
        let last_rejection = loaded
            .attempts
            .iter()
            .rev()
            .find(|a| a.outcome == AttemptOutcome::Rejected)
            .map(|a| LastRejection {
                step: a.step,
                reasons: &a.reasons,
            });
        PortalView {
            verification_id: v.id.as_str(),
            status,
            flow: &v.flow,
            current_step: if status.is_final() || status == Status::Processing {
                "done"
            } else {
                step_name(loaded.current)
            },
            steps,
            progress: &v.progress,
            document_type,
            document_types: &loaded.document_types,
            document_sides,
            form_fields: v.modules.form_fields(),
            attempts_left,
            last_rejection,
            liveness_challenge: v.portal.liveness_challenge,
            return_url: v.return_url.as_deref(),
            expires_at: rfc3339(v.expires_at),
        }
    }
}
