//! OCR-B character templates and the matcher that reads one cell of the MRZ's grid.
//!
//! Every machine-readable zone is printed in OCR-B (ISO 1073-2) at a fixed pitch, so a cell
//! is read by comparing it with the 37 glyphs of the MRZ alphabet rendered from the
//! typeface itself (`assets/fonts/OCRB.otf`, public domain), by normalised cross-correlation
//! over a few sub-cell shifts. The templates are rendered once per process.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

/// The MRZ alphabet, in the order of [`Templates::glyphs`].
pub const ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<";

/// The typeface, embedded (see assets/README.md for its origin, licence and SHA-256).
pub const OCR_B: &[u8] = include_bytes!("../../assets/fonts/OCRB.otf");

/// Cap height of a template, in template pixels.
pub const CAP: f32 = 24.0;
/// Space above the cap line and below the baseline, as a share of the cap height.
const PAD: f32 = 0.2;
/// How far (template pixels, each way) a cell is slid over its template to find the best fit.
pub const SHIFT: usize = 2;

/// Blur radii (template pixels, Gaussian sigma) the glyphs are also rendered at: a photo's
/// capitals are often only 12 to 20 pixels tall and soft, and a soft `E` resembles a soft
/// `E` more than a sharp `F` does.
const BLURS: [f32; 3] = [0.0, 1.5, 3.0];

/// The 37 glyphs at each of [`BLURS`], each a zero-mean, unit-norm vector of
/// `width × height` ink values.
pub struct Templates {
    /// Advance width of one cell, in template pixels.
    pub pitch: f32,
    pub width: usize,
    pub height: usize,
    /// Where the cap line sits in a template, in template pixels from its top.
    pub cap_top: f32,
    glyphs: Vec<Vec<f32>>,
}

/// What one cell read as: a score (normalised cross-correlation, −1 to 1) per character of
/// [`ALPHABET`].
#[derive(Debug, Clone)]
pub struct CellScores(pub [f32; 37]);

impl CellScores {
    /// The best-scoring character among those `allowed`, with its score.
    pub fn best(&self, allowed: impl Fn(u8) -> bool) -> (u8, f32) {
        let mut best = (b'<', f32::NEG_INFINITY);
        for (i, &c) in ALPHABET.iter().enumerate() {
            if allowed(c) && self.0[i] > best.1 {
                best = (c, self.0[i]);
            }
        }
        best
    }

    /// The score of `c`.
    pub fn score(&self, c: u8) -> f32 {
        ALPHABET
            .iter()
            .position(|&a| a == c)
            .map_or(f32::NEG_INFINITY, |i| self.0[i])
    }
}

impl Templates {
    /// The process's templates, rendered on first use.
    pub fn shared() -> &'static Templates {
        static TEMPLATES: OnceLock<Templates> = OnceLock::new();
        TEMPLATES.get_or_init(|| Templates::render(OCR_B).expect("the embedded OCR-B font parses"))
    }

    /// Render the alphabet from an OpenType font; `None` if the font cannot be read or lacks
    /// a glyph of the alphabet.
    pub fn render(font: &[u8]) -> Option<Templates> {
        let font = FontRef::try_from_slice(font).ok()?;
        let scale = cap_scale(&font)?;
        let scaled = font.as_scaled(scale);
        let pitch = scaled.h_advance(font.glyph_id('0'));
        let cap_top = PAD * CAP;
        let width = pitch.ceil() as usize;
        let height = (CAP * (1.0 + 2.0 * PAD)).ceil() as usize;
        let mut glyphs = Vec::with_capacity(ALPHABET.len() * BLURS.len());
        for &c in ALPHABET {
            let mut ink = vec![0f32; width * height];
            let id = font.glyph_id(char::from(c));
            if id.0 == 0 {
                return None;
            }
            let glyph = id.with_scale_and_position(scale, point(0.0, cap_top + CAP));
            let outlined = font.outline_glyph(glyph)?;
            let bounds = outlined.px_bounds();
            outlined.draw(|x, y, coverage| {
                let px = bounds.min.x as i64 + i64::from(x);
                let py = bounds.min.y as i64 + i64::from(y);
                if (0..width as i64).contains(&px) && (0..height as i64).contains(&py) {
                    ink[py as usize * width + px as usize] = coverage;
                }
            });
            for sigma in BLURS {
                let mut soft = gaussian(&ink, width, height, sigma);
                normalise(&mut soft)?;
                glyphs.push(soft);
            }
        }
        Some(Templates {
            pitch,
            width,
            height,
            cap_top,
            glyphs,
        })
    }

    /// Score a patch of ink values `(width + 2·SHIFT) × (height + 2·SHIFT)` (template
    /// geometry, centred on the cell) against every glyph at every shift and blur, keeping
    /// each glyph's best.
    pub fn score(&self, patch: &[f32]) -> CellScores {
        self.search(patch, &Search::everything()).scores
    }

    /// Score a patch against the glyphs, blurs and vertical shifts `search` allows
    /// (every horizontal shift is tried), keeping each glyph's best and where it was.
    pub fn search(&self, patch: &[f32], search: &Search) -> Found {
        let pw = self.width + 2 * SHIFT;
        debug_assert_eq!(patch.len(), pw * (self.height + 2 * SHIFT));
        let mut found = Found {
            scores: CellScores([f32::NEG_INFINITY; 37]),
            blur: [0; 37],
            dy: [SHIFT; 37],
        };
        let mut window = vec![0f32; self.width * self.height];
        for dy in search.dys.clone() {
            for dx in 0..=2 * SHIFT {
                for y in 0..self.height {
                    let row = (y + dy) * pw + dx;
                    window[y * self.width..(y + 1) * self.width]
                        .copy_from_slice(&patch[row..row + self.width]);
                }
                if normalise(&mut window).is_none() {
                    // A blank window: nothing printed there at this shift.
                    continue;
                }
                for (g, glyphs) in self.glyphs.chunks(BLURS.len()).enumerate() {
                    if !search.glyphs[g] {
                        continue;
                    }
                    for b in search.blurs.clone() {
                        let s = dot(&glyphs[b], &window);
                        if s > found.scores.0[g] {
                            found.scores.0[g] = s;
                            found.blur[g] = b;
                            found.dy[g] = dy;
                        }
                    }
                }
            }
        }
        found
    }

    /// The sharp rendered glyph of `c` (zero-mean, unit norm), for tests and tools.
    pub fn glyph(&self, c: u8) -> Option<&[f32]> {
        let i = ALPHABET.iter().position(|&a| a == c)?;
        Some(&self.glyphs[i * BLURS.len()])
    }
}

