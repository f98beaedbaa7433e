//! Liveness: a burst of frames must show one face moving the way the server asked.
//!
//! The server picks a [`Challenge`] per verification (move closer, or move farther away)
//! and the portal captures a burst of frames while the user follows it. The check wants a
//! face in every frame, frames that are not copies of one another, and the face box
//! growing (closer) or shrinking (farther) clearly from the first frame to the last.
//! What this does and does not defend against is written down in `docs/liveness.md`.

use image::DynamicImage;
use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

use crate::domain::settings::all_variants;

use super::checks::{FaceCheck, selfie_from_faces};
use super::{FaceBox, FaceDetector, FacesConfig, largest};

/// The movement the user is asked to make during the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, EnumString, Display, VariantArray)]
#[strum(
    serialize_all = "snake_case",
    parse_err_ty = UnknownChallenge,
    parse_err_fn = UnknownChallenge::of
)]
pub enum Challenge {
    /// Bring the face closer to the camera: it grows in the frame.
    Closer,
    /// Move the face away from the camera: it shrinks in the frame.
    Farther,
}

impl Challenge {
    pub const ALL: [Challenge; 2] = all_variants();

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A challenge drawn uniformly from the operating system's CSPRNG, so a client cannot
    /// predict which movement to pre-record.
    pub fn random() -> Result<Challenge, getrandom::Error> {
        let n = Challenge::ALL.len();
        // Largest multiple of n in 0..=255: bytes at or above it are redrawn, so no
        // challenge is favoured when 256 is not a multiple of n.
        let limit = 256 - 256 % n;
        loop {
            let mut byte = [0u8; 1];
            getrandom::fill(&mut byte)?;
            let b = usize::from(byte[0]);
            if b < limit {
                return Ok(Challenge::ALL[b % n]);
            }
        }
    }
}

/// An unknown challenge name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown liveness challenge `{0}`")]
pub struct UnknownChallenge(pub String);

impl UnknownChallenge {
    fn of(given: &str) -> Self {
        UnknownChallenge(given.to_owned())
    }
}

/// The code every liveness failure carries, followed by its sub-reason.
pub const LIVENESS_FAILED: &str = "LIVENESS_FAILED";

/// Why a burst failed liveness. Serialised as the stable sub-reason code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, VariantArray,
)]
#[strum(prefix = "LIVENESS_", serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum LivenessReason {
    /// Fewer frames than the check needs.
    #[serde(rename = "LIVENESS_TOO_FEW_FRAMES")]
    TooFewFrames,
    /// More frames than the check accepts (they are not processed).
    #[serde(rename = "LIVENESS_TOO_MANY_FRAMES")]
    TooManyFrames,
    /// At least one frame shows no face.
    #[serde(rename = "LIVENESS_NO_FACE_IN_FRAME")]
    NoFaceInFrame,
    /// At least two frames are copies, or near copies, of each other.
    #[serde(rename = "LIVENESS_STATIC_FRAMES")]
    StaticFrames,
    /// The face did not move as the challenge asked.
    #[serde(rename = "LIVENESS_WRONG_MOVEMENT")]
    WrongMovement,
}

impl LivenessReason {
    pub fn code(self) -> &'static str {
        self.into()
    }
}

/// Hard ceiling on frames per burst whatever the configuration says: each frame costs a
/// face detection.
const FRAMES_CEILING: usize = 16;

/// Side of the grey thumbnails frames are compared by.
const THUMB: u32 = 32;

/// Thresholds for the liveness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessConfig {
    /// Fewest frames in a burst (at least 2).
    pub min_frames: usize,
    /// Most frames in a burst (at most 16).
    pub max_frames: usize,
    /// How much the face's share of the frame must change from the first frame to the
    /// last: at least this factor larger for `closer`, this factor smaller for `farther`.
    pub min_size_change: f64,
    /// Two frames whose 32×32 grey thumbnails differ by less than this mean absolute
    /// difference (grey levels, 0–255) count as copies. Re-encoding one picture as JPEG at
    /// quality 70, 50 or 30 moved it by under 1 in our measurements; frames of a moving
    /// face, whose background shifts with it, differ by far more.
    pub min_frame_difference: f64,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            min_frames: 2,
            max_frames: 8,
            min_size_change: 1.15,
            min_frame_difference: 1.5,
        }
    }
}

