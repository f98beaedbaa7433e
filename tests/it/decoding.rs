//! The memory of image decoding: liveness frames are camera frames (a few megapixels at
//! most, refused from the header otherwise), a burst is decoded one frame at a time, and
//! every decode of the process reserves its pixels from one budget first.

use std::sync::Arc;

use axum::http::StatusCode;
use bytes::Bytes;
use image::{DynamicImage, Rgb, RgbImage};
use v2client::backend::{LocalBackend, Verdict, VerificationBackend};
use v2client::domain::Module;
use v2client::faces::{Challenge, FacesConfig};
use v2client::imaging::{self, DecodeLimits, ImagingConfig, decode_cost};

use crate::common::{Db, TestApp};
use crate::faces::zoom_in;
use crate::portal::{BOUNDARY, jpeg, multipart};

both_stores!(camera_frames_over_the_pixel_cap_are_refused_before_decoding);

fn backend(config: ImagingConfig, workers: usize) -> Arc<LocalBackend> {
    Arc::new(LocalBackend::new(config, FacesConfig::default(), workers).expect("models load"))
}

fn encoded(frames: &[DynamicImage]) -> Vec<Bytes> {
    frames
        .iter()
        .map(|f| Bytes::from(jpeg(&f.to_rgb8())))
        .collect()
}

/// A small JPEG whose header declares `width` × `height`: what a decoder sees first.
/// The pixel data does not match, so only a header check can answer correctly.
pub fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = jpeg(&RgbImage::from_pixel(64, 48, Rgb([200, 200, 200])));
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has SOF0");
    // FF C0, length (2), precision (1), height (2), width (2).
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

#[tokio::test]
async fn a_burst_holds_one_frame_at_a_time() {
    let b = backend(ImagingConfig::default(), 2);
    let frames = zoom_in();
    let (w, h) = (frames[0].width(), frames[0].height());
    let r = b
        .check_liveness(Challenge::Closer, encoded(&frames))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reasons);
    let budget = b.decode_budget();
    // Four frames decoded and three decoded again for passive liveness: never two at once.
    assert_eq!(budget.peak(), decode_cost(w, h));
    assert_eq!(budget.in_use(), 0, "every reservation was given back");

    // Eight frames of 3 MP (under the 4 MP cap): one request stays in the tens of MB.
    let b = backend(ImagingConfig::default(), 2);
    let big: Vec<DynamicImage> = (0..8u8)
        .map(|i| {
            DynamicImage::ImageRgb8(RgbImage::from_fn(2000, 1500, |x, y| {
                Rgb([(x / 7) as u8 ^ i, (y / 5) as u8, i.wrapping_mul(31)])
            }))
        })
        .collect();
    let r = b
        .check_liveness(Challenge::Closer, encoded(&big))
        .await
        .unwrap();
    assert_eq!(r.verdict, Verdict::Rejected);
    let peak = b.decode_budget().peak();
    assert_eq!(peak, decode_cost(2000, 1500));
    assert!(peak < 40 << 20, "peak {peak}");
}

#[tokio::test]
async fn frames_over_the_pixel_cap_never_reach_a_decoder() {
    let b = backend(ImagingConfig::default(), 2);
    // Eight frames whose headers say 8000 × 5000: a megabyte each on the wire when blank.
    let huge = Bytes::from(jpeg_declaring(8000, 5000));
    let err = b
        .check_liveness(Challenge::Closer, vec![huge; 8])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IMAGE_TOO_LARGE", "{err}");
    assert_eq!(b.decode_budget().peak(), 0, "nothing was decoded");
    // One oversized frame among good ones refuses the burst before any is decoded.
    let mut frames = encoded(&zoom_in());
    frames.push(Bytes::from(jpeg_declaring(4096, 4096)));
    let err = b
        .check_liveness(Challenge::Closer, frames)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IMAGE_TOO_LARGE");
    assert_eq!(b.decode_budget().peak(), 0, "nothing was decoded");
}

#[test]
fn document_photos_keep_their_40_mp_ceiling() {
    let header = jpeg_declaring(8000, 5000);
    let doc = imaging::probe(&header, &DecodeLimits::default()).expect("40 MP is allowed");
    assert_eq!((doc.width, doc.height), (8000, 5000));
    assert_eq!(
        imaging::probe(&header, &DecodeLimits::FRAME)
            .unwrap_err()
            .code(),
        "IMAGE_TOO_LARGE"
    );
    // A 40 MP decode fits the default budget: it is reserved, not refused.
    assert!(decode_cost(8000, 5000) < ImagingConfig::default().decode_memory);
    let too_big = jpeg_declaring(8000, 6000);
    assert_eq!(
        imaging::probe(&too_big, &DecodeLimits::default())
            .unwrap_err()
            .code(),
        "IMAGE_TOO_LARGE"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_share_one_budget() {
    let frames = zoom_in();
    let one = decode_cost(frames[0].width(), frames[0].height());
    // Room for two frames, four workers, six bursts at once: they queue for memory.
    let b = backend(
        ImagingConfig {
            decode_memory: 2 * one,
            ..ImagingConfig::default()
        },
        4,
    );
    let bursts = encoded(&frames);
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let (b, bursts) = (b.clone(), bursts.clone());
            tokio::spawn(async move { b.check_liveness(Challenge::Closer, bursts).await })
        })
        .collect();
    for run in runs {
        let r = run.await.unwrap().unwrap();
        assert_eq!(r.verdict, Verdict::Accepted, "{:?}", r.reasons);
    }
    let budget = b.decode_budget();
    assert!(
        budget.peak() <= 2 * one,
        "peak {} > {}",
        budget.peak(),
        2 * one
    );
    assert_eq!(budget.in_use(), 0);
}

async fn camera_frames_over_the_pixel_cap_are_refused_before_decoding(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, _key) = app.verification_with_flow(vec![Module::Liveness]).await;
    let huge = jpeg_declaring(8000, 5000);
    let fields: Vec<(&str, &[u8])> = (0..8).map(|_| ("frames", huge.as_slice())).collect();
    let r = app
        .send(
            axum::http::Request::builder()
                .method("POST")
                .uri(format!("/api/portal/{id}/liveness"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(axum::body::Body::from(multipart(&fields)))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
    let budget = app
        .state
        .backend
        .decode_budget()
        .expect("the local backend");
    assert_eq!(budget.peak(), 0, "no frame was decoded");
}
