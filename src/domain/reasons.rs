//! The reasons of a decision (`results.decision.reasons`, the `verification.completed`
//! event's `decision.reasons`): typed here, written as the stable strings operators match
//! on (`FACE_MISMATCH`, `STEP_FAILED:liveness`, `BORDERLINE:document_front:IMAGE_GLARE`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use strum::VariantArray;

use super::FormField;
use super::portal::Step;
use crate::faces::FaceMatchReason;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `STEP_FAILED:<step>`: the step was rejected for good (out of attempts).
    StepFailed(Step),
    /// `<step>:<CODE>`: why that failed step was rejected.
    StepRejected(Step, String),
    /// `BORDERLINE:<step>:<CODE>`: the step passed, but close to a threshold.
    Borderline(Step, String),
    /// `STEP_NOT_JUDGED:<step>`: a step the flow requires has no judgement.
    StepNotJudged(Step),
    /// `FACE_MISMATCH`: the selfie and the document show different people.
    FaceMismatch,
    /// `FACE_MATCH_UNCERTAIN`: the similarity is between the two thresholds.
    FaceMatchUncertain,
    /// `FACE_MATCH_NOT_PERFORMED`, followed by why ([`Reason::FaceMatch`]).
    FaceMatchNotPerformed,
    /// Why no comparison was made (`FACE_NOT_FOUND_IN_SELFIE`, …).
    FaceMatch(FaceMatchReason),
    /// `FACE_MATCH_FAILED: <why>`: the comparison itself failed.
    FaceMatchFailed(String),
    /// `PROCESSING_STALLED`: no decision came; a person has to decide.
    ProcessingStalled,
    /// `DECISION_FAILED`: the backend could not decide.
    DecisionFailed,
    /// `DECISION_INCOMPLETE`: something the decision needs could not be computed.
    DecisionIncomplete,
    /// `DOCUMENT_EXPIRED`: the document's zone gives a date of expiry before the decision.
    DocumentExpired,
    /// `UNDERAGE`: the zone's date of birth makes the holder younger than the key's
    /// minimum age.
    Underage,
    /// `AGE_NOT_VERIFIED`: the key has a minimum age, but no zone that passed its checks
    /// gave a date of birth.
    AgeNotVerified,
    /// `DATA_MISMATCH:<field>`: the form's value of that field disagrees with the zone.
    DataMismatch(FormField),
    /// `OPERATOR_REJECTED`: an operator reviewed the verification and rejected it (their
    /// words are in the decision's `reason`).
    OperatorRejected,
    /// A finding on an accepted step, by its code (`LIVENESS_SPOOF_SUSPECTED`,
    /// `MRZ_CHECK_FAILED`, …).
    Flag(String),
}

const STEP_FAILED: &str = "STEP_FAILED:";
const BORDERLINE: &str = "BORDERLINE:";
const STEP_NOT_JUDGED: &str = "STEP_NOT_JUDGED:";
const FACE_MATCH_FAILED: &str = "FACE_MATCH_FAILED: ";
const DATA_MISMATCH: &str = "DATA_MISMATCH:";

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::StepFailed(step) => write!(f, "{STEP_FAILED}{}", step.as_str()),
            Reason::StepRejected(step, code) => write!(f, "{}:{code}", step.as_str()),
            Reason::Borderline(step, code) => write!(f, "{BORDERLINE}{}:{code}", step.as_str()),
            Reason::StepNotJudged(step) => write!(f, "{STEP_NOT_JUDGED}{}", step.as_str()),
            Reason::FaceMismatch => f.write_str("FACE_MISMATCH"),
            Reason::FaceMatchUncertain => f.write_str("FACE_MATCH_UNCERTAIN"),
            Reason::FaceMatchNotPerformed => f.write_str("FACE_MATCH_NOT_PERFORMED"),
            Reason::FaceMatch(reason) => f.write_str(reason.code()),
            Reason::FaceMatchFailed(why) => write!(f, "{FACE_MATCH_FAILED}{why}"),
            Reason::ProcessingStalled => f.write_str("PROCESSING_STALLED"),
            Reason::DecisionFailed => f.write_str("DECISION_FAILED"),
            Reason::DecisionIncomplete => f.write_str("DECISION_INCOMPLETE"),
            Reason::DocumentExpired => f.write_str("DOCUMENT_EXPIRED"),
            Reason::Underage => f.write_str("UNDERAGE"),
            Reason::AgeNotVerified => f.write_str("AGE_NOT_VERIFIED"),
            Reason::DataMismatch(field) => write!(f, "{DATA_MISMATCH}{}", field.as_str()),
            Reason::OperatorRejected => f.write_str("OPERATOR_REJECTED"),
            Reason::Flag(code) => f.write_str(code),
        }
    }
}