/// What [`Templates::search`] tries.
#[derive(Debug, Clone)]
pub struct Search {
    /// Which characters of [`ALPHABET`].
    pub glyphs: [bool; 37],
    /// Which blur levels (indices into the rendered blurs).
    pub blurs: std::ops::RangeInclusive<usize>,
    /// Which vertical offsets (0 to `2·SHIFT`, [`SHIFT`] being centred).
    pub dys: std::ops::RangeInclusive<usize>,
}

impl Search {
    pub fn everything() -> Search {
        Search {
            glyphs: [true; 37],
            blurs: 0..=BLURS.len() - 1,
            dys: 0..=2 * SHIFT,
        }
    }
}

/// Each glyph's best score and the blur level and vertical offset it was found at.
#[derive(Debug, Clone)]
pub struct Found {
    pub scores: CellScores,
    pub blur: [usize; 37],
    pub dy: [usize; 37],
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four running sums: the compiler vectorises this, a single `sum()` it may not.
    let mut acc = [0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `v` (`w × h`) blurred by a Gaussian of `sigma` pixels (a copy when `sigma` is 0).
fn gaussian(v: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return v.to_vec();
    }
    let r = (sigma * 3.0).ceil() as i64;
    let kernel: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        for y in 0..h as i64 {
            for x in 0..w as i64 {
                let mut acc = 0f32;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as i64 - r;
                    let (sx, sy) = if horizontal { (x + d, y) } else { (x, y + d) };
                    if sx >= 0 && sy >= 0 && sx < w as i64 && sy < h as i64 {
                        acc += weight * src[sy as usize * w + sx as usize];
                    }
                }
                out[y as usize * w + x as usize] = acc / total;
            }
        }
        out
    };
    pass(&pass(v, true), false)
}

/// The scale at which the font's `H` is [`CAP`] pixels tall.
fn cap_scale(font: &FontRef<'_>) -> Option<PxScale> {
    let probe = PxScale::from(100.0);
    let h = font
        .glyph_id('H')
        .with_scale_and_position(probe, point(0.0, 0.0));
    let bounds = font.outline_glyph(h)?.px_bounds();
    let height = bounds.height();
    (height > 1.0).then(|| PxScale::from(100.0 * CAP / height))
}

/// Subtract the mean and scale to unit norm; `None` (values untouched but centred) when the
/// values are all equal.
fn normalise(v: &mut [f32]) -> Option<()> {
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    let mut norm = 0f32;
    for x in v.iter_mut() {
        *x -= mean;
        norm += *x * *x;
    }
    let norm = norm.sqrt();
    if norm < 1e-4 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glyph_renders_and_differs_from_the_others() {
        let t = Templates::shared();
        assert!(t.pitch > 10.0 && t.pitch < 24.0, "pitch {}", t.pitch);
        for (i, a) in ALPHABET.iter().enumerate() {
            for b in &ALPHABET[i + 1..] {
                let (ga, gb) = (t.glyph(*a).unwrap(), t.glyph(*b).unwrap());
                let same: f32 = ga.iter().zip(gb).map(|(x, y)| x * y).sum();
                assert!(
                    same < 0.95,
                    "{} and {} are too alike ({same})",
                    *a as char,
                    *b as char
                );
            }
        }
    }

    #[test]
    fn a_rendered_glyph_reads_as_itself() {
        let t = Templates::shared();
        let pw = t.width + 2 * SHIFT;
        for &c in ALPHABET {
            let g = t.glyph(c).unwrap();
            let mut patch = vec![0f32; pw * (t.height + 2 * SHIFT)];
            for y in 0..t.height {
                for x in 0..t.width {
                    patch[(y + SHIFT + 1) * pw + x + SHIFT - 1] = g[y * t.width + x];
                }
            }
            let (best, score) = t.score(&patch).best(|_| true);
            assert_eq!(best, c, "{} read as {}", c as char, best as char);
            assert!(score > 0.99);
        }
    }

    #[test]
    fn a_font_without_the_alphabet_is_refused() {
        assert!(Templates::render(b"not a font").is_none());
    }
}
