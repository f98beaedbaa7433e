//! Image processing of the built-in verification backend: pure, synchronous functions from
//! bytes to bytes and measurements. Callers run them off the async threads.
//!
//! The pipeline for one document photo ([`check_document`]):
//! [`decode`] (format by content, limits before allocation, EXIF orientation applied) →
//! [`AnalysisImage`] (grey copy, long side ≤ 1000 px) → [`detect_document`] (four corners;
//! failing that, [`frame_document`]: the whole frame, for a scan; or [`zone_document`]: the
//! page placed from its machine-readable zone) →
//! [`measure`] and [`evaluate`] (quality gates, every failing reason) → [`crop_document`]
//! (perspective warp to the true aspect ratio) → [`encode_jpeg`] (pixels only, no metadata).
//! [`redact_crop`] and [`redact_original`] hide fields when images are served.

pub mod budget;
pub mod crop;
pub mod decode;
pub mod detect;
pub mod encode;
pub mod error;
pub mod geometry;
pub mod layout;
pub mod photo;
pub mod placeholder;
pub mod quality;
pub mod redact;
pub mod strip;

pub use budget::{DecodeBudget, Reservation, decode_cost};
pub use crop::{crop_document, crop_size};
pub use decode::{DecodeLimits, Decoded, Format, Probe, decode, probe, sniff};
pub use detect::{Detection, DetectionConfig, detect_document};
pub use encode::{JPEG_QUALITY, encode_jpeg};
pub use error::{ImagingError, Reason};
pub use geometry::{Homography, Point, Quad};
pub use layout::{Layout, RelRect, layout};
pub use photo::photo_around;
pub use quality::{
    ANALYSIS_LONG_SIDE, AnalysisImage, MeasuredOn, QualityMetrics, QualityThresholds, evaluate,
    measure,
};
pub use redact::{FILL, FoundFields, portrait_around, redact_crop, redact_original, regions};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::domain::DocumentType;

/// Every knob of the image pipeline, ready to be a section of the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImagingConfig {
    /// Ceilings of a document photo.
    pub limits: DecodeLimits,
    /// Ceilings of one liveness frame: a camera frame, a few megapixels at most.
    pub frame_limits: DecodeLimits,
    /// Bytes that decoded images may hold at once in this process, over every upload
    /// being checked (see [`DecodeBudget`]).
    pub decode_memory: u64,
    pub quality: QualityThresholds,
    pub detection: DetectionConfig,
    /// JPEG quality of stored images.
    pub jpeg_quality: u8,
    /// Longest side of a stored crop, in pixels.
    pub crop_max_long_side: u32,
}

impl Default for ImagingConfig {
    fn default() -> Self {
        ImagingConfig {
            limits: DecodeLimits::default(),
            frame_limits: DecodeLimits::FRAME,
            decode_memory: 512 * 1024 * 1024,
            quality: QualityThresholds::default(),
            detection: DetectionConfig::default(),
            jpeg_quality: JPEG_QUALITY,
            crop_max_long_side: 2000,
        }
    }
}

/// How the document's outline was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outline {
    /// Its four edges, found in the photo.
    Edges,
    /// The whole frame: a scan, or a photo so close that nothing shows around the document
    /// (see [`frame_document`]).
    Frame,
    /// Placed from its machine-readable zone, found in the photo when neither its edges nor
    /// the frame are the document's (see [`zone_document`]).
    Zone,
}

/// How far (as a share) a frame's aspect ratio may be from the document type's for the
/// frame to be taken as the document: a scan cropped to the card's edges, give or take a
/// few pixels, but not a 3:2 or 4:3 photo (5.4 % and 16 % off an ID-1 card's 1.586).
pub const FRAME_ASPECT_TOLERANCE: f64 = 0.05;

/// An outline covering at least this share of the frame is the document; a smaller one may
/// be a rectangle printed on a document that fills the frame (its portrait covers a sixth
/// of it), which is then looked for. The zone that confirms a frame spans 80 % of its width
/// or more, which a document covering less than half the frame cannot.
pub const FRAME_SHARE: f64 = 0.5;

