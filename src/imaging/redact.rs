//! Redaction: solid fills (a blur can be undone or read through) over the fields an operator
//! chose to hide, on the crop and on the original photo.

use image::{Rgb, RgbImage};

use super::geometry::{Homography, Point, Quad, inside_convex};
use super::layout::{Layout, RelRect};
use crate::domain::RedactionTarget;

/// The colour of redacted areas.
pub const FILL: Rgb<u8> = Rgb([0, 0, 0]);

/// The boxes (fractions of the upright crop) to hide for `targets`. `portrait` overrides the
/// layout's default portrait box, e.g. with the face a detector found.
pub fn regions(
    layout: &Layout,
    targets: &[RedactionTarget],
    portrait: Option<RelRect>,
) -> Vec<RelRect> {
    targets
        .iter()
        .filter_map(|&t| match (t, portrait) {
            (RedactionTarget::Portrait, Some(p)) => Some(p),
            _ => layout.region(t),
        })
        .filter_map(RelRect::clipped)
        .collect()
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
