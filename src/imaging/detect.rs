//! Finding the document's four corners in a photo.
//!
//! Method (on the ~1000 px grey analysis copy):
//! 1. smooth with a 5×5 box filter, so print and background texture fade while the
//!    document's outline stays;
//! 2. split light from dark at Otsu's threshold; a document photographed on a table almost
//!    always differs in brightness from the table, and both polarities are tried;
//! 3. open the mask (erode then dilate) to cut thin bridges to background clutter, and label
//!    connected regions; regions touching the frame are not a whole document;
//! 4. take each large region's convex hull and reduce it to the four vertices that keep the
//!    most area (Visvalingam), which lands near the corners even when they are rounded;
//! 5. refine: give each boundary sample to the side it is nearest, fit a straight line (total
//!    least squares, refitted once without outliers) to the samples along the middle of each
//!    side and intersect neighbouring lines; this gives sub-pixel corners and the "virtual"
//!    sharp corners of a card with rounded ones;
//! 6. keep the largest candidate that is plausibly a document: big enough, convex, corner
//!    angles within limits, its region filling its quadrilateral's outline (hull and quad
//!    agree) and an apparent aspect ratio a document can have at an angle.

use image::GrayImage;
use serde::Deserialize;

use super::geometry::{Point, Quad, polygon_area};

/// Plausibility limits for a detected outline.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// The document must cover at least this share of the frame.
    pub min_area_fraction: f64,
    /// Largest relative difference between the region's hull and the fitted quadrilateral.
    pub max_shape_error: f64,
    /// Smallest interior corner angle, in degrees (perspective makes corners non-square).
    pub min_corner_angle: f64,
    /// Largest apparent long/short side ratio in the photo. Documents are at most 1.59:1;
    /// the slack is for foreshortening at steep angles.
    pub max_apparent_aspect: f64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            min_area_fraction: 0.08,
            max_shape_error: 0.06,
            min_corner_angle: 50.0,
            max_apparent_aspect: 2.6,
        }
    }
}

/// A detected outline and how well the region fitted it (0 = perfectly).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub quad: Quad,
    pub shape_error: f64,
}

/// Find the document on `grey`; corners are in `grey`'s coordinates, ordered TL, TR, BR, BL
/// with the document's long side on top.
pub fn detect_document(grey: &GrayImage, cfg: &DetectionConfig) -> Option<Detection> {
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    if w < 16 || h < 16 {
        return None;
    }
    let smooth = box_blur(grey.as_raw(), w, h, 2);
    let t = otsu(&smooth);
    let mut best: Option<(f64, Detection)> = None;
    for light in [true, false] {
        let mask: Vec<bool> = smooth.iter().map(|&v| (v > t) == light).collect();
        let mask = open(&mask, w, h, 2);
        let (labels, regions) = label(&mask, w, h);
        let min_pixels = (cfg.min_area_fraction * (w * h) as f64 * 0.4) as usize;
        for (id, r) in regions.iter().enumerate() {
            if r.touches_border || r.area < min_pixels.max(64) {
                continue;
            }
            if let Some(d) = candidate(&labels, w, id as u32 + 1, r, cfg, (w, h)) {
                let score = d.quad.area() * (1.0 - d.shape_error);
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, d));
                }
            }
        }
    }
    best.map(|(_, d)| d)
}

struct Region {
    area: usize,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    touches_border: bool,
}

fn candidate(
    labels: &[u32],
    w: usize,
    id: u32,
    r: &Region,
    cfg: &DetectionConfig,
    (iw, ih): (usize, usize),
) -> Option<Detection> {
    let samples = boundary_samples(labels, w, id, r);
    let hull = convex_hull(samples.clone());
    if hull.len() < 4 {
        return None;
    }
    let hull_area = polygon_area(&hull).abs();
    let rough = reduce_to_four(hull)?;
    let mut quad = rough;
    // The rough vertices sit anywhere on the rounded corners, so a rough side may run well
    // off the true edge: the first pass takes every sample nearest to a side, later passes
    // tighten around the fit.
    for tol in [0.25, 0.03, 0.015] {
        match refine(&quad, &samples, tol) {
            Some(q) if q.max_corner_distance(&rough) < 0.1 * rough.diagonal() => quad = q,
            _ => break,
        }
    }
    let quad = order(quad)?;
    let area = quad.area();
    let img_area = (iw * ih) as f64;
    if area < cfg.min_area_fraction * img_area || area <= 0.0 {
        return None;
    }
    let shape_error = (hull_area - area).abs() / area;
    if shape_error > cfg.max_shape_error {
        return None;
    }
    // Holes (print, portrait) may be punched in the region, but most of it must be there.
    if (r.area as f64) < 0.4 * area {
        return None;
    }
    let slack = 0.02 * iw.max(ih) as f64;
    if quad
        .0
        .iter()
        .any(|p| p.x < -slack || p.y < -slack || p.x > iw as f64 + slack || p.y > ih as f64 + slack)
    {
        return None;
    }
    if !angles_ok(&quad, cfg.min_corner_angle) {
        return None;
    }
    let [tl, tr, br, bl] = quad.0;
    let (top, bottom, left, right) = (tl.dist(tr), bl.dist(br), tl.dist(bl), tr.dist(br));
    if top.min(bottom) < 0.4 * top.max(bottom) || left.min(right) < 0.4 * left.max(right) {
        return None;
    }
    let (mw, mh) = quad.mean_sides();
    if mw / mh > cfg.max_apparent_aspect {
        return None;
    }
    Some(Detection { quad, shape_error })
}

