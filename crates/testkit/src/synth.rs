//! Deterministic test images: documents photographed at an angle, bad photos of them, EXIF
//! orientations and hostile files. Nothing here touches the disk or the network.

use image::{Rgb, RgbImage};
use v2client::domain::DocumentType;
use v2client::imaging::{Homography, Layout, Point, Quad, RelRect, layout};

/// A generated photo and, when it shows a document, the document's true corners.
#[derive(Debug, Clone)]
pub struct Scene {
    pub image: RgbImage,
    pub corners: Option<Quad>,
}

/// What is wrong with a generated photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Clean,
    /// Out of focus.
    Blurred,
    /// Underexposed.
    Dark,
    /// A saturated reflection on the document.
    Glare,
    /// Background and clutter, no document.
    NoCard,
}

/// A small deterministic generator (SplitMix64), so scenes need no dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The flat, upright face of a document `width` px wide: light card stock, a header, lines of
/// text-like marks, a portrait, a document number and an MRZ-like band, placed where
/// [`layout`] says those fields are. Corners are rounded like real cards.
pub fn document_face(doc: DocumentType, width: u32, seed: u64) -> (RgbImage, Layout) {
    let lay = *layout(doc);
    let (w, h) = (
        width.max(64),
        (f64::from(width.max(64)) / lay.aspect()).round() as u32,
    );
    let wf = f64::from(w);
    let mut rng = Rng::new(seed ^ 0xD0C);
    let mut img = card_stock(w, h);
    fill(
        &mut img,
        RelRect::new(0.0, 0.0, 1.0, 0.12),
        Rgb([196, 210, 228]),
    );
    // Text lines right of the portrait.
    let mut y = 0.20;
    while y < 0.62 {
        let mut x = 0.37;
        while x < 0.93 {
            let len = rng.range(0.03, 0.14).min(0.95 - x);
            fill(&mut img, RelRect::new(x, y, len, 0.032), Rgb([55, 58, 70]));
            x += len + rng.range(0.015, 0.03);
        }
        y += 0.075;
    }
    // Portrait: a backdrop with a face and shoulders.
    let p = lay.portrait;
    fill(&mut img, p, Rgb([150, 160, 178]));
    let (cx, cy) = (p.x + p.w / 2.0, p.y + p.h * 0.42);
    ellipse(
        &mut img,
        p,
        (cx, cy),
        (p.w * 0.28, p.h * 0.26),
        Rgb([205, 170, 150]),
    );
    ellipse(
        &mut img,
        p,
        (cx, p.y + p.h * 1.02),
        (p.w * 0.45, p.h * 0.3),
        Rgb([60, 70, 95]),
    );
    // Document number in red, as many cards print it.
    let d = lay.document_number;
    marks(
        &mut img,
        RelRect::new(d.x + 0.02, d.y + d.h * 0.25, d.w - 0.04, d.h * 0.5),
        9,
        Rgb([150, 35, 35]),
    );
    // The machine-readable zone, in OCR-B, of the default holder.
    if lay.mrz.is_some() {
        let holder = crate::mrz::Holder::for_document(doc);
        crate::mrz::print_zone(&mut img, doc, &holder.zone(doc));
    }
    // Round the corners (ID-1: 3.18 mm radius); outside the rounding is made transparent by
    // [`photo`], so mark it with a colour that cannot occur in the print.
    round_corners(&mut img, 3.18 / lay.width_mm * wf);
    (img, lay)
}

pub(crate) const TRANSPARENT: Rgb<u8> = Rgb([255, 0, 255]);

/// Blank card stock: light, with faint guilloche-like waves, as security print has.
pub(crate) fn card_stock(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let t = (f64::from(x) * 0.05 + (f64::from(y) * 0.03).sin() * 3.0).sin() * 5.0;
        Rgb([(228.0 + t) as u8, (226.0 + t) as u8, (214.0 - t) as u8])
    })
}

