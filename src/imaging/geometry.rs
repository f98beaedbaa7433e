//! Points, quadrilaterals, homographies and the bilinear warp that straightens a document.
//!
//! Coordinates are continuous: pixel `(i, j)` covers `[i, i+1) × [j, j+1)`, so its centre is
//! `(i + 0.5, j + 0.5)`. Scaling an image by `s` then scales coordinates by exactly `s`,
//! which keeps corners found on a downscaled copy exact when mapped back.

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

/// A point in continuous pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }

    pub fn dist(self, o: Point) -> f64 {
        (self.x - o.x).hypot(self.y - o.y)
    }

    pub fn scale(self, s: f64) -> Point {
        Point::new(self.x * s, self.y * s)
    }
}

/// Four corners of a document, ordered top-left, top-right, bottom-right, bottom-left as the
/// document reads (not necessarily as they sit in the photo).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quad(pub [Point; 4]);

impl Quad {
    pub fn scale(&self, s: f64) -> Quad {
        Quad(self.0.map(|p| p.scale(s)))
    }

    /// Area by the shoelace formula (positive whatever the winding).
    pub fn area(&self) -> f64 {
        polygon_area(&self.0).abs()
    }

    /// Mean length of the top and bottom edges, and of the left and right edges.
    pub fn mean_sides(&self) -> (f64, f64) {
        let [tl, tr, br, bl] = self.0;
        (
            (tl.dist(tr) + bl.dist(br)) / 2.0,
            (tl.dist(bl) + tr.dist(br)) / 2.0,
        )
    }

    /// The largest distance between a corner and the matching corner of `other`.
    pub fn max_corner_distance(&self, other: &Quad) -> f64 {
        self.0
            .iter()
            .zip(other.0.iter())
            .map(|(a, b)| a.dist(*b))
            .fold(0.0, f64::max)
    }

    /// Length of the longer diagonal, the natural unit for corner errors.
    pub fn diagonal(&self) -> f64 {
        self.0[0].dist(self.0[2]).max(self.0[1].dist(self.0[3]))
    }
}

/// Signed polygon area (positive for clockwise order in y-down image coordinates).
pub fn polygon_area(pts: &[Point]) -> f64 {
    let n = pts.len();
    let mut s = 0.0;
    for i in 0..n {
        let a = pts[i];
        let b = pts[(i + 1) % n];
        s += a.x * b.y - b.x * a.y;
    }
    s / 2.0
}

/// A plane projective transform, `h[8]` normalised to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The transform taking each `src[i]` to `dst[i]`; `None` when three points are collinear.
    pub fn from_points(src: &[Point; 4], dst: &[Point; 4]) -> Option<Homography> {
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = (src[i].x, src[i].y);
            let (u, v) = (dst[i].x, dst[i].y);
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
        }
        let h = solve8(a)?;
        Some(Homography([
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1.0,
        ]))
    }

    /// The transform from the unit square (TL, TR, BR, BL) to `quad`.
    pub fn unit_square_to(quad: &Quad) -> Option<Homography> {
        let unit = [
            Point::new(0.0, 0.0),
            Point::new(1.0, 0.0),
            Point::new(1.0, 1.0),
            Point::new(0.0, 1.0),
        ];
        Homography::from_points(&unit, &quad.0)
    }

    /// The transform from a `w × h` rectangle at the origin to `quad`.
    pub fn rect_to(w: f64, h: f64, quad: &Quad) -> Option<Homography> {
        let rect = [
            Point::new(0.0, 0.0),
            Point::new(w, 0.0),
            Point::new(w, h),
            Point::new(0.0, h),
        ];
        Homography::from_points(&rect, &quad.0)
    }

    pub fn apply(&self, p: Point) -> Point {
        let h = &self.0;
        let d = h[6] * p.x + h[7] * p.y + h[8];
        Point::new(
            (h[0] * p.x + h[1] * p.y + h[2]) / d,
            (h[3] * p.x + h[4] * p.y + h[5]) / d,
        )
    }

    /// The inverse transform, `None` when singular.
    pub fn inverse(&self) -> Option<Homography> {
        let m = &self.0;
        let c = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        let det = m[0] * c[0] + m[1] * c[3] + m[2] * c[6];
        if det.abs() < 1e-12 || !det.is_finite() || c[8].abs() < 1e-15 {
            return None;
        }
        let n = c[8];
        Some(Homography(c.map(|v| v / n)))
    }
}

/// Gaussian elimination with partial pivoting on an 8×9 augmented matrix.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                if f != 0.0 {
                    for (v, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                        *v -= f * p;
                    }
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for i in 0..8 {
        x[i] = a[i][8] / a[i][i];
        if !x[i].is_finite() {
            return None;
        }
    }
    Some(x)
}