/// Outer boundary samples of a region: the ends of each row's and each column's run, in
/// continuous coordinates (a run's right end is the right edge of its last pixel).
fn boundary_samples(labels: &[u32], w: usize, id: u32, r: &Region) -> Vec<Point> {
    let mut pts = Vec::with_capacity(2 * (r.y1 - r.y0 + r.x1 - r.x0 + 2));
    for y in r.y0..=r.y1 {
        let row = &labels[y * w + r.x0..=y * w + r.x1];
        if let (Some(a), Some(b)) = (
            row.iter().position(|&l| l == id),
            row.iter().rposition(|&l| l == id),
        ) {
            pts.push(Point::new((r.x0 + a) as f64, y as f64 + 0.5));
            pts.push(Point::new((r.x0 + b + 1) as f64, y as f64 + 0.5));
        }
    }
    for x in r.x0..=r.x1 {
        let top = (r.y0..=r.y1).find(|&y| labels[y * w + x] == id);
        let bottom = (r.y0..=r.y1).rev().find(|&y| labels[y * w + x] == id);
        if let (Some(a), Some(b)) = (top, bottom) {
            pts.push(Point::new(x as f64 + 0.5, a as f64));
            pts.push(Point::new(x as f64 + 0.5, (b + 1) as f64));
        }
    }
    pts
}

