//! The verification backend's behaviour, run twice: against the built-in backend
//! in-process, and against the HTTP backend talking to an engine on a loopback port.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use image::{DynamicImage, GenericImageView, Rgb, RgbImage, imageops};
use v2client::backend::{
    BackendError, DecisionInput, DocumentResult, HttpBackend, LocalBackend, Side, StepOutcome,
    Verdict, VerificationBackend,
};
use v2client::domain::{DocumentType, RedactionTarget, Status, Step};
use v2client::faces::{Challenge, FaceMatch, FacesConfig, MatchDecision, Thresholds};
use v2client::imaging::{self, ImagingConfig};
use v2client_testkit::synth::{self, Variant};

use crate::faces::{astronaut, obama, zoom_in, zoom_out};

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Local,
    Http,
}

const TOKEN: &str = "engine-test-token";

fn local() -> Arc<dyn VerificationBackend> {
    Arc::new(
        LocalBackend::new(ImagingConfig::default(), FacesConfig::default(), 2)
            .expect("the embedded face models load"),
    )
}

/// Serve the engine router on a loopback port; the server lives as long as the test's
/// runtime.
async fn engine_url(token: Option<&str>) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = v2client::backend::engine::router(local(), token.map(str::to_owned), 64 << 20);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url::Url::parse(&format!("http://{addr}/")).unwrap()
}

pub async fn backend(kind: Kind) -> Arc<dyn VerificationBackend> {
    match kind {
        Kind::Local => local(),
        Kind::Http => Arc::new(HttpBackend::new(
            Some(engine_url(Some(TOKEN)).await),
            Some(TOKEN.into()),
            Duration::from_secs(60),
        )),
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Kind::Local).await }
            )*
        }
        mod http {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::Kind::Http).await }
            )*
        }
    };
}

both_backends!(
    angled_card_is_accepted_with_a_true_crop,
    passport_front_needs_a_portrait,
    id_card_front_with_a_face_is_accepted,
    a_scanned_card_front_is_taken_whole,
    a_portrait_is_not_taken_for_the_card,
    bad_photos_are_rejected_with_every_reason,
    non_images_and_bombs_are_refused,
    metadata_never_survives,
    liveness_follows_the_challenge,
    face_match_decides_the_verification,
);

fn jpeg(img: &RgbImage) -> Bytes {
    Bytes::from(imaging::encode_jpeg(img, 92).unwrap())
}

fn jpeg_dyn(img: &DynamicImage) -> Bytes {
    jpeg(&img.to_rgb8())
}

fn aspect_of(bytes: &[u8]) -> f64 {
    let img = image::load_from_memory(bytes).unwrap();
    f64::from(img.width()) / f64::from(img.height())
}

async fn angled_card_is_accepted_with_a_true_crop(kind: Kind) {
    let b = backend(kind).await;
    for (doc, seed) in [(DocumentType::IdCard, 3), (DocumentType::DrivingLicence, 4)] {
        let scene = synth::photo(doc, 1280, 960, Variant::Clean, seed);
        let r = b
            .check_document(doc, Side::Back, jpeg(&scene.image))
            .await
            .unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Accepted,
            "{doc:?}: {:?} {}",
            r.reasons,
            r.metrics
        );
        assert!(r.reasons.is_empty());
        let aspect = aspect_of(r.cropped_jpeg.as_ref().expect("crop"));
        assert!(
            (aspect / (85.60 / 53.98) - 1.0).abs() < 0.03,
            "aspect {aspect}"
        );
        // Corners near the truth (a few percent of the diagonal).
        let truth = scene.corners.unwrap();
        let corners = r.metrics["corners"].as_array().expect("corners");
        for (i, c) in corners.iter().enumerate() {
            let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
            let t = truth.0[i];
            let d = ((x - t.x).powi(2) + (y - t.y).powi(2)).sqrt();
            assert!(d / truth.diagonal() < 0.03, "corner {i} off by {d}");
        }
        for key in ["sharpness", "mean_luminance", "glare_fraction"] {
            assert!(r.metrics["quality"][key].is_number(), "{key} measured");
        }
        let original = image::load_from_memory(&r.original_jpeg).unwrap();
        assert_eq!(original.dimensions(), (1280, 960));
    }
}

