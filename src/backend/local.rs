//! The built-in backend: real image work in-process, off the async threads.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use image::{DynamicImage, RgbImage};
use serde_json::json;
use tokio::sync::Semaphore;

use super::{
    BackendError, Decision, DecisionInput, DocumentResult, LivenessResult, Side, Verdict,
    VerificationBackend, decide,
};
use crate::domain::DocumentType;
use crate::faces::{
    self, Challenge, FaceDetector, FaceInImage, FaceMatch, FaceMatchReason, FacesConfig,
};
use crate::imaging::{self, ImagingConfig, ImagingError};

/// A measurement this close to its threshold (as a share of it) passes but is flagged
/// `borderline`, which sends the verification to manual review.
const BORDERLINE_MARGIN: f64 = 0.2;

/// Most frames a liveness burst may carry before any is decoded.
const MAX_FRAMES: usize = 16;

pub struct LocalBackend {
    inner: Arc<Engine>,
    /// Bounds concurrent CPU work to the cores, so uploads queue instead of thrashing.
    permits: Arc<Semaphore>,
}

struct Engine {
    imaging: ImagingConfig,
    faces: FacesConfig,
    detector: &'static FaceDetector,
}

impl LocalBackend {
    /// `workers`: concurrent image jobs; 0 means one per core.
    pub fn new(imaging: ImagingConfig, faces: FacesConfig, workers: usize) -> Self {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            workers
        };
        LocalBackend {
            inner: Arc::new(Engine {
                imaging,
                faces,
                detector: FaceDetector::shared(),
            }),
            permits: Arc::new(Semaphore::new(workers)),
        }
    }

    /// Run `job` on the blocking pool once a permit is free.
    async fn run<T, F>(&self, job: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, BackendError> + Send + 'static,
    {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| BackendError::Unavailable("the backend is shutting down".into()))?;
        let engine = self.inner.clone();
        tokio::task::spawn_blocking(move || job(&engine))
            .await
            .map_err(|e| BackendError::Internal(format!("image job failed: {e}")))?
    }
}

fn invalid(e: ImagingError) -> BackendError {
    match e {
        ImagingError::Encode(msg) => BackendError::Internal(msg),
        other => BackendError::InvalidImage {
            code: other.code().to_owned(),
            message: other.to_string(),
        },
    }
}

fn jpeg(img: &RgbImage, quality: u8) -> Result<Bytes, BackendError> {
    imaging::encode_jpeg(img, quality)
        .map(Bytes::from)
        .map_err(invalid)
}

impl Engine {
    fn check_document(
        &self,
        document_type: DocumentType,
        side: Side,
        image: &[u8],
    ) -> Result<DocumentResult, BackendError> {
        let a = imaging::analyse_document(image, document_type, &self.imaging).map_err(invalid)?;
        let mut reasons: Vec<String> = a.reasons.iter().map(|r| r.code().to_owned()).collect();
        let t = &self.imaging.quality;
        let m = &a.metrics;
        let mut borderline = Vec::new();
        if m.sharpness < t.min_sharpness * (1.0 + BORDERLINE_MARGIN) {
            borderline.push("IMAGE_BLURRY".to_owned());
        }
        if m.glare_fraction > t.max_glare_fraction * (1.0 - BORDERLINE_MARGIN) {
            borderline.push("IMAGE_GLARE".to_owned());
        }
        // The front of a passport or an id card carries the holder's portrait.
        let needs_portrait = side == Side::Front
            && matches!(document_type, DocumentType::Passport | DocumentType::IdCard);
        let mut portrait = None;
        if needs_portrait {
            let on = DynamicImage::ImageRgb8(a.crop.clone().unwrap_or_else(|| a.original.clone()));
            let check = faces::check_document_portrait(self.detector, &on, &self.faces);
            reasons.extend(check.reasons().into_iter().map(str::to_owned));
            portrait = Some(check);
        }
        let metrics = json!({
            "quality": a.metrics,
            "corners": a.corners.map(|q| q.0.map(|p| [p.x, p.y])),
            "portrait": portrait,
            "format": format!("{:?}", a.format).to_lowercase(),
            "document_type": document_type,
            "side": side,
        });
        let quality = self.imaging.jpeg_quality;
        Ok(DocumentResult {
            verdict: if reasons.is_empty() {
                Verdict::Accepted
            } else {
                Verdict::Rejected
            },
            borderline: if reasons.is_empty() {
                borderline
            } else {
                Vec::new()
            },
            reasons,
            metrics,
            original_jpeg: jpeg(&a.original, quality)?,
            cropped_jpeg: a.crop.as_ref().map(|c| jpeg(c, quality)).transpose()?,
        })
    }

