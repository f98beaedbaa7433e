//! Finding the machine-readable zone on a straightened document: dark marks, the text lines
//! they form, and the fixed character grid of the zone those lines belong to.

use image::RgbImage;

/// Widest working image: larger crops are scaled down before the zone is looked for (a
/// TD3 zone's capitals are then still about 27 pixels tall).
const WORK_WIDTH: u32 = 1400;
/// Fewest marks a line needs to be considered part of a zone.
const MIN_MARKS: usize = 12;
/// Fewest cells a zone line spans (the shortest format has 30).
const MIN_SPAN: f64 = 25.0;

/// A grey (luma) image, 0 = black.
pub struct Grey {
    pub width: usize,
    pub height: usize,
    px: Vec<f32>,
}

impl Grey {
    /// The luma of `img`, scaled down to at most [`WORK_WIDTH`] pixels wide.
    pub fn of(img: &RgbImage) -> Grey {
        let luma = image::imageops::grayscale(img);
        let luma = if img.width() > WORK_WIDTH {
            let h = (f64::from(img.height()) * f64::from(WORK_WIDTH) / f64::from(img.width()))
                .round()
                .max(1.0) as u32;
            image::imageops::resize(&luma, WORK_WIDTH, h, image::imageops::FilterType::Triangle)
        } else {
            luma
        };
        Grey {
            width: luma.width() as usize,
            height: luma.height() as usize,
            px: luma.pixels().map(|p| f32::from(p.0[0])).collect(),
        }
    }

    /// This image turned by 180°.
    pub fn rotated(&self) -> Grey {
        let mut px = self.px.clone();
        px.reverse();
        Grey {
            width: self.width,
            height: self.height,
            px,
        }
    }

    /// Bilinear sample at `(x, y)` (pixel centres at `i + 0.5`); paper-white outside.
    pub fn at(&self, x: f64, y: f64) -> f32 {
        let (fx, fy) = (x - 0.5, y - 0.5);
        if !(fx > -1.0 && fy > -1.0 && fx < self.width as f64 && fy < self.height as f64) {
            return 255.0;
        }
        let (x0, y0) = (fx.floor(), fy.floor());
        let (tx, ty) = ((fx - x0) as f32, (fy - y0) as f32);
        let get = |xi: f64, yi: f64| -> f32 {
            if xi < 0.0 || yi < 0.0 || xi >= self.width as f64 || yi >= self.height as f64 {
                255.0
            } else {
                self.px[yi as usize * self.width + xi as usize]
            }
        };
        let top = get(x0, y0) * (1.0 - tx) + get(x0 + 1.0, y0) * tx;
        let bottom = get(x0, y0 + 1.0) * (1.0 - tx) + get(x0 + 1.0, y0 + 1.0) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// One connected dark mark.
#[derive(Debug, Clone, Copy)]
struct Mark {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

impl Mark {
    fn w(&self) -> f64 {
        (self.x1 - self.x0) as f64
    }
    fn h(&self) -> f64 {
        (self.y1 - self.y0) as f64
    }
    fn cx(&self) -> f64 {
        (self.x0 + self.x1) as f64 / 2.0
    }
    fn cy(&self) -> f64 {
        (self.y0 + self.y1) as f64 / 2.0
    }
}

/// Dark pixels: darker than their neighbourhood's mean by a clear margin (a local
/// threshold, so uneven light does not matter).
fn binarise(g: &Grey) -> Vec<bool> {
    let (w, h) = (g.width, g.height);
    let mut integral = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += f64::from(g.px[y * w + x]);
            integral[(y + 1) * (w + 1) + x + 1] = integral[y * (w + 1) + x + 1] + row;
        }
    }
    let r = (w / 60).max(8);
    let mut dark = vec![false; w * h];
    for y in 0..h {
        let (ya, yb) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (xa, xb) = (x.saturating_sub(r), (x + r + 1).min(w));
            let sum = integral[yb * (w + 1) + xb]
                - integral[ya * (w + 1) + xb]
                - integral[yb * (w + 1) + xa]
                + integral[ya * (w + 1) + xa];
            let mean = sum / ((yb - ya) * (xb - xa)) as f64;
            let v = f64::from(g.px[y * w + x]);
            dark[y * w + x] = v < mean * 0.85 && mean - v > 12.0;
        }
    }
    dark
}

