//! Face detection, selfie and document checks, liveness and face match on real photographs
//! (`tests/fixtures/`: NASA's and the White House's public-domain portraits) and on images
//! built from them here.

use image::imageops::{self, FilterType};
use image::{DynamicImage, GenericImageView, ImageFormat, Luma, Rgb, RgbImage};
use v2client::faces::{
    Challenge, FaceBox, FaceDetector, FaceMatch, FaceMatchReason, FaceModels, FaceReason,
    FacesConfig, LIVENESS_FAILED, LivenessReason, MatchDecision, ModelsConfig, Thresholds,
    check_document_portrait, check_liveness, check_selfie, compare, detect_faces, models,
    recognition,
};

const ASTRONAUT: &[u8] = include_bytes!("../fixtures/astronaut.jpg");
const OBAMA: &[u8] = include_bytes!("../fixtures/obama.jpg");
const OBAMA2: &[u8] = include_bytes!("../fixtures/obama2.jpg");

pub(crate) fn astronaut() -> DynamicImage {
    image::load_from_memory_with_format(ASTRONAUT, ImageFormat::Jpeg).expect("fixture decodes")
}

/// Another person: a White House portrait (2012).
pub(crate) fn obama() -> DynamicImage {
    image::load_from_memory_with_format(OBAMA, ImageFormat::Jpeg).expect("fixture decodes")
}

/// The same person in another photograph, years earlier.
fn obama2() -> DynamicImage {
    image::load_from_memory_with_format(OBAMA2, ImageFormat::Jpeg).expect("fixture decodes")
}

