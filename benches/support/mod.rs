//! What the benchmarks share: the test face, a card with it as portrait, timing and the
//! process's own counters.

#![allow(dead_code)]

use std::time::Duration;

use image::imageops::{self, FilterType};
use image::{DynamicImage, Rgb, RgbImage};
use v2client::domain::{DocumentType, RedactionTarget};
use v2client_testkit::synth::{self, Variant};

/// The test face (public domain, `tests/fixtures/astronaut.jpg`).
pub fn astronaut() -> DynamicImage {
    let bytes = include_bytes!("../../tests/fixtures/astronaut.jpg");
    image::load_from_memory(bytes).unwrap()
}

/// The straightened front of an id card (1000 px wide) with `face` as its portrait.
pub fn id_card(face: &DynamicImage) -> RgbImage {
    let (mut card, layout) = synth::document_face(DocumentType::IdCard, 1000, 11);
    let region = layout.region(RedactionTarget::Portrait).unwrap();
    let (cw, ch) = (f64::from(card.width()), f64::from(card.height()));
    let portrait = face.resize_to_fill(
        (region.w * cw) as u32,
        (region.h * ch) as u32,
        FilterType::Triangle,
    );
    imageops::overlay(
        &mut card,
        &portrait.to_rgb8(),
        (region.x * cw) as i64,
        (region.y * ch) as i64,
    );
    card
}

/// What a whole verification sends: two 12 MP photos of an id card (the front with `face`
/// as its portrait, the back with its machine-readable zone) and a burst of four
/// 1280 × 720 frames zooming in on `face` (centred near (111, 59) in the 256 × 256 photo),
/// each a JPEG at q90.
pub struct VerificationInputs {
    pub front: Vec<u8>,
    pub back: Vec<u8>,
    pub frames_closer: Vec<Vec<u8>>,
}

impl VerificationInputs {
    pub fn new(face: &DynamicImage) -> VerificationInputs {
        let jpeg = |img: &RgbImage| v2client::imaging::encode_jpeg(img, 90).unwrap();
        let front = {
            let card = id_card(face);
            let mut table = RgbImage::from_pixel(4000, 3000, Rgb([40, 44, 52]));
            let big = imageops::resize(&card, 3000, 1892, FilterType::Triangle);
            imageops::replace(&mut table, &big, 500, 550);
            jpeg(&table)
        };
        let back = jpeg(&synth::photo(DocumentType::IdCard, 4000, 3000, Variant::Clean, 7).image);
        let frames_closer = [200u32, 180, 160, 140]
            .iter()
            .map(|&side| {
                let x = 111u32.saturating_sub(side / 2).min(256 - side);
                let y = 59u32.saturating_sub(side / 2).min(256 - side);
                let zoomed = face
                    .crop_imm(x, y, side, side)
                    .resize_exact(720, 720, FilterType::Triangle)
                    .to_rgb8();
                let mut frame = RgbImage::from_pixel(1280, 720, Rgb([90, 96, 104]));
                imageops::replace(&mut frame, &zoomed, 280, 0);
                jpeg(&frame)
            })
            .collect();
        VerificationInputs {
            front,
            back,
            frames_closer,
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median of `samples`.
pub fn median_of(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// This process's user + system CPU time, every thread (from `/proc/self/stat`).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 (utime, stime) in clock ticks of 10 ms; after the command name
    // the fields start at field 3 (index 0).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A `/proc/self/status` field in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim_start_matches(':')
                .trim()
                .trim_end_matches(" kB")
                .parse()
                .ok()
        })
        .unwrap_or(0)
}