/// The 8-connected dark marks of a plausible character size.
fn marks(g: &Grey, dark: &[bool]) -> Vec<Mark> {
    let (w, h) = (g.width, g.height);
    let min_h = (w as f64 * 0.004).max(4.0);
    let max_h = w as f64 * 0.06;
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for start in 0..w * h {
        if !dark[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (start % w, start / w, start % w, start / w);
        let mut count = 0usize;
        while let Some(i) = stack.pop() {
            count += 1;
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if dark[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let m = Mark {
            x0,
            y0,
            x1: x1 + 1,
            y1: y1 + 1,
        };
        // Marks touching the crop's edge are its border or the background, never print.
        let inside = m.x0 > 0 && m.y0 > 0 && m.x1 < w && m.y1 < h;
        if inside && m.h() >= min_h && m.h() <= max_h && m.w() <= 2.2 * m.h() && count >= 6 {
            out.push(m);
        }
    }
    out
}

/// A line of marks: its capitals' height and the line through their centres.
#[derive(Debug, Clone)]
struct TextLine {
    marks: Vec<Mark>,
    /// Height of the line's capitals.
    cap: f64,
    /// Centre line: `y = a + b·x`.
    a: f64,
    b: f64,
    /// Centre-to-centre distance of neighbouring characters.
    pitch: f64,
    left: f64,
}

impl TextLine {
    fn y_at(&self, x: f64) -> f64 {
        self.a + self.b * x
    }

    fn span(&self) -> f64 {
        let first = self.marks.first().map_or(0.0, Mark::cx);
        let last = self.marks.last().map_or(0.0, Mark::cx);
        (last - first) / self.pitch + 1.0
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Least-squares `y = a + b·x`; `b = 0` when the xs do not spread.
fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (x, y) in points {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
    }
    if sxx < 1e-9 {
        return (my, 0.0);
    }
    let b = sxy / sxx;
    (my - b * mx, b)
}

/// Group marks into lines: each mark linked to its nearest right neighbour at about the
/// same height, then the linked runs measured.
fn lines(marks: Vec<Mark>) -> Vec<TextLine> {
    lines_of(marks, MIN_MARKS)
}

/// The printed lines of at least `min_marks` marks: each line's capital height and the
/// boxes `(x0, y0, x1, y1)` of its marks, left to right.
pub fn printed_lines(g: &Grey, min_marks: usize) -> Vec<(f64, Vec<[f64; 4]>)> {
    let dark = binarise(g);
    lines_of(marks(g, &dark), min_marks.max(3))
        .into_iter()
        .map(|l| {
            let boxes = l
                .marks
                .iter()
                .map(|m| [m.x0 as f64, m.y0 as f64, m.x1 as f64, m.y1 as f64])
                .collect();
            (l.cap, boxes)
        })
        .collect()
}

fn lines_of(mut marks: Vec<Mark>, min_marks: usize) -> Vec<TextLine> {
    marks.sort_by(|a, b| a.cx().total_cmp(&b.cx()));
    let n = marks.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        let a = marks[i];
        let mut best: Option<(usize, f64)> = None;
        for (j, b) in marks.iter().enumerate().skip(i + 1) {
            let tall = a.h().max(b.h());
            let dx = b.cx() - a.cx();
            if dx > 2.8 * tall {
                break;
            }
            if (a.cy() - b.cy()).abs() < 0.3 * tall && best.is_none_or(|(_, d)| dx < d) {
                best = Some((j, dx));
            }
        }
        if let Some((j, _)) = best {
            let (ra, rb) = (root(&mut parent, i), root(&mut parent, j));
            parent[ra] = rb;
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<Mark>> = Default::default();
    for (i, mark) in marks.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(*mark);
    }
    groups
        .into_values()
        .filter(|g| g.len() >= min_marks)
        .filter_map(measure_line)
        .collect()
}

fn measure_line(marks: Vec<Mark>) -> Option<TextLine> {
    let mut heights: Vec<f64> = marks.iter().map(Mark::h).collect();
    heights.sort_by(f64::total_cmp);
    let tallest = heights[heights.len() * 9 / 10];
    let tall: Vec<&Mark> = marks.iter().filter(|m| m.h() >= 0.75 * tallest).collect();
    if tall.len() < 3 {
        return None;
    }
    let cap = median(tall.iter().map(|m| m.h()).collect())?;
    let (a, b) = fit(&tall.iter().map(|m| (m.cx(), m.cy())).collect::<Vec<_>>());
    let steps: Vec<f64> = marks
        .windows(2)
        .map(|w| w[1].cx() - w[0].cx())
        .filter(|d| *d > 0.45 * cap && *d < 1.6 * cap)
        .collect();
    let pitch = median(steps)?;
    let left = marks
        .iter()
        .map(|m| m.x0 as f64)
        .fold(f64::INFINITY, f64::min);
    Some(TextLine {
        marks,
        cap,
        a,
        b,
        pitch,
        left,
    })
}

/// One line of a zone's grid: cell `i` is centred at `x0 + pitch·i + bend·i²` on the line's
/// centre line. Each line has its own: in a photo taken at an angle the line nearer the
/// camera is printed larger, even on a crop straightened from the page's corners.
#[derive(Debug, Clone, Copy)]
pub struct GridLine {
    /// Centre line of the capitals: `y = a + b·x`.
    pub a: f64,
    pub b: f64,
    pub cap: f64,
    pub x0: f64,
    pub pitch: f64,
    /// The change of pitch along the line: cell `i` is centred at `x0 + pitch·i + bend·i²`.
    pub bend: f64,
}

/// The zone's fixed grid, in the working image's pixels: `chars` cells on every line.
#[derive(Debug, Clone)]
pub struct Grid {
    pub lines: Vec<GridLine>,
    pub chars: usize,
}

impl Grid {
    /// The centre of cell `i` on line `l`.
    pub fn centre(&self, l: usize, i: usize) -> (f64, f64) {
        let line = &self.lines[l];
        let i = i as f64;
        let x = line.x0 + line.pitch * i + line.bend * i * i;
        (x, line.a + line.b * x)
    }

    /// The distance between neighbouring cells' centres around cell `i` of line `l`.
    pub fn pitch(&self, l: usize, i: usize) -> f64 {
        let line = &self.lines[l];
        line.pitch + 2.0 * line.bend * i as f64
    }
}

/// Look for a zone: the bottom-most run of two or three long, evenly pitched, left-aligned
/// lines of the same size. `None` when there is none; a run whose length fits no format
/// gives a grid with the length it measured.
pub fn find(g: &Grey) -> Option<Grid> {
    let dark = binarise(g);
    let mut found: Vec<TextLine> = lines(marks(g, &dark))
        .into_iter()
        .filter(|l| l.span() >= MIN_SPAN)
        .collect();
    let mid = g.width as f64 / 2.0;
    found.sort_by(|a, b| a.y_at(mid).total_cmp(&b.y_at(mid)));
    // From the bottom up: the zone is the lowest run of compatible lines.
    for end in (0..found.len()).rev() {
        let mut run = vec![end];
        while run.len() < 3 {
            let lower = &found[*run.last().expect("run is never empty")];
            let Some(upper) = run.last().and_then(|&i| i.checked_sub(1)) else {
                break;
            };
            let up = &found[upper];
            let gap = lower.y_at(mid) - up.y_at(mid);
            let cap = lower.cap.max(up.cap);
            let fits = lower.cap / up.cap < 1.35
                && up.cap / lower.cap < 1.35
                && gap > 1.2 * cap
                && gap < 2.8 * cap
                && (lower.left - up.left).abs() < 1.2 * lower.pitch.max(up.pitch);
            if !fits {
                break;
            }
            run.push(upper);
        }
        if run.len() >= 2 {
            run.reverse();
            let zone: Vec<&TextLine> = run.iter().map(|&i| &found[i]).collect();
            return Some(grid(&zone));
        }
    }
    None
}

/// Fit the shared grid of a zone's lines.
fn grid(zone: &[&TextLine]) -> Grid {
    let pitch0 = median(zone.iter().map(|l| l.pitch).collect()).unwrap_or(1.0);
    let first = zone
        .iter()
        .filter_map(|l| l.marks.first().map(Mark::cx))
        .fold(f64::INFINITY, f64::min);
    let singles: Vec<f64> = zone
        .iter()
        .flat_map(|l| l.marks.iter())
        .filter(|m| m.w() < 1.3 * pitch0)
        .map(Mark::cx)
        .collect();
    let last = zone
        .iter()
        .filter_map(|l| l.marks.last().map(Mark::cx))
        .fold(f64::NEG_INFINITY, f64::max);
    // The format from the lines and their length; the pitch then from the full length
    // (the first and last cells of a zone's longest line are always printed), which a
    // median of neighbour distances only approximates.
    let measured = ((last - first) / pitch0).round() as usize + 1;
    let chars = match zone.len() {
        3 => 30,
        _ if measured >= 40 => 44,
        _ if measured >= 33 => 36,
        _ => measured,
    };
    // A stray mark chained to a line's end (an edge, a corner) would stretch the grid:
    // the ends are chosen among the outermost marks as the pair whose grid the most marks
    // sit on.
    let mut xs = singles.clone();
    xs.sort_by(f64::total_cmp);
    // One candidate per column: the lines' marks stand above one another.
    let mut columns = xs.clone();
    columns.dedup_by(|b, a| (*b - *a).abs() < 0.3 * pitch0);
    let cells = (chars.max(2) - 1) as f64;
    let on_grid = |x0: f64, pitch: f64| {
        xs.iter()
            .filter(|&&cx| {
                let i = (cx - x0) / pitch;
                i > -0.5 && i < cells + 0.5 && (i - i.round()).abs() < 0.25
            })
            .count()
    };
    let (mut x0, mut pitch) = (first, (last - first) / cells);
    let mut best = 0;
    for &a in columns.iter().take(3) {
        for &b in columns.iter().rev().take(3) {
            let p = (b - a) / cells;
            if p > 0.7 * pitch0 && p < 1.3 * pitch0 {
                let n = on_grid(a, p);
                if n > best {
                    (best, x0, pitch) = (n, a, p);
                }
            }
        }
    }
    for _ in 0..2 {
        let pairs: Vec<(f64, f64)> = singles
            .iter()
            .map(|&cx| (((cx - x0) / pitch).round(), cx))
            .filter(|&(i, _)| i >= 0.0 && i <= cells)
            .collect();
        let (a, b) = fit(&pairs);
        if b > 0.9 * pitch && b < 1.1 * pitch {
            x0 = a;
            pitch = b;
        }
    }
    Grid {
        lines: zone
            .iter()
            .map(|l| {
                let (x0, pitch, bend) = own_cells(l, (x0, pitch), cells, pitch0);
                GridLine {
                    a: l.a,
                    b: l.b,
                    cap: l.cap,
                    x0,
                    pitch,
                    bend,
                }
            })
            .collect(),
        chars,
    }
}

/// A line's own cells: the zone's shared `(x0, pitch)` refitted to the line's marks, each
/// taken at the cell the shared grid puts it in, as `x = x0 + pitch·i + bend·i²` (in a photo
/// taken at an angle the characters nearer the camera stand wider apart, even on a crop
/// straightened from the page's corners). The shared grid is kept when the line has too
/// few clear marks, or they do not spread over most of it, or their fit is not a small
/// correction of it.
fn own_cells(line: &TextLine, (x0, pitch): (f64, f64), cells: f64, pitch0: f64) -> (f64, f64, f64) {
    let mut own = (x0, pitch, 0.0);
    for _ in 0..2 {
        let (lx0, lpitch, lbend) = own;
        let pairs: Vec<(f64, f64)> = line
            .marks
            .iter()
            .filter(|m| m.w() < 1.3 * pitch0)
            .filter_map(|m| {
                // The cell under the mark, from the current fit.
                let guess = (m.cx() - lx0) / lpitch;
                let i = guess.round().clamp(0.0, cells);
                let at = lx0 + lpitch * i + lbend * i * i;
                let off = (m.cx() - at) / lpitch;
                let on = guess > -0.5 && guess < cells + 0.5 && off.abs() < 0.45;
                on.then_some((i, m.cx()))
            })
            .collect();
        let (lo, hi) = pairs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(i, _)| {
                (lo.min(i), hi.max(i))
            });
        if (pairs.len() as f64) < cells / 3.0 || hi - lo < 0.6 * cells {
            break;
        }
        let Some((a, b, c)) = fit_quadratic(&pairs) else {
            break;
        };
        let end = a + b * cells + c * cells * cells;
        let shift = (a - x0).abs().max((end - x0 - pitch * cells).abs());
        let mean = (end - a) / cells;
        if mean < 0.95 * pitch
            || mean > 1.05 * pitch
            || (c * cells * cells).abs() > 1.5 * pitch
            || shift > 0.75 * pitch
        {
            break;
        }
        own = (a, b, c);
    }
    own
}

/// Least-squares `y = a + b·x + c·x²`; `None` when the xs do not spread.
fn fit_quadratic(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    // Normal equations, centred on the mean x for conditioning.
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let (mut s1, mut s2, mut s3, mut s4) = (0.0, 0.0, 0.0, 0.0);
    let (mut t0, mut t1, mut t2) = (0.0, 0.0, 0.0);
    for &(x, y) in points {
        let u = x - mx;
        s1 += u;
        s2 += u * u;
        s3 += u * u * u;
        s4 += u * u * u * u;
        t0 += y;
        t1 += u * y;
        t2 += u * u * y;
    }
    let m = [[n, s1, s2], [s1, s2, s3], [s2, s3, s4]];
    let det = |m: [[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-9 {
        return None;
    }
    let with = |col: usize| {
        let mut r = m;
        for (row, t) in r.iter_mut().zip([t0, t1, t2]) {
            row[col] = t;
        }
        det(r) / d
    };
    let (p, q, r) = (with(0), with(1), with(2));
    // Back from u = x − mx: p + q·u + r·u².
    Some((p - q * mx + r * mx * mx, q - 2.0 * r * mx, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quadratic_fit_recovers_its_coefficients() {
        let points: Vec<(f64, f64)> = (0..44)
            .map(|i| {
                let x = f64::from(i);
                (x, 88.9 + 29.13 * x - 0.0162 * x * x)
            })
            .collect();
        let (a, b, c) = fit_quadratic(&points).unwrap();
        assert!(
            (a - 88.9).abs() < 1e-6 && (b - 29.13).abs() < 1e-6,
            "{a} {b}"
        );
        assert!((c + 0.0162).abs() < 1e-9, "{c}");
        assert!(fit_quadratic(&[(3.0, 1.0), (3.0, 2.0), (3.0, 5.0)]).is_none());
    }

    /// A line photographed at an angle: its characters stand wider apart at the end nearer
    /// the camera. Refitted from the shared grid, each cell lands within a tenth of a pitch
    /// of its character, where the straight fit is nearly a fifth of a pitch off at the ends.
    #[test]
    fn a_line_in_perspective_gets_its_own_bent_grid() {
        let true_x = |i: f64| 90.0 + 29.5 * i - 0.018 * i * i;
        let marks: Vec<Mark> = (0..44)
            .map(|i| {
                let cx = true_x(f64::from(i)).round() as usize;
                Mark {
                    x0: cx - 9,
                    y0: 880,
                    x1: cx + 9,
                    y1: 913,
                }
            })
            .collect();
        let line = measure_line(marks).expect("a line");
        let straight = fit(&(0..44)
            .map(|i| (f64::from(i), true_x(f64::from(i))))
            .collect::<Vec<_>>());
        let (x0, pitch, bend) = own_cells(&line, straight, 43.0, line.pitch);
        for i in [0.0, 10.0, 21.0, 32.0, 43.0] {
            let off = (x0 + pitch * i + bend * i * i - true_x(i)).abs();
            assert!(off < 0.1 * pitch, "cell {i}: {off:.1} px off");
        }
        let worst_straight = [0.0, 43.0]
            .iter()
            .map(|&i| (straight.0 + straight.1 * i - true_x(i)).abs())
            .fold(0.0, f64::max);
        assert!(worst_straight > 0.15 * pitch, "{worst_straight}");
    }
}