/// The outcome of checking one document photo.
#[derive(Debug, Clone)]
pub struct DocumentCheck {
    /// Every reason the photo is rejected; empty when accepted.
    pub reasons: Vec<Reason>,
    pub metrics: QualityMetrics,
    /// The document's corners in the (upright) original, TL, TR, BR, BL; `None` if not found.
    pub corners: Option<Quad>,
    /// The upright original, re-encoded as JPEG without any metadata.
    pub original_jpeg: Vec<u8>,
    /// The straightened document as JPEG, when it was found.
    pub crop_jpeg: Option<Vec<u8>>,
    /// How the document was found; `None` if it was not.
    pub outline: Option<Outline>,
    /// The decoded format of the upload.
    pub format: Format,
}

impl DocumentCheck {
    pub fn accepted(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Pixels and findings before encoding, for callers that need the images themselves
/// (redaction, face detection on the crop).
#[derive(Debug, Clone)]
pub struct DocumentAnalysis {
    pub reasons: Vec<Reason>,
    pub metrics: QualityMetrics,
    pub corners: Option<Quad>,
    pub original: RgbImage,
    pub crop: Option<RgbImage>,
    pub format: Format,
    /// How the document was found; `None` if it was not.
    pub outline: Option<Outline>,
    /// A JPEG whose pixels were already upright (no EXIF rotation applied): its own
    /// bytes, stripped of metadata, can be kept as the original.
    pub upright_as_sent: bool,
}

/// What a face detector sees on a straightened frame that may be a document's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortraitSeen {
    /// No face.
    NoFace,
    /// A printed portrait: a face of a portrait's size, off the middle, beside the text.
    Printed,
    /// A face filling the frame (its box covers an eighth of it or more): a photo of a face,
    /// or a portrait's own picture cut out as if it were the document — never a whole
    /// document's side.
    FacePhoto,
    /// Another face (too small or too large for a printed portrait).
    Other,
}

/// What a straightened frame shows of a printed portrait. Given by a caller that has a
/// face detector (the local backend, for a document's front, which carries the holder's
/// portrait), so that such a side filling the whole frame, with no zone to confirm it, is
/// taken whole (see [`frame_document`]), and a portrait's own frame is not taken for the
/// document's outline (see [`analyse_pixels_with`]).
pub type PortraitProbe<'a> = &'a dyn Fn(&RgbImage) -> PortraitSeen;

/// Decode, measure, find and straighten a photo of a `doc`, without encoding.
pub fn analyse_document(
    bytes: &[u8],
    doc: DocumentType,
    cfg: &ImagingConfig,
) -> Result<DocumentAnalysis, ImagingError> {
    analyse_document_with(bytes, doc, cfg, None)
}

/// [`analyse_document`], with a [`PortraitProbe`] for a side that carries the portrait.
pub fn analyse_document_with(
    bytes: &[u8],
    doc: DocumentType,
    cfg: &ImagingConfig,
    portrait: Option<PortraitProbe<'_>>,
) -> Result<DocumentAnalysis, ImagingError> {
    let decoded = decode(bytes, &cfg.limits)?;
    let upright_as_sent = decoded.format == Format::Jpeg && decoded.exif_orientation == 1;
    Ok(DocumentAnalysis {
        upright_as_sent,
        ..analyse_pixels_with(decoded.image, decoded.format, doc, cfg, portrait)
    })
}

/// The original as it is stored: a JPEG sent upright keeps its own bytes with every
/// metadata segment removed ([`strip::strip_jpeg_metadata`]: the same pixels, and no
/// 12 MP re-encode); anything else is encoded from the upright pixels.
pub fn stored_original(
    sent: &[u8],
    analysis: &DocumentAnalysis,
    quality: u8,
) -> Result<Vec<u8>, ImagingError> {
    if analysis.upright_as_sent
        && let Some(kept) = strip::strip_jpeg_metadata(sent)
    {
        return Ok(kept);
    }
    encode_jpeg(&analysis.original, quality)
}

/// [`analyse_document`] from already decoded, upright pixels.
pub fn analyse_pixels(
    original: RgbImage,
    format: Format,
    doc: DocumentType,
    cfg: &ImagingConfig,
) -> DocumentAnalysis {
    analyse_pixels_with(original, format, doc, cfg, None)
}

/// [`analyse_pixels`], with a [`PortraitProbe`] for a side that carries the portrait.
///
/// With a probe, an outline covering less than [`FRAME_SHARE`] of the frame is first
/// looked at as it is (straightened at its own apparent proportions): when it shows a face
/// in its middle it is the frame of the printed portrait (a document on a backdrop of its
/// own colour shows no edges, its portrait's frame does), or a face photo, and is not
/// taken as the document.
pub fn analyse_pixels_with(
    original: RgbImage,
    format: Format,
    doc: DocumentType,
    cfg: &ImagingConfig,
    portrait: Option<PortraitProbe<'_>>,
) -> DocumentAnalysis {
    let aspect = layout(doc).aspect();
    let analysis = AnalysisImage::new(&original, ANALYSIS_LONG_SIDE);
    let frame_area = f64::from(original.width()) * f64::from(original.height());
    let found = match detect_document(&analysis.grey, &cfg.detection) {
        Some(d) if analysis.to_original(&d.quad).area() >= FRAME_SHARE * frame_area => {
            Some((analysis.to_original(&d.quad), Outline::Edges, None))
        }
        // Nothing, or an outline well inside the frame, which on a document filling the
        // frame is one of its own printed rectangles (a portrait on a plain backdrop).
        detected => frame_document(&original, doc, cfg.crop_max_long_side, portrait)
            .map(|(quad, crop)| (quad, Outline::Frame, Some(crop)))
            .or_else(|| {
                detected
                    .map(|d| analysis.to_original(&d.quad))
                    .filter(|q| !portrait.is_some_and(|probe| is_a_portrait(&original, q, probe)))
                    .map(|q| (q, Outline::Edges, None))
            })
            .or_else(|| {
                zone_document(&original, doc, cfg.crop_max_long_side)
                    .map(|(quad, crop)| (quad, Outline::Zone, Some(crop)))
            }),
    };
    let on_analysis = found.as_ref().map(|(q, _, _)| analysis.from_original(q));
    let metrics = measure(
        original.width(),
        original.height(),
        &analysis,
        on_analysis.as_ref().map(|q| (q, aspect)),
        cfg.quality.glare_luminance,
    );
    let mut reasons = evaluate(&metrics, &cfg.quality);
    let (corners, outline, crop) = match found {
        Some((q, outline, crop)) => (Some(q), Some(outline), crop),
        None => (None, None, None),
    };
    if corners.is_none() {
        reasons.push(Reason::DocumentNotFound);
    }
    let crop = crop.or_else(|| {
        corners.and_then(|q| crop_document(&original, &q, aspect, cfg.crop_max_long_side))
    });
    DocumentAnalysis {
        reasons,
        metrics,
        corners,
        original,
        crop,
        format,
        outline,
        upright_as_sent: false,
    }
}

/// The whole frame as the document, for a scan or a close photo where the document fills
/// the image and has no outline of its own to find: only when the frame has the document
/// type's aspect ratio (within [`FRAME_ASPECT_TOLERANCE`]) and, straightened as a crop,
/// shows what only a document filling the frame shows:
/// - the machine-readable zone across at least 80 % of its width at its bottom (or top,
///   upside down);
/// - or, given a [`PortraitProbe`] (a side that carries the holder's portrait, such as an
///   identity card's front, which has no zone), the printed portrait as the probe finds it.
///
/// A face photo, a blank page or a noisy frame of the right shape has neither, so it stays
/// not found; so does a side with neither zone nor portrait (a driving licence's back),
/// which must be photographed with some background around it. Returns the frame's corners
/// (TL, TR, BR, BL, the long side on top) in `original`'s pixels and the crop.
pub fn frame_document(
    original: &RgbImage,
    doc: DocumentType,
    max_long_side: u32,
    portrait: Option<PortraitProbe<'_>>,
) -> Option<(Quad, RgbImage)> {
    let lay = layout(doc);
    if lay.mrz.is_none() && portrait.is_none() {
        return None;
    }
    let (w, h) = (f64::from(original.width()), f64::from(original.height()));
    if w < 16.0 || h < 16.0 {
        return None;
    }
    let frame_aspect = w.max(h) / w.min(h);
    if (frame_aspect / lay.aspect() - 1.0).abs() > FRAME_ASPECT_TOLERANCE {
        return None;
    }
    let quad = detect::order(Quad([
        Point::new(0.0, 0.0),
        Point::new(w, 0.0),
        Point::new(w, h),
        Point::new(0.0, h),
    ]))?;
    let crop = crop_document(original, &quad, lay.aspect(), max_long_side)?;
    let zone_confirms = lay.mrz.is_some()
        && crate::document::read_mrz(&crop).zone.is_some_and(|zone| {
            // A zone spans about 90 % of its document's width (30 or 44 cells of 2.54 mm on
            // 85.6 or 125 mm), half a cell of margin included.
            let across = zone.w >= 0.8;
            let at_an_end = zone.y + zone.h >= 0.75 || zone.y <= 0.25;
            across && at_an_end
        });
    (zone_confirms || portrait.is_some_and(|probe| probe(&crop) == PortraitSeen::Printed))
        .then_some((quad, crop))
}

/// Longest side of the outline's picture shown to a [`PortraitProbe`]: the detector looks at
/// 320 × 240 pixels anyway.
const PROBE_LONG_SIDE: u32 = 640;

/// Does the outline `quad` (in `original`'s pixels) frame a face photo? It is straightened
/// as it stands in the photo (its corners taken by their place, not its long side put on
/// top, which would turn a portrait's frame on its side) and at its apparent proportions
/// (the mean of its opposite sides), not the document type's, which would stretch a
/// portrait's face. A portrait's frame standing sideways in the photo is not recognised.
fn is_a_portrait(original: &RgbImage, quad: &Quad, probe: PortraitProbe<'_>) -> bool {
    let by = |key: fn(&Point) -> f64| {
        let mut order = quad.0;
        order.sort_by(|a, b| key(a).total_cmp(&key(b)));
        (order[0], order[3])
    };
    let (tl, br) = by(|p| p.x + p.y);
    let (bl, tr) = by(|p| p.x - p.y);
    let as_it_stands = Quad([tl, tr, br, bl]);
    let side = |a: Point, b: Point| (a.x - b.x).hypot(a.y - b.y);
    let width = (side(tl, tr) + side(bl, br)) / 2.0;
    let height = (side(tl, bl) + side(tr, br)) / 2.0;
    as_it_stands.area() >= 0.9 * quad.area()
        && width >= 1.0
        && height >= 1.0
        && crop_document(original, &as_it_stands, width / height, PROBE_LONG_SIDE)
            .is_some_and(|picture| probe(&picture) == PortraitSeen::FacePhoto)
}

/// The pitch of a machine-readable zone's characters (ICAO 9303: ten per inch).
const ZONE_PITCH_MM: f64 = 2.54;
/// From the bottom of the zone's box (its last line with a character's height of margin)
/// to the document's bottom edge, as measured on specimen passports and cards.
const ZONE_TO_EDGE_MM: f64 = 5.0;
/// Smallest share of the photo's width a zone must span for its document to be placed from
/// it: smaller, the document is too small in the photo to check anyway.
const MIN_ZONE_SHARE: f64 = 0.3;

/// The document placed from its machine-readable zone, for a photo where neither its
/// outline nor the frame is the document: a passport open on a table of its own colour,
/// its other page cut by the frame, or a scan with more than the document on it. The zone
/// is looked for in the whole photo; when one is found of the document type's format (read
/// as such, or, for a passport, found as two lines of 44 characters even if it does not
/// read in the whole photo), with a box of that format's proportions, spanning at
/// least [`MIN_ZONE_SHARE`] of the photo's width, the page follows from ICAO 9303's
/// geometry: its width from the character pitch (2.54 mm), centred on the zone, its bottom
/// [`ZONE_TO_EDGE_MM`] below the zone (or its top above it, upside down: whichever page
/// lies more inside the photo), its height from the type's aspect ratio. At least three
/// quarters of that page must lie inside the photo; the corners are cut to the photo.
/// The page is upright in the photo (the zone's box has no tilt), so a document at a steep
/// angle is not placed this way.
pub fn zone_document(
    original: &RgbImage,
    doc: DocumentType,
    max_long_side: u32,
) -> Option<(Quad, RgbImage)> {
    let lay = layout(doc);
    lay.mrz?;
    let (chars, lines, format) = match doc {
        DocumentType::Passport => (44.0, 2.0, crate::domain::mrz::MrzFormat::Td3),
        DocumentType::IdCard => (30.0, 3.0, crate::domain::mrz::MrzFormat::Td1),
        DocumentType::DrivingLicence => return None,
    };
    let (w, h) = (f64::from(original.width()), f64::from(original.height()));
    if w < 16.0 || h < 16.0 {
        return None;
    }
    let reading = crate::document::read_mrz(original);
    let zone = reading.zone?;
    // A zone that reads has its format; one that does not must at least be found with the
    // format's grid (a three-line grid is always taken as 30 characters, so an identity
    // card's zone must read).
    let fits = match &reading.mrz {
        Some(m) => m.format == format,
        None => format == crate::domain::mrz::MrzFormat::Td3 && reading.grid == Some((2, 44)),
    };
    if !fits || zone.w < MIN_ZONE_SHARE {
        return None;
    }
    let (zx, zy, zw, zh) = (zone.x * w, zone.y * h, zone.w * w, zone.h * h);
    // The box spans the characters and a cell on each side: chars + 1 pitches wide; each
    // line is two character heights (about 2 pitches) apart, with one height of margin.
    let expected_aspect = (chars + 1.0) / (2.0 * lines);
    let aspect = zw / zh.max(1.0);
    if !(expected_aspect / 1.4..=expected_aspect * 1.4).contains(&aspect) {
        return None;
    }
    let mm = zw / ((chars + 1.0) * ZONE_PITCH_MM);
    let (page_w, page_h) = (lay.width_mm * mm, lay.height_mm * mm);
    let left = zx + zw / 2.0 - page_w / 2.0;
    let upright_top = zy + zh + ZONE_TO_EDGE_MM * mm - page_h;
    let upside_down_top = zy - ZONE_TO_EDGE_MM * mm;
    let inside = |top: f64| {
        let across = (left + page_w).min(w) - left.max(0.0);
        let down = (top + page_h).min(h) - top.max(0.0);
        across.max(0.0) * down.max(0.0) / (page_w * page_h)
    };
    let top = if inside(upright_top) >= inside(upside_down_top) {
        upright_top
    } else {
        upside_down_top
    };
    if inside(top) < 0.75 {
        return None;
    }
    let (x0, y0) = (left.max(0.0), top.max(0.0));
    let (x1, y1) = ((left + page_w).min(w), (top + page_h).min(h));
    let quad = detect::order(Quad([
        Point::new(x0, y0),
        Point::new(x1, y0),
        Point::new(x1, y1),
        Point::new(x0, y1),
    ]))?;
    let crop = crop_document(original, &quad, lay.aspect(), max_long_side)?;
    Some((quad, crop))
}

/// The whole per-image pipeline: decode under limits, orient, measure, detect, crop and
/// re-encode. Decoding failures are errors; quality failures are `reasons` in the result,
/// which still carries the re-encoded images so a rejected attempt can be kept for review.
pub fn check_document(
    bytes: &[u8],
    doc: DocumentType,
    cfg: &ImagingConfig,
) -> Result<DocumentCheck, ImagingError> {
    let a = analyse_document(bytes, doc, cfg)?;
    let original_jpeg = stored_original(bytes, &a, cfg.jpeg_quality)?;
    let crop_jpeg = a
        .crop
        .as_ref()
        .map(|c| encode_jpeg(c, cfg.jpeg_quality))
        .transpose()?;
    Ok(DocumentCheck {
        reasons: a.reasons,
        metrics: a.metrics,
        corners: a.corners,
        original_jpeg,
        crop_jpeg,
        format: a.format,
        outline: a.outline,
    })
}