/// Mark what lies outside corners rounded to radius `r` px as [`TRANSPARENT`].
pub(crate) fn round_corners(img: &mut RgbImage, r: f64) {
    let (wf, hf) = (f64::from(img.width()), f64::from(img.height()));
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (fx, fy) = (f64::from(x) + 0.5, f64::from(y) + 0.5);
        let qx = if fx < r {
            r - fx
        } else if fx > wf - r {
            fx - (wf - r)
        } else {
            0.0
        };
        let qy = if fy < r {
            r - fy
        } else if fy > hf - r {
            fy - (hf - r)
        } else {
            0.0
        };
        if qx > 0.0 && qy > 0.0 && qx.hypot(qy) > r {
            *px = TRANSPARENT;
        }
    }
}

pub(crate) fn fill(img: &mut RgbImage, r: RelRect, c: Rgb<u8>) {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let (x0, y0) = ((r.x * w) as u32, (r.y * h) as u32);
    let (x1, y1) = (
        (((r.x + r.w) * w) as u32).min(img.width()),
        (((r.y + r.h) * h) as u32).min(img.height()),
    );
    for y in y0..y1 {
        for x in x0..x1 {
            img.put_pixel(x, y, c);
        }
    }
}

/// An ellipse (centre and radii as fractions of the image) clipped to `clip`.
pub(crate) fn ellipse(
    img: &mut RgbImage,
    clip: RelRect,
    (cx, cy): (f64, f64),
    (rx, ry): (f64, f64),
    c: Rgb<u8>,
) {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (u, v) = ((f64::from(x) + 0.5) / w, (f64::from(y) + 0.5) / h);
        let (dx, dy) = ((u - cx) / rx, (v - cy) / ry);
        let inside = u >= clip.x && u < clip.x + clip.w && v >= clip.y && v < clip.y + clip.h;
        if inside && dx * dx + dy * dy <= 1.0 {
            *px = c;
        }
    }
}

/// `n` evenly spaced character-like marks across `r`.
fn marks(img: &mut RgbImage, r: RelRect, n: u32, c: Rgb<u8>) {
    let pitch = r.w / f64::from(n);
    for i in 0..n {
        let x = r.x + pitch * f64::from(i);
        fill(img, RelRect::new(x, r.y, pitch * 0.6, r.h), c);
        if i % 3 == 1 {
            fill(
                img,
                RelRect::new(x + pitch * 0.1, r.y + r.h * 0.4, pitch * 0.65, r.h * 0.2),
                Rgb([228, 226, 214]),
            );
        }
    }
}

/// Where a document sits in a default `width × height` photo: about 60 % of the frame,
/// turned a few degrees and seen from below-left, so all four corners are oblique.
pub fn default_corners(width: u32, height: u32) -> Quad {
    let (w, h) = (f64::from(width), f64::from(height));
    Quad([
        Point::new(0.21 * w, 0.23 * h),
        Point::new(0.79 * w, 0.17 * h),
        Point::new(0.83 * w, 0.79 * h),
        Point::new(0.16 * w, 0.75 * h),
    ])
}

/// Random corners of a document turned up to ±`max_turn` degrees with perspective, covering
/// 35–70 % of the frame's width and lying wholly inside the frame, for accuracy sweeps.
pub fn random_corners(width: u32, height: u32, aspect: f64, max_turn: f64, rng: &mut Rng) -> Quad {
    let (w, h) = (f64::from(width), f64::from(height));
    loop {
        let cw = w * rng.range(0.35, 0.70);
        let ch = cw / aspect;
        let (cx, cy) = (w * rng.range(0.4, 0.6), h * rng.range(0.4, 0.6));
        let a = rng.range(-max_turn, max_turn).to_radians();
        let (s, c) = a.sin_cos();
        let base = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)];
        // Keystone: one edge shorter than the other, as when the camera is tilted.
        let k = rng.range(-0.12, 0.12);
        let q = Quad(base.map(|(u, v)| {
            let u = u * (1.0 + k * v * 2.0);
            let (x, y) = (
                u * cw + rng.range(-0.01, 0.01) * cw,
                v * ch + rng.range(-0.01, 0.01) * cw,
            );
            Point::new(cx + x * c - y * s, cy + x * s + y * c)
        }));
        let inside =
            q.0.iter()
                .all(|p| p.x > 0.02 * w && p.x < 0.98 * w && p.y > 0.02 * h && p.y < 0.98 * h);
        if inside {
            return q;
        }
    }
}

