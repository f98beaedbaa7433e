//! Document faces printed for a given holder — a visual zone with the holder's names, date of
//! birth and document number set in OCR-B, a portrait, and the machine-readable zone — on the
//! built-in template's layout and on others, with where every printed field landed, so
//! redaction can be checked on layouts the reader does not know. And photographs of such
//! faces with the defects of real phone pictures, for the reading evaluation
//! (`examples/mrz_eval.rs`).
//!
//! OCR-B is the only typeface embedded, so the visual zone is set in it too; real documents
//! use other faces there, which matters only to a reader of the visual zone.

use image::{Rgb, RgbImage};
use v2client::domain::DocumentType;
use v2client::imaging::{Homography, Point, Quad, RelRect, layout};

use crate::mrz::{Holder, ZoneGeometry, print};
use crate::synth::{self, Rng, TRANSPARENT};

/// Where a face's fields go, as fractions of the face's width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceLayout {
    pub name: &'static str,
    /// The printed portrait, backdrop included.
    pub portrait: RelRect,
    /// A second, faded portrait, as many documents print against photo substitution.
    pub ghost: Option<RelRect>,
    /// Top-left corner of the block of labelled fields (names, nationality, dates).
    pub fields_at: (f64, f64),
    /// Top-left corner of the printed document number (its label above it).
    pub number_at: (f64, f64),
}

impl FaceLayout {
    /// The fields where `v2client::imaging::layout` expects them: portrait on the left, the
    /// document number in its box.
    pub fn template(doc: DocumentType) -> FaceLayout {
        let lay = layout(doc);
        let d = lay.document_number;
        FaceLayout {
            name: "template",
            portrait: lay.portrait,
            ghost: None,
            fields_at: (0.37, 0.17),
            number_at: (d.x + 0.02, d.y + 0.005),
        }
    }

    /// Mirrored: the portrait on the right, the fields on the left and the document number
    /// under them, far from the template's number box.
    pub fn portrait_right(doc: DocumentType) -> FaceLayout {
        let p = layout(doc).portrait;
        let passport = doc == DocumentType::Passport;
        FaceLayout {
            name: "portrait_right",
            portrait: RelRect::new(1.0 - p.x - p.w, p.y, p.w, p.h.min(0.52)),
            ghost: None,
            fields_at: (0.04, if passport { 0.18 } else { 0.16 }),
            number_at: (0.04, if passport { 0.56 } else { 0.585 }),
        }
    }

    /// The document number in the header's left corner, a smaller portrait lower down and a
    /// ghost portrait on the right.
    pub fn number_top_left(doc: DocumentType) -> FaceLayout {
        let passport = doc == DocumentType::Passport;
        FaceLayout {
            name: "number_top_left",
            portrait: if passport {
                RelRect::new(0.04, 0.18, 0.27, 0.52)
            } else {
                RelRect::new(0.04, 0.20, 0.27, 0.47)
            },
            ghost: Some(if passport {
                RelRect::new(0.80, 0.30, 0.15, 0.26)
            } else {
                RelRect::new(0.80, 0.30, 0.15, 0.24)
            }),
            fields_at: (0.35, if passport { 0.18 } else { 0.17 }),
            number_at: (0.04, 0.015),
        }
    }

    /// Every layout, the template first.
    pub fn all(doc: DocumentType) -> [FaceLayout; 3] {
        [
            FaceLayout::template(doc),
            FaceLayout::portrait_right(doc),
            FaceLayout::number_top_left(doc),
        ]
    }
}

/// Where each printed field's ink is, as fractions of the face: the smallest box holding
/// every pixel the field changed (the portraits: their whole printed rectangle).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrintedFields {
    pub portrait: RelRect,
    pub ghost: Option<RelRect>,
    /// The number as printed in the visual zone (the value, not its label).
    pub document_number: RelRect,
    pub surname: RelRect,
    pub given_names: RelRect,
    pub date_of_birth: RelRect,
    /// The whole machine-readable zone, when the document has one.
    pub mrz: Option<RelRect>,
    /// The document number's cells in the zone, its check digit included.
    pub mrz_document_number: Option<RelRect>,
}

