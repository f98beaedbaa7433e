//! Test mode: what a test verification's outcome is, and where it comes from.
//!
//! A test key's verifications run no checks. Their outcome is picked: by
//! `POST /api/verifications/{id}/simulate`, by the tester on the portal's last step, or,
//! when neither picked one, by `extra_data.test_outcome`; failing all three, `verified`.
//! The pick travels in the simulated attempt's metrics (`test_outcome`, `test_reasons`),
//! so the decision reads it from the stored attempts like any other.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::Status;
use super::reasons::Reason;

/// The outcome a test verification is driven to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TestOutcome {
    Verified,
    NeedsManualReview,
    Rejected,
    Expired,
}

/// Most reasons a simulated decision may carry.
pub const MAX_REASONS: usize = 10;
/// The longest reason code a simulated decision may carry.
pub const MAX_REASON_LEN: usize = 100;

impl TestOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// `verified`, `needs_manual_review`, `rejected` or `expired`; otherwise a message that
    /// lists them.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.parse().map_err(|_| {
            format!(
                "`{text}` is not a test outcome: use verified, needs_manual_review, rejected or \
                 expired"
            )
        })
    }

    pub fn status(self) -> Status {
        match self {
            TestOutcome::Verified => Status::Verified,
            TestOutcome::NeedsManualReview => Status::NeedsManualReview,
            TestOutcome::Rejected => Status::Rejected,
            TestOutcome::Expired => Status::Expired,
        }
    }

    /// The reasons a decision of this outcome carries when none were asked for: one a
    /// real decision of the same outcome gives.
    pub fn default_reasons(self) -> Vec<Reason> {
        match self {
            TestOutcome::Verified | TestOutcome::Expired => vec![],
            TestOutcome::NeedsManualReview => vec![Reason::FaceMatchUncertain],
            TestOutcome::Rejected => vec![Reason::FaceMismatch],
        }
    }

    /// `extra_data.test_outcome`, when there is one: an error when it is not an outcome.
    pub fn from_extra_data(extra_data: Option<&Value>) -> Result<Option<Self>, String> {
        match extra_data.and_then(|e| e.get("test_outcome")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Self::parse(s)
                .map(Some)
                .map_err(|e| format!("extra_data.test_outcome: {e}")),
            Some(_) => Err("extra_data.test_outcome must be a string".into()),
        }
    }
}

/// An outcome picked for a test verification, with its reasons (checked).
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub outcome: TestOutcome,
    pub reasons: Vec<Reason>,
}

impl Pick {
    /// `outcome` with `reasons`: none for `verified` and `expired`; for the others, at most
    /// [`MAX_REASONS`] codes of visible ASCII, or the outcome's usual reason when empty.
    pub fn new(outcome: TestOutcome, reasons: &[String]) -> Result<Pick, String> {
        if reasons.len() > MAX_REASONS {
            return Err(format!("at most {MAX_REASONS} reasons"));
        }
        if !reasons.is_empty() && matches!(outcome, TestOutcome::Verified | TestOutcome::Expired) {
            return Err(format!("a `{}` outcome has no reasons", outcome.as_str()));
        }
        let reasons = reasons
            .iter()
            .map(|r| {
                let ok = (1..=MAX_REASON_LEN).contains(&r.len())
                    && r.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
                if ok {
                    Ok(r.parse::<Reason>().expect("every string reads as a reason"))
                } else {
                    Err(format!(
                        "reason `{}` must be 1 to {MAX_REASON_LEN} visible ASCII characters",
                        r.chars().take(40).collect::<String>()
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pick {
            outcome,
            reasons: if reasons.is_empty() {
                outcome.default_reasons()
            } else {
                reasons
            },
        })
    }

    /// The attempt metrics that record this pick (beside `simulated: true`).
    pub fn write_into(&self, metrics: &mut Map<String, Value>) {
        metrics.insert("test_outcome".into(), json!(self.outcome));
        metrics.insert("test_reasons".into(), json!(self.reasons));
    }

    /// The pick recorded in an attempt's metrics, if any.
    pub fn read_from(metrics: &Value) -> Option<Pick> {
        let outcome = TestOutcome::parse(metrics.get("test_outcome")?.as_str()?).ok()?;
        let reasons = metrics
            .get("test_reasons")
            .and_then(|r| serde_json::from_value(r.clone()).ok())
            .unwrap_or_else(|| outcome.default_reasons());
        Some(Pick { outcome, reasons })
    }
}

/// Attempt metrics of a simulated step.
pub fn simulated_metrics(pick: Option<&Pick>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("simulated".into(), Value::Bool(true));
    if let Some(p) = pick {
        p.write_into(&mut m);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_by_their_wire_names_only() {
        for (text, outcome) in [
            ("verified", TestOutcome::Verified),
            ("needs_manual_review", TestOutcome::NeedsManualReview),
            ("rejected", TestOutcome::Rejected),
            ("expired", TestOutcome::Expired),
        ] {
            assert_eq!(TestOutcome::parse(text), Ok(outcome));
            assert_eq!(outcome.as_str(), text);
            assert_eq!(json!(outcome), json!(text));
        }
        for bad in ["Verified", "", "approved", "created"] {
            assert!(TestOutcome::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extra_data_names_an_outcome_or_is_refused() {
        let read = |v: Value| TestOutcome::from_extra_data(Some(&v));
        assert_eq!(read(json!({})), Ok(None));
        assert_eq!(read(json!({"test_outcome": null})), Ok(None));
        assert_eq!(
            read(json!({"test_outcome": "rejected"})),
            Ok(Some(TestOutcome::Rejected))
        );
        assert!(read(json!({"test_outcome": "nope"})).is_err());
        assert!(read(json!({"test_outcome": 3})).is_err());
        assert_eq!(TestOutcome::from_extra_data(None), Ok(None));
    }

    #[test]
    fn picks_check_their_reasons_and_round_trip_through_metrics() {
        let p = Pick::new(TestOutcome::Rejected, &[]).unwrap();
        assert_eq!(p.reasons, vec![Reason::FaceMismatch]);
        let p = Pick::new(
            TestOutcome::NeedsManualReview,
            &["DATA_MISMATCH:last_name".into(), "MRZ_CHECK_FAILED".into()],
        )
        .unwrap();
        let metrics = Value::Object(simulated_metrics(Some(&p)));
        assert_eq!(metrics["simulated"], json!(true));
        assert_eq!(Pick::read_from(&metrics), Some(p));
        assert_eq!(
            Pick::read_from(&Value::Object(simulated_metrics(None))),
            None
        );

        assert!(Pick::new(TestOutcome::Verified, &["FACE_MISMATCH".into()]).is_err());
        assert!(Pick::new(TestOutcome::Expired, &["X".into()]).is_err());
        assert!(Pick::new(TestOutcome::Rejected, &["".into()]).is_err());
        assert!(Pick::new(TestOutcome::Rejected, &["A\nB".into()]).is_err());
        assert!(Pick::new(TestOutcome::Rejected, &["X".repeat(101)]).is_err());
        let many: Vec<String> = (0..11).map(|i| format!("R{i}")).collect();
        assert!(Pick::new(TestOutcome::Rejected, &many).is_err());
        assert!(Pick::new(TestOutcome::Rejected, &many[..10]).is_ok());
    }
}