/// Every string reads as a reason: one this version does not know is kept as a
/// [`Reason::Flag`], so a decision stored by another version never becomes unreadable.
impl FromStr for Reason {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let step_and_code = |rest: &str| {
            let (step, code) = rest.split_once(':')?;
            Some((step.parse::<Step>().ok()?, code.to_owned()))
        };
        if let Some(step) = s.strip_prefix(STEP_FAILED).and_then(|r| r.parse().ok()) {
            return Ok(Reason::StepFailed(step));
        }
        if let Some(step) = s.strip_prefix(STEP_NOT_JUDGED).and_then(|r| r.parse().ok()) {
            return Ok(Reason::StepNotJudged(step));
        }
        if let Some((step, code)) = s.strip_prefix(BORDERLINE).and_then(step_and_code) {
            return Ok(Reason::Borderline(step, code));
        }
        if let Some(field) = s.strip_prefix(DATA_MISMATCH).and_then(|r| r.parse().ok()) {
            return Ok(Reason::DataMismatch(field));
        }
        if let Some(why) = s.strip_prefix(FACE_MATCH_FAILED) {
            return Ok(Reason::FaceMatchFailed(why.to_owned()));
        }
        if let Some(reason) = FaceMatchReason::VARIANTS.iter().find(|r| r.code() == s) {
            return Ok(Reason::FaceMatch(*reason));
        }
        Ok(match s {
            "FACE_MISMATCH" => Reason::FaceMismatch,
            "FACE_MATCH_UNCERTAIN" => Reason::FaceMatchUncertain,
            "FACE_MATCH_NOT_PERFORMED" => Reason::FaceMatchNotPerformed,
            "PROCESSING_STALLED" => Reason::ProcessingStalled,
            "DECISION_FAILED" => Reason::DecisionFailed,
            "DECISION_INCOMPLETE" => Reason::DecisionIncomplete,
            "DOCUMENT_EXPIRED" => Reason::DocumentExpired,
            "UNDERAGE" => Reason::Underage,
            "AGE_NOT_VERIFIED" => Reason::AgeNotVerified,
            "OPERATOR_REJECTED" => Reason::OperatorRejected,
            other => match step_and_code(other) {
                Some((step, code)) => Reason::StepRejected(step, code),
                None => Reason::Flag(other.to_owned()),
            },
        })
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        other.parse::<Reason>().is_ok_and(|theirs| theirs == *self)
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(text.parse().unwrap_or_else(|never| match never {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_string() {
        let all = [
            Reason::StepFailed(Step::Liveness),
            Reason::StepRejected(Step::DocumentFront, "IMAGE_BLURRY".into()),
            Reason::Borderline(Step::DocumentBack, "IMAGE_GLARE".into()),
            Reason::StepNotJudged(Step::FormData),
            Reason::FaceMismatch,
            Reason::FaceMatchUncertain,
            Reason::FaceMatchNotPerformed,
            Reason::FaceMatch(FaceMatchReason::SelfieFaceNotFound),
            Reason::FaceMatch(FaceMatchReason::ImageMissing),
            Reason::FaceMatchFailed("the engine is unavailable".into()),
            Reason::ProcessingStalled,
            Reason::DecisionFailed,
            Reason::DecisionIncomplete,
            Reason::DocumentExpired,
            Reason::Underage,
            Reason::AgeNotVerified,
            Reason::DataMismatch(FormField::FirstName),
            Reason::DataMismatch(FormField::DateOfBirth),
            Reason::Flag("LIVENESS_SPOOF_SUSPECTED".into()),
            Reason::Flag("MRZ_CHECK_FAILED".into()),
        ];
        for reason in all {
            let text = reason.to_string();
            assert_eq!(text.parse::<Reason>(), Ok(reason.clone()), "{text}");
            let json = serde_json::to_value(&reason).unwrap();
            assert_eq!(json, serde_json::Value::String(text));
            assert_eq!(serde_json::from_value::<Reason>(json).unwrap(), reason);
        }
    }

    #[test]
    fn reasons_are_written_as_operators_read_them() {
        assert_eq!(Reason::StepFailed(Step::Liveness), "STEP_FAILED:liveness");
        assert_eq!(
            Reason::Borderline(Step::DocumentFront, "IMAGE_BLURRY".into()),
            "BORDERLINE:document_front:IMAGE_BLURRY"
        );
        assert_eq!(
            Reason::StepRejected(Step::DocumentFront, "IMAGE_BLURRY".into()),
            "document_front:IMAGE_BLURRY"
        );
        assert_eq!(
            Reason::FaceMatch(FaceMatchReason::DocumentFaceNotFound),
            "FACE_NOT_FOUND_ON_DOCUMENT"
        );
        assert_eq!(
            "SOMETHING_NEW".parse(),
            Ok(Reason::Flag("SOMETHING_NEW".into()))
        );
        assert_eq!(
            Reason::DataMismatch(FormField::LastName),
            "DATA_MISMATCH:last_name"
        );
        assert_eq!(Reason::DocumentExpired, "DOCUMENT_EXPIRED");
        assert_eq!(Reason::Underage, "UNDERAGE");
        // A field this version does not know stays readable, as a flag.
        assert_eq!(
            "DATA_MISMATCH:shoe_size".parse(),
            Ok(Reason::Flag("DATA_MISMATCH:shoe_size".into()))
        );
    }
}
