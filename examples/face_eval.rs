//! Scores the face match on the labelled evaluation set of real photographs
//! (`eval/faces/manifest.tsv`, fetched by `scripts/fetch-face-eval.sh`).
//!
//! ```sh
//! scripts/fetch-face-eval.sh
//! cargo run --release --example face_eval            # or: -- path/to/face-eval
//! ```
//!
//! Prints Markdown: every pair's similarity and decision at the default thresholds, the
//! ROC AUC, the same-person match rate and the false-match rate; the same again with one
//! side of each pair reduced to a small, compressed "document portrait"; each photo's
//! passive-liveness spoof score; and how many faces each detector finds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbImage};
use v2client::faces::{
    DetectionConfig, FaceDetector, FaceModels, MatchDecision, ModelsConfig, Thresholds, recognition,
};
use v2client::imaging::{self, DecodeLimits};

struct Photo {
    id: String,
    person: String,
    image: RgbImage,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/face-eval"));
    let manifest = std::fs::read_to_string(root.join("eval/faces/manifest.tsv"))?;
    let limits = DecodeLimits::default();
    let mut photos = Vec::new();
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (id, person, path_inside) = (cols[0], cols[1], cols[4]);
        let ext = Path::new(path_inside)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("jpg");
        let file = dir.join("images").join(format!("{id}.{ext}"));
        let bytes = std::fs::read(&file).map_err(|e| {
            format!(
                "{}: {e} (run scripts/fetch-face-eval.sh first)",
                file.display()
            )
        })?;
        let image = imaging::decode(&bytes, &limits)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .image;
        photos.push(Photo {
            id: id.to_owned(),
            person: person.to_owned(),
            image,
        });
    }
    let models = FaceModels::load(&ModelsConfig::default())?;
    let thresholds = Thresholds::default();
    println!(
        "Model set: {} {} · thresholds: match ≥ {}, no match < {} · {} photos of {} people\n",
        models.info.name,
        models.info.version,
        thresholds.matched,
        thresholds.no_match,
        photos.len(),
        photos
            .iter()
            .map(|p| p.person.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );

    println!("## Pairs of original photographs\n");
    let scored = score_pairs(&models, &photos, &photos, thresholds, true)?;
    summary(&scored, thresholds);

    println!("\n## One side reduced to a document portrait\n");
    println!(
        "Each photo's face cropped with a margin, scaled to a 90 px wide portrait and saved as \
         JPEG at quality 50, as a portrait printed on a card and photographed would be; \
         compared with every original photograph of another id.\n"
    );
    let portraits: Vec<Photo> = photos
        .iter()
        .map(|p| {
            Ok(Photo {
                id: format!("{} (portrait)", p.id),
                person: p.person.clone(),
                image: as_document_portrait(&models, &p.image)?,
            })
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    let degraded = score_pairs(&models, &photos, &portraits, thresholds, false)?;
    summary(&degraded, thresholds);

    println!("\n## Passive liveness on the original photographs\n");
    println!("| photo | spoof score |\n|---|---|");
    for p in &photos {
        let faces = recognition::detect(&models, &p.image)?;
        let score = match faces.first() {
            Some(f) => format!("{:.3}", recognition::spoof_score(&models, &p.image, f)?),
            None => "no face".into(),
        };
        println!("| {} | {score} |", p.id);
    }

    println!("\n## Detectors on the same photographs\n");
    println!("| photo | recognition detector (≥ 0.65) | SeetaFace (rustface) |\n|---|---|---|");
    let seeta = FaceDetector::shared();
    for p in &photos {
        let a = recognition::detect(&models, &p.image)?.len();
        let b = seeta
            .detect(
                &DynamicImage::ImageRgb8(p.image.clone()),
                &DetectionConfig::default(),
            )
            .len();
        println!("| {} | {a} | {b} |", p.id);
    }
    Ok(())
}

/// (same person, similarity) for every pair of distinct ids from `a` × `b`.
fn score_pairs(
    models: &FaceModels,
    a: &[Photo],
    b: &[Photo],
    thresholds: Thresholds,
    unordered: bool,
) -> Result<Vec<(bool, f64)>, Box<dyn std::error::Error>> {
    let embed = |p: &Photo| -> Result<_, Box<dyn std::error::Error>> {
        Ok(recognition::describe(models, &p.image)?.map(|d| d.embedding))
    };
    let ea: Vec<_> = a.iter().map(embed).collect::<Result<_, _>>()?;
    let eb: Vec<_> = if unordered {
        ea.clone()
    } else {
        b.iter().map(embed).collect::<Result<_, _>>()?
    };
    let mut out = Vec::new();
    println!("| photo A | photo B | same person | similarity | decision |\n|---|---|---|---|---|");
    for (i, pa) in a.iter().enumerate() {
        for (j, pb) in b.iter().enumerate() {
            if i == j || (unordered && j < i) {
                continue;
            }
            let same = pa.person == pb.person;
            match (&ea[i], &eb[j]) {
                (Some(x), Some(y)) => {
                    let s = x.similarity(y);
                    println!(
                        "| {} | {} | {} | {s:.3} | {} |",
                        pa.id,
                        pb.id,
                        if same { "yes" } else { "no" },
                        thresholds.decide(s).as_str()
                    );
                    out.push((same, s));
                }
                _ => println!(
                    "| {} | {} | {} | – | no face found |",
                    pa.id,
                    pb.id,
                    if same { "yes" } else { "no" }
                ),
            }
        }
    }
    Ok(out)
}

fn summary(scored: &[(bool, f64)], thresholds: Thresholds) {
    let same: Vec<f64> = scored.iter().filter(|p| p.0).map(|p| p.1).collect();
    let diff: Vec<f64> = scored.iter().filter(|p| !p.0).map(|p| p.1).collect();
    // ROC AUC as the probability that a same-person pair outscores a different one.
    let mut wins = 0.0;
    for s in &same {
        for d in &diff {
            wins += if s > d {
                1.0
            } else if s == d {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = wins / (same.len() * diff.len()).max(1) as f64;
    let count =
        |v: &[f64], d: MatchDecision| v.iter().filter(|s| thresholds.decide(**s) == d).count();
    let mut by = BTreeMap::new();
    for (name, v) in [("same-person", &same), ("different-person", &diff)] {
        by.insert(
            name,
            (
                v.len(),
                count(v, MatchDecision::Match),
                count(v, MatchDecision::Uncertain),
                count(v, MatchDecision::NoMatch),
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
        );
    }
    println!("\nROC AUC {auc:.3}\n");
    println!(
        "| pairs | n | match | uncertain | no_match | lowest | highest |\n|---|---|---|---|---|---|---|"
    );
    for (name, (n, m, u, x, lo, hi)) in &by {
        println!("| {name} | {n} | {m} | {u} | {x} | {lo:.3} | {hi:.3} |");
    }
    let (ns, ms, ..) = by["same-person"];
    let (nd, md, ..) = by["different-person"];
    println!(
        "\nSame-person pairs decided `match`: {ms}/{ns} ({:.0} %). False matches (different \
         people decided `match`): {md}/{nd} ({:.0} %).",
        100.0 * ms as f64 / ns.max(1) as f64,
        100.0 * md as f64 / nd.max(1) as f64
    );
}

/// The most certain face with a margin, scaled to a 90 px wide portrait and re-encoded as
/// a low-quality JPEG.
fn as_document_portrait(
    models: &FaceModels,
    img: &RgbImage,
) -> Result<RgbImage, Box<dyn std::error::Error>> {
    let Some(f) = recognition::detect(models, img)?.into_iter().next() else {
        return Ok(img.clone());
    };
    let (w, h) = (f.width() * 1.6, f.height() * 2.0);
    let (cx, cy) = ((f.x1 + f.x2) / 2.0, (f.y1 + f.y2) / 2.0);
    let x = (cx - w / 2.0).max(0.0) as u32;
    let y = (cy - h / 2.0).max(0.0) as u32;
    let cw = (w as u32).min(img.width() - x);
    let ch = (h as u32).min(img.height() - y);
    let crop = image::imageops::crop_imm(img, x, y, cw, ch).to_image();
    let small = image::imageops::resize(
        &crop,
        90,
        (90.0 * ch as f32 / cw as f32).round() as u32,
        image::imageops::FilterType::Triangle,
    );
    let jpeg = imaging::encode_jpeg(&small, 50)?;
    Ok(image::load_from_memory(&jpeg)?.to_rgb8())
}
