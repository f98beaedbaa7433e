//! Image processing of the built-in verification backend: pure, synchronous functions from
//! bytes to bytes and measurements. Callers run them off the async threads.
//!
//! The pipeline for one document photo ([`check_document`]):
//! [`decode`] (format by content, limits before allocation, EXIF orientation applied) →
//! [`AnalysisImage`] (grey copy, long side ≤ 1000 px) → [`detect_document`] (four corners) →
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
pub mod quality;
pub mod redact;

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
use serde::Deserialize;

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
}

/// Decode, measure, find and straighten a photo of a `doc`, without encoding.
pub fn analyse_document(
    bytes: &[u8],
    doc: DocumentType,
    cfg: &ImagingConfig,
) -> Result<DocumentAnalysis, ImagingError> {
    let decoded = decode(bytes, &cfg.limits)?;
    Ok(analyse_pixels(decoded.image, decoded.format, doc, cfg))
}

/// [`analyse_document`] from already decoded, upright pixels.
pub fn analyse_pixels(
    original: RgbImage,
    format: Format,
    doc: DocumentType,
    cfg: &ImagingConfig,
) -> DocumentAnalysis {
    let aspect = layout(doc).aspect();
    let analysis = AnalysisImage::new(&original, ANALYSIS_LONG_SIDE);
    let found = detect_document(&analysis.grey, &cfg.detection);
    let metrics = measure(
        original.width(),
        original.height(),
        &analysis,
        found.as_ref().map(|d| (&d.quad, aspect)),
        cfg.quality.glare_luminance,
    );
    let mut reasons = evaluate(&metrics, &cfg.quality);
    let corners = found.map(|d| analysis.to_original(&d.quad));
    if corners.is_none() {
        reasons.push(Reason::DocumentNotFound);
    }
    let crop = corners.and_then(|q| crop_document(&original, &q, aspect, cfg.crop_max_long_side));
    DocumentAnalysis {
        reasons,
        metrics,
        corners,
        original,
        crop,
        format,
    }
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
    let original_jpeg = encode_jpeg(&a.original, cfg.jpeg_quality)?;
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
    })
}