async fn passport_front_needs_a_portrait(kind: Kind) {
    let b = backend(kind).await;
    // The synthetic page has a portrait-coloured block but no face.
    let scene = synth::photo(DocumentType::Passport, 1280, 960, Variant::Clean, 5);
    let r = b
        .check_document(DocumentType::Passport, Side::Front, jpeg(&scene.image))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Rejected);
    assert_eq!(r.reasons, vec!["FACE_NOT_FOUND"]);
    let aspect = aspect_of(r.cropped_jpeg.as_ref().expect("crop"));
    assert!(
        (aspect / (125.0 / 88.0) - 1.0).abs() < 0.03,
        "aspect {aspect}"
    );
}

/// A flat id card with the test photo in its portrait box, on a dark table.
pub(crate) fn id_card_with_face() -> RgbImage {
    id_card_with(&astronaut())
}

/// A photographed id card front whose portrait box shows `portrait`.
pub(crate) fn id_card_with(portrait: &DynamicImage) -> RgbImage {
    let mut table = RgbImage::from_pixel(1400, 1000, Rgb([40, 44, 52]));
    imageops::overlay(&mut table, &card_front_with(portrait), 200, 180);
    table
}

/// The flat front of an id card (1000 px wide) whose portrait box shows `portrait`.
fn card_front_with(portrait: &DynamicImage) -> RgbImage {
    card_face_with(DocumentType::IdCard, portrait)
}

/// The flat face of a `doc` (1000 px wide) whose portrait box shows `portrait`.
fn card_face_with(doc: DocumentType, portrait: &DynamicImage) -> RgbImage {
    let (mut card, layout) = synth::document_face(doc, 1000, 11);
    let region = layout
        .region(RedactionTarget::Portrait)
        .expect("portrait box");
    let (cw, ch) = (f64::from(card.width()), f64::from(card.height()));
    let (w, h) = ((region.w * cw) as u32, (region.h * ch) as u32);
    let face = portrait.resize_to_fill(w, h, imageops::FilterType::Triangle);
    imageops::overlay(
        &mut card,
        &face.to_rgb8(),
        (region.x * cw) as i64,
        (region.y * ch) as i64,
    );
    card
}

/// A portrait as identity documents print it: the face fills most of the picture (ICAO
/// 9303 asks for 70–80 % of its height from chin to crown).
fn id_photo() -> DynamicImage {
    let zoomed = zoom_in().swap_remove(2);
    let (w, h) = zoomed.dimensions();
    zoomed.crop_imm(w / 6, h / 6, w * 2 / 3, h * 2 / 3)
}

/// A card front filling the frame (a scan): it has no outline to find and no zone to
/// confirm it (the synthetic licence face prints none), but its printed portrait makes it
/// a document, taken whole — as an id card's front or a driving licence's (the same ID-1
/// size). A face photo or a blank page of the same shape is still not a document.
async fn a_scanned_card_front_is_taken_whole(kind: Kind) {
    let b = backend(kind).await;
    let card = card_face_with(DocumentType::DrivingLicence, &id_photo());
    let r = accepted_id_card_front(&b, &card).await;
    assert_eq!(r.metrics["outline"], "frame", "{}", r.metrics);
    let crop = r.cropped_jpeg.expect("the frame, straightened");
    assert!((aspect_of(&crop) - 85.60 / 53.98).abs() < 0.02);
    assert!(r.metrics["portrait"]["face"]["width"].as_u64().unwrap() > 40);

    let licence = accepted_front(&b, DocumentType::DrivingLicence, &card).await;
    assert_eq!(licence.metrics["outline"], "frame", "{}", licence.metrics);

    let (w, h) = card.dimensions();
    let face = astronaut()
        .resize_exact(w, h, imageops::FilterType::Triangle)
        .to_rgb8();
    let blank = RgbImage::from_pixel(w, h, Rgb([230, 228, 220]));
    for (what, img) in [("a face photo", face), ("a blank page", blank)] {
        for doc in [DocumentType::IdCard, DocumentType::DrivingLicence] {
            let r = b
                .check_document(doc, Side::Front, jpeg(&img))
                .await
                .unwrap();
            assert_ne!(r.metrics["outline"], "frame", "{what}: {}", r.metrics);
            assert_eq!(r.verdict, Verdict::Rejected, "{what}: {}", r.metrics);
        }
    }
}