impl LivenessConfig {
    /// Values pulled into workable ranges, so no configuration can make every burst pass
    /// (a size change of 1 or less) or make the work unbounded.
    fn sanitized(&self) -> LivenessConfig {
        let d = LivenessConfig::default();
        let min_frames = self.min_frames.clamp(2, FRAMES_CEILING);
        LivenessConfig {
            min_frames,
            max_frames: self.max_frames.clamp(min_frames, FRAMES_CEILING),
            min_size_change: if self.min_size_change.is_finite() && self.min_size_change > 1.0 {
                self.min_size_change
            } else {
                d.min_size_change
            },
            min_frame_difference: if self.min_frame_difference.is_finite() {
                self.min_frame_difference.max(0.0)
            } else {
                d.min_frame_difference
            },
        }
    }
}

/// What was measured on one frame of the burst.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameReport {
    pub index: usize,
    pub width: u32,
    pub height: u32,
    /// Every face found, highest score first.
    pub faces: Vec<FaceBox>,
    /// The face followed through the burst: the largest in this frame.
    pub face: Option<FaceBox>,
    /// That face's area over the frame's area.
    pub face_area_ratio: Option<f64>,
    /// Mean absolute difference of this frame's thumbnail from the previous frame's.
    pub difference_from_previous: Option<f64>,
    /// The first earlier frame this one is a copy of, if any.
    pub copy_of: Option<usize>,
}

/// The outcome of a liveness check, with every measurement behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LivenessCheck {
    pub challenge: Challenge,
    /// `None` when the burst passed liveness.
    pub reason: Option<LivenessReason>,
    pub frame_count: usize,
    /// One report per frame; empty when the frame count was refused.
    pub frames: Vec<FrameReport>,
    /// Face share of the last frame over that of the first.
    pub size_ratio: Option<f64>,
    /// The factor `size_ratio` had to reach (closer) or fall below the inverse of (farther).
    pub required_size_change: f64,
    /// Smallest thumbnail difference between any two frames.
    pub min_frame_difference: Option<f64>,
    /// The difference below which two frames count as copies.
    pub required_frame_difference: f64,
    /// Which frame becomes the selfie: the one with the largest face (share of the
    /// frame), the clearest view of the face; on a tie, the later frame. For `closer` this
    /// is usually the last frame, for `farther` the first.
    pub selfie_frame: Option<usize>,
    /// The selfie check (one face, large enough) on that frame.
    pub selfie: Option<FaceCheck>,
}

impl LivenessCheck {
    /// Whether the movement was live (whatever the selfie check says).
    pub fn live(&self) -> bool {
        self.reason.is_none()
    }

    /// Whether the step can be accepted: live, and the chosen frame passes the selfie check.
    pub fn passed(&self) -> bool {
        self.live() && self.selfie.as_ref().is_some_and(FaceCheck::passed)
    }

    /// Reason codes to store with the attempt: `LIVENESS_FAILED` and its sub-reason when
    /// the movement failed, then the selfie check's code if the chosen frame failed it.
    pub fn reasons(&self) -> Vec<&'static str> {
        let mut codes = Vec::new();
        if let Some(r) = self.reason {
            codes.push(LIVENESS_FAILED);
            codes.push(r.code());
        }
        if let Some(selfie) = &self.selfie {
            codes.extend(selfie.reasons());
        }
        codes
    }
}

/// Check a burst of frames (in capture order, first to last) against `challenge`.
pub fn check_liveness(
    detector: &FaceDetector,
    challenge: Challenge,
    frames: &[DynamicImage],
    config: &FacesConfig,
) -> LivenessCheck {
    if let Some(refused) = refuse_frame_count(challenge, frames.len(), config) {
        return refused;
    }
    let seen: Vec<FrameObservation> = frames
        .iter()
        .map(|f| observe_frame(detector, f, config))
        .collect();
    judge_burst(challenge, seen, config)
}

/// What the burst check needs from one frame, without its pixels: a burst can be
/// decoded and observed one frame at a time.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameObservation {
    pub width: u32,
    pub height: u32,
    /// Every face found, highest score first.
    pub faces: Vec<FaceBox>,
    thumb: Option<Vec<u8>>,
}

