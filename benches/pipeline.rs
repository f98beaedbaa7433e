//! Per-image pipeline benchmark: the whole document check on a 12 MP JPEG beside a bare
//! decode + encode of the same file with the same crates, then detection accuracy on a sweep
//! of generated photos.
//!
//! `cargo bench --bench pipeline` runs everything; `-- bare` or `-- pipeline` runs one side
//! only, so its peak memory (VmHWM) is its own.

use std::hint::black_box;
use std::io::Cursor;
use std::time::{Duration, Instant};

use image::DynamicImage;
use image::codecs::jpeg::JpegDecoder;
use v2client::domain::DocumentType;
use v2client::imaging::{self, ANALYSIS_LONG_SIDE, AnalysisImage, ImagingConfig, Reason};
use v2client_testkit::synth::{self, Variant};

const RUNS: u32 = 5;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mode = args.first().map(String::as_str).unwrap_or("all");
    let cfg = ImagingConfig::default();

    let bytes = input();
    println!("baseline VmHWM before measuring: {} MB", vm_hwm_mb());

    if mode == "all" || mode == "bare" {
        let bare = time(|| {
            let dec = JpegDecoder::new(Cursor::new(&bytes[..])).unwrap();
            let img = DynamicImage::from_decoder(dec).unwrap().into_rgb8();
            black_box(imaging::encode_jpeg(&img, 90).unwrap());
        });
        println!("bare decode+encode:    {:>7.1} ms/image", ms(bare));
        if mode == "bare" {
            println!("peak memory (VmHWM):   {} MB", vm_hwm_mb());
            return;
        }
    }
    if mode == "all" || mode == "pipeline" {
        let full = time(|| {
            let c = imaging::check_document(&bytes, DocumentType::IdCard, &cfg).unwrap();
            assert!(c.accepted(), "{:?}", c.reasons);
            black_box(c);
        });
        println!("whole pipeline:        {:>7.1} ms/image", ms(full));
        println!("peak memory (VmHWM):   {} MB", vm_hwm_mb());
        if mode == "pipeline" {
            return;
        }
        // The breakdown keeps two decoded images alive at once: it comes after the peak.
        stages(&bytes, &cfg);
    }
    bomb();
    accuracy();
    rejections();
}

/// The 12 MP test JPEG. Generating it needs more memory than decoding it, so it is cached in
/// the temporary directory: from the second run on, the peak memory reported is the
/// measured code's own.
fn input() -> Vec<u8> {
    let path = std::env::temp_dir().join("v2client-bench-id-card-4000x3000-q90.jpg");
    if let Ok(bytes) = std::fs::read(&path) {
        println!(
            "input: {} ({:.1} MB, cached)",
            path.display(),
            bytes.len() as f64 / 1e6
        );
        return bytes;
    }
    let t = Instant::now();
    let scene = synth::photo(DocumentType::IdCard, 4000, 3000, Variant::Clean, 1);
    let bytes = imaging::encode_jpeg(&scene.image, 90).unwrap();
    println!(
        "input: 4000×3000 synthetic ID card photo, JPEG q90, {:.1} MB (generated in {:.2?}; \
         run again for a peak memory without the generator)",
        bytes.len() as f64 / 1e6,
        t.elapsed()
    );
    let _ = std::fs::write(&path, &bytes);
    bytes
}