/// A light card close up on a table of its own colour: its edges do not show, and the one
/// outline in the photo is its printed portrait's dark frame. That is not the card: cropping
/// the portrait as the card would keep the wrong picture (and on a licence, whose portrait
/// is not required, accept it). The same card on a dark table is found by its own edges.
async fn a_portrait_is_not_taken_for_the_card(kind: Kind) {
    let b = backend(kind).await;
    let mut card = card_face_with(DocumentType::DrivingLicence, &id_photo());
    let stock = *card.get_pixel(card.width() - 20, card.height() / 2);
    // The rounded corners are marked with a colour the print never has.
    for p in card.pixels_mut().filter(|p| p.0 == [255, 0, 255]) {
        *p = stock;
    }
    // A dark frame around the portrait box (30..330 × 107..498 on this 1000 px face).
    for (x, y, p) in card.enumerate_pixels_mut() {
        let around = (22..338).contains(&x) && (99..506).contains(&y);
        let inside = (30..330).contains(&x) && (107..498).contains(&y);
        if around && !inside {
            *p = Rgb([30, 30, 36]);
        }
    }
    let card = imageops::resize(&card, 1400, 883, imageops::FilterType::Triangle);
    let mut table = RgbImage::from_pixel(1600, 1200, stock);
    imageops::overlay(&mut table, &card, 100, 158);
    let r = b
        .check_document(DocumentType::DrivingLicence, Side::Front, jpeg(&table))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Rejected, "{}", r.metrics);
    assert_eq!(r.reasons, ["DOCUMENT_NOT_FOUND"], "{}", r.metrics);

    let small = imageops::resize(&card, 800, 505, imageops::FilterType::Triangle);
    let mut dark = RgbImage::from_pixel(1600, 1200, Rgb([40, 44, 52]));
    imageops::overlay(&mut dark, &small, 400, 350);
    let r = accepted_front(&b, DocumentType::DrivingLicence, &dark).await;
    assert_eq!(r.metrics["outline"], "edges", "{}", r.metrics);
    let x0 = r.metrics["corners"][0][0].as_f64().unwrap();
    assert!((x0 - 400.0).abs() < 20.0, "{}", r.metrics);
}

/// An id card's front through `b`, which must accept it.
async fn accepted_id_card_front(
    b: &Arc<dyn VerificationBackend>,
    img: &RgbImage,
) -> DocumentResult {
    accepted_front(b, DocumentType::IdCard, img).await
}

/// The front of a `doc` through `b`, which must accept it.
async fn accepted_front(
    b: &Arc<dyn VerificationBackend>,
    doc: DocumentType,
    img: &RgbImage,
) -> DocumentResult {
    let r = b.check_document(doc, Side::Front, jpeg(img)).await.unwrap();
    assert_eq!(
        r.verdict,
        Verdict::Accepted,
        "{:?} {}",
        r.reasons,
        r.metrics
    );
    r
}

async fn id_card_front_with_a_face_is_accepted(kind: Kind) {
    let b = backend(kind).await;
    let r = accepted_id_card_front(&b, &id_card_with_face()).await;
    let portrait = &r.metrics["portrait"];
    assert!(
        portrait["face"]["width"].as_u64().unwrap() > 40,
        "{portrait}"
    );
    assert!(portrait["face"]["score"].is_number());
}

async fn bad_photos_are_rejected_with_every_reason(kind: Kind) {
    let b = backend(kind).await;
    let doc = DocumentType::IdCard;
    for (variant, (w, h), expected) in [
        (Variant::Blurred, (1280, 960), "IMAGE_BLURRY"),
        (Variant::Dark, (1280, 960), "IMAGE_TOO_DARK"),
        (Variant::Glare, (1280, 960), "IMAGE_GLARE"),
        (Variant::NoCard, (1280, 960), "DOCUMENT_NOT_FOUND"),
        (Variant::Clean, (400, 300), "IMAGE_TOO_SMALL"),
    ] {
        let scene = synth::photo(doc, w, h, variant, 21);
        let r = b
            .check_document(doc, Side::Back, jpeg(&scene.image))
            .await
            .unwrap();
        assert_eq!(r.verdict, Verdict::Rejected, "{variant:?}");
        assert!(
            r.reasons.iter().any(|x| x == expected),
            "{variant:?}: {:?}",
            r.reasons
        );
    }
    // A small and blurred photo lists both reasons.
    let mut small = synth::photo(doc, 400, 300, Variant::Blurred, 22).image;
    synth::box_blur_rgb(&mut small, 3, 2);
    let r = b
        .check_document(doc, Side::Back, jpeg(&small))
        .await
        .unwrap();
    assert!(r.reasons.len() >= 2, "{:?}", r.reasons);
    assert!(r.reasons.contains(&"IMAGE_TOO_SMALL".to_string()));
}

