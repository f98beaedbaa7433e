//! The printed photograph around a face found on a document crop, found from its own edges,
//! so that redaction hides the whole photo (backdrop included) and not only a box drawn
//! around the face.
//!
//! A printed photo's border is a long straight step in brightness or colour, parallel to
//! the face box's sides (the crop is upright, so the photo's sides are the crop's axes). For
//! each side the search walks outward from the face box, up to a bound in face sizes, and
//! scores every offset by the mean absolute colour step across it along a segment spanning
//! the face's extent. A straight border steps at the same offset on every line of the
//! segment, so it scores higher than the curved or partial edges of what the photo shows.
//! The strongest peak that stands clear of the profile is the border; a side without a clear
//! peak keeps the box [`portrait_around`] draws.

use image::RgbImage;

use super::layout::RelRect;
use super::redact::portrait_around;

/// How far out each side is searched: sideways in face widths, up and down in face heights
/// (a detector's box runs from the brows to the chin; the photo holds hair above it and
/// shoulders, sometimes half the chest, below it).
const REACH_SIDEWAYS: f64 = 3.0;
const REACH_UP: f64 = 2.0;
const REACH_DOWN: f64 = 4.5;

/// Half the width of the step measured across a candidate border, in pixels: the mean of
/// this many pixels on each side, so a border softened by the camera still steps.
const HALF_STEP: i64 = 2;

/// A peak is clear when its step (summed over the three channels, 0–765) is at least this
/// and at least [`PEAK_OVER_MEDIAN`] times the profile's median (of the mean steps).
const MIN_STEP: f64 = 30.0;
const PEAK_OVER_MEDIAN: f64 = 2.5;

/// A border runs straight along the whole photo: a clear peak also steps by [`MIN_STEP`] on
/// at least this share of the segment's lines, which the curved or partial edges of what
/// the photo shows (hair, shoulders, a collar) and short runs of print do not.
const MIN_COVERAGE: f64 = 0.6;

/// The photo's rectangle around `face` (fractions of `crop`), found from its edges; `None`
/// when no side shows a clear edge. Sides without one are those of [`portrait_around`].
/// The rectangle is widened by a few pixels, since a border softened by blur or JPEG spans
/// more than one pixel.
pub fn photo_around(crop: &RgbImage, face: RelRect) -> Option<RelRect> {
    let (w, h) = (f64::from(crop.width()), f64::from(crop.height()));
    if crop.width() < 4 * HALF_STEP as u32 || crop.height() < 4 * HALF_STEP as u32 {
        return None;
    }
    let face = face.clipped()?;
    let (fx0, fy0) = (face.x * w, face.y * h);
    let (fx1, fy1) = ((face.x + face.w) * w, (face.y + face.h) * h);
    let (fw, fh) = (fx1 - fx0, fy1 - fy0);
    if fw < 4.0 || fh < 4.0 {
        return None;
    }
    let margin = (0.004 * w.max(h)).max(3.0);
    // The top and bottom are looked for along the face's columns (and a little beside it),
    // which certainly cross the photo; the left and right along the rows between the top
    // and bottom found, so a border that runs the photo's whole height outscores an edge
    // of what the photo shows; then the top and bottom once more between those sides.
    let near = (fy0 - 0.25 * fh, fy1 + 0.75 * fh);
    let (mut left, mut right, mut top, mut bottom) = (None, None, None, None);
    for _ in 0..2 {
        let cols = inner(
            (
                left.unwrap_or(fx0 - 0.25 * fw),
                right.unwrap_or(fx1 + 0.25 * fw),
            ),
            w,
        );
        top = border(crop, Axis::Rows, cols, fy0, fy0 - REACH_UP * fh).or(top);
        bottom = border(crop, Axis::Rows, cols, fy1, fy1 + REACH_DOWN * fh).or(bottom);
        let rows = inner((top.unwrap_or(near.0), bottom.unwrap_or(near.1)), h);
        left = border(crop, Axis::Columns, rows, fx0, fx0 - REACH_SIDEWAYS * fw).or(left);
        right = border(crop, Axis::Columns, rows, fx1, fx1 + REACH_SIDEWAYS * fw).or(right);
    }
    let left = left.map(|x| x - margin);
    let right = right.map(|x| x + margin);
    let top = top.map(|y| y - margin);
    let bottom = bottom.map(|y| y + margin);
    if left.is_none() && right.is_none() && top.is_none() && bottom.is_none() {
        return None;
    }
    let around = portrait_around(face);
    let x0 = left.map_or(around.x, |x| x / w);
    let x1 = right.map_or(around.x + around.w, |x| x / w);
    let y0 = top.map_or(around.y, |y| y / h);
    let y1 = bottom.map_or(around.y + around.h, |y| y / h);
    RelRect::new(x0, y0, x1 - x0, y1 - y0).clipped()
}