/// A photo of `doc` in the default position with one of the [`Variant`] defects.
pub fn photo(doc: DocumentType, width: u32, height: u32, variant: Variant, seed: u64) -> Scene {
    let corners = default_corners(width, height);
    photo_at(doc, width, height, &corners, variant, seed)
}

/// A photo of `doc` with its corners at `corners` (TL, TR, BR, BL as the document reads).
pub fn photo_at(
    doc: DocumentType,
    width: u32,
    height: u32,
    corners: &Quad,
    variant: Variant,
    seed: u64,
) -> Scene {
    let mut img = background(width, height, seed);
    let mut truth = None;
    if variant == Variant::NoCard {
        clutter(&mut img, seed);
    } else {
        // A face resolution matching the document's size in the photo: no needless detail.
        let face_w = corners.mean_sides().0.clamp(64.0, 4000.0) as u32;
        let (mut face, _) = document_face(doc, face_w, seed);
        if variant == Variant::Glare {
            glare(&mut face);
        }
        composite(&mut img, &face, corners);
        truth = Some(*corners);
    }
    // Every lens softens a little; it also anti-aliases the document's edges.
    box_blur_rgb(&mut img, 1, 1);
    match variant {
        Variant::Blurred => {
            let r = (width.max(height) / 220).max(2);
            box_blur_rgb(&mut img, r, 3);
        }
        Variant::Dark => {
            for p in img.pixels_mut() {
                p.0 = p.0.map(|v| (f32::from(v) * 0.22) as u8);
            }
        }
        _ => {}
    }
    Scene {
        image: img,
        corners: truth,
    }
}

/// A wood-like table: dark, grained and noisy, so the detector cannot rely on flat colour.
pub(crate) fn background(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = Rng::new(seed);
    let phase = rng.range(0.0, std::f64::consts::TAU);
    let freq = rng.range(0.015, 0.03);
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let grain = ((fy * freq + (fx * 0.004 + phase).sin() * 4.0).sin() * 16.0) as i32;
        let n = (hash(x, y, seed) % 25) as i32 - 12;
        let v = |base: i32| (base + grain + n).clamp(0, 255) as u8;
        Rgb([v(104), v(78), v(58)])
    })
}

fn hash(x: u32, y: u32, seed: u64) -> u64 {
    let mut r = Rng::new(seed ^ (u64::from(x) << 32) ^ u64::from(y));
    r.next_u64()
}

/// Things that are not documents: a bright disc (a mug seen from above), a dark bar (a pen)
/// and a light, irregular blob (a crumpled receipt).
fn clutter(img: &mut RgbImage, seed: u64) {
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let mut rng = Rng::new(seed ^ 0xC1u64);
    let (dx, dy, dr) = (w * rng.range(0.25, 0.4), h * rng.range(0.3, 0.6), h * 0.18);
    let (bx, by) = (w * rng.range(0.6, 0.75), h * rng.range(0.3, 0.6));
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (fx, fy) = (f64::from(x), f64::from(y));
        if (fx - dx).hypot(fy - dy) < dr {
            *p = Rgb([235, 235, 228]);
        }
        let (u, v) = (fx - w * 0.5, fy - h * 0.85);
        if u.abs() < w * 0.25 && v.abs() < h * 0.012 {
            *p = Rgb([20, 20, 60]);
        }
        // A star-ish blob: radius varies with angle.
        let (ex, ey) = (fx - bx, fy - by);
        let ang = ey.atan2(ex);
        if ex.hypot(ey) < h * (0.14 + 0.05 * (5.0 * ang).sin()) {
            *p = Rgb([222, 220, 210]);
        }
    }
}

