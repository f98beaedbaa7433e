//! Face detection, selfie and document checks, liveness and face match on a real photograph
//! (`tests/fixtures/astronaut.jpg`) and on images built from it here.

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView, ImageFormat, Luma, Rgb, RgbImage};
use v2client::faces::{
    Challenge, FaceBox, FaceDetector, FaceInImage, FaceMatch, FaceMatchReason, FaceReason,
    FacesConfig, LIVENESS_FAILED, LivenessReason, check_document_portrait, check_liveness,
    check_selfie, compare_faces, detect_faces,
};

const ASTRONAUT: &[u8] = include_bytes!("../fixtures/astronaut.jpg");

pub(crate) fn astronaut() -> DynamicImage {
    image::load_from_memory_with_format(ASTRONAUT, ImageFormat::Jpeg).expect("fixture decodes")
}

fn only_face(img: &DynamicImage) -> FaceBox {
    let faces = detect_faces(img);
    assert_eq!(faces.len(), 1, "expected one face, found {faces:?}");
    faces[0]
}

/// Deterministic noise, so a failure reproduces.
fn noise(width: u32, height: u32, seed: u64) -> DynamicImage {
    let mut state = seed | 1;
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_le_bytes();
        Rgb([b[0], b[1], b[2]])
    }))
}

/// The photo re-encoded as JPEG at `quality`: the same picture, not the same bytes.
fn reencoded(img: &DynamicImage, quality: u8) -> DynamicImage {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    img.to_rgb8().write_with_encoder(encoder).expect("encode");
    image::load_from_memory(&out).expect("decode")
}

/// A square crop of side `side` centred on the face (kept inside the image), scaled to
/// the photo's own size: a camera zoomed in by `full / side`.
fn zoomed(img: &DynamicImage, face: FaceBox, side: u32) -> DynamicImage {
    let (w, h) = img.dimensions();
    let cx = face.x + face.width / 2;
    let cy = face.y + face.height / 2;
    let x = cx.saturating_sub(side / 2).min(w - side);
    let y = cy.saturating_sub(side / 2).min(h - side);
    img.crop_imm(x, y, side, side)
        .resize_exact(w, h, FilterType::Triangle)
}

/// Frames of the photo zooming in: the face grows from frame to frame.
pub(crate) fn zoom_in() -> Vec<DynamicImage> {
    let img = astronaut();
    let face = only_face(&img);
    [256, 224, 196, 168]
        .into_iter()
        .map(|side| zoomed(&img, face, side))
        .collect()
}

pub(crate) fn zoom_out() -> Vec<DynamicImage> {
    let mut frames = zoom_in();
    frames.reverse();
    frames
}

fn config() -> FacesConfig {
    FacesConfig::default()
}

#[test]
fn finds_the_face_in_the_photo() {
    let img = astronaut();
    let face = only_face(&img);
    // The face sits in the upper middle of the portrait; the box must cover it and not
    // the whole picture.
    let (cx, cy) = (face.x + face.width / 2, face.y + face.height / 2);
    assert!((80..=176).contains(&cx), "{face:?}");
    assert!((40..=140).contains(&cy), "{face:?}");
    assert!((30..=140).contains(&face.width), "{face:?}");
    assert!(face.score > 0.0);

    let detector = FaceDetector::shared();
    let selfie = check_selfie(detector, &img, &config());
    assert!(selfie.passed(), "{selfie:?}");
    assert_eq!(selfie.faces.len(), 1);
    let document = check_document_portrait(detector, &img, &config());
    assert!(document.passed(), "{document:?}");
    assert_eq!(document.face, Some(face));
}

#[test]
fn boxes_come_back_in_original_coordinates() {
    // Four times larger than the detection size, so detection runs on a downscaled copy.
    let img = astronaut();
    let small = only_face(&img);
    let big = only_face(&img.resize_exact(1024, 1024, FilterType::Triangle));
    let near = |a: u32, b: u32| (f64::from(a) - f64::from(b) * 4.0).abs() <= 24.0;
    assert!(
        near(big.x, small.x) && near(big.y, small.y) && near(big.width, small.width),
        "{small:?} vs {big:?}"
    );
}

