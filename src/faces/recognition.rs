//! Face recognition and passive liveness with the [`FaceModels`]:
//! detection → 68 landmarks → five-point similarity alignment → 512-d embedding, and a
//! spoof score on a wide crop around the face.
//!
//! Pure and synchronous: callers run it inside the backend's bounded worker pool.

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::{Tensor, TractResult};

use super::models::{FaceModels, Net};

/// Detections scoring below this are dropped (the detector's face probability).
const MIN_SCORE: f32 = 0.65;
/// Overlapping detections above this intersection-over-union are one face.
const NMS_IOU: f32 = 0.4;
/// The detector's input: 320×240, so photos are padded to 4:3 at their bottom/right.
const DET_W: u32 = 320;
const DET_H: u32 = 240;
/// Faces are embedded from a copy where the face box is at most this tall, so that the
/// alignment's bilinear sampling never skips pixels of a large face.
const CHIP_FACE_HEIGHT: f32 = 224.0;
/// The passive-liveness crop: the face box scaled by this, as the model was trained.
const LIVENESS_SCALE: f32 = 2.7;

/// The standard ArcFace five-point template in a 112×112 crop: eye centres, nose tip,
/// mouth corners.
const TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A face found by the detector, in pixels of the image it was found in (possibly
/// reaching past its edges), with the detector's probability that it is a face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectedFace {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
}

impl DetectedFace {
    pub fn width(&self) -> f32 {
        self.x2 - self.x1
    }

    pub fn height(&self) -> f32 {
        self.y2 - self.y1
    }

    fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    fn iou(&self, other: &DetectedFace) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// A unit-length identity embedding: the dot product of two is their cosine similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Cosine similarity in [-1, 1]; same person is high.
    pub fn similarity(&self, other: &Embedding) -> f64 {
        let dot: f32 = self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum();
        f64::from(dot.clamp(-1.0, 1.0))
    }
}

/// What the models saw of the most certain face of an image.
#[derive(Debug, Clone)]
pub struct FaceDescription {
    pub face: DetectedFace,
    pub embedding: Embedding,
}

/// Faces in `img`, most certain first, overlapping detections merged.
pub fn detect(models: &FaceModels, img: &RgbImage) -> TractResult<Vec<DetectedFace>> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Ok(Vec::new());
    }
    // Scale so the image fits 320×240; the rest of the canvas stays zero, which is the
    // bottom/right padding to 4:3 the detector expects.
    let scale = (DET_W as f32 / w as f32).min(DET_H as f32 / h as f32);
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).clamp(1, DET_W),
        ((h as f32 * scale).round() as u32).clamp(1, DET_H),
    );
    let small = resize(img, sw, sh);
    // Pixels off the image are black, (0 − 127)/128, as the detector was trained.
    let black: f32 = -127.0 / 128.0;
    let mut input = Tensor::from_shape(
        &[1, 3, DET_H as usize, DET_W as usize],
        &vec![black; (3 * DET_W * DET_H) as usize],
    )?;
    {
        let mut view = input.to_plain_array_view_mut::<f32>()?;
        for (x, y, p) in small.enumerate_pixels() {
            for c in 0..3 {
                view[[0, c, y as usize, x as usize]] = (f32::from(p.0[c]) - 127.0) / 128.0;
            }
        }
    }
    let out = models.run(Net::Detect, input)?;
    let scores = out[0].to_plain_array_view::<f32>()?;
    let boxes = out[1].to_plain_array_view::<f32>()?;
    // Box coordinates are fractions of the padded 320×240 canvas.
    let (cw, ch) = (DET_W as f32 / scale, DET_H as f32 / scale);
    let mut found: Vec<DetectedFace> = (0..scores.shape()[1])
        .filter(|&i| scores[[0, i, 1]] >= MIN_SCORE)
        .map(|i| DetectedFace {
            x1: boxes[[0, i, 0]] * cw,
            y1: boxes[[0, i, 1]] * ch,
            x2: boxes[[0, i, 2]] * cw,
            y2: boxes[[0, i, 3]] * ch,
            score: scores[[0, i, 1]],
        })
        .filter(|f| f.width() > 1.0 && f.height() > 1.0 && f.x1.is_finite() && f.y1.is_finite())
        .collect();
    found.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<DetectedFace> = Vec::new();
    for f in found {
        if kept.iter().all(|k| k.iou(&f) <= NMS_IOU) {
            kept.push(f);
        }
    }
    Ok(kept)
}