/// A reflection: a saturated core fading out, a little above and right of the centre.
fn glare(face: &mut RgbImage) {
    let (w, h) = (f64::from(face.width()), f64::from(face.height()));
    let (cx, cy, r) = (0.62 * w, 0.40 * h, 0.22 * w);
    for (x, y, p) in face.enumerate_pixels_mut() {
        if *p == TRANSPARENT {
            continue;
        }
        let d = (f64::from(x) - cx).hypot(f64::from(y) - cy) / r;
        let k = ((1.0 - d) * 2.0).clamp(0.0, 1.0);
        p.0 =
            p.0.map(|v| (f64::from(v) + (255.0 - f64::from(v)) * k).round() as u8);
    }
}

/// Draw `face` so its corners land on `corners` (bilinear sampling through the inverse
/// homography; the rounded-off corners stay background).
pub(crate) fn composite(img: &mut RgbImage, face: &RgbImage, corners: &Quad) {
    let (fw, fh) = (f64::from(face.width()), f64::from(face.height()));
    let Some(inv) = Homography::rect_to(fw, fh, corners).and_then(|h| h.inverse()) else {
        return;
    };
    let xs = corners.0.map(|p| p.x);
    let ys = corners.0.map(|p| p.y);
    let x0 = xs
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as u32;
    let x1 = (xs.iter().copied().fold(0.0, f64::max).ceil() as u32).min(img.width());
    let y0 = ys
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .floor()
        .max(0.0) as u32;
    let y1 = (ys.iter().copied().fold(0.0, f64::max).ceil() as u32).min(img.height());
    for y in y0..y1 {
        for x in x0..x1 {
            let q = inv.apply(Point::new(f64::from(x) + 0.5, f64::from(y) + 0.5));
            if !(q.x >= 0.0 && q.y >= 0.0 && q.x < fw && q.y < fh) {
                continue;
            }
            let p = *face.get_pixel(q.x as u32, q.y as u32);
            if p != TRANSPARENT {
                img.put_pixel(x, y, p);
            }
        }
    }
}

/// `passes` box blurs of radius `r` (three approximate a Gaussian).
pub fn box_blur_rgb(img: &mut RgbImage, r: u32, passes: u32) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        return;
    }
    let r = r as isize;
    let n = (2 * r + 1) as u32;
    let mut line = Vec::new();
    for _ in 0..passes {
        let buf: &mut [u8] = img.as_mut();
        for y in 0..h {
            for c in 0..3 {
                line.clear();
                line.extend((0..w).map(|x| buf[(y * w + x) * 3 + c]));
                let at = |i: isize| u32::from(line[i.clamp(0, w as isize - 1) as usize]);
                let mut s: u32 = (-r..=r).map(at).sum();
                for x in 0..w {
                    buf[(y * w + x) * 3 + c] = ((s + n / 2) / n) as u8;
                    s += at(x as isize + r + 1);
                    s -= at(x as isize - r);
                }
            }
        }
        for x in 0..w {
            for c in 0..3 {
                line.clear();
                line.extend((0..h).map(|y| buf[(y * w + x) * 3 + c]));
                let at = |i: isize| u32::from(line[i.clamp(0, h as isize - 1) as usize]);
                let mut s: u32 = (-r..=r).map(at).sum();
                for y in 0..h {
                    buf[(y * w + x) * 3 + c] = ((s + n / 2) / n) as u8;
                    s += at(y as isize + r + 1);
                    s -= at(y as isize - r);
                }
            }
        }
    }
}

