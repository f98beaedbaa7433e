//! The face checks on a document front (a portrait is present) and on a selfie (one face,
//! large enough to be useful).

use image::DynamicImage;
use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantArray};

use super::{FaceBox, FaceDetector, FacesConfig, largest, width_ratio};
use crate::imaging::PortraitSeen;

/// Why a face check rejected an image. Serialised as the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(IntoStaticStr, VariantArray)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum FaceReason {
    /// No face was found (document: no portrait; selfie: nobody in the picture).
    FaceNotFound,
    /// A selfie shows more than one face.
    MultipleFaces,
    /// The face is too small relative to the image to be checked or compared.
    FaceTooSmall,
}

impl FaceReason {
    /// The stable machine code, as stored with an attempt.
    pub fn code(self) -> &'static str {
        self.into()
    }
}

/// Thresholds for the portrait on a document front.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentFaceConfig {
    /// Smallest accepted portrait: box width over the image's shorter side. The default
    /// accepts any portrait the detector finds, because the front may arrive uncropped
    /// with the card filling only part of the photo.
    pub min_face_ratio: f64,
}

impl Default for DocumentFaceConfig {
    fn default() -> Self {
        DocumentFaceConfig {
            min_face_ratio: 0.0,
        }
    }
}

/// Thresholds for a selfie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelfieConfig {
    /// Smallest accepted face: box width over the image's shorter side. The detector's box
    /// is tight around eyes, nose and mouth: a head-and-shoulders portrait measures about
    /// 0.2, a phone held at arm's length more.
    pub min_face_ratio: f64,
}

impl Default for SelfieConfig {
    fn default() -> Self {
        SelfieConfig {
            min_face_ratio: 0.15,
        }
    }
}

/// The outcome of a face check, with what was measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceCheck {
    /// `None` when the image passed.
    pub reason: Option<FaceReason>,
    /// Every face found, highest score first.
    pub faces: Vec<FaceBox>,
    /// The face the check is about: the document's portrait or the selfie's face (the
    /// largest one found).
    pub face: Option<FaceBox>,
    /// That face's width over the image's shorter side.
    pub face_ratio: Option<f64>,
    /// The threshold `face_ratio` was held to.
    pub min_face_ratio: f64,
    pub image_width: u32,
    pub image_height: u32,
}

impl FaceCheck {
    pub fn passed(&self) -> bool {
        self.reason.is_none()
    }

    /// The reason codes to store with the attempt; empty when it passed.
    pub fn reasons(&self) -> Vec<&'static str> {
        self.reason.iter().map(|r| r.code()).collect()
    }
}

/// Is there a portrait on this document front? Several faces are fine (many documents
/// carry a second, small "ghost" portrait); the largest is taken as the portrait.
pub fn check_document_portrait(
    detector: &FaceDetector,
    front: &DynamicImage,
    config: &FacesConfig,
) -> FaceCheck {
    let faces = detector.detect(front, &config.detection);
    document_from_faces(faces, front.width(), front.height(), &config.document)
}

/// Does this selfie show exactly one face, large enough?
pub fn check_selfie(
    detector: &FaceDetector,
    selfie: &DynamicImage,
    config: &FacesConfig,
) -> FaceCheck {
    let faces = detector.detect(selfie, &config.detection);
    selfie_from_faces(faces, selfie.width(), selfie.height(), &config.selfie)
}

pub(crate) fn document_from_faces(
    faces: Vec<FaceBox>,
    width: u32,
    height: u32,
    config: &DocumentFaceConfig,
) -> FaceCheck {
    let face = largest(&faces);
    let face_ratio = face.map(|f| width_ratio(&f, width, height));
    let reason = match face_ratio {
        None => Some(FaceReason::FaceNotFound),
        Some(r) if r < config.min_face_ratio => Some(FaceReason::FaceTooSmall),
        Some(_) => None,
    };
    FaceCheck {
        reason,
        faces,
        face,
        face_ratio,
        min_face_ratio: config.min_face_ratio,
        image_width: width,
        image_height: height,
    }
}

/// The largest face on a frame taken whole as a document is its printed portrait when it
/// has a portrait's size and place: a tenth to two fifths of the frame's shorter side (a
/// card's portrait face measures about a quarter to a third) and off the middle, in the
/// frame's left or right part, beside the text.
const PRINTED_PORTRAIT_RATIO: std::ops::Range<f64> = 0.1..0.4;
/// How far from the frame's middle (as a share of its width) a portrait's centre lies.
const PRINTED_PORTRAIT_OFFSET: f64 = 0.15;
/// A face whose box covers at least this share of the frame's area fills it: the frame is
/// a face photo or a portrait's own picture, never a document's side. A portrait covers a
/// sixth of its document and its face box (brow to chin, cheek to cheek) at most a third
/// of the portrait, so a document's face covers about 5 % of it or less; an identity
/// photo's face covers 20–30 % of the photo.
const FACE_PHOTO_SHARE: f64 = 0.12;