/// A flat, upright document face and where its fields are.
#[derive(Debug, Clone)]
pub struct PrintedFace {
    /// Outside the rounded corners the pixels are a marker colour that
    /// [`photograph`] leaves out.
    pub image: RgbImage,
    pub fields: PrintedFields,
}

/// Type sizes in millimetres: labels, values, the gaps between them, the document number.
struct Type {
    label: f64,
    value: f64,
    gap: f64,
    line_gap: f64,
    number: f64,
    title: f64,
}

impl Type {
    fn of(doc: DocumentType) -> Type {
        if doc == DocumentType::Passport {
            Type {
                label: 1.1,
                value: 2.2,
                gap: 0.7,
                line_gap: 1.4,
                number: 2.4,
                title: 2.6,
            }
        } else {
            Type {
                label: 0.9,
                value: 1.7,
                gap: 0.5,
                line_gap: 1.1,
                number: 2.0,
                title: 2.0,
            }
        }
    }
}

/// OCR-B's character pitch over its capital height (ICAO: 2.54 mm pitch for 2.35 mm caps).
const PITCH_PER_CAP: f64 = 2.54 / 2.35;
const INK: Rgb<u8> = Rgb([30, 30, 38]);
const LABEL_INK: Rgb<u8> = Rgb([70, 88, 130]);
const NUMBER_INK: Rgb<u8> = Rgb([150, 35, 35]);
const STOCK: Rgb<u8> = Rgb([228, 226, 214]);

/// The face of a `doc` `width` px wide showing `holder` in `face_layout`, with the zone ICAO
/// 9303 makes of the holder (TD3 on passports, TD1 on identity cards, none on licences).
pub fn document_face_for(
    doc: DocumentType,
    width: u32,
    seed: u64,
    holder: &Holder,
    face_layout: &FaceLayout,
) -> PrintedFace {
    let zone = if layout(doc).mrz.is_some() {
        holder.zone(doc)
    } else {
        Vec::new()
    };
    document_face_with_zone(doc, width, seed, holder, face_layout, &zone)
}

/// [`document_face_for`] with `zone` printed as the machine-readable zone instead of the
/// holder's own (an altered zone, say); nothing when `zone` is empty.
pub fn document_face_with_zone(
    doc: DocumentType,
    width: u32,
    seed: u64,
    holder: &Holder,
    face_layout: &FaceLayout,
    zone: &[String],
) -> PrintedFace {
    let lay = layout(doc);
    let w = width.max(64);
    let h = (f64::from(w) / lay.aspect()).round() as u32;
    let mm = f64::from(w) / lay.width_mm;
    let (fw, fh) = (f64::from(w), f64::from(h));
    let mut rng = Rng::new(seed ^ 0xFACE);
    let mut img = synth::card_stock(w, h);
    let t = Type::of(doc);

    synth::fill(
        &mut img,
        RelRect::new(0.0, 0.0, 1.0, 0.12),
        Rgb([196, 210, 228]),
    );
    let title = match doc {
        DocumentType::Passport => "PASSPORT",
        DocumentType::IdCard => "IDENTITY CARD",
        DocumentType::DrivingLicence => "DRIVING LICENCE",
    };
    let title_line = format!("{title}  {}", holder.issuing_state);
    // In the header's half the document number leaves free.
    let title_x = if face_layout.number_at.0 > 0.5 {
        0.04
    } else {
        0.40
    };
    print(
        &mut img,
        &title_line,
        title_x * fw,
        0.09 * fh,
        t.title * mm,
        t.title * PITCH_PER_CAP * mm,
        LABEL_INK,
    );

    let portrait = face_layout.portrait;
    draw_portrait(&mut img, portrait, 0.0, &mut rng);
    if let Some(g) = face_layout.ghost {
        draw_portrait(&mut img, g, 0.7, &mut rng);
    }

    // The labelled fields, one under another.
    let (fx, fy) = face_layout.fields_at;
    let (x, mut y) = (fx * fw, fy * fh);
    let fmt_date = |(yy, m, d): (i32, u32, u32)| format!("{d:02}.{m:02}.{yy:04}");
    let values = [
        ("SURNAME", holder.surname.clone()),
        ("GIVEN NAMES", holder.given_names.clone()),
        ("NATIONALITY", holder.nationality.clone()),
        ("DATE OF BIRTH", fmt_date(holder.date_of_birth)),
        ("DATE OF EXPIRY", fmt_date(holder.date_of_expiry)),
    ];
    let mut boxes = Vec::new();
    for (label, value) in &values {
        y += t.label * mm;
        let label_pitch = t.label * PITCH_PER_CAP * mm;
        print(&mut img, label, x, y, t.label * mm, label_pitch, LABEL_INK);
        y += (t.gap + t.value) * mm;
        let pitch = t.value * PITCH_PER_CAP * mm;
        boxes.push(print_measured(
            &mut img,
            value,
            x,
            y,
            t.value * mm,
            pitch,
            INK,
        ));
        y += t.line_gap * mm;
    }
    let found = |b: Option<RelRect>| b.expect("a printed field leaves ink on the face");

    // The document number, in red as many documents print it.
    let (nx, ny) = face_layout.number_at;
    let (nx, mut ny) = (nx * fw, ny * fh);
    ny += t.label * mm;
    print(
        &mut img,
        "DOCUMENT NO",
        nx,
        ny,
        t.label * mm,
        t.label * PITCH_PER_CAP * mm,
        LABEL_INK,
    );
    ny += (t.gap + t.number) * mm;
    let number = print_measured(
        &mut img,
        &holder.document_number,
        nx,
        ny,
        t.number * mm,
        t.number * PITCH_PER_CAP * mm,
        NUMBER_INK,
    );

    let (mrz, mrz_document_number) = print_zone_measured(&mut img, doc, zone);
    synth::round_corners(&mut img, 3.18 * mm);
    PrintedFace {
        image: img,
        fields: PrintedFields {
            portrait,
            ghost: face_layout.ghost,
            document_number: found(number),
            surname: found(boxes[0]),
            given_names: found(boxes[1]),
            date_of_birth: found(boxes[3]),
            mrz,
            mrz_document_number,
        },
    }
}