/// The lines from `a` to `b` (pixels) without a twentieth at each end, where a border
/// found a pixel or two off would put the other side's pixels; within `0..limit`.
fn inner((a, b): (f64, f64), limit: f64) -> (i64, i64) {
    let trim = (b - a) / 20.0;
    (
        (a + trim).clamp(0.0, limit) as i64,
        (b - trim).clamp(0.0, limit) as i64,
    )
}

/// Which lines a border runs along: a vertical border crosses columns (left and right
/// sides), a horizontal one crosses rows (top and bottom).
#[derive(Clone, Copy)]
enum Axis {
    Columns,
    Rows,
}

/// The offset (pixels, along the crossing axis) of the clearest border between `from` (the
/// face's side) and `to` (the bound), measured along the lines `span` (rows of a vertical
/// border, columns of a horizontal one); `None` without a clear peak.
fn border(crop: &RgbImage, axis: Axis, span: (i64, i64), from: f64, to: f64) -> Option<f64> {
    let limit = match axis {
        Axis::Columns => i64::from(crop.width()),
        Axis::Rows => i64::from(crop.height()),
    };
    // Candidate borders lie between pixels: offset `o` is the boundary before pixel `o`.
    // The step needs HALF_STEP pixels on each side inside the crop.
    let lo = HALF_STEP;
    let hi = limit - HALF_STEP;
    let (a, b) = (from.round() as i64, to.round() as i64);
    let offsets: Vec<i64> = if b < a {
        (b.max(lo)..=a.min(hi)).rev().collect()
    } else {
        (a.max(lo)..=b.min(hi)).collect()
    };
    if offsets.len() < 3 || span.1 - span.0 < 2 {
        return None;
    }
    let profile: Vec<Step> = offsets.iter().map(|&o| step(crop, axis, span, o)).collect();
    let mut means: Vec<f64> = profile.iter().map(|s| s.mean).collect();
    means.sort_by(f64::total_cmp);
    let threshold = MIN_STEP.max(PEAK_OVER_MEDIAN * means[means.len() / 2]);
    let (best, _) = profile
        .iter()
        .enumerate()
        .filter(|(_, s)| s.mean >= threshold && s.coverage >= MIN_COVERAGE)
        .max_by(|(_, a), (_, b)| a.mean.total_cmp(&b.mean))?;
    Some(offsets[best] as f64)
}

/// The colour step across one candidate border.
struct Step {
    /// Mean over the lines of the absolute step, summed over the channels (0–765).
    mean: f64,
    /// Share of the lines that step by at least [`MIN_STEP`].
    coverage: f64,
}

