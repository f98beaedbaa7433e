//! What the benchmarks share: the test face, a card with it as portrait, timing and the
//! process's own counters.

#![allow(dead_code)]

use std::time::Duration;

use image::imageops::{self, FilterType};
use image::{DynamicImage, RgbImage};
use v2client::domain::{DocumentType, RedactionTarget};
use v2client_testkit::synth;

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