/// Find the faces of one frame and keep its thumbnail.
pub fn observe_frame(
    detector: &FaceDetector,
    frame: &DynamicImage,
    config: &FacesConfig,
) -> FrameObservation {
    FrameObservation {
        width: frame.width(),
        height: frame.height(),
        faces: detector.detect(frame, &config.detection),
        thumb: thumbnail(frame),
    }
}

/// The refusal of a burst of `count` frames, before any frame is looked at, when the
/// count is outside what the check accepts.
pub fn refuse_frame_count(
    challenge: Challenge,
    count: usize,
    config: &FacesConfig,
) -> Option<LivenessCheck> {
    let cfg = config.liveness.sanitized();
    let reason = if count < cfg.min_frames {
        LivenessReason::TooFewFrames
    } else if count > cfg.max_frames {
        LivenessReason::TooManyFrames
    } else {
        return None;
    };
    let mut check = empty_check(challenge, count, &cfg);
    check.reason = Some(reason);
    Some(check)
}

fn empty_check(challenge: Challenge, count: usize, cfg: &LivenessConfig) -> LivenessCheck {
    LivenessCheck {
        challenge,
        reason: None,
        frame_count: count,
        frames: Vec::new(),
        size_ratio: None,
        required_size_change: cfg.min_size_change,
        min_frame_difference: None,
        required_frame_difference: cfg.min_frame_difference,
        selfie_frame: None,
        selfie: None,
    }
}