#[test]
fn grey_and_colour_inputs_agree() {
    let img = astronaut();
    let detector = FaceDetector::shared();
    let config = config();
    let colour = detector.detect(&img, &config.detection);
    let grey = detector.detect_gray(&img.to_luma8(), &config.detection);
    assert_eq!(colour, grey);
    // Also when both are downscaled for detection.
    let big = img.resize_exact(900, 900, FilterType::Triangle);
    let colour = detector.detect(&big, &config.detection);
    let grey = detector.detect_gray(&big.to_luma8(), &config.detection);
    assert_eq!(colour.len(), 1);
    assert_eq!(grey.len(), 1);
    let (a, b) = (colour[0], grey[0]);
    assert!(
        a.x.abs_diff(b.x) <= 8 && a.width.abs_diff(b.width) <= 8,
        "{a:?} vs {b:?}"
    );
}

#[test]
fn no_face_in_blank_or_noise() {
    let detector = FaceDetector::shared();
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(320, 240, Luma([128])));
    for img in [grey, noise(320, 240, 7), noise(640, 480, 11)] {
        assert!(detect_faces(&img).is_empty());
        let selfie = check_selfie(detector, &img, &config());
        assert_eq!(selfie.reason, Some(FaceReason::FaceNotFound));
        assert_eq!(selfie.reasons(), ["FACE_NOT_FOUND"]);
        let document = check_document_portrait(detector, &img, &config());
        assert_eq!(document.reason, Some(FaceReason::FaceNotFound));
    }
}

#[test]
fn several_faces_are_refused_for_a_selfie() {
    let img = astronaut();
    let mut collage = RgbImage::from_pixel(3 * 256, 256, Rgb([200, 200, 200]));
    for i in 0..3 {
        imageops::overlay(&mut collage, &img.to_rgb8(), i64::from(i) * 256, 0);
    }
    let collage = DynamicImage::ImageRgb8(collage);
    let check = check_selfie(FaceDetector::shared(), &collage, &config());
    assert_eq!(check.reason, Some(FaceReason::MultipleFaces), "{check:?}");
    assert_eq!(check.faces.len(), 3, "{:?}", check.faces);
    // A document may carry several portraits: that is fine.
    let document = check_document_portrait(FaceDetector::shared(), &collage, &config());
    assert!(document.passed());
}

#[test]
fn a_tiny_face_is_too_small_for_a_selfie() {
    let img = astronaut();
    // 800 px: downscaled to 640 for detection, the face stays big enough to be found
    // (about 40 px), yet it is a small part of the picture.
    let mut canvas = RgbImage::from_pixel(800, 800, Rgb([90, 110, 130]));
    imageops::overlay(&mut canvas, &img.to_rgb8(), 272, 272);
    let canvas = DynamicImage::ImageRgb8(canvas);
    let check = check_selfie(FaceDetector::shared(), &canvas, &config());
    assert_eq!(check.reason, Some(FaceReason::FaceTooSmall), "{check:?}");
    let ratio = check.face_ratio.expect("the face was found");
    assert!(ratio < check.min_face_ratio, "{ratio}");
    // Found where it was pasted.
    let face = check.face.unwrap();
    assert!(face.x >= 272 && face.x + face.width <= 528, "{face:?}");
}

#[test]
fn static_copies_fail_liveness() {
    let img = astronaut();
    let detector = FaceDetector::shared();
    let copies = vec![img.clone(); 4];
    let exact = check_liveness(detector, Challenge::Closer, &copies, &config());
    assert_eq!(
        exact.reason,
        Some(LivenessReason::StaticFrames),
        "{exact:?}"
    );
    assert_eq!(
        exact.reasons()[..2],
        [LIVENESS_FAILED, "LIVENESS_STATIC_FRAMES"]
    );
    assert_eq!(exact.min_frame_difference, Some(0.0));
    assert_eq!(exact.frames[3].copy_of, Some(0));

    // Re-encoding changes the bytes but not the picture.
    let recoded = vec![img.clone(), reencoded(&img, 70), reencoded(&img, 50)];
    let check = check_liveness(detector, Challenge::Farther, &recoded, &config());
    assert_eq!(
        check.reason,
        Some(LivenessReason::StaticFrames),
        "{check:?}"
    );
    assert!(check.min_frame_difference.unwrap() < check.required_frame_difference);
}