async fn non_images_and_bombs_are_refused(kind: Kind) {
    let b = backend(kind).await;
    fn err<T>(r: Result<T, BackendError>) -> String {
        match r {
            Err(BackendError::InvalidImage { code, .. }) => code,
            Err(other) => panic!("wrong error {other:?}"),
            Ok(_) => panic!("accepted"),
        }
    }
    let gif = Bytes::from_static(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;");
    let code = err(b
        .check_document(DocumentType::IdCard, Side::Back, gif)
        .await);
    assert_eq!(code, "UNSUPPORTED_FORMAT");
    let bomb = Bytes::from(synth::bomb_png(100_000, 100_000));
    assert!(bomb.len() < 4096, "the bomb is a small file");
    let code = err(b
        .check_document(DocumentType::IdCard, Side::Back, bomb.clone())
        .await);
    assert_eq!(code, "IMAGE_TOO_LARGE");
    let frames = vec![bomb.clone(), bomb];
    let code = err(b.check_liveness(Challenge::Closer, frames).await);
    assert_eq!(code, "IMAGE_TOO_LARGE");
}

async fn metadata_never_survives(kind: Kind) {
    let b = backend(kind).await;
    let scene = synth::photo(DocumentType::IdCard, 1280, 960, Variant::Clean, 8);
    // Stored sideways with EXIF orientation 6 to undo it, plus XMP and ICC metadata.
    let tagged = Bytes::from(synth::jpeg_with_orientation(&scene.image, 6, true));
    assert!(tagged.windows(6).any(|w| w == b"Exif\0\0"));
    let r = b
        .check_document(DocumentType::IdCard, Side::Back, tagged)
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reasons);
    let original = image::load_from_memory(&r.original_jpeg).unwrap();
    assert_eq!(original.dimensions(), (1280, 960), "turned upright");
    for blob in [&r.original_jpeg, r.cropped_jpeg.as_ref().unwrap()] {
        assert!(!blob.windows(6).any(|w| w == b"Exif\0\0"));
        assert!(!blob.windows(11).any(|w| w == b"ICC_PROFILE"));
        assert!(!blob.windows(20).any(|w| w == b"http://ns.adobe.com/"));
    }

    // Sent upright with the same metadata: the original is kept as sent (the very same
    // pixels, no re-encode), and its metadata is gone all the same.
    let upright = Bytes::from(synth::jpeg_with_orientation(&scene.image, 1, true));
    assert!(upright.windows(11).any(|w| w == b"ICC_PROFILE"));
    let r = b
        .check_document(DocumentType::IdCard, Side::Back, upright.clone())
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reasons);
    assert_eq!(
        image::load_from_memory(&r.original_jpeg).unwrap().to_rgb8(),
        image::load_from_memory(&upright).unwrap().to_rgb8(),
        "the pixels sent"
    );
    assert!(r.original_jpeg.len() < upright.len());
    for blob in [&r.original_jpeg, r.cropped_jpeg.as_ref().unwrap()] {
        assert!(!blob.windows(6).any(|w| w == b"Exif\0\0"));
        assert!(!blob.windows(11).any(|w| w == b"ICC_PROFILE"));
        assert!(!blob.windows(20).any(|w| w == b"http://ns.adobe.com/"));
    }
}