/// Andrew's monotone chain.
fn convex_hull(mut pts: Vec<Point>) -> Vec<Point> {
    pts.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross =
        |o: Point, a: Point, b: Point| (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
    let mut hull: Vec<Point> = Vec::with_capacity(pts.len() + 1);
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Point>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// Drop hull vertices one at a time, always the one whose removal loses the least area.
fn reduce_to_four(mut poly: Vec<Point>) -> Option<Quad> {
    let tri = |a: Point, b: Point, c: Point| {
        ((b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)).abs()
    };
    while poly.len() > 4 {
        let n = poly.len();
        let i = (0..n).min_by(|&i, &j| {
            let ai = tri(poly[(i + n - 1) % n], poly[i], poly[(i + 1) % n]);
            let aj = tri(poly[(j + n - 1) % n], poly[j], poly[(j + 1) % n]);
            ai.total_cmp(&aj)
        })?;
        poly.remove(i);
    }
    (poly.len() == 4).then(|| Quad([poly[0], poly[1], poly[2], poly[3]]))
}

/// Fit a line to the samples along the middle 76% of each side, then intersect neighbours.
/// Each sample belongs to the side it is nearest to, and only if within `tol` (a share of
/// that side's length); the fit is repeated once without its worst outliers.
fn refine(q: &Quad, samples: &[Point], tol: f64) -> Option<Quad> {
    let mut sides: [Vec<Point>; 4] = Default::default();
    let geo: Vec<(Point, f64, f64, f64)> = (0..4)
        .map(|i| {
            let (a, b) = (q.0[i], q.0[(i + 1) % 4]);
            let (dx, dy) = (b.x - a.x, b.y - a.y);
            let len2 = dx * dx + dy * dy;
            (a, dx, dy, len2)
        })
        .collect();
    if geo.iter().any(|g| g.3 < 1.0) {
        return None;
    }
    for p in samples {
        let mut best: Option<(usize, f64)> = None;
        for (i, &(a, dx, dy, len2)) in geo.iter().enumerate() {
            let t = ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2;
            let d = ((p.y - a.y) * dx - (p.x - a.x) * dy).abs() / len2.sqrt();
            if (0.12..=0.88).contains(&t)
                && d <= (tol * len2.sqrt()).max(2.0)
                && best.is_none_or(|(_, bd)| d < bd)
            {
                best = Some((i, d));
            }
        }
        if let Some((i, _)) = best {
            sides[i].push(*p);
        }
    }
    let mut lines = [(Point::new(0.0, 0.0), Point::new(0.0, 0.0)); 4];
    for (line, pts) in lines.iter_mut().zip(sides.iter_mut()) {
        if pts.len() < 8 {
            return None;
        }
        let first = fit_line(pts);
        let mut res: Vec<f64> = pts.iter().map(|p| residual(first, *p)).collect();
        res.sort_by(f64::total_cmp);
        let cut = (res[res.len() / 2] * 3.0).max(1.0);
        pts.retain(|p| residual(first, *p) <= cut);
        *line = if pts.len() >= 8 { fit_line(pts) } else { first };
    }
    let mut corners = [Point::new(0.0, 0.0); 4];
    for (i, c) in corners.iter_mut().enumerate() {
        // Corner i joins side i-1 (ending at it) and side i (starting at it).
        *c = intersect(lines[(i + 3) % 4], lines[i])?;
    }
    Some(Quad(corners))
}

/// Distance of `p` from the line through `c` with unit direction `d`.
fn residual((c, d): (Point, Point), p: Point) -> f64 {
    ((p.x - c.x) * d.y - (p.y - c.y) * d.x).abs()
}

/// Total least squares line through `pts`: (centroid, unit direction).
fn fit_line(pts: &[Point]) -> (Point, Point) {
    let n = pts.len() as f64;
    let (mx, my) = pts.iter().fold((0.0, 0.0), |(x, y), p| (x + p.x, y + p.y));
    let (mx, my) = (mx / n, my / n);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in pts {
        let (dx, dy) = (p.x - mx, p.y - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    (Point::new(mx, my), Point::new(theta.cos(), theta.sin()))
}

fn intersect((p1, d1): (Point, Point), (p2, d2): (Point, Point)) -> Option<Point> {
    let den = d1.x * d2.y - d1.y * d2.x;
    if den.abs() < 1e-6 {
        return None;
    }
    let t = ((p2.x - p1.x) * d2.y - (p2.y - p1.y) * d2.x) / den;
    let p = Point::new(p1.x + t * d1.x, p1.y + t * d1.y);
    (p.x.is_finite() && p.y.is_finite()).then_some(p)
}

/// Order corners clockwise from the top-left as seen in the photo, then turn the labels a
/// quarter if the document stands on its short side, so the long side is always "top".
/// (Whether it is upside down cannot be told from the outline alone.)
pub fn order(q: Quad) -> Option<Quad> {
    let c = q.0.iter().fold(Point::new(0.0, 0.0), |s, p| {
        Point::new(s.x + p.x / 4.0, s.y + p.y / 4.0)
    });
    let mut pts = q.0;
    pts.sort_by(|a, b| {
        (a.y - c.y)
            .atan2(a.x - c.x)
            .total_cmp(&(b.y - c.y).atan2(b.x - c.x))
    });
    let start = (0..4).min_by(|&i, &j| (pts[i].x + pts[i].y).total_cmp(&(pts[j].x + pts[j].y)))?;
    pts.rotate_left(start);
    let quad = Quad(pts);
    if polygon_area(&quad.0) <= 0.0 {
        return None;
    }
    let (mw, mh) = quad.mean_sides();
    if mw < mh {
        pts.rotate_left(1);
        return Some(Quad(pts));
    }
    Some(quad)
}

fn angles_ok(q: &Quad, min_deg: f64) -> bool {
    let max_deg = 180.0 - min_deg;
    (0..4).all(|i| {
        let p = q.0[i];
        let a = q.0[(i + 3) % 4];
        let b = q.0[(i + 1) % 4];
        let (ux, uy, vx, vy) = (a.x - p.x, a.y - p.y, b.x - p.x, b.y - p.y);
        let cos = (ux * vx + uy * vy) / ((ux.hypot(uy) * vx.hypot(vy)).max(1e-9));
        let deg = cos.clamp(-1.0, 1.0).acos().to_degrees();
        // A reflex corner makes the quad non-convex; its cross product flips sign.
        let cross = ux * vy - uy * vx;
        deg >= min_deg && deg <= max_deg && cross < 0.0
    })
}

/// Mean filter of radius `r` (separable running sums, edges clamped).
fn box_blur(src: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    let n = (2 * r + 1) as u32;
    let mut tmp = vec![0u8; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        let at = |i: isize| u32::from(row[i.clamp(0, w as isize - 1) as usize]);
        let mut s: u32 = (-(r as isize)..=r as isize).map(at).sum();
        for x in 0..w {
            tmp[y * w + x] = ((s + n / 2) / n) as u8;
            s += at(x as isize + r as isize + 1);
            s -= at(x as isize - r as isize);
        }
    }
    let mut out = vec![0u8; w * h];
    for x in 0..w {
        let at = |j: isize| u32::from(tmp[j.clamp(0, h as isize - 1) as usize * w + x]);
        let mut s: u32 = (-(r as isize)..=r as isize).map(at).sum();
        for y in 0..h {
            out[y * w + x] = ((s + n / 2) / n) as u8;
            s += at(y as isize + r as isize + 1);
            s -= at(y as isize - r as isize);
        }
    }
    out
}

/// Otsu's threshold: the grey level that best separates two classes.
fn otsu(px: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &v in px {
        hist[v as usize] += 1;
    }
    let total = px.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0.0, 0.0, -1.0, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        if w0 == 0.0 {
            continue;
        }
        let w1 = total - w0;
        if w1 == 0.0 {
            break;
        }
        sum0 += t as f64 * c as f64;
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Morphological opening with a square of radius `r`, via an integral image.
fn open(mask: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    let eroded = square_filter(mask, w, h, r, true);
    square_filter(&eroded, w, h, r, false)
}

/// `all = true`: erosion (every pixel of the square set); else dilation (any pixel set).
/// Outside the image counts as unset.
fn square_filter(mask: &[bool], w: usize, h: usize, r: usize, all: bool) -> Vec<bool> {
    let mut ii = vec![0u32; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0u32;
        for x in 0..w {
            row += u32::from(mask[y * w + x]);
            ii[(y + 1) * (w + 1) + x + 1] = ii[y * (w + 1) + x + 1] + row;
        }
    }
    let full = ((2 * r + 1) * (2 * r + 1)) as u32;
    let mut out = vec![false; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let s = ii[y1 * (w + 1) + x1] + ii[y0 * (w + 1) + x0]
                - ii[y0 * (w + 1) + x1]
                - ii[y1 * (w + 1) + x0];
            out[y * w + x] = if all { s == full } else { s > 0 };
        }
    }
    out
}

/// 4-connected component labelling; labels start at 1, 0 is background.
fn label(mask: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<Region>) {
    let mut labels = vec![0u32; w * h];
    let mut regions = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let id = regions.len() as u32 + 1;
        let mut r = Region {
            area: 0,
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
            touches_border: false,
        };
        labels[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            r.area += 1;
            r.x0 = r.x0.min(x);
            r.x1 = r.x1.max(x);
            r.y0 = r.y0.min(y);
            r.y1 = r.y1.max(y);
            if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                r.touches_border = true;
            }
            let mut visit = |j: usize| {
                if mask[j] && labels[j] == 0 {
                    labels[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        regions.push(r);
    }
    (labels, regions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_an_axis_aligned_rectangle() {
        let g = GrayImage::from_fn(400, 300, |x, y| {
            let inside = (100..=299).contains(&x) && (80..=205).contains(&y);
            image::Luma([if inside { 220 } else { 60 }])
        });
        let d = detect_document(&g, &DetectionConfig::default()).expect("found");
        let truth = Quad([
            Point::new(100.0, 80.0),
            Point::new(300.0, 80.0),
            Point::new(300.0, 206.0),
            Point::new(100.0, 206.0),
        ]);
        assert!(d.quad.max_corner_distance(&truth) < 1.5, "{:?}", d.quad);
    }

    #[test]
    fn a_disc_is_not_a_document() {
        let g = GrayImage::from_fn(400, 300, |x, y| {
            let (dx, dy) = (x as f64 - 200.0, y as f64 - 150.0);
            image::Luma([if dx * dx + dy * dy < 100.0 * 100.0 {
                220
            } else {
                60
            }])
        });
        assert!(detect_document(&g, &DetectionConfig::default()).is_none());
    }

    #[test]
    fn order_puts_the_long_side_on_top() {
        // A card standing on its short side: tall in the photo.
        let q = Quad([
            Point::new(100.0, 50.0),
            Point::new(160.0, 50.0),
            Point::new(160.0, 145.0),
            Point::new(100.0, 145.0),
        ]);
        let o = order(q).unwrap();
        let (mw, mh) = o.mean_sides();
        assert!(mw > mh);
        let flat = order(Quad([q.0[2], q.0[0], q.0[3], q.0[1]])).unwrap();
        assert_eq!(flat, o);
    }
}