/// A portrait: a backdrop, hair, a face and shoulders; `fade` (0–1) blends it toward the
/// card stock, as a ghost portrait is printed.
fn draw_portrait(img: &mut RgbImage, p: RelRect, fade: f64, rng: &mut Rng) {
    let tone = |c: [f64; 3]| {
        Rgb(c.map(|v| {
            let v = v.clamp(0.0, 255.0);
            (v + (f64::from(STOCK.0[0]) - v) * fade) as u8
        }))
    };
    let jitter = rng.range(-20.0, 20.0);
    synth::fill(img, p, tone([150.0 + jitter, 160.0 + jitter, 178.0]));
    let (cx, cy) = (p.x + p.w / 2.0, p.y + p.h * 0.42);
    let hair = rng.range(30.0, 120.0);
    synth::ellipse(
        img,
        p,
        (cx, cy - p.h * 0.05),
        (p.w * 0.31, p.h * 0.28),
        tone([hair, hair * 0.8, hair * 0.6]),
    );
    let skin = rng.range(-60.0, 30.0);
    synth::ellipse(
        img,
        p,
        (cx, cy + p.h * 0.02),
        (p.w * 0.26, p.h * 0.25),
        tone([205.0 + skin, 170.0 + skin, 150.0 + skin]),
    );
    synth::ellipse(
        img,
        p,
        (cx, p.y + p.h * 1.02),
        (p.w * 0.45, p.h * 0.3),
        tone([60.0, 70.0, 95.0]),
    );
}