/// Mean over `RUNS` after one warm-up run.
fn time(mut f: impl FnMut()) -> Duration {
    f();
    let t = Instant::now();
    for _ in 0..RUNS {
        f();
    }
    t.elapsed() / RUNS
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn stages(bytes: &[u8], cfg: &ImagingConfig) {
    let aspect = imaging::layout(DocumentType::IdCard).aspect();
    let decoded = imaging::decode(bytes, &cfg.limits).unwrap();
    let img = decoded.image;
    let d_decode = time(|| {
        black_box(imaging::decode(bytes, &cfg.limits).unwrap());
    });
    let d_grey = time(|| {
        black_box(AnalysisImage::new(&img, ANALYSIS_LONG_SIDE));
    });
    let analysis = AnalysisImage::new(&img, ANALYSIS_LONG_SIDE);
    let d_detect = time(|| {
        black_box(imaging::detect_document(&analysis.grey, &cfg.detection));
    });
    let det = imaging::detect_document(&analysis.grey, &cfg.detection).unwrap();
    let d_measure = time(|| {
        black_box(imaging::measure(
            img.width(),
            img.height(),
            &analysis,
            Some((&det.quad, aspect)),
            250,
        ));
    });
    let corners = analysis.to_original(&det.quad);
    let d_crop = time(|| {
        black_box(imaging::crop_document(
            &img,
            &corners,
            aspect,
            cfg.crop_max_long_side,
        ));
    });
    let crop = imaging::crop_document(&img, &corners, aspect, cfg.crop_max_long_side).unwrap();
    let d_enc = time(|| {
        black_box(imaging::encode_jpeg(&img, cfg.jpeg_quality).unwrap());
    });
    let d_strip = time(|| {
        black_box(imaging::strip::strip_jpeg_metadata(bytes).unwrap());
    });
    let d_enc_crop = time(|| {
        black_box(imaging::encode_jpeg(&crop, cfg.jpeg_quality).unwrap());
    });
    println!("  decode + orient      {:>7.1} ms", ms(d_decode));
    println!("  grey analysis copy   {:>7.1} ms", ms(d_grey));
    println!("  detect corners       {:>7.1} ms", ms(d_detect));
    println!("  quality metrics      {:>7.1} ms", ms(d_measure));
    println!(
        "  crop {}×{}      {:>7.1} ms",
        crop.width(),
        crop.height(),
        ms(d_crop)
    );
    println!(
        "  keep original        {:>7.1} ms  (metadata stripped, as stored now)",
        ms(d_strip)
    );
    println!(
        "  encode original      {:>7.1} ms  (re-encoding it, as before; not run now)",
        ms(d_enc)
    );
    println!("  encode crop          {:>7.1} ms", ms(d_enc_crop));
}

fn bomb() {
    let bomb = synth::bomb_png(100_000, 100_000);
    let before = vm_hwm_mb();
    let t = Instant::now();
    let err = imaging::decode(&bomb, &imaging::DecodeLimits::default()).unwrap_err();
    println!(
        "bomb PNG ({} bytes, 100000×100000): {} in {:.3} ms, VmHWM {} → {} MB",
        bomb.len(),
        err.code(),
        t.elapsed().as_secs_f64() * 1e3,
        before,
        vm_hwm_mb()
    );
}

/// Corner error over random angles, positions and both formats.
fn accuracy() {
    let mut rng = synth::Rng::new(2024);
    let (w, h) = (1280, 960);
    let n = 200;
    let mut errs = Vec::new();
    let mut missed = 0;
    for i in 0..n {
        let doc = if i % 2 == 0 {
            DocumentType::IdCard
        } else {
            DocumentType::Passport
        };
        let aspect = imaging::layout(doc).aspect();
        let truth = synth::random_corners(w, h, aspect, 30.0, &mut rng);
        let scene = synth::photo_at(doc, w, h, &truth, Variant::Clean, 5000 + i);
        let bytes = imaging::encode_jpeg(&scene.image, 90).unwrap();
        let a = imaging::analyse_document(&bytes, doc, &ImagingConfig::default()).unwrap();
        match a.corners {
            Some(c) => errs.push((
                c.max_corner_distance(&truth),
                c.max_corner_distance(&truth) / truth.diagonal(),
            )),
            None => missed += 1,
        }
    }
    errs.sort_by(|a, b| a.1.total_cmp(&b.1));
    let pct = |q: f64| errs[((errs.len() - 1) as f64 * q) as usize];
    let mean_px = errs.iter().map(|e| e.0).sum::<f64>() / errs.len() as f64;
    println!(
        "detection on {n} random 1280×960 scenes (±30° turn, keystone): found {}/{n}; \
         worst-corner error mean {:.2} px, median {:.2}% of diagonal, p95 {:.2}%, max {:.2}% ({:.1} px)",
        n - missed,
        mean_px,
        pct(0.5).1 * 100.0,
        pct(0.95).1 * 100.0,
        pct(1.0).1 * 100.0,
        pct(1.0).0
    );
}

/// How often each defect is named, on 20 seeds each.
fn rejections() {
    let cases = [
        (Variant::Clean, None),
        (Variant::Blurred, Some(Reason::ImageBlurry)),
        (Variant::Dark, Some(Reason::ImageTooDark)),
        (Variant::Glare, Some(Reason::ImageGlare)),
        (Variant::NoCard, Some(Reason::DocumentNotFound)),
    ];
    for (variant, want) in cases {
        let mut right = 0;
        for seed in 0..20 {
            let scene = synth::photo(DocumentType::IdCard, 1280, 960, variant, 900 + seed);
            let bytes = imaging::encode_jpeg(&scene.image, 90).unwrap();
            let c =
                imaging::check_document(&bytes, DocumentType::IdCard, &ImagingConfig::default())
                    .unwrap();
            let ok = match want {
                None => c.accepted(),
                Some(r) => c.reasons == vec![r],
            };
            right += u32::from(ok);
        }
        println!("{variant:?}: expected verdict on {right}/20");
    }
}

/// Peak resident memory of this process, from /proc (Linux).
fn vm_hwm_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}