/// An upright test picture for orientation checks: grey, with a red block in the top-left
/// corner and a green block in the top-right corner. Those two positions tell all eight
/// orientations apart (mirror images swap them).
pub fn orientation_marker(width: u32, height: u32) -> RgbImage {
    let (bw, bh) = (width / 4, height / 4);
    RgbImage::from_fn(width, height, |x, y| {
        if y < bh && x < bw {
            Rgb([230, 20, 20])
        } else if y < bh && x >= width - bw {
            Rgb([20, 200, 20])
        } else {
            Rgb([128, 128, 128])
        }
    })
}

/// A JPEG whose stored pixels are `upright` transformed so that a viewer honouring EXIF
/// `orientation` (1–8) shows `upright`. With `more_metadata`, XMP and ICC segments are added
/// too, so metadata stripping has something to strip.
pub fn jpeg_with_orientation(upright: &RgbImage, orientation: u8, more_metadata: bool) -> Vec<u8> {
    use image::imageops;
    // The stored image is the inverse transform of the upright one: 6 and 8 are each
    // other's inverse, every other orientation is its own.
    let stored = match orientation {
        2 => imageops::flip_horizontal(upright),
        3 => imageops::rotate180(upright),
        4 => imageops::flip_vertical(upright),
        5 => imageops::flip_horizontal(&imageops::rotate90(upright)),
        6 => imageops::rotate270(upright),
        7 => imageops::flip_horizontal(&imageops::rotate270(upright)),
        8 => imageops::rotate90(upright),
        _ => upright.clone(),
    };
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&stored)
        .expect("encoding to memory");
    let mut segments = exif_segment(orientation);
    if more_metadata {
        segments.extend(segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF/></x:xmpmeta>"));
        let mut icc = b"ICC_PROFILE\0\x01\x01".to_vec();
        icc.extend_from_slice(&[0u8; 128]);
        segments.extend(segment(0xE2, &icc));
    }
    insert_after_app0(jpeg, &segments)
}

/// A minimal big-endian EXIF APP1 segment holding only the orientation tag (0x0112).
pub fn exif_segment(orientation: u8) -> Vec<u8> {
    let mut p = b"Exif\0\0MM\0\x2a\0\0\0\x08".to_vec();
    p.extend_from_slice(&[0, 1]); // one IFD entry
    p.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
    p.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    segment(0xE1, &p)
}

fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() + 2) as u16;
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&len.to_be_bytes());
    s.extend_from_slice(payload);
    s
}

fn insert_after_app0(jpeg: Vec<u8>, segments: &[u8]) -> Vec<u8> {
    let mut at = 2;
    if jpeg.len() > 6 && jpeg[2] == 0xFF && jpeg[3] == 0xE0 {
        at = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    let mut out = Vec::with_capacity(jpeg.len() + segments.len());
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(segments);
    out.extend_from_slice(&jpeg[at..]);
    out
}

/// A decompression bomb: a valid PNG of a few dozen bytes whose header declares
/// `width × height` RGB pixels (100000 × 100000 would be 30 GB decoded).
pub fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream with one stored block of 16 zero bytes: the start of the first row.
    let data = [0u8; 16];
    let mut z = vec![0x78, 0x01, 0x01, 16, 0, !16u8, 0xFF];
    z.extend_from_slice(&data);
    z.extend_from_slice(&adler32(&data).to_be_bytes());
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_png_reference() {
        // CRC of "IEND" with no data, as every PNG ends with.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn scenes_are_deterministic() {
        let a = photo(DocumentType::IdCard, 320, 240, Variant::Clean, 7);
        let b = photo(DocumentType::IdCard, 320, 240, Variant::Clean, 7);
        assert_eq!(a.image, b.image);
        assert!(a.corners.is_some());
        assert!(
            photo(DocumentType::IdCard, 320, 240, Variant::NoCard, 7)
                .corners
                .is_none()
        );
    }
}
