//! A verification and its state machine.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Module, VerificationId};

/// `status.current`. Moves only forward; see [`Status::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = Status::unknown)]
#[derive(utoipa::ToSchema)]
#[schema(description = "Where a verification stands; it only moves forward")]
pub enum Status {
    Created,
    InProgress,
    Processing,
    Verified,
    NeedsManualReview,
    Rejected,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Decided (or expired): the user's part is over. Only an operator's review still
    /// moves one, from `needs_manual_review` (see [`Status::can_become`]).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Verified | Status::NeedsManualReview | Status::Rejected | Status::Expired
        )
    }

    fn rank(self) -> u8 {
        match self {
            Status::Created => 0,
            Status::InProgress => 1,
            Status::Processing => 2,
            _ => 3,
        }
    }

    /// The only allowed transitions: forward, never out of a final state, except that an
    /// operator's review closes a `needs_manual_review` case as `verified` or `rejected`.
    pub fn can_become(self, next: Status) -> bool {
        match (self, next) {
            (Status::NeedsManualReview, Status::Verified | Status::Rejected) => true,
            _ => !self.is_final() && next.rank() > self.rank(),
        }
    }

    fn unknown(given: &str) -> String {
        format!("unknown status `{given}`")
    }
}

/// One entry of `status.progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum ProgressState {
    Pending,
    InProgress,
    Completed,
    Failed,
}

/// `status.progress`: every enabled module except terms.
pub type Progress = BTreeMap<Module, ProgressState>;

pub fn initial_progress(flow: &[Module]) -> Progress {
    flow.iter()
        .filter(|m| **m != Module::Terms)
        .map(|m| (*m, ProgressState::Pending))
        .collect()
}

/// A verification as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: VerificationId,
    pub key_id: String,
    pub status: Status,
    pub flow: Vec<Module>,
    /// What the key asked for when the verification was created.
    pub modules: super::Modules,
    pub progress: Progress,
    pub results: super::Results,
    pub extra_data: Option<Value>,
    pub return_url: Option<String>,
    /// Made with a test key: its steps run no checks and its outcome is simulated.
    pub test: bool,
    /// The end user's progress beyond the status (terms, chosen document, challenge).
    pub portal: super::PortalState,
    /// Bumped by every update, so concurrent writers cannot overwrite each other.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Verification {
    /// The status a reader sees at `now`: a verification still waiting on the user past
    /// its expiry reads `expired` even before the sweeper has written it, and since the
    /// moment it expired. One in `processing` had every step in before its expiry and is
    /// owed a decision (the upkeep makes sure it gets one), so it never reads `expired`:
    /// otherwise a reader could see it go from `expired` to decided.
    pub fn effective_status(&self, now: DateTime<Utc>) -> (Status, DateTime<Utc>) {
        if matches!(self.status, Status::Created | Status::InProgress) && now >= self.expires_at {
            (Status::Expired, self.expires_at)
        } else {
            (self.status, self.updated_at)
        }
    }
}

/// One submission to one step, accepted or rejected, kept for the operator's audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: String,
    pub verification_id: VerificationId,
    pub step: super::Step,
    pub outcome: AttemptOutcome,
    /// Stable machine reason codes (`IMAGE_BLURRY`, …); empty when accepted.
    pub reasons: Vec<String>,
    /// What was measured (sharpness, brightness, face boxes, …).
    pub metrics: super::AttemptMetrics,
    /// Blob-store keys of the images this attempt stored, by role (`original`, `cropped`).
    pub images: BTreeMap<String, String>,
    /// SHA-256 (hex) of the submitted content, to spot resubmissions.
    pub content_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::VariantArray)]
#[strum(
    serialize_all = "snake_case",
    parse_err_ty = String,
    parse_err_fn = AttemptOutcome::unknown
)]
#[derive(utoipa::ToSchema)]
pub enum AttemptOutcome {
    Accepted,
    Rejected,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn unknown(given: &str) -> String {
        format!("unknown attempt outcome `{given}`")
    }
}

/// The current time at the precision both databases keep (microseconds), so a value
/// written and read back compares equal.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// The earliest instant RFC 3339 can write: its years have exactly four digits.
pub fn earliest() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_167_219_200, 0).expect("0000-01-01T00:00:00Z is in range")
}

/// The latest instant RFC 3339 can write.
pub fn latest() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z is in range")
}

/// `t + d`, saturating at [`latest`]: a duration from a setting or an argument, however
/// large, never overflows (which would panic) and never leaves what RFC 3339 can write.
pub fn later(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .map_or_else(latest, |t| t.min(latest()))
}

/// `t - d`, saturating at [`earliest`].
pub fn earlier(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .map_or_else(earliest, |t| t.max(earliest()))
}

