//! Redaction: solid fills (a blur can be undone or read through) over the fields an operator
//! chose to hide, on the crop and on the original photo.

use image::{Rgb, RgbImage};

use super::geometry::{Homography, Point, Quad, inside_convex};
use super::layout::{Layout, RelRect};
use crate::domain::RedactionTarget;

/// The colour of redacted areas.
pub const FILL: Rgb<u8> = Rgb([0, 0, 0]);

/// What was found on a crop, as fractions of it, for redaction to cover.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundFields {
    /// The machine-readable zone as read.
    pub mrz: Option<RelRect>,
    /// Every place the document number was found (its cells in the zone, its print in the
    /// visual zone).
    pub document_number: Vec<RelRect>,
    /// The document number was also found in the visual zone, so the layout's generic box
    /// need not stand in for it.
    pub number_in_visual_zone: bool,
    /// Face boxes found on the document: the portrait's first, then any secondary
    /// ("ghost") portrait.
    pub faces: Vec<RelRect>,
    /// The printed photographs found around those faces, from their own edges (see
    /// [`super::photo::photo_around`]).
    pub photos: Vec<RelRect>,
}

/// The printed portrait around a face box: head, hair and shoulders, generously (a
/// detector's box runs from the brows to the chin, and an ICAO portrait frames the head at
/// 70–80 % of its height), so hiding it hides the whole photograph and not only the face.
pub fn portrait_around(face: RelRect) -> RelRect {
    let (cx, _) = face.centre();
    let (w, h) = (face.w * 2.8, face.h * 3.2);
    RelRect::new(cx - w / 2.0, face.y - face.h * 1.1, w, h)
}

fn overlaps(a: &RelRect, b: &RelRect) -> bool {
    a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
}

/// The boxes (fractions of the upright crop) to hide for `targets`, from what was found on
/// this document, falling back to the layout's generic boxes for what was not:
///
/// - `mrz`: the zone as found, else the layout's zone band;
/// - `document_number`: every place it was found, plus the layout's box unless it was found
///   in the visual zone;
/// - `portrait`: the whole portrait around each face found (and the layout's portrait box
///   when it overlaps the main one), plus every printed photo found from its edges (never
///   instead: hiding more is safe), else the layout's portrait box.
pub fn regions(layout: &Layout, targets: &[RedactionTarget], found: &FoundFields) -> Vec<RelRect> {
    let mut out = Vec::new();
    for &t in targets {
        match t {
            RedactionTarget::Mrz => out.extend(found.mrz.or(layout.mrz)),
            RedactionTarget::DocumentNumber => {
                out.extend(found.document_number.iter().copied());
                if !found.number_in_visual_zone {
                    out.push(layout.document_number);
                }
            }
            RedactionTarget::Portrait => match found.faces.split_first() {
                Some((main, ghosts)) => {
                    let main = portrait_around(*main);
                    if overlaps(&main, &layout.portrait) {
                        out.push(layout.portrait);
                    }
                    out.push(main);
                    out.extend(ghosts.iter().map(|g| portrait_around(*g)));
                    out.extend(found.photos.iter().copied());
                }
                None => {
                    out.push(layout.portrait);
                    out.extend(found.photos.iter().copied());
                }
            },
        }
    }
    out.into_iter().filter_map(RelRect::clipped).collect()
}

/// Fill `boxes` on an upright crop. Edges are rounded outward so no partly covered pixel
/// keeps a trace of the field.
pub fn redact_crop(crop: &mut RgbImage, boxes: &[RelRect]) {
    let (w, h) = (f64::from(crop.width()), f64::from(crop.height()));
    for r in boxes.iter().filter_map(|r| r.clipped()) {
        let x0 = (r.x * w).floor() as u32;
        let y0 = (r.y * h).floor() as u32;
        let x1 = (((r.x + r.w) * w).ceil() as u32).min(crop.width());
        let y1 = (((r.y + r.h) * h).ceil() as u32).min(crop.height());
        for y in y0..y1 {
            for x in x0..x1 {
                crop.put_pixel(x, y, FILL);
            }
        }
    }
}

/// Fill `boxes` on the original photo, mapping each through the crop's transform (the unit
/// square of the crop onto `corners`, the document's outline in this photo). Returns the
/// filled polygons in original-image coordinates, ordered like the box's corners.
pub fn redact_original(img: &mut RgbImage, corners: &Quad, boxes: &[RelRect]) -> Vec<[Point; 4]> {
    let Some(h) = Homography::unit_square_to(corners) else {
        return Vec::new();
    };
    let (iw, ih) = (img.width(), img.height());
    let mut polys = Vec::new();
    for r in boxes.iter().filter_map(|r| r.clipped()) {
        let poly = [
            h.apply(Point::new(r.x, r.y)),
            h.apply(Point::new(r.x + r.w, r.y)),
            h.apply(Point::new(r.x + r.w, r.y + r.h)),
            h.apply(Point::new(r.x, r.y + r.h)),
        ];
        if poly.iter().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
            continue;
        }
        let minx = poly
            .iter()
            .map(|p| p.x)
            .fold(f64::INFINITY, f64::min)
            .floor()
            - 1.0;
        let maxx = poly
            .iter()
            .map(|p| p.x)
            .fold(f64::NEG_INFINITY, f64::max)
            .ceil()
            + 1.0;
        let miny = poly
            .iter()
            .map(|p| p.y)
            .fold(f64::INFINITY, f64::min)
            .floor()
            - 1.0;
        let maxy = poly
            .iter()
            .map(|p| p.y)
            .fold(f64::NEG_INFINITY, f64::max)
            .ceil()
            + 1.0;
        let x0 = minx.clamp(0.0, f64::from(iw)) as u32;
        let x1 = maxx.clamp(0.0, f64::from(iw)) as u32;
        let y0 = miny.clamp(0.0, f64::from(ih)) as u32;
        let y1 = maxy.clamp(0.0, f64::from(ih)) as u32;
        for y in y0..y1 {
            for x in x0..x1 {
                // A pixel is filled if its centre is within 0.75 px of the polygon, which
                // covers every pixel the polygon touches.
                let c = Point::new(f64::from(x) + 0.5, f64::from(y) + 0.5);
                if inside_convex(&poly, c, 0.75) {
                    img.put_pixel(x, y, FILL);
                }
            }
        }
        polys.push(poly);
    }
    polys
}