fn models() -> std::sync::Arc<FaceModels> {
    FaceModels::load(&ModelsConfig::default()).expect("the embedded models load")
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

/// A replay attack: the portrait shown on a phone (dark bezel) held up in a room and
/// brought closer to the camera, as a burst of 640×480 frames.
pub(crate) fn phone_replay_frames() -> Vec<DynamicImage> {
    let img = astronaut();
    let face = only_face(&img);
    // The phone's screen shows the face zoomed in; the phone grows in the frame.
    let screen_content = zoomed(&img, face, 110).to_rgb8();
    [220u32, 236, 252, 268]
        .into_iter()
        .map(|side| {
            let mut room = RgbImage::from_pixel(640, 480, Rgb([120, 110, 100]));
            let bezel = RgbImage::from_pixel(side + side / 10, side + side / 3, Rgb([12, 12, 14]));
            let (bx, by) = (320 - bezel.width() / 2, 240 - bezel.height() / 2);
            imageops::replace(&mut room, &bezel, i64::from(bx), i64::from(by));
            let screen = imageops::resize(&screen_content, side, side, FilterType::Triangle);
            imageops::replace(
                &mut room,
                &screen,
                i64::from(320 - side / 2),
                i64::from(240 - side / 2),
            );
            DynamicImage::ImageRgb8(room)
        })
        .collect()
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

fn compared(a: &DynamicImage, b: &DynamicImage) -> FaceMatch {
    compare(&models(), &a.to_rgb8(), &b.to_rgb8(), Thresholds::default()).unwrap()
}

fn similarity(m: &FaceMatch) -> f64 {
    match m {
        FaceMatch::Performed { similarity, .. } => *similarity,
        other => panic!("not performed: {other:?}"),
    }
}

#[test]
fn the_same_face_matches_through_camera_changes() {
    // The selfie is a zoomed, re-encoded frame of the portrait.
    let frame = reencoded(&zoom_in()[2], 70);
    let m = compared(&frame, &astronaut());
    assert_eq!(m.decision(), Some(MatchDecision::Match), "{m:?}");
    assert!(similarity(&m) > 0.8, "{m:?}");
    let FaceMatch::Performed {
        model, thresholds, ..
    } = &m
    else {
        unreachable!()
    };
    assert_eq!(*thresholds, Thresholds::default());
    assert_eq!(model.name, "faceplugin-face-recognition-js");
    assert_eq!(model.sha256.len(), 4);
}

#[test]
fn two_photos_of_one_person_years_apart_match() {
    let m = compared(&obama2(), &obama());
    assert_eq!(m.decision(), Some(MatchDecision::Match), "{m:?}");
}

#[test]
fn different_people_do_not_match() {
    for (a, b) in [(astronaut(), obama()), (obama2(), astronaut())] {
        let m = compared(&a, &b);
        assert_eq!(m.decision(), Some(MatchDecision::NoMatch), "{m:?}");
        assert!(similarity(&m) < Thresholds::default().no_match, "{m:?}");
    }
}

#[test]
fn no_face_means_no_comparison_and_says_which() {
    let blank = DynamicImage::new_rgb8(320, 240);
    assert_eq!(
        compared(&blank, &astronaut()),
        FaceMatch::NotPerformed {
            reason: FaceMatchReason::SelfieFaceNotFound
        }
    );
    assert_eq!(
        compared(&astronaut(), &noise(320, 240, 5)),
        FaceMatch::NotPerformed {
            reason: FaceMatchReason::DocumentFaceNotFound
        }
    );
}

#[test]
fn the_detector_finds_the_face_where_it_is() {
    let img = astronaut().to_rgb8();
    let faces = recognition::detect(&models(), &img).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    let f = faces[0];
    // The helmeted face sits in the upper middle of the portrait.
    let (cx, cy) = ((f.x1 + f.x2) / 2.0, (f.y1 + f.y2) / 2.0);
    assert!(
        (90.0..140.0).contains(&cx) && (40.0..90.0).contains(&cy),
        "{f:?}"
    );
    assert!(f.score > 0.9);
    // The same face in a larger, padded canvas is found at the shifted place.
    let mut canvas = RgbImage::new(900, 500);
    imageops::replace(&mut canvas, &img, 500, 200);
    let g = recognition::detect(&models(), &canvas).unwrap()[0];
    assert!(
        (g.x1 - (f.x1 + 500.0)).abs() < 12.0 && (g.y1 - (f.y1 + 200.0)).abs() < 12.0,
        "{g:?} vs {f:?}"
    );
}

#[test]
fn a_real_portrait_scores_live_and_a_photo_in_a_phone_does_not() {
    let m = models();
    let live = |img: &RgbImage| {
        let face = recognition::detect(&m, img).unwrap()[0];
        recognition::spoof_score(&m, img, &face).unwrap()
    };
    let portrait = astronaut().to_rgb8();
    assert!(live(&portrait) < 0.1, "{}", live(&portrait));
    // The portrait shown on a phone held up in a room: a dark bezel around it.
    let mut room = RgbImage::from_pixel(640, 480, Rgb([120, 110, 100]));
    let bezel = RgbImage::from_pixel(256 + 24, 256 + 72, Rgb([10, 10, 12]));
    imageops::replace(&mut room, &bezel, 180, 76);
    imageops::replace(&mut room, &portrait, 192, 112);
    let spoof = live(&room);
    assert!(spoof > 0.5, "{spoof}");
}

#[test]
fn a_replayed_portrait_on_a_phone_passes_the_movement_but_is_flagged() {
    let frames = phone_replay_frames();
    // The movement check alone is fooled: the face grows as asked.
    let check = check_liveness(
        FaceDetector::shared(),
        Challenge::Closer,
        &frames,
        &config(),
    );
    assert!(check.passed(), "{:?}", check.reason);
    let m = models();
    let rgb: Vec<RgbImage> = frames.iter().map(|f| f.to_rgb8()).collect();
    let picked: Vec<(usize, &RgbImage)> = rgb.iter().enumerate().collect();
    let passive = v2client::faces::passive::score_frames(&m, &picked, &Default::default()).unwrap();
    assert!(passive.spoof_suspected, "{passive:?}");
    assert_eq!(passive.flag(), Some("LIVENESS_SPOOF_SUSPECTED"));
}

#[test]
fn a_model_folder_missing_a_file_fails_to_load_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelsConfig {
        dir: Some(dir.path().to_owned()),
        ..ModelsConfig::default()
    };
    let err = FaceModels::load(&config).unwrap_err();
    assert!(matches!(err, models::ModelError::Read { .. }), "{err}");
    assert!(err.to_string().contains("fr_detect.onnx"), "{err}");
}

#[test]
fn a_model_folder_is_checked_against_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models");
    for f in [
        "fr_detect.onnx",
        "fr_landmark.onnx",
        "fr_feature.onnx",
        "fr_liveness.onnx",
    ] {
        std::fs::copy(assets.join(f), dir.path().join(f)).unwrap();
    }
    let config = ModelsConfig {
        dir: Some(dir.path().to_owned()),
        name: Some("operator-set".into()),
        version: Some("7".into()),
    };
    // Loads without a manifest, and reports its name and hashes.
    let loaded = FaceModels::load(&config).unwrap();
    assert_eq!(loaded.info.name, "operator-set");
    assert_eq!(
        loaded.info.sha256["fr_feature.onnx"],
        models().info.sha256["fr_feature.onnx"]
    );
    drop(loaded);
    // A manifest that disagrees with a file refuses the set.
    let mut manifest = std::fs::read_to_string(assets.join("SHA256SUMS")).unwrap();
    manifest = manifest.replace("87aacdfe", "00000000");
    std::fs::write(dir.path().join("SHA256SUMS"), manifest).unwrap();
    let other = ModelsConfig {
        version: Some("8".into()),
        ..config
    };
    let err = FaceModels::load(&other).unwrap_err();
    assert!(matches!(err, models::ModelError::Checksum { .. }), "{err}");
    // A file that is not a model is refused with its name.
    std::fs::remove_file(dir.path().join("SHA256SUMS")).unwrap();
    std::fs::write(dir.path().join("fr_liveness.onnx"), b"not a model").unwrap();
    let err = FaceModels::load(&ModelsConfig {
        version: Some("9".into()),
        ..other
    })
    .unwrap_err();
    assert!(err.to_string().contains("fr_liveness.onnx"), "{err}");
}