async fn liveness_follows_the_challenge(kind: Kind) {
    let b = backend(kind).await;
    let frames = |imgs: Vec<DynamicImage>| imgs.iter().map(jpeg_dyn).collect::<Vec<_>>();
    let r = b
        .check_liveness(Challenge::Closer, frames(zoom_in()))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reasons);
    let selfie = image::load_from_memory(r.selfie_jpeg.as_ref().expect("selfie")).unwrap();
    assert_eq!(selfie.dimensions(), (256, 256));
    assert!(r.metrics["size_ratio"].as_f64().unwrap() > 1.15);
    // Passive liveness scored the burst: a real portrait, so nothing is flagged.
    let passive = &r.metrics["passive"];
    assert!(passive["spoof_score"].as_f64().unwrap() < 0.5, "{passive}");
    assert_eq!(passive["spoof_suspected"], false);
    assert_eq!(passive["model"]["name"], "faceplugin-face-recognition-js");
    assert!(r.flags.is_empty(), "{:?}", r.flags);

    let r = b
        .check_liveness(Challenge::Farther, frames(zoom_in()))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Rejected);
    assert_eq!(
        r.reasons,
        vec!["LIVENESS_FAILED", "LIVENESS_WRONG_MOVEMENT"]
    );
    assert!(r.selfie_jpeg.is_none());

    let r = b
        .check_liveness(Challenge::Farther, frames(zoom_out()))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reasons);

    let still = jpeg_dyn(&astronaut());
    let r = b
        .check_liveness(Challenge::Closer, vec![still.clone(), still.clone(), still])
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Rejected);
    assert_eq!(r.reasons, vec!["LIVENESS_FAILED", "LIVENESS_STATIC_FRAMES"]);
}

fn accepted(step: &str) -> StepOutcome {
    StepOutcome {
        step: step.parse().unwrap(),
        verdict: Verdict::Accepted,
        reasons: vec![],
        borderline: vec![],
        flags: vec![],
    }
}

fn decision_input(face_match: Option<FaceMatch>) -> DecisionInput {
    DecisionInput {
        required: vec![Step::DocumentFront, Step::Liveness],
        steps: vec![accepted("document_front"), accepted("liveness")],
        face_match,
        face_match_required: true,
        strict_liveness: false,
        mrz: None,
        form_data: Default::default(),
        min_age: None,
        today: chrono::Utc::now().date_naive(),
    }
}

async fn face_match_decides_the_verification(kind: Kind) {
    let b = backend(kind).await;
    let selfie = jpeg_dyn(&zoom_in()[1]);
    let same = b
        .compare_faces(
            selfie.clone(),
            jpeg(&id_card_with_face()),
            Thresholds::default(),
        )
        .await
        .unwrap();
    assert_eq!(same.decision(), Some(MatchDecision::Match), "{same:?}");
    let d = b.decide(decision_input(Some(same))).await.unwrap();
    assert_eq!(d.status, Status::Verified, "{:?}", d.reasons);

    let other = b
        .compare_faces(selfie, jpeg(&id_card_with(&obama())), Thresholds::default())
        .await
        .unwrap();
    assert_eq!(other.decision(), Some(MatchDecision::NoMatch), "{other:?}");
    let d = b.decide(decision_input(Some(other))).await.unwrap();
    assert_eq!(d.status, Status::Rejected);
    assert_eq!(d.reasons, vec!["FACE_MISMATCH"]);

    // A comparison that could not be made never passes.
    let d = b.decide(decision_input(None)).await.unwrap();
    assert_eq!(d.status, Status::NeedsManualReview);
    assert!(d.reasons.iter().any(|r| *r == "FACE_MATCH_NOT_PERFORMED"));
    // A flow without faces needs no comparison.
    let d = b
        .decide(DecisionInput {
            required: vec![Step::FormData],
            steps: vec![accepted("form_data")],
            face_match: None,
            face_match_required: false,
            strict_liveness: false,
            mrz: None,
            form_data: Default::default(),
            min_age: None,
            today: chrono::Utc::now().date_naive(),
        })
        .await
        .unwrap();
    assert_eq!(d.status, Status::Verified);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_compare_faces_identically() {
    let (local, http) = (backend(Kind::Local).await, backend(Kind::Http).await);
    let selfie = jpeg_dyn(&zoom_in()[2]);
    // The key's own thresholds travel to the engine.
    let strict = Thresholds {
        matched: 0.95,
        no_match: 0.2,
    };
    for (doc, thresholds) in [
        (jpeg(&id_card_with_face()), Thresholds::default()),
        (jpeg(&id_card_with_face()), strict),
        (jpeg(&id_card_with(&obama())), Thresholds::default()),
    ] {
        let a = local
            .compare_faces(selfie.clone(), doc.clone(), thresholds)
            .await
            .unwrap();
        let b = http
            .compare_faces(selfie.clone(), doc, thresholds)
            .await
            .unwrap();
        assert_eq!(a, b);
        let FaceMatch::Performed { thresholds: t, .. } = &a else {
            panic!("{a:?}")
        };
        assert_eq!(*t, thresholds);
    }
    let bad = Thresholds {
        matched: 0.1,
        no_match: 0.5,
    };
    for b in [local, http] {
        let err = b
            .compare_faces(selfie.clone(), selfie.clone(), bad)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "INVALID_REQUEST", "{err}");
    }
}

