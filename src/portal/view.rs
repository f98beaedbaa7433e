//! `GET /api/portal/{id}`'s answer: where the user stands, what the next step needs.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::modules::FieldSpec;
use crate::domain::portal::{self, Step};
use crate::domain::verification::{now, rfc3339};
use crate::domain::{
    AttemptOutcome, DocumentType, Module, PortalState, Progress, Status, Verification,
};
use crate::faces::Challenge;
use crate::workflow::{Loaded, step_name};

/// `GET /api/portal/{verification_id}`: where the user stands.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PortalState)]
pub struct PortalView<'a> {
    verification_id: &'a str,
    status: Status,
    flow: &'a [Module],
    /// The submission points of the flow, in order
    steps: Vec<Step>,
    #[schema(value_type = crate::openapi::CurrentStep)]
    current_step: &'static str,
    /// `status.progress` of the operator's details
    #[schema(value_type = Object)]
    progress: &'a Progress,
    /// Chosen with the accepted front, so the back must match
    document_type: Option<DocumentType>,
    /// The types the key accepts
    document_types: &'a [DocumentType],
    /// The sides still to photograph
    document_sides: Vec<&'static str>,
    #[schema(value_type = Vec<crate::openapi::FormFieldView>)]
    form_fields: &'a [FieldSpec],
    /// What the document's machine-readable zone says of the form's fields (`first_name`,
    /// `last_name`, `date_of_birth`), for the form to offer as editable values until it
    /// is sent; empty when no zone that passed its checks was read
    #[schema(value_type = BTreeMap<String, String>)]
    form_prefill: BTreeMap<&'static str, String>,
    /// Attempts left per step (terms excepted)
    #[schema(value_type = BTreeMap<String, u32>)]
    attempts_left: BTreeMap<Step, u32>,
    #[schema(value_type = Option<Object>)]
    last_rejection: Option<LastRejection<'a>>,
    /// Which way the user moves during the liveness burst
    #[schema(value_type = Option<crate::openapi::Challenge>)]
    liveness_challenge: Option<Challenge>,
    return_url: Option<&'a str>,
    #[schema(format = DateTime)]
    expires_at: String,
    /// A test verification: any image is taken, no check runs, and a submission may
    /// carry `test_outcome` to pick how the verification ends
    test: bool,
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
        // Offered only while the form is still to be sent.
        let form_open = matches!(status, Status::Created | Status::InProgress)
            && loaded
                .tallies
                .get(&Step::FormData)
                .is_none_or(|t| t.accepted.is_none());
        let form_prefill = if form_open {
            form_prefill(v)
        } else {
            BTreeMap::new()
        };
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
            form_prefill,
            attempts_left,
            last_rejection,
            liveness_challenge: v.portal.liveness_challenge,
            return_url: v.return_url.as_deref(),
            expires_at: rfc3339(v.expires_at),
            test: v.test,
        }
    }
}

/// The values the form offers from the document's zone: only the form's own fields, and
/// only from a zone whose check digits all agreed (a zone that failed them may have been
/// altered, and its values are not offered as the holder's).
pub fn form_prefill(v: &Verification) -> BTreeMap<&'static str, String> {
    let Some(zone) = v
        .results
        .recorded()
        .and_then(|r| r.document.as_ref())
        .and_then(|d| d.mrz.as_ref())
        .filter(|m| m.valid)
    else {
        return BTreeMap::new();
    };
    let asked = v.modules.form_fields();
    zone.form_values()
        .into_iter()
        .filter(|(field, _)| asked.iter().any(|f| f.name == *field))
        .map(|(field, value)| (field.as_str(), value))
        .collect()
}