/// What erasure keeps of stored `results` ([`super::Results::erased`]), as stored; `None`
/// when they were already erased. Read from the stored JSON as it is, so that erasure
/// never fails on results this version cannot read.
pub fn erased_results(results: &Value, at: DateTime<Utc>) -> Option<Value> {
    if results.get("erased_at").is_some() {
        return None;
    }
    let decision = results
        .get("decision")
        .and_then(|d| serde_json::from_value(d.clone()).ok());
    Some(super::results::ErasedResults::new(decision, at).to_json())
}

/// RFC 3339 in UTC with a `Z` and whole seconds, as the seed shows. Every timestamp the
/// service writes out goes through here. An instant outside years 0000–9999 (which RFC
/// 3339 cannot express; chrono would write `+10240-…`) is written as the nearest one it
/// can; the bounds on settings keep real values far inside.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.clamp(earliest(), latest())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasure_keeps_the_decision_and_happens_once() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .to_utc();
        let results = serde_json::json!({
            "decision": {"status": "verified", "reasons": []},
            "form_data": {"last_name": "Lovelace"},
            "document": {"front": {}},
        });
        let kept = erased_results(&results, at).unwrap();
        assert_eq!(kept["decision"], results["decision"]);
        assert_eq!(kept["erased_at"], "2026-11-28T12:00:00Z");
        assert!(kept.get("form_data").is_none() && kept.get("document").is_none());
        assert_eq!(erased_results(&kept, at), None);
    }
    use chrono::Duration;
    use serde_json::json;

    #[test]
    fn statuses_only_move_forward() {
        use Status::*;
        assert!(Created.can_become(InProgress));
        assert!(Created.can_become(Expired));
        assert!(InProgress.can_become(Processing));
        assert!(Processing.can_become(Verified));
        assert!(!InProgress.can_become(Created));
        assert!(!Processing.can_become(InProgress));
        assert!(!Verified.can_become(Rejected));
        assert!(NeedsManualReview.can_become(Verified));
        assert!(NeedsManualReview.can_become(Rejected));
        assert!(!NeedsManualReview.can_become(Expired));
        assert!(!Rejected.can_become(Verified));
        assert!(!Verified.can_become(NeedsManualReview));
        assert!(!Expired.can_become(InProgress));
        assert!(!InProgress.can_become(InProgress));
    }

    #[test]
    fn status_names_round_trip() {
        for s in [
            Status::Created,
            Status::InProgress,
            Status::NeedsManualReview,
            Status::Expired,
        ] {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
        }
        assert!("done".parse::<Status>().is_err());
    }

    #[test]
    fn progress_leaves_out_terms() {
        let p = initial_progress(&Module::ALL);
        assert_eq!(p.len(), 3);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"document": "pending", "liveness": "pending", "form_data": "pending"})
        );
    }

    #[test]
    fn past_expiry_reads_expired_unless_decided() {
        let now = Utc::now();
        let mut v = Verification {
            id: VerificationId::generate(),
            key_id: "key_1".into(),
            status: Status::InProgress,
            flow: vec![Module::Terms],
            modules: Default::default(),
            progress: Progress::new(),
            results: Default::default(),
            extra_data: None,
            return_url: None,
            test: false,
            portal: Default::default(),
            version: 0,
            created_at: now - Duration::hours(2),
            updated_at: now - Duration::hours(2),
            expires_at: now - Duration::hours(1),
        };
        assert_eq!(v.effective_status(now).0, Status::Expired);
        v.status = Status::Processing;
        assert_eq!(
            v.effective_status(now).0,
            Status::Processing,
            "owed a decision"
        );
        v.status = Status::Verified;
        assert_eq!(v.effective_status(now).0, Status::Verified);
        v.expires_at = now + Duration::hours(1);
        v.status = Status::Created;
        assert_eq!(v.effective_status(now).0, Status::Created);
    }

    #[test]
    fn times_render_with_z() {
        let t = DateTime::parse_from_rfc3339("2024-01-01T12:00:00.123+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339(t), "2024-01-01T12:00:00Z");
    }

    #[test]
    fn times_stay_within_four_digit_years() {
        assert_eq!(rfc3339(earliest()), "0000-01-01T00:00:00Z");
        assert_eq!(rfc3339(latest()), "9999-12-31T23:59:59Z");
        let far = Utc::now() + Duration::days(3_000_000);
        assert!(far.to_rfc3339().starts_with('+'), "chrono alone: {far}");
        assert_eq!(rfc3339(far), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(DateTime::<Utc>::MIN_UTC), "0000-01-01T00:00:00Z");
        assert_eq!(rfc3339(DateTime::<Utc>::MAX_UTC), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let t = Utc::now();
        let day = std::time::Duration::from_secs(86_400);
        assert_eq!(later(t, day), t + Duration::days(1));
        assert_eq!(earlier(t, day), t - Duration::days(1));
        for d in [
            std::time::Duration::MAX,
            std::time::Duration::from_secs(u64::MAX / 2),
            std::time::Duration::from_secs(3_000_000 * 86_400),
        ] {
            assert_eq!(later(t, d), latest());
            assert_eq!(earlier(t, d), earliest());
        }
    }
}