/// [`print`], returning the box of the pixels it changed.
fn print_measured(
    img: &mut RgbImage,
    text: &str,
    left: f64,
    baseline: f64,
    cap: f64,
    pitch: f64,
    ink: Rgb<u8>,
) -> Option<RelRect> {
    // Glyphs stay within a pitch of their cell and a cap height of the baseline; the window
    // is wider still, so the diff below sees every changed pixel.
    let n = text.chars().count() as f64;
    let x0 = (left - 2.0 * pitch).floor().max(0.0) as u32;
    let y0 = (baseline - 2.0 * cap).floor().max(0.0) as u32;
    let x1 = ((left + pitch * (n + 2.0)).ceil() as u32).min(img.width());
    let y1 = ((baseline + cap).ceil() as u32).min(img.height());
    let before = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    print(img, text, left, baseline, cap, pitch, ink);
    let (mut bx0, mut by0, mut bx1, mut by1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in before.enumerate_pixels() {
        if img.get_pixel(x0 + x, y0 + y) != p {
            bx0 = bx0.min(x0 + x);
            by0 = by0.min(y0 + y);
            bx1 = bx1.max(x0 + x + 1);
            by1 = by1.max(y0 + y + 1);
        }
    }
    (bx1 > bx0).then(|| {
        RelRect::from_pixels(
            f64::from(bx0),
            f64::from(by0),
            f64::from(bx1 - bx0),
            f64::from(by1 - by0),
            img.width(),
            img.height(),
        )
    })
}

/// The zone printed as `mrz::print_zone` prints it; the box of all its ink and of the
/// document number's cells (number and check digit).
fn print_zone_measured(
    img: &mut RgbImage,
    doc: DocumentType,
    lines: &[String],
) -> (Option<RelRect>, Option<RelRect>) {
    if lines.is_empty() {
        return (None, None);
    }
    let mm = f64::from(img.width()) / layout(doc).width_mm;
    let g = ZoneGeometry::of(doc);
    // TD1: line 1, cells 5–14; TD2 and TD3: line 2, cells 0–9.
    let (number_line, cells) = if lines.len() == 3 {
        (0, 5..15)
    } else {
        (1, 0..10)
    };
    let n = lines.len();
    let (mut zone, mut number) = (None, None);
    for (k, line) in lines.iter().enumerate() {
        let baseline = (g.last_baseline_mm - g.line_pitch_mm * (n - 1 - k) as f64) * mm;
        let pitch = g.char_pitch_mm * mm;
        let chars: Vec<char> = line.chars().collect();
        // Printed in pieces at their own cells, which draws the same pixels as the whole
        // line: every glyph is placed by its index alone.
        let cuts = if k == number_line {
            vec![0, cells.start, cells.end, chars.len()]
        } else {
            vec![0, chars.len()]
        };
        for pair in cuts.windows(2) {
            let (a, b) = (pair[0].min(chars.len()), pair[1].min(chars.len()));
            if a >= b {
                continue;
            }
            let piece: String = chars[a..b].iter().collect();
            let left = g.left_mm * mm + pitch * a as f64;
            let ink = print_measured(
                img,
                &piece,
                left,
                baseline,
                g.cap_mm * mm,
                pitch,
                Rgb([28, 28, 32]),
            );
            zone = union(zone, ink);
            if k == number_line && a == cells.start {
                number = ink;
            }
        }
    }
    (zone, number)
}

/// Cover cell `cell` of line `line` of a zone of `lines` lines on the face of a `doc` with
/// a flat grey blot, as a stain or a worn print leaves it: nothing there matches a character.
pub fn blot_zone_cell(
    img: &mut RgbImage,
    doc: DocumentType,
    lines: usize,
    line: usize,
    cell: usize,
) {
    let mm = f64::from(img.width()) / layout(doc).width_mm;
    let g = ZoneGeometry::of(doc);
    let baseline = g.last_baseline_mm - g.line_pitch_mm * (lines - 1 - line) as f64;
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let x = (g.left_mm + g.char_pitch_mm * cell as f64 - 0.2) * mm;
    let y = (baseline - g.cap_mm - 0.3) * mm;
    synth::fill(
        img,
        RelRect::new(
            x / w,
            y / h,
            (g.char_pitch_mm * mm) / w,
            (g.cap_mm + 0.6) * mm / h,
        ),
        Rgb([120, 118, 112]),
    );
}

fn union(a: Option<RelRect>, b: Option<RelRect>) -> Option<RelRect> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (x0, y0) = (a.x.min(b.x), a.y.min(b.y));
            let (x1, y1) = ((a.x + a.w).max(b.x + b.w), (a.y + a.h).max(b.y + b.h));
            Some(RelRect::new(x0, y0, x1 - x0, y1 - y0))
        }
        (a, None) => a,
        (None, b) => b,
    }
}