#[test]
fn zooming_in_passes_closer_and_fails_farther() {
    let frames = zoom_in();
    let detector = FaceDetector::shared();

    let closer = check_liveness(detector, Challenge::Closer, &frames, &config());
    assert!(closer.live(), "{closer:?}");
    assert!(closer.passed(), "{closer:?}");
    assert!(closer.reasons().is_empty());
    let ratio = closer.size_ratio.unwrap();
    assert!(ratio >= closer.required_size_change, "{ratio}");
    assert!(closer.min_frame_difference.unwrap() >= closer.required_frame_difference);
    assert!(closer.frames.iter().all(|f| f.faces.len() == 1));
    // The selfie is the frame with the largest face: the last one when zooming in.
    assert_eq!(closer.selfie_frame, Some(frames.len() - 1));

    let farther = check_liveness(detector, Challenge::Farther, &frames, &config());
    assert_eq!(farther.reason, Some(LivenessReason::WrongMovement));
    assert_eq!(
        farther.reasons(),
        [LIVENESS_FAILED, "LIVENESS_WRONG_MOVEMENT"]
    );
}

#[test]
fn zooming_out_passes_farther() {
    let frames = zoom_out();
    let detector = FaceDetector::shared();
    let farther = check_liveness(detector, Challenge::Farther, &frames, &config());
    assert!(farther.passed(), "{farther:?}");
    assert!(farther.size_ratio.unwrap() <= 1.0 / farther.required_size_change);
    assert_eq!(farther.selfie_frame, Some(0));

    let closer = check_liveness(detector, Challenge::Closer, &frames, &config());
    assert_eq!(closer.reason, Some(LivenessReason::WrongMovement));
}

#[test]
fn sliding_without_zooming_is_not_the_asked_movement() {
    // Frames that differ (the face slides sideways) but keep their size.
    let img = astronaut();
    let face = only_face(&img);
    let frames: Vec<DynamicImage> = [-24i64, 0, 24]
        .into_iter()
        .map(|dx| {
            let mut canvas = RgbImage::from_pixel(256, 256, Rgb([128, 128, 128]));
            imageops::overlay(&mut canvas, &img.to_rgb8(), dx, 0);
            DynamicImage::ImageRgb8(canvas)
        })
        .collect();
    let check = check_liveness(
        FaceDetector::shared(),
        Challenge::Closer,
        &frames,
        &config(),
    );
    assert_eq!(
        check.reason,
        Some(LivenessReason::WrongMovement),
        "{check:?}"
    );
    let ratio = check.size_ratio.unwrap();
    assert!((0.8..1.15).contains(&ratio), "{ratio} for {face:?}");
}

#[test]
fn a_frame_without_a_face_fails_liveness() {
    let mut frames = zoom_in();
    frames[2] = noise(256, 256, 3);
    let check = check_liveness(
        FaceDetector::shared(),
        Challenge::Closer,
        &frames,
        &config(),
    );
    assert_eq!(
        check.reason,
        Some(LivenessReason::NoFaceInFrame),
        "{check:?}"
    );
    assert_eq!(
        check.reasons(),
        [LIVENESS_FAILED, "LIVENESS_NO_FACE_IN_FRAME"]
    );
    assert!(check.frames[2].face.is_none());
    assert!(check.frames[3].face.is_some());
}

#[test]
fn too_few_frames_fail_before_detection() {
    let check = check_liveness(
        FaceDetector::shared(),
        Challenge::Closer,
        &[astronaut()],
        &config(),
    );
    assert_eq!(check.reason, Some(LivenessReason::TooFewFrames));
    assert!(check.frames.is_empty() && check.selfie.is_none());
}

#[test]
fn face_match_is_not_performed_without_a_model() {
    let img = astronaut();
    let face = only_face(&img);
    let side = FaceInImage { image: &img, face };
    // Even the very same face is not declared a match: there is no model to say so.
    assert_eq!(
        compare_faces(side, side),
        FaceMatch::NotPerformed {
            reason: FaceMatchReason::ModelUnavailable
        }
    );
    assert_eq!(
        FaceMatchReason::ModelUnavailable.code(),
        "FACE_MATCH_MODEL_UNAVAILABLE"
    );
}