#[tokio::test]
async fn http_backend_reports_configuration_and_transport_problems() {
    let scene = jpeg(&synth::photo(DocumentType::IdCard, 1280, 960, Variant::Clean, 1).image);
    // No URL: not configured, and says why.
    let b = HttpBackend::new(None, None, Duration::from_secs(5));
    assert!(
        b.configuration_problem()
            .unwrap()
            .contains("V2CLIENT_BACKEND_URL")
    );
    match b
        .check_document(DocumentType::IdCard, Side::Back, scene.clone())
        .await
    {
        Err(BackendError::NotConfigured(_)) => {}
        other => panic!("{other:?}"),
    }
    // A wrong token is refused by the engine.
    let url = engine_url(Some(TOKEN)).await;
    let b = HttpBackend::new(Some(url), Some("wrong".into()), Duration::from_secs(30));
    match b
        .check_document(DocumentType::IdCard, Side::Back, scene.clone())
        .await
    {
        Err(BackendError::NotConfigured(msg)) => assert!(msg.contains("TOKEN")),
        other => panic!("{other:?}"),
    }
    // Nothing listening: retried, then unavailable.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let b = HttpBackend::new(
        Some(url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()),
        None,
        Duration::from_secs(5),
    );
    match b
        .check_document(DocumentType::IdCard, Side::Back, scene)
        .await
    {
        Err(BackendError::Unavailable(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unconfigured_http_backend_makes_the_api_answer_server_not_configured() {
    let Some(db) = crate::common::TestDb::new(crate::common::Db::Sqlite).await else {
        return;
    };
    let backend = Arc::new(HttpBackend::new(None, None, Duration::from_secs(5)));
    let blobs = db.settings.blobs.open().unwrap();
    let state =
        v2client::AppState::with_parts(db.settings.clone(), db.store.clone(), backend, blobs);
    let (_, key) = v2client::keys::create_key(
        db.store.as_ref(),
        "k",
        v2client::domain::KeySettings::default(),
    )
    .await
    .unwrap();
    let router = v2client::app(state);
    let send = crate::common::Reply::from_router;
    let r = send(
        &router,
        "POST",
        "/api/generate-verification",
        Some(key.expose()),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "SERVER_NOT_CONFIGURED");
    let r = send(&router, "GET", "/api/check-config", Some(key.expose())).await;
    assert_eq!(r.status, StatusCode::OK);
    let c = r.json();
    assert_eq!(c["ready"], false);
    assert_eq!(c["problems"][0]["code"], "SERVER_NOT_CONFIGURED");
    assert!(
        c["problems"][0]["details"]
            .as_str()
            .unwrap()
            .contains("V2CLIENT_BACKEND_URL")
    );
    assert_eq!(c["instance"]["backend"]["kind"], "http");
}

#[tokio::test]
async fn the_engine_binary_serves_the_same_checks() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_v2client"))
        .arg("engine")
        .env_clear()
        .env("V2CLIENT_DATA_DIR", dir.path())
        .env("V2CLIENT_ENGINE_BIND", "127.0.0.1:0")
        .env("V2CLIENT_ENGINE_TOKEN", TOKEN)
        .env("V2CLIENT_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            if v["fields"]["message"] == "v2client engine listening" {
                return v["fields"]["address"].as_str().unwrap().to_owned();
            }
        }
        panic!("engine exited before listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let b = HttpBackend::new(
        Some(url::Url::parse(&format!("http://{address}/")).unwrap()),
        Some(TOKEN.into()),
        Duration::from_secs(60),
    );
    let scene = synth::photo(DocumentType::IdCard, 1280, 960, Variant::Clean, 3);
    let r = b
        .check_document(DocumentType::IdCard, Side::Back, jpeg(&scene.image))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reasons);
    let _ = child.kill().await;
}