/// Judge a burst from its frames' observations, in capture order.
pub fn judge_burst(
    challenge: Challenge,
    seen: Vec<FrameObservation>,
    config: &FacesConfig,
) -> LivenessCheck {
    if let Some(refused) = refuse_frame_count(challenge, seen.len(), config) {
        return refused;
    }
    let cfg = config.liveness.sanitized();
    let mut check = empty_check(challenge, seen.len(), &cfg);
    let thumbs: Vec<&Option<Vec<u8>>> = seen.iter().map(|o| &o.thumb).collect();
    let mut min_difference: Option<f64> = None;
    for (index, o) in seen.iter().enumerate() {
        let (width, height) = (o.width, o.height);
        let faces = o.faces.clone();
        let face = largest(&faces);
        let frame_area = (u64::from(width) * u64::from(height)).max(1) as f64;
        let mut copy_of = None;
        for earlier in 0..index {
            let Some(d) = difference(thumbs[earlier], thumbs[index]) else {
                continue;
            };
            min_difference = Some(min_difference.map_or(d, |m| m.min(d)));
            if copy_of.is_none() && d < cfg.min_frame_difference {
                copy_of = Some(earlier);
            }
        }
        check.frames.push(FrameReport {
            index,
            width,
            height,
            faces,
            face,
            face_area_ratio: face.map(|f| f.area() as f64 / frame_area),
            difference_from_previous: index
                .checked_sub(1)
                .and_then(|prev| difference(thumbs[prev], thumbs[index])),
            copy_of,
        });
    }
    check.min_frame_difference = min_difference;

    let first = check.frames.first().and_then(|f| f.face_area_ratio);
    let last = check.frames.last().and_then(|f| f.face_area_ratio);
    if let (Some(first), Some(last)) = (first, last) {
        check.size_ratio = Some(last / first);
    }

    check.selfie_frame = check
        .frames
        .iter()
        .filter_map(|f| f.face_area_ratio.map(|r| (f.index, r)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(index, _)| index);
    if let Some(i) = check.selfie_frame {
        let f = &check.frames[i];
        check.selfie = Some(selfie_from_faces(
            f.faces.clone(),
            f.width,
            f.height,
            &config.selfie,
        ));
    }

    check.reason = if check.frames.iter().any(|f| f.face.is_none()) {
        Some(LivenessReason::NoFaceInFrame)
    } else if check.frames.iter().any(|f| f.copy_of.is_some()) {
        Some(LivenessReason::StaticFrames)
    } else if !moved_as_asked(challenge, check.size_ratio, cfg.min_size_change) {
        Some(LivenessReason::WrongMovement)
    } else {
        None
    };
    check
}

fn moved_as_asked(challenge: Challenge, size_ratio: Option<f64>, min_change: f64) -> bool {
    match (challenge, size_ratio) {
        (_, None) => false,
        (Challenge::Closer, Some(r)) => r >= min_change,
        (Challenge::Farther, Some(r)) => r <= 1.0 / min_change,
    }
}

/// A small grey thumbnail to compare frames by; `None` for an empty frame.
fn thumbnail(frame: &DynamicImage) -> Option<Vec<u8>> {
    if frame.width() == 0 || frame.height() == 0 {
        return None;
    }
    Some(frame.thumbnail_exact(THUMB, THUMB).to_luma8().into_raw())
}

/// Mean absolute difference of two thumbnails, in grey levels.
fn difference(a: &Option<Vec<u8>>, b: &Option<Vec<u8>>) -> Option<f64> {
    let (a, b) = (a.as_ref()?, b.as_ref()?);
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    Some(sum as f64 / a.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_names_round_trip() {
        for c in Challenge::ALL {
            assert_eq!(c.as_str().parse::<Challenge>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
            assert_eq!(c.to_string(), c.as_str());
        }
        assert_eq!(Challenge::ALL, [Challenge::Closer, Challenge::Farther]);
        assert_eq!(Challenge::Farther.as_str(), "farther");
        assert_eq!(
            "sideways".parse::<Challenge>(),
            Err(UnknownChallenge("sideways".into()))
        );
    }

    #[test]
    fn random_challenges_cover_both() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.insert(Challenge::random().expect("OS randomness"));
        }
        assert_eq!(seen.len(), Challenge::ALL.len());
    }

    #[test]
    fn movement_needs_the_full_factor() {
        assert!(moved_as_asked(Challenge::Closer, Some(1.2), 1.15));
        assert!(!moved_as_asked(Challenge::Closer, Some(1.1), 1.15));
        assert!(!moved_as_asked(Challenge::Closer, Some(0.5), 1.15));
        assert!(moved_as_asked(Challenge::Farther, Some(0.8), 1.15));
        assert!(!moved_as_asked(Challenge::Farther, Some(0.9), 1.15));
        assert!(!moved_as_asked(Challenge::Farther, None, 1.15));
    }

    #[test]
    fn config_cannot_disable_the_check() {
        let lax = LivenessConfig {
            min_frames: 0,
            max_frames: 1000,
            min_size_change: 0.5,
            min_frame_difference: f64::NAN,
        }
        .sanitized();
        assert_eq!(lax.min_frames, 2);
        assert_eq!(lax.max_frames, FRAMES_CEILING);
        assert!(lax.min_size_change > 1.0);
        assert!(lax.min_frame_difference.is_finite());
    }

    #[test]
    fn frame_count_is_checked_before_any_work() {
        let detector = FaceDetector::shared();
        let cfg = FacesConfig::default();
        let one = vec![DynamicImage::new_rgb8(64, 64)];
        let few = check_liveness(detector, Challenge::Closer, &one, &cfg);
        assert_eq!(few.reason, Some(LivenessReason::TooFewFrames));
        assert_eq!(few.reasons(), [LIVENESS_FAILED, "LIVENESS_TOO_FEW_FRAMES"]);
        assert!(!few.passed());

        let nine = vec![DynamicImage::new_rgb8(64, 64); 9];
        let many = check_liveness(detector, Challenge::Closer, &nine, &cfg);
        assert_eq!(many.reason, Some(LivenessReason::TooManyFrames));
        assert!(many.frames.is_empty());
    }

    #[test]
    fn degenerate_frames_do_not_panic() {
        let frames = vec![
            DynamicImage::new_rgb8(0, 0),
            DynamicImage::new_rgb8(0, 7),
            DynamicImage::new_rgb8(1, 1),
            DynamicImage::new_luma8(2, 3000),
        ];
        let check = check_liveness(
            FaceDetector::shared(),
            Challenge::Farther,
            &frames,
            &FacesConfig::default(),
        );
        assert_eq!(check.reason, Some(LivenessReason::NoFaceInFrame));
        assert_eq!(check.frames.len(), 4);
        assert!(check.selfie_frame.is_none() && check.selfie.is_none());
    }

    #[test]
    fn reason_codes_serialise_as_codes() {
        for &r in LivenessReason::VARIANTS {
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
            assert_eq!(
                serde_json::from_value::<LivenessReason>(r.code().into()).unwrap(),
                r
            );
        }
        assert_eq!(
            LivenessReason::NoFaceInFrame.code(),
            "LIVENESS_NO_FACE_IN_FRAME"
        );
    }
}