/// The most certain face of `img` and its embedding; `None` when no face is found.
pub fn describe(models: &FaceModels, img: &RgbImage) -> TractResult<Option<FaceDescription>> {
    let Some(face) = detect(models, img)?.into_iter().next() else {
        return Ok(None);
    };
    let embedding = embed(models, img, &face)?;
    Ok(Some(FaceDescription { face, embedding }))
}

/// The identity embedding of `face` in `img`.
pub fn embed(models: &FaceModels, img: &RgbImage, face: &DetectedFace) -> TractResult<Embedding> {
    // Work on a chip: the face with a margin, shrunk when large.
    let margin = face.height().max(face.width());
    let (cx0, cy0) = ((face.x1 - margin).floor(), (face.y1 - margin).floor());
    let (cw, ch) = (
        (face.width() + 2.0 * margin).ceil().max(1.0),
        (face.height() + 2.0 * margin).ceil().max(1.0),
    );
    let k = (CHIP_FACE_HEIGHT / face.height().max(1.0)).min(1.0);
    let (ow, oh) = (
        ((cw * k).round() as u32).max(1),
        ((ch * k).round() as u32).max(1),
    );
    let chip = crop_resized(img, cx0, cy0, cw, ch, ow, oh);
    let local = DetectedFace {
        x1: (face.x1 - cx0) * k,
        y1: (face.y1 - cy0) * k,
        x2: (face.x2 - cx0) * k,
        y2: (face.y2 - cy0) * k,
        score: face.score,
    };
    let marks = landmarks(models, &chip, &local)?;
    let five = five_points(&marks);
    let aligned = align(&chip, &five);
    let mut input = Tensor::zero::<f32>(&[1, 3, 112, 112])?;
    {
        let mut view = input.to_plain_array_view_mut::<f32>()?;
        for (x, y, p) in aligned.enumerate_pixels() {
            for c in 0..3 {
                view[[0, c, y as usize, x as usize]] = (f32::from(p.0[c]) - 127.0) / 128.0;
            }
        }
    }
    let out = models.run(Net::Feature, input)?;
    let mut v: Vec<f32> = out[0]
        .to_plain_array_view::<f32>()?
        .iter()
        .copied()
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    Ok(Embedding(v))
}

/// The 68 landmarks of `face`, in pixels of `img`.
fn landmarks(
    models: &FaceModels,
    img: &RgbImage,
    face: &DetectedFace,
) -> TractResult<[[f32; 2]; 68]> {
    // The box made square, its side the box's height, centred on the box.
    let side = face.height().max(1.0);
    let left = (face.x1 + face.x2) / 2.0 - side / 2.0;
    let top = face.y1;
    let crop = crop_resized(img, left, top, side, side, 64, 64);
    let mut input = Tensor::zero::<f32>(&[1, 1, 64, 64])?;
    {
        let mut view = input.to_plain_array_view_mut::<f32>()?;
        for (x, y, p) in crop.enumerate_pixels() {
            let [r, g, b] = p.0.map(f32::from);
            view[[0, 0, y as usize, x as usize]] = (0.299 * r + 0.587 * g + 0.114 * b) / 256.0;
        }
    }
    let out = models.run(Net::Landmark, input)?;
    let flat = out[0].to_plain_array_view::<f32>()?;
    let mut points = [[0f32; 2]; 68];
    for (i, p) in points.iter_mut().enumerate() {
        *p = [
            left + flat[[0, 2 * i]] * side,
            top + flat[[0, 2 * i + 1]] * side,
        ];
    }
    Ok(points)
}

