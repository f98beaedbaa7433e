//! MRZ reading benchmark: `document::read_mrz` on the straightened crop of a TD3 passport
//! page and a TD1 identity card photographed at 12 MP, on crops that make it look twice (a
//! document upside down, a licence without a zone), and the whole document check with and
//! without the reading.
//!
//! `cargo bench --bench mrz` (pin it with `taskset -c 0` to measure one core; the reader is
//! single-threaded anyway). Timings are medians of several runs after a warm-up; the first
//! read of the process, which renders the OCR-B templates, is reported on its own.

use std::hint::black_box;
use std::time::{Duration, Instant};

use image::RgbImage;
use v2client::document::{MrzOutcome, read_mrz};
use v2client::domain::DocumentType;
use v2client::imaging::{self, ImagingConfig};
use v2client_testkit::card::{self, FaceLayout, Shot};
use v2client_testkit::mrz::Holder;

const RUNS: usize = 15;
const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;

fn main() {
    let cfg = ImagingConfig::default();
    let td3 = photo(DocumentType::Passport, 1);
    let td1 = photo(DocumentType::IdCard, 2);
    let licence = photo(DocumentType::DrivingLicence, 3);
    let crop = |bytes: &[u8], doc| {
        imaging::analyse_document(bytes, doc, &cfg)
            .unwrap()
            .crop
            .expect("the generated document is found")
    };
    let (crop3, crop1, crop_dl) = (
        crop(&td3, DocumentType::Passport),
        crop(&td1, DocumentType::IdCard),
        crop(&licence, DocumentType::DrivingLicence),
    );
    let t = Instant::now();
    let first = read_mrz(&crop3);
    let cold = t.elapsed();
    assert_eq!(first.outcome, MrzOutcome::Read, "{:?}", first.lines);
    assert_eq!(read_mrz(&crop1).outcome, MrzOutcome::Read);
    let upside_down = image::imageops::rotate180(&crop3);
    assert_eq!(read_mrz(&upside_down).outcome, MrzOutcome::Read);
    assert_eq!(read_mrz(&crop_dl).outcome, MrzOutcome::NotFound);

    println!(
        "inputs: {WIDTH}×{HEIGHT} JPEG q90 photos ({:.1}, {:.1}, {:.1} MB); crops {}, {}, {}",
        td3.len() as f64 / 1e6,
        td1.len() as f64 / 1e6,
        licence.len() as f64 / 1e6,
        dims(&crop3),
        dims(&crop1),
        dims(&crop_dl)
    );
    println!(
        "first read of the process (templates rendered): {:.1} ms",
        ms(cold)
    );
    println!("| read_mrz on the crop (one core) | median |\n|---|---|");
    for (name, c) in [
        ("TD3 passport page", &crop3),
        ("TD1 identity card", &crop1),
        ("TD3 upside down (read on the turned crop)", &upside_down),
        ("licence, no zone (both ways looked at)", &crop_dl),
    ] {
        let d = median(|| {
            black_box(read_mrz(c));
        });
        println!("| {name} | {:.1} ms |", ms(d));
    }

    println!("\n| whole document check (one core) | without reading | with reading | added |");
    println!("|---|---|---|---|");
    for (name, bytes, doc) in [
        ("TD3 passport page", &td3, DocumentType::Passport),
        ("TD1 identity card", &td1, DocumentType::IdCard),
    ] {
        let without = median(|| {
            black_box(imaging::check_document(bytes, doc, &cfg).unwrap());
        });
        // The backend's order: analyse, read the crop, encode both images.
        let with = median(|| {
            let a = imaging::analyse_document(bytes, doc, &cfg).unwrap();
            let reading = a.crop.as_ref().map(read_mrz);
            let original = imaging::stored_original(bytes, &a, cfg.jpeg_quality).unwrap();
            let crop = a
                .crop
                .as_ref()
                .map(|c| imaging::encode_jpeg(c, cfg.jpeg_quality));
            black_box((reading, original, crop));
        });
        println!(
            "| {name} | {:.0} ms | {:.0} ms | {:+.0} ms |",
            ms(without),
            ms(with),
            ms(with) - ms(without)
        );
    }
}

/// A clean 12 MP photo of a `doc` printed for the default holder on the template layout.
fn photo(doc: DocumentType, seed: u64) -> Vec<u8> {
    let shot = Shot::clean(doc, WIDTH, HEIGHT);
    let face = card::document_face_for(
        doc,
        shot.face_width(),
        seed,
        &Holder::for_document(doc),
        &FaceLayout::template(doc),
    );
    card::photograph_jpeg(&face.image, &shot, seed)
}

fn dims(img: &RgbImage) -> String {
    format!("{}×{}", img.width(), img.height())
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