/// Fill `out` (already sized) by mapping each of its pixel centres through `h` into `src`
/// and sampling bilinearly; points outside `src` take the nearest edge pixel.
pub fn warp_rgb(src: &RgbImage, h: &Homography, out: &mut RgbImage) {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    if sw == 0 || sh == 0 {
        return;
    }
    let s = src.as_raw();
    let ow = out.width() as usize;
    let m = h.0;
    for (v, row) in out.chunks_exact_mut(ow * 3).enumerate() {
        let y = v as f64 + 0.5;
        // Numerators and denominator are affine in x along a row: step them instead of
        // recomputing, which keeps the warp cheap on full-resolution crops.
        let mut nx = m[0] * 0.5 + m[1] * y + m[2];
        let mut ny = m[3] * 0.5 + m[4] * y + m[5];
        let mut d = m[6] * 0.5 + m[7] * y + m[8];
        for px in row.chunks_exact_mut(3) {
            let (fx, fy) = (nx / d - 0.5, ny / d - 0.5);
            let (i0, j0, ax, ay) = bilinear_index(fx, fy, sw, sh);
            let (i1, j1) = ((i0 + 1).min(sw - 1), (j0 + 1).min(sh - 1));
            let p00 = (j0 * sw + i0) * 3;
            let p10 = (j0 * sw + i1) * 3;
            let p01 = (j1 * sw + i0) * 3;
            let p11 = (j1 * sw + i1) * 3;
            for c in 0..3 {
                let top = s[p00 + c] as f32 * (1.0 - ax) + s[p10 + c] as f32 * ax;
                let bot = s[p01 + c] as f32 * (1.0 - ax) + s[p11 + c] as f32 * ax;
                px[c] = (top * (1.0 - ay) + bot * ay + 0.5) as u8;
            }
            nx += m[0];
            ny += m[3];
            d += m[6];
        }
    }
}

/// Grey counterpart of [`warp_rgb`].
pub fn warp_grey(src: &GrayImage, h: &Homography, out: &mut GrayImage) {
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    if sw == 0 || sh == 0 {
        return;
    }
    let s = src.as_raw();
    let ow = out.width() as usize;
    let m = h.0;
    for (v, row) in out.chunks_exact_mut(ow).enumerate() {
        let y = v as f64 + 0.5;
        let mut nx = m[0] * 0.5 + m[1] * y + m[2];
        let mut ny = m[3] * 0.5 + m[4] * y + m[5];
        let mut d = m[6] * 0.5 + m[7] * y + m[8];
        for px in row.iter_mut() {
            let (fx, fy) = (nx / d - 0.5, ny / d - 0.5);
            let (i0, j0, ax, ay) = bilinear_index(fx, fy, sw, sh);
            let (i1, j1) = ((i0 + 1).min(sw - 1), (j0 + 1).min(sh - 1));
            let top = s[j0 * sw + i0] as f32 * (1.0 - ax) + s[j0 * sw + i1] as f32 * ax;
            let bot = s[j1 * sw + i0] as f32 * (1.0 - ax) + s[j1 * sw + i1] as f32 * ax;
            *px = (top * (1.0 - ay) + bot * ay + 0.5) as u8;
            nx += m[0];
            ny += m[3];
            d += m[6];
        }
    }
}

/// Top-left sample index and fractional weights, clamped to the image (NaN maps to 0).
fn bilinear_index(fx: f64, fy: f64, w: usize, h: usize) -> (usize, usize, f32, f32) {
    let fx = if fx.is_finite() {
        fx.clamp(0.0, (w - 1) as f64)
    } else {
        0.0
    };
    let fy = if fy.is_finite() {
        fy.clamp(0.0, (h - 1) as f64)
    } else {
        0.0
    };
    let (i0, j0) = (fx.floor() as usize, fy.floor() as usize);
    (i0, j0, (fx - i0 as f64) as f32, (fy - j0 as f64) as f32)
}

/// Whether `p` lies inside the convex polygon `poly` grown outward by `margin` pixels.
pub fn inside_convex(poly: &[Point], p: Point, margin: f64) -> bool {
    let sign = polygon_area(poly).signum();
    let n = poly.len();
    (0..n).all(|i| {
        let a = poly[i];
        let b = poly[(i + 1) % n];
        let len = a.dist(b);
        if len == 0.0 {
            return true;
        }
        // Signed distance of p from edge a→b, positive on the inner side.
        let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
        sign * cross / len >= -margin
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_maps_corners_and_inverts() {
        let q = Quad([
            Point::new(10.0, 20.0),
            Point::new(300.0, 40.0),
            Point::new(280.0, 220.0),
            Point::new(30.0, 200.0),
        ]);
        let h = Homography::rect_to(100.0, 60.0, &q).unwrap();
        let c = h.apply(Point::new(100.0, 60.0));
        assert!(c.dist(q.0[2]) < 1e-6);
        let inv = h.inverse().unwrap();
        let back = inv.apply(Point::new(280.0, 220.0));
        assert!(back.dist(Point::new(100.0, 60.0)) < 1e-6);
    }

    #[test]
    fn degenerate_points_have_no_homography() {
        let p = Point::new(1.0, 1.0);
        let q = Quad([p, p, p, Point::new(2.0, 2.0)]);
        assert!(Homography::unit_square_to(&q).is_none());
    }

    #[test]
    fn inside_convex_respects_margin() {
        let sq = [
            Point::new(0.0, 0.0),
            Point::new(10.0, 0.0),
            Point::new(10.0, 10.0),
            Point::new(0.0, 10.0),
        ];
        assert!(inside_convex(&sq, Point::new(5.0, 5.0), 0.0));
        assert!(!inside_convex(&sq, Point::new(10.5, 5.0), 0.0));
        assert!(inside_convex(&sq, Point::new(10.5, 5.0), 1.0));
    }
}