/// Eye centres, nose tip and mouth corners from the 68-point layout.
fn five_points(p: &[[f32; 2]; 68]) -> [[f32; 2]; 5] {
    let mean = |idx: &[usize]| {
        let n = idx.len() as f32;
        let (sx, sy) = idx
            .iter()
            .fold((0.0, 0.0), |(x, y), &i| (x + p[i][0], y + p[i][1]));
        [sx / n, sy / n]
    };
    [
        mean(&[37, 38, 40, 41]),
        mean(&[43, 44, 46, 47]),
        p[30],
        mean(&[48, 60]),
        mean(&[54, 64]),
    ]
}

/// The least-squares similarity (rotation, uniform scale, translation; no reflection)
/// taking `src` onto `dst` (Umeyama's method, in closed form for 2-D): returns
/// `(a, b, tx, ty)` for `x' = a·x − b·y + tx`, `y' = b·x + a·y + ty`.
fn similarity(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> (f64, f64, f64, f64) {
    let n = src.len() as f64;
    let mean = |pts: &[[f32; 2]; 5]| {
        let (x, y) = pts.iter().fold((0.0, 0.0), |(x, y), p| {
            (x + f64::from(p[0]), y + f64::from(p[1]))
        });
        (x / n, y / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
        let (dx, dy) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
        // (a + ib) = Σ conj(s)·d / Σ |s|² with points as complex numbers.
        num_a += sx * dx + sy * dy;
        num_b += sx * dy - sy * dx;
        den += sx * sx + sy * sy;
    }
    if den <= f64::EPSILON {
        return (1.0, 0.0, mdx - msx, mdy - msy);
    }
    let (a, b) = (num_a / den, num_b / den);
    (a, b, mdx - (a * msx - b * msy), mdy - (b * msx + a * msy))
}

/// The 112×112 face aligned onto the template, sampled bilinearly (black outside `img`).
fn align(img: &RgbImage, five: &[[f32; 2]; 5]) -> RgbImage {
    let (a, b, tx, ty) = similarity(five, &TEMPLATE);
    let det = a * a + b * b;
    let (w, h) = (img.width() as f64, img.height() as f64);
    RgbImage::from_fn(112, 112, |x, y| {
        if det <= f64::EPSILON {
            return Rgb([0, 0, 0]);
        }
        // Inverse of the similarity: from the template's pixel back to the image.
        let (u, v) = (x as f64 - tx, y as f64 - ty);
        let sx = (a * u + b * v) / det;
        let sy = (-b * u + a * v) / det;
        if sx < -1.0 || sy < -1.0 || sx > w || sy > h {
            return Rgb([0, 0, 0]);
        }
        bilinear(img, sx, sy)
    })
}

fn bilinear(img: &RgbImage, x: f64, y: f64) -> Rgb<u8> {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let px = |xx: f64, yy: f64| -> [f64; 3] {
        if xx < 0.0 || yy < 0.0 || xx >= f64::from(img.width()) || yy >= f64::from(img.height()) {
            [0.0; 3]
        } else {
            img.get_pixel(xx as u32, yy as u32).0.map(f64::from)
        }
    };
    let (p00, p10, p01, p11) = (
        px(x0, y0),
        px(x0 + 1.0, y0),
        px(x0, y0 + 1.0),
        px(x0 + 1.0, y0 + 1.0),
    );
    let mut out = [0u8; 3];
    for c in 0..3 {
        let v = p00[c] * (1.0 - fx) * (1.0 - fy)
            + p10[c] * fx * (1.0 - fy)
            + p01[c] * (1.0 - fx) * fy
            + p11[c] * fx * fy;
        out[c] = v.round().clamp(0.0, 255.0) as u8;
    }
    Rgb(out)
}

/// The probability that `face` in `img` is a presentation attack (a photo, a screen, a
/// mask) rather than a live person: 1 − the model's "live" probability.
pub fn spoof_score(models: &FaceModels, img: &RgbImage, face: &DetectedFace) -> TractResult<f64> {
    let (iw, ih) = (img.width() as f32, img.height() as f32);
    let (cx, cy) = ((face.x1 + face.x2) / 2.0, (face.y1 + face.y2) / 2.0);
    let w = (face.width() * LIVENESS_SCALE).min(iw);
    let h = (face.height() * LIVENESS_SCALE).min(ih);
    // Shifted to stay inside the image, as the model was trained.
    let left = (cx - w / 2.0).clamp(0.0, iw - w);
    let top = (cy - h / 2.0).clamp(0.0, ih - h);
    let crop = crop_resized(img, left, top, w, h, 128, 128);
    let mut input = Tensor::zero::<f32>(&[1, 3, 128, 128])?;
    {
        let mut view = input.to_plain_array_view_mut::<f32>()?;
        for (x, y, p) in crop.enumerate_pixels() {
            for c in 0..3 {
                view[[0, c, y as usize, x as usize]] = f32::from(p.0[c]);
            }
        }
    }
    let out = models.run(Net::Liveness, input)?;
    let logits: Vec<f64> = out[0]
        .to_plain_array_view::<f32>()?
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|v| (v - max).exp()).collect();
    let live: f64 = exp[0] / exp.iter().sum::<f64>();
    Ok((1.0 - live).clamp(0.0, 1.0))
}

/// The region `(x, y, w, h)` of `img` (black where it reaches outside) resized to
/// `out_w`×`out_h`, with a filter that averages when shrinking.
fn crop_resized(
    img: &RgbImage,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    out_w: u32,
    out_h: u32,
) -> RgbImage {
    let (x0, y0) = (x.round() as i64, y.round() as i64);
    let (cw, ch) = ((w.round() as i64).max(1), (h.round() as i64).max(1));
    // Bound the canvas: a box far larger than the image would only add black.
    let limit = 4 * i64::from(img.width().max(img.height())).max(1);
    let (cw, ch) = (cw.min(limit) as u32, ch.min(limit) as u32);
    let mut canvas = RgbImage::new(cw, ch);
    imageops::replace(&mut canvas, img, -x0, -y0);
    resize(&canvas, out_w, out_h)
}

fn resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    if img.dimensions() == (w, h) {
        return img.clone();
    }
    if w * 2 <= img.width() && h * 2 <= img.height() {
        // Much smaller: a box filter is fast and averages every source pixel.
        imageops::thumbnail(img, w, h)
    } else {
        imageops::resize(img, w, h, FilterType::Triangle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        // Rotate by 30°, scale by 1.7, shift by (5, -3).
        let (c, s) = (
            1.7 * 30f64.to_radians().cos(),
            1.7 * 30f64.to_radians().sin(),
        );
        let src = TEMPLATE;
        let dst = src.map(|[x, y]| {
            let (x, y) = (f64::from(x), f64::from(y));
            [(c * x - s * y + 5.0) as f32, (s * x + c * y - 3.0) as f32]
        });
        let (a, b, tx, ty) = similarity(&src, &dst);
        assert!((a - c).abs() < 1e-4 && (b - s).abs() < 1e-4, "{a} {b}");
        assert!(
            (tx - 5.0).abs() < 1e-3 && (ty + 3.0).abs() < 1e-3,
            "{tx} {ty}"
        );
    }

    #[test]
    fn overlapping_boxes_have_high_iou() {
        let a = DetectedFace {
            x1: 0.0,
            y1: 0.0,
            x2: 10.0,
            y2: 10.0,
            score: 1.0,
        };
        let b = DetectedFace {
            x1: 5.0,
            y1: 0.0,
            x2: 15.0,
            y2: 10.0,
            score: 1.0,
        };
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(
            a.iou(&DetectedFace {
                x1: 20.0,
                x2: 30.0,
                ..a
            }),
            0.0
        );
    }

    #[test]
    fn crops_reaching_outside_are_black_there() {
        let img = RgbImage::from_pixel(10, 10, Rgb([200, 200, 200]));
        let out = crop_resized(&img, -10.0, 0.0, 20.0, 10.0, 20, 10);
        assert_eq!(out.get_pixel(2, 5).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(15, 5).0, [200, 200, 200]);
    }
}