/// Frame sizes of the generated photos: a 2, 3 and 5 megapixel phone picture.
pub const FRAMES: [(u32, u32); 3] = [(1600, 1200), (2048, 1536), (2592, 1944)];
/// Largest turn of the document in the frame, in degrees; `synth::random_corners` adds a
/// keystone of up to ±12 % (a tilted camera) and covers 35–70 % of the frame's width.
pub const MAX_TURN_DEG: f64 = 20.0;
/// Out of focus: a Gaussian blur of up to this many MRZ character pitches (σ), never under
/// [`MIN_BLUR_PX`] (every lens softens a little). At 0.10 pitch a character's strokes run
/// into each other slightly; a person still reads it without effort.
pub const MAX_BLUR_PITCH: f64 = 0.10;
pub const MIN_BLUR_PX: f64 = 0.4;
/// Sensor noise: a Gaussian of σ in this range, in levels of 255, per channel.
pub const NOISE_SIGMA: (f64, f64) = (1.0, 8.0);
/// Exposure: every pixel times a factor in this range.
pub const EXPOSURE: (f64, f64) = (0.6, 1.15);
/// Uneven lighting: brightness falls off linearly across the frame by up to this share.
pub const MAX_GRADIENT: f64 = 0.4;
/// JPEG quality of the saved photo.
pub const JPEG_QUALITY: (u8, u8) = (40, 95);

/// How one generated photo of a document was taken: where the document lies in the frame and
/// what the camera did to it. Each defect is drawn independently within the documented
/// ranges above.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shot {
    pub width: u32,
    pub height: u32,
    /// TL, TR, BR, BL as the document reads.
    pub corners: Quad,
    /// The document's turn in the frame, degrees.
    pub turn_deg: f64,
    /// Gaussian blur σ in pixels of the photo.
    pub blur_px: f64,
    /// The same σ in MRZ character pitches, the measure of legibility.
    pub blur_pitch: f64,
    pub noise_sigma: f64,
    pub exposure: f64,
    /// Falloff across the frame (0 = even light) and its direction in radians.
    pub gradient: f64,
    pub gradient_angle: f64,
    pub jpeg_quality: u8,
}

impl Shot {
    /// A random shot of a `doc`.
    pub fn random(doc: DocumentType, rng: &mut Rng) -> Shot {
        let (width, height) = FRAMES[(rng.next_u64() % FRAMES.len() as u64) as usize];
        let lay = layout(doc);
        let corners = synth::random_corners(width, height, lay.aspect(), MAX_TURN_DEG, rng);
        let top = corners.0[1].y - corners.0[0].y;
        let turn_deg = top.atan2(corners.0[1].x - corners.0[0].x).to_degrees();
        let pitch = corners.mean_sides().0 / lay.width_mm * 2.54;
        let blur_pitch = rng.range(0.0, MAX_BLUR_PITCH);
        let blur_px = (blur_pitch * pitch).max(MIN_BLUR_PX);
        let lo_q = u64::from(JPEG_QUALITY.0);
        let span = u64::from(JPEG_QUALITY.1 - JPEG_QUALITY.0) + 1;
        Shot {
            width,
            height,
            corners,
            turn_deg,
            blur_px,
            blur_pitch: blur_px / pitch,
            noise_sigma: rng.range(NOISE_SIGMA.0, NOISE_SIGMA.1),
            exposure: rng.range(EXPOSURE.0, EXPOSURE.1),
            gradient: rng.range(0.0, MAX_GRADIENT),
            gradient_angle: rng.range(0.0, std::f64::consts::TAU),
            jpeg_quality: (lo_q + rng.next_u64() % span) as u8,
        }
    }

    /// A good photo: the document where `synth::default_corners` puts it, a little lens
    /// softness and sensor noise, even light, JPEG quality 90.
    pub fn clean(doc: DocumentType, width: u32, height: u32) -> Shot {
        let corners = synth::default_corners(width, height);
        let pitch = corners.mean_sides().0 / layout(doc).width_mm * 2.54;
        let top = corners.0[1].y - corners.0[0].y;
        Shot {
            width,
            height,
            corners,
            turn_deg: top.atan2(corners.0[1].x - corners.0[0].x).to_degrees(),
            blur_px: 0.6,
            blur_pitch: 0.6 / pitch,
            noise_sigma: 2.0,
            exposure: 1.0,
            gradient: 0.0,
            gradient_angle: 0.0,
            jpeg_quality: 90,
        }
    }