/// What the largest face on a straightened frame says about it (see
/// [`crate::imaging::PortraitSeen`] and the constants above).
pub(crate) fn portrait_seen(faces: &[FaceBox], width: u32, height: u32) -> PortraitSeen {
    let Some(face) = largest(faces) else {
        return PortraitSeen::NoFace;
    };
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let share = f64::from(face.width) * f64::from(face.height) / (w * h);
    let ratio = width_ratio(&face, width, height);
    let centre = (f64::from(face.x) + f64::from(face.width) / 2.0) / w;
    if share >= FACE_PHOTO_SHARE {
        PortraitSeen::FacePhoto
    } else if PRINTED_PORTRAIT_RATIO.contains(&ratio)
        && (centre - 0.5).abs() >= PRINTED_PORTRAIT_OFFSET
    {
        PortraitSeen::Printed
    } else {
        PortraitSeen::Other
    }
}

pub(crate) fn selfie_from_faces(
    faces: Vec<FaceBox>,
    width: u32,
    height: u32,
    config: &SelfieConfig,
) -> FaceCheck {
    let face = largest(&faces);
    let face_ratio = face.map(|f| width_ratio(&f, width, height));
    let reason = match (faces.len(), face_ratio) {
        (0, _) | (_, None) => Some(FaceReason::FaceNotFound),
        (1, Some(r)) if r < config.min_face_ratio => Some(FaceReason::FaceTooSmall),
        (1, Some(_)) => None,
        _ => Some(FaceReason::MultipleFaces),
    };
    FaceCheck {
        reason,
        faces,
        face,
        face_ratio,
        min_face_ratio: config.min_face_ratio,
        image_width: width,
        image_height: height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: u32, width: u32) -> FaceBox {
        FaceBox {
            x,
            y: 10,
            width,
            height: width,
            score: 5.0,
        }
    }

    #[test]
    fn selfie_rules_in_order() {
        let cfg = SelfieConfig::default();
        let none = selfie_from_faces(vec![], 400, 300, &cfg);
        assert_eq!(none.reason, Some(FaceReason::FaceNotFound));
        assert_eq!(none.reasons(), ["FACE_NOT_FOUND"]);

        let two = selfie_from_faces(vec![face(0, 100), face(200, 90)], 400, 300, &cfg);
        assert_eq!(two.reason, Some(FaceReason::MultipleFaces));
        assert_eq!(two.face.unwrap().width, 100);

        let small = selfie_from_faces(vec![face(0, 30)], 400, 300, &cfg);
        assert_eq!(small.reason, Some(FaceReason::FaceTooSmall));
        assert_eq!(small.face_ratio, Some(0.1));

        let good = selfie_from_faces(vec![face(0, 120)], 400, 300, &cfg);
        assert!(good.passed());
        assert!(good.reasons().is_empty());
        assert_eq!(good.face_ratio, Some(0.4));
    }

    #[test]
    fn a_printed_portrait_is_off_the_middle_and_of_a_portraits_size() {
        // A 1000 × 630 card: its shorter side is 630.
        let seen = |faces: &[FaceBox]| portrait_seen(faces, 1000, 630);
        // Left of the text (centre at 0.18), a quarter of the height: a portrait.
        assert_eq!(seen(&[face(100, 160)]), PortraitSeen::Printed);
        // On the right, as some cards print it; a ghost portrait beside it changes nothing.
        assert_eq!(
            seen(&[face(700, 160), face(450, 40)]),
            PortraitSeen::Printed
        );
        assert_eq!(seen(&[]), PortraitSeen::NoFace);
        assert_eq!(
            seen(&[face(420, 160)]),
            PortraitSeen::Other,
            "in the middle"
        );
        assert_eq!(seen(&[face(40, 40)]), PortraitSeen::Other, "too small");
        // A face filling the frame, wherever it lies, is a face photo's: 280² of 1000 × 630
        // is 12.4 % of it.
        assert_eq!(seen(&[face(340, 280)]), PortraitSeen::FacePhoto);
        assert_eq!(seen(&[face(0, 280)]), PortraitSeen::FacePhoto);
        assert_eq!(
            seen(&[face(0, 240)]),
            PortraitSeen::Printed,
            "9 %: a large portrait"
        );
        // The largest face decides, not the first.
        assert_eq!(seen(&[face(100, 160), face(400, 200)]), PortraitSeen::Other);
    }

    #[test]
    fn document_takes_the_largest_of_several_portraits() {
        let cfg = DocumentFaceConfig::default();
        let doc = document_from_faces(vec![face(0, 20), face(50, 80)], 600, 400, &cfg);
        assert!(doc.passed());
        assert_eq!(doc.face.unwrap().width, 80);
        let empty = document_from_faces(vec![], 600, 400, &cfg);
        assert_eq!(empty.reasons(), ["FACE_NOT_FOUND"]);
    }

    #[test]
    fn reasons_serialise_as_their_codes() {
        for &r in FaceReason::VARIANTS {
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
            assert_eq!(
                serde_json::from_value::<FaceReason>(r.code().into()).unwrap(),
                r
            );
        }
        assert_eq!(FaceReason::FaceNotFound.code(), "FACE_NOT_FOUND");
    }
}
