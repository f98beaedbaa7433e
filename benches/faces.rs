//! Face-model benchmark: loading the model set (time and resident memory), one face
//! comparison on one core at the sizes the portal stores, its parts, and the built-in
//! backend's CPU time for a whole verification (two document sides, a liveness burst, the
//! face match).
//!
//! `cargo bench --bench faces`. Timings are medians of several runs; CPU time is the
//! process's user + system time (getrusage), so it counts every thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use image::imageops::{self, FilterType};
use image::{DynamicImage, Rgb, RgbImage};
use v2client::backend::{LocalBackend, Side, VerificationBackend};
use v2client::domain::DocumentType;
use v2client::faces::{
    self, Challenge, FaceModels, FacesConfig, ModelsConfig, Thresholds, recognition,
};
use v2client::imaging::ImagingConfig;

#[path = "support/mod.rs"]
mod support;
use support::{VerificationInputs, astronaut, cpu_time, id_card, ms, status_kb};

const RUNS: usize = 15;

fn main() {
    let rss_before = status_kb("VmRSS");
    let t = Instant::now();
    let models = FaceModels::load(&ModelsConfig::default()).expect("models load");
    let load = t.elapsed();
    let rss_after = status_kb("VmRSS");
    println!(
        "model set {} {}: loaded in {:.0} ms, resident memory +{:.1} MB ({:.1} → {:.1} MB)",
        models.info.name,
        models.info.version,
        load.as_secs_f64() * 1e3,
        (rss_after - rss_before) as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0
    );
    let t = Instant::now();
    let again = FaceModels::load(&ModelsConfig::default()).unwrap();
    println!(
        "loading again (shared): {:.3} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(again);

    // A 1280×720 camera frame with the face filling a third of its height, and the
    // straightened crop of an id card front (1000 px wide) with the same face as portrait.
    let face = astronaut();
    let selfie = {
        let mut frame = RgbImage::from_pixel(1280, 720, Rgb([90, 96, 104]));
        let f = face.resize(480, 480, FilterType::Triangle).to_rgb8();
        imageops::replace(&mut frame, &f, 400, 120);
        frame
    };
    let document = id_card(&face);
    println!(
        "inputs: selfie {}×{}, document crop {}×{}",
        selfie.width(),
        selfie.height(),
        document.width(),
        document.height()
    );
    let thresholds = Thresholds::default();
    let compare = median(|| {
        black_box(faces::compare(&models, &selfie, &document, thresholds).unwrap());
    });
    let det = recognition::detect(&models, &selfie).unwrap()[0];
    let detect = median(|| {
        black_box(recognition::detect(&models, &selfie).unwrap());
    });
    let embed = median(|| {
        black_box(recognition::embed(&models, &selfie, &det).unwrap());
    });
    let spoof = median(|| {
        black_box(recognition::spoof_score(&models, &selfie, &det).unwrap());
    });
    println!("| step (one core) | median |\n|---|---|");
    println!(
        "| compare two photos (detect + embed, twice) | {:.1} ms |",
        ms(compare)
    );
    println!("| detect (1280×720) | {:.1} ms |", ms(detect));
    println!("| landmarks + align + embed | {:.1} ms |", ms(embed));
    println!("| passive-liveness score | {:.1} ms |", ms(spoof));

    whole_verification(&face);
    println!(
        "peak memory (VmHWM): {:.1} MB",
        status_kb("VmHWM") as f64 / 1024.0
    );
}

/// CPU time of the backend's work for one verification, on one worker.
fn whole_verification(face: &DynamicImage) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let backend = LocalBackend::new(ImagingConfig::default(), FacesConfig::default(), 1).unwrap();
    let sent = VerificationInputs::new(face);
    let (front, back) = (Bytes::from(sent.front), Bytes::from(sent.back));
    let frames: Vec<Bytes> = sent.frames_closer.into_iter().map(Bytes::from).collect();
    let mut samples = Vec::new();
    let mut steps = [Duration::ZERO; 4];
    for _ in 0..5 {
        let cpu0 = cpu_time();
        rt.block_on(async {
            let t = Instant::now();
            let f = backend
                .check_document(DocumentType::IdCard, Side::Front, front.clone())
                .await
                .unwrap();
            steps[0] += t.elapsed();
            assert!(f.reasons.is_empty(), "{:?}", f.reasons);
            let t = Instant::now();
            let b = backend
                .check_document(DocumentType::IdCard, Side::Back, back.clone())
                .await
                .unwrap();
            steps[1] += t.elapsed();
            assert!(b.reasons.is_empty(), "{:?}", b.reasons);
            let t = Instant::now();
            let l = backend
                .check_liveness(Challenge::Closer, frames.clone())
                .await
                .unwrap();
            steps[2] += t.elapsed();
            assert!(l.reasons.is_empty(), "{:?}", l.reasons);
            let t = Instant::now();
            let m = backend
                .compare_faces(
                    l.selfie_jpeg.unwrap(),
                    f.cropped_jpeg.unwrap(),
                    Thresholds::default(),
                )
                .await
                .unwrap();
            steps[3] += t.elapsed();
            assert!(m.performed(), "{m:?}");
        });
        samples.push(cpu_time() - cpu0);
    }
    samples.sort();
    println!(
        "whole verification on one worker: CPU {:.0} ms (median of 5); wall per step: \
         front {:.0} ms, back {:.0} ms, liveness {:.0} ms, face match {:.0} ms",
        ms(samples[2]),
        ms(steps[0] / 5),
        ms(steps[1] / 5),
        ms(steps[2] / 5),
        ms(steps[3] / 5)
    );
}

fn median(mut f: impl FnMut()) -> Duration {
    f();
    let mut v: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[RUNS / 2]
}