    /// The face width worth printing for this shot: half again the document's size in the
    /// photo, so resampling, not the print, limits the detail.
    pub fn face_width(&self) -> u32 {
        (self.corners.mean_sides().0 * 1.5).clamp(64.0, 6000.0) as u32
    }
}

/// `face` photographed as `shot` says, on a table: placed by its corners with bilinear
/// sampling, lit unevenly, blurred, with sensor noise. Not yet compressed: see
/// [`photograph_jpeg`].
pub fn photograph(face: &RgbImage, shot: &Shot, seed: u64) -> RgbImage {
    let mut img = synth::background(shot.width, shot.height, seed);
    place(&mut img, face, &shot.corners);
    let (w, h) = (f64::from(shot.width), f64::from(shot.height));
    let (dx, dy) = (shot.gradient_angle.cos(), shot.gradient_angle.sin());
    // The projection of the frame's corners on the light's direction spans 0–1.
    let proj = |x: f64, y: f64| x * dx + y * dy;
    let ends = [proj(0.0, 0.0), proj(w, 0.0), proj(0.0, h), proj(w, h)];
    let lo = ends.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ends.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let t = (proj(f64::from(x), f64::from(y)) - lo) / (hi - lo);
        let k = shot.exposure * (1.0 - shot.gradient * t);
        p.0 =
            p.0.map(|v| (f64::from(v) * k).round().clamp(0.0, 255.0) as u8);
    }
    gaussian_blur(&mut img, shot.blur_px);
    let mut rng = Rng::new(seed ^ 0x5E_0501);
    for p in img.pixels_mut() {
        for c in p.0.iter_mut() {
            let v = f64::from(*c) + gauss(&mut rng) * shot.noise_sigma;
            *c = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

/// [`photograph`] saved as a JPEG of the shot's quality.
pub fn photograph_jpeg(face: &RgbImage, shot: &Shot, seed: u64) -> Vec<u8> {
    let img = photograph(face, shot, seed);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, shot.jpeg_quality)
        .encode_image(&img)
        .expect("encoding to memory");
    jpeg
}

/// A standard normal draw (Box–Muller).
fn gauss(rng: &mut Rng) -> f64 {
    let u = rng.range(f64::MIN_POSITIVE, 1.0);
    let v = rng.range(0.0, std::f64::consts::TAU);
    (-2.0 * u.ln()).sqrt() * v.cos()
}

/// Draw `face` so its corners land on `corners`, sampling bilinearly; the marker colour
/// outside its rounded corners leaves the background.
fn place(img: &mut RgbImage, face: &RgbImage, corners: &Quad) {
    let (fw, fh) = (f64::from(face.width()), f64::from(face.height()));
    let Some(inv) = Homography::rect_to(fw, fh, corners).and_then(|h| h.inverse()) else {
        return;
    };
    let xs = corners.0.map(|p| p.x);
    let ys = corners.0.map(|p| p.y);
    let min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: [f64; 4]| v.iter().copied().fold(0.0, f64::max);
    let (x0, x1) = (min(xs).floor().max(0.0) as u32, max(xs).ceil() as u32);
    let (y0, y1) = (min(ys).floor().max(0.0) as u32, max(ys).ceil() as u32);
    for y in y0..y1.min(img.height()) {
        for x in x0..x1.min(img.width()) {
            let q = inv.apply(Point::new(f64::from(x) + 0.5, f64::from(y) + 0.5));
            let (u, v) = (q.x - 0.5, q.y - 0.5);
            if !(u >= 0.0 && v >= 0.0 && u < fw - 1.0 && v < fh - 1.0) {
                continue;
            }
            let (ix, iy) = (u as u32, v as u32);
            let (ax, ay) = (u - f64::from(ix), v - f64::from(iy));
            let px = [
                face.get_pixel(ix, iy),
                face.get_pixel(ix + 1, iy),
                face.get_pixel(ix, iy + 1),
                face.get_pixel(ix + 1, iy + 1),
            ];
            if px.iter().any(|p| **p == TRANSPARENT) {
                continue;
            }
            let wts = [
                (1.0 - ax) * (1.0 - ay),
                ax * (1.0 - ay),
                (1.0 - ax) * ay,
                ax * ay,
            ];
            let mut out = [0.0f64; 3];
            for (p, wt) in px.iter().zip(wts) {
                for (o, c) in out.iter_mut().zip(p.0) {
                    *o += f64::from(c) * wt;
                }
            }
            img.put_pixel(x, y, Rgb(out.map(|v| v.round() as u8)));
        }
    }
}

/// A separable Gaussian blur of standard deviation `sigma` px.
fn gaussian_blur(img: &mut RgbImage, sigma: f64) {
    if sigma < 0.05 {
        return;
    }
    let r = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let (w, h) = (img.width() as isize, img.height() as isize);
    let pass = |src: &[u8], dst: &mut [u8], horizontal: bool| {
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0.0f32; 3];
                for (k, wt) in kernel.iter().enumerate() {
                    let d = k as isize - r;
                    let (sx, sy) = if horizontal {
                        ((x + d).clamp(0, w - 1), y)
                    } else {
                        (x, (y + d).clamp(0, h - 1))
                    };
                    let i = ((sy * w + sx) * 3) as usize;
                    for c in 0..3 {
                        acc[c] += f32::from(src[i + c]) * wt;
                    }
                }
                let o = ((y * w + x) * 3) as usize;
                for c in 0..3 {
                    dst[o + c] = acc[c].round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    };
    let src = img.as_raw().clone();
    let mut tmp = vec![0u8; src.len()];
    pass(&src, &mut tmp, true);
    pass(&tmp, img.as_mut(), false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_fields_lie_where_the_layout_puts_them() {
        let holder = Holder::random(DocumentType::IdCard, &mut Rng::new(3));
        for fl in FaceLayout::all(DocumentType::IdCard) {
            let face = document_face_for(DocumentType::IdCard, 900, 1, &holder, &fl);
            let f = face.fields;
            let (nx, ny) = fl.number_at;
            assert!((f.document_number.x - nx).abs() < 0.02, "{}", fl.name);
            assert!(f.document_number.y > ny && f.document_number.y < ny + 0.12);
            let zone = f.mrz.unwrap();
            assert!(zone.y > 0.70 && zone.y + zone.h < 0.97, "{zone:?}");
            let number = f.mrz_document_number.unwrap();
            assert!(number.x > zone.x && number.y < zone.y + zone.h / 3.0);
            for b in [f.surname, f.given_names, f.date_of_birth, f.document_number] {
                let overlaps_portrait = b.x < f.portrait.x + f.portrait.w
                    && f.portrait.x < b.x + b.w
                    && b.y < f.portrait.y + f.portrait.h
                    && f.portrait.y < b.y + b.h;
                assert!(!overlaps_portrait, "{} {b:?}", fl.name);
                assert!(b.y + b.h < zone.y, "{} {b:?} above the zone", fl.name);
            }
        }
    }

    #[test]
    fn the_template_layout_prints_the_number_inside_the_templates_box() {
        for doc in [DocumentType::Passport, DocumentType::IdCard] {
            let holder = Holder::for_document(doc);
            let face = document_face_for(doc, 1000, 1, &holder, &FaceLayout::template(doc));
            let (b, t) = (face.fields.document_number, layout(doc).document_number);
            assert!(b.x >= t.x && b.y >= t.y, "{doc:?} {b:?} {t:?}");
            assert!(b.x + b.w <= t.x + t.w && b.y + b.h <= t.y + t.h, "{doc:?}");
        }
    }

    #[test]
    fn shots_are_deterministic_and_within_their_ranges() {
        let mut a = Rng::new(5);
        let mut b = Rng::new(5);
        for _ in 0..50 {
            let s = Shot::random(DocumentType::Passport, &mut a);
            assert_eq!(s, Shot::random(DocumentType::Passport, &mut b));
            assert!(s.blur_pitch <= MAX_BLUR_PITCH + 1e-9 || s.blur_px == MIN_BLUR_PX);
            assert!((JPEG_QUALITY.0..=JPEG_QUALITY.1).contains(&s.jpeg_quality));
            assert!(s.turn_deg.abs() < MAX_TURN_DEG + 8.0, "{}", s.turn_deg);
        }
    }
}