/// The step across offset `o` on each line of `span`: the mean of the [`HALF_STEP`]
/// pixels after `o` minus that of the ones before it, as absolute values summed over the
/// channels.
fn step(crop: &RgbImage, axis: Axis, span: (i64, i64), o: i64) -> Step {
    let px = |along: i64, across: i64| -> [f64; 3] {
        let (x, y) = match axis {
            Axis::Columns => (across, along),
            Axis::Rows => (along, across),
        };
        crop.get_pixel(x as u32, y as u32).0.map(f64::from)
    };
    let (mut total, mut stepped) = (0.0, 0usize);
    for line in span.0..span.1 {
        let mut diff = [0.0f64; 3];
        for k in 0..HALF_STEP {
            let (after, before) = (px(line, o + k), px(line, o - 1 - k));
            for c in 0..3 {
                diff[c] += after[c] - before[c];
            }
        }
        let d = diff.iter().map(|d| d.abs()).sum::<f64>() / HALF_STEP as f64;
        total += d;
        stepped += usize::from(d >= MIN_STEP);
    }
    let n = (span.1 - span.0) as f64;
    Step {
        mean: total / n,
        coverage: stepped as f64 / n,
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    const STOCK: Rgb<u8> = Rgb([228, 226, 214]);

    /// A 1000 × 630 card with a photo at `photo` (pixels x, y, w, h) on a backdrop, a face
    /// (light ellipse, with hair above it) at `face`, and lines of print around, no nearer
    /// than `gap` pixels to the photo.
    fn card(
        photo: (u32, u32, u32, u32),
        face: (u32, u32, u32, u32),
        backdrop: Rgb<u8>,
        gap: u32,
    ) -> RgbImage {
        let mut img = RgbImage::from_pixel(1000, 630, STOCK);
        // A header band and lines of "print" outside the photo.
        for y in 0..70 {
            for x in 0..1000 {
                img.put_pixel(x, y, Rgb([196, 210, 228]));
            }
        }
        for line in 0..6u32 {
            let y0 = 120 + line * 60;
            for x in (0..1000u32).filter(|x| (x / 7) % 3 != 0) {
                for y in y0..y0 + 14 {
                    let inside = x + gap >= photo.0
                        && x < photo.0 + photo.2 + gap
                        && y + gap >= photo.1
                        && y < photo.1 + photo.3 + gap;
                    if !inside {
                        img.put_pixel(x, y, Rgb([30, 30, 38]));
                    }
                }
            }
        }
        let (px, py, pw, ph) = photo;
        for y in py..py + ph {
            for x in px..px + pw {
                img.put_pixel(x, y, backdrop);
            }
        }
        // Shoulders, hair and the face, as ellipses inside the photo.
        let (fx, fy, fw, fh) = face;
        let (cx, cy) = (
            f64::from(fx) + f64::from(fw) / 2.0,
            f64::from(fy) + f64::from(fh) / 2.0,
        );
        let mut ellipse = |c: (f64, f64), r: (f64, f64), colour: Rgb<u8>| {
            for y in py..py + ph {
                for x in px..px + pw {
                    let (dx, dy) = ((f64::from(x) - c.0) / r.0, (f64::from(y) - c.1) / r.1);
                    if dx * dx + dy * dy <= 1.0 {
                        img.put_pixel(x, y, colour);
                    }
                }
            }
        };
        ellipse(
            (cx, cy + 2.2 * f64::from(fh)),
            (1.6 * f64::from(fw), 1.4 * f64::from(fh)),
            Rgb([60, 70, 95]),
        );
        ellipse(
            (cx, cy - 0.2 * f64::from(fh)),
            (0.75 * f64::from(fw), 0.8 * f64::from(fh)),
            Rgb([70, 50, 40]),
        );
        ellipse(
            (cx, cy),
            (0.5 * f64::from(fw), 0.6 * f64::from(fh)),
            Rgb([205, 170, 150]),
        );
        img
    }

    fn rel(img: &RgbImage, (x, y, w, h): (u32, u32, u32, u32)) -> RelRect {
        RelRect::from_pixels(
            f64::from(x),
            f64::from(y),
            f64::from(w),
            f64::from(h),
            img.width(),
            img.height(),
        )
    }

    /// `outer` holds `inner` entirely, and overshoots it by at most `slack` of the crop.
    fn covers(outer: RelRect, inner: RelRect, slack: f64) -> bool {
        let holds = outer.x <= inner.x + 1e-9
            && outer.y <= inner.y + 1e-9
            && outer.x + outer.w >= inner.x + inner.w - 1e-9
            && outer.y + outer.h >= inner.y + inner.h - 1e-9;
        let tight = inner.x - outer.x <= slack
            && inner.y - outer.y <= slack
            && (outer.x + outer.w) - (inner.x + inner.w) <= slack
            && (outer.y + outer.h) - (inner.y + inner.h) <= slack;
        holds && tight
    }

    #[test]
    fn the_photo_is_found_at_several_sizes_and_offsets() {
        // (photo, face inside it): centred, off-centre to the right, a large photo round a
        // small face, a small ghost-sized one, one on the card's right.
        let cases = [
            ((30, 110, 300, 380), (125, 190, 110, 130)),
            ((40, 120, 320, 400), (90, 180, 100, 120)),
            ((30, 100, 360, 470), (170, 160, 70, 85)),
            ((760, 200, 150, 180), (815, 250, 40, 48)),
            ((650, 110, 300, 330), (760, 200, 80, 95)),
        ];
        for backdrop in [Rgb([150, 160, 178]), Rgb([200, 202, 196])] {
            for (photo, face) in cases {
                let img = card(photo, face, backdrop, 40);
                let found = photo_around(&img, rel(&img, face))
                    .unwrap_or_else(|| panic!("{photo:?} {backdrop:?}: no edge found"));
                assert!(
                    covers(found, rel(&img, photo), 0.015),
                    "{photo:?} {backdrop:?}: found {found:?}, photo {:?}",
                    rel(&img, photo)
                );
            }
        }
    }

    #[test]
    fn print_close_to_the_photo_may_widen_it_but_never_narrows_it() {
        // A line of print just above the photo steps more than the photo's own border: the
        // strongest border wins, which hides a little more than the photo, never less.
        let (photo, face) = ((760, 200, 150, 180), (815, 250, 40, 48));
        let img = card(photo, face, Rgb([150, 160, 178]), 4);
        let found = photo_around(&img, rel(&img, face)).expect("edges");
        assert!(covers(found, rel(&img, photo), 0.1), "{found:?}");
    }

    #[test]
    fn a_photo_without_a_clear_border_falls_back() {
        // The photo's backdrop is the card stock itself, and the crop is plain around it:
        // nothing steps, so no rectangle is claimed.
        let mut img = RgbImage::from_pixel(1000, 630, STOCK);
        let face = (150, 200, 100, 120);
        for y in 200..320 {
            for x in 150..250 {
                let (dx, dy) = ((x as f64 - 200.0) / 50.0, (y as f64 - 260.0) / 60.0);
                if dx * dx + dy * dy <= 1.0 {
                    img.put_pixel(x, y, Rgb([205, 170, 150]));
                }
            }
        }
        let face = rel(&img, face);
        assert_eq!(photo_around(&img, face), None);
        // Faint noise everywhere is no border either.
        let mut rng = 7u64;
        for p in img.pixels_mut() {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = ((rng >> 60) as i16 - 8) as i32;
            p.0 = p.0.map(|v| (i32::from(v) + n).clamp(0, 255) as u8);
        }
        assert_eq!(photo_around(&img, face), None);
    }

    #[test]
    fn a_side_without_an_edge_keeps_the_box_around_the_face() {
        // The photo runs off the crop's bottom and right: those sides have no border inside
        // the search, and keep today's box; the others are found.
        let img = card(
            (600, 150, 400, 480),
            (760, 260, 90, 110),
            Rgb([150, 160, 178]),
            40,
        );
        let face = rel(&img, (760, 260, 90, 110));
        let found = photo_around(&img, face).expect("left and top are clear");
        let around = portrait_around(face);
        let photo = rel(&img, (600, 150, 400, 480));
        assert!((found.x - photo.x).abs() < 0.01, "{found:?}");
        assert!((found.y - photo.y).abs() < 0.01, "{found:?}");
        assert!(found.x + found.w >= (around.x + around.w).min(1.0) - 1e-9);
    }

    #[test]
    fn degenerate_inputs_find_nothing() {
        let img = RgbImage::from_pixel(6, 6, STOCK);
        assert_eq!(photo_around(&img, RelRect::new(0.2, 0.2, 0.5, 0.5)), None);
        let img = RgbImage::from_pixel(300, 200, STOCK);
        assert_eq!(
            photo_around(&img, RelRect::new(f64::NAN, 0.2, 0.5, 0.5)),
            None
        );
        assert_eq!(
            photo_around(&img, RelRect::new(0.5, 0.5, 0.001, 0.001)),
            None
        );
    }
}