    fn check_liveness(
        &self,
        challenge: Challenge,
        frames: &[Bytes],
    ) -> Result<LivenessResult, BackendError> {
        let decoded = frames
            .iter()
            .map(|f| {
                imaging::decode(f, &self.imaging.limits)
                    .map(|d| DynamicImage::ImageRgb8(d.image))
                    .map_err(invalid)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let check = faces::check_liveness(self.detector, challenge, &decoded, &self.faces);
        let selfie_jpeg = match check.selfie_frame.and_then(|i| decoded.get(i)) {
            Some(frame) if check.passed() => {
                Some(jpeg(&frame.to_rgb8(), self.imaging.jpeg_quality)?)
            }
            _ => None,
        };
        Ok(LivenessResult {
            verdict: if check.passed() {
                Verdict::Accepted
            } else {
                Verdict::Rejected
            },
            reasons: check.reasons().into_iter().map(str::to_owned).collect(),
            metrics: serde_json::to_value(&check)
                .map_err(|e| BackendError::Internal(e.to_string()))?,
            selfie_jpeg,
        })
    }

    fn compare_faces(&self, selfie: &[u8], document: &[u8]) -> Result<FaceMatch, BackendError> {
        let load = |b: &[u8]| {
            imaging::decode(b, &self.imaging.limits)
                .map(|d| DynamicImage::ImageRgb8(d.image))
                .map_err(invalid)
        };
        let (selfie, document) = (load(selfie)?, load(document)?);
        let face_of = |img: &DynamicImage| {
            self.detector
                .detect(img, &self.faces.detection)
                .into_iter()
                .max_by_key(|f| f.area())
        };
        Ok(match (face_of(&selfie), face_of(&document)) {
            (Some(s), Some(d)) => faces::compare_faces(
                FaceInImage {
                    image: &selfie,
                    face: s,
                },
                FaceInImage {
                    image: &document,
                    face: d,
                },
            ),
            // Without both faces there is nothing to compare. With no recognition model
            // installed, the reason a comparison did not happen is still the model.
            _ => FaceMatch::NotPerformed {
                reason: FaceMatchReason::ModelUnavailable,
            },
        })
    }
}

#[async_trait]
impl VerificationBackend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    #[tracing::instrument(skip_all, fields(document_type = document_type.as_str(), side = side.as_str()))]
    async fn check_document(
        &self,
        document_type: DocumentType,
        side: Side,
        image: Bytes,
    ) -> Result<DocumentResult, BackendError> {
        self.run(move |e| e.check_document(document_type, side, &image))
            .await
    }

    #[tracing::instrument(skip_all, fields(challenge = challenge.as_str(), frames = frames.len()))]
    async fn check_liveness(
        &self,
        challenge: Challenge,
        frames: Vec<Bytes>,
    ) -> Result<LivenessResult, BackendError> {
        if frames.len() > MAX_FRAMES {
            return Err(BackendError::InvalidRequest(format!(
                "a liveness burst has at most {MAX_FRAMES} frames"
            )));
        }
        self.run(move |e| e.check_liveness(challenge, &frames))
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn compare_faces(
        &self,
        selfie: Bytes,
        document: Bytes,
    ) -> Result<FaceMatch, BackendError> {
        self.run(move |e| e.compare_faces(&selfie, &document)).await
    }

    async fn decide(&self, input: DecisionInput) -> Result<Decision, BackendError> {
        Ok(decide(&input))
    }
}
