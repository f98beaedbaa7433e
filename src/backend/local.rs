//! The built-in backend: real image work in-process, off the async threads.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use image::{DynamicImage, RgbImage};
use serde_json::json;
use tokio::sync::Semaphore;

use super::{
    BackendError, Decision, DecisionInput, DocumentResult, LivenessResult, MrzFinding, Side,
    Verdict, VerificationBackend, decide,
};
use crate::domain::DocumentType;
use crate::domain::results::LocatedFields;
use crate::faces::{
    self, Challenge, FaceBox, FaceDetector, FaceMatch, FaceModels, FacesConfig, Thresholds,
};
use crate::imaging::{
    self, DecodeBudget, DecodeLimits, ImagingConfig, ImagingError, Probe, Reservation, decode_cost,
};

/// A measurement this close to its threshold (as a share of it) passes but is flagged
/// `borderline`, which sends the verification to manual review.
const BORDERLINE_MARGIN: f64 = 0.2;

/// Most frames a liveness burst may carry before any is decoded.
const MAX_FRAMES: usize = 16;

pub struct LocalBackend {
    inner: Arc<Checks>,
    /// Bounds concurrent CPU work to the cores, so uploads queue instead of thrashing.
    permits: Arc<Semaphore>,
}

/// What the checks run with: thresholds, the face detector and the ONNX models. Shared
/// by the blocking jobs; the checks themselves are its methods.
struct Checks {
    imaging: ImagingConfig,
    faces: FacesConfig,
    detector: &'static FaceDetector,
    /// Recognition and passive-liveness models, shared by every backend of the process.
    models: Arc<FaceModels>,
    /// What decoded pixels may hold at once, over all jobs (workers bound the jobs, not
    /// their size).
    budget: Arc<DecodeBudget>,
}

impl LocalBackend {
    /// `workers`: concurrent image jobs; 0 means one per core. Fails when the face models
    /// named by `faces.models` cannot be loaded: the backend never runs without them.
    pub fn new(
        imaging: ImagingConfig,
        faces: FacesConfig,
        workers: usize,
    ) -> Result<Self, faces::models::ModelError> {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            workers
        };
        let models = FaceModels::load(&faces.models)?;
        Ok(LocalBackend {
            inner: Arc::new(Checks {
                imaging,
                faces,
                detector: FaceDetector::shared(),
                models,
                budget: DecodeBudget::new(imaging.decode_memory),
            }),
            permits: Arc::new(Semaphore::new(workers)),
        })
    }

    /// The loaded face models (names, versions, hashes).
    pub fn models(&self) -> &faces::ModelInfo {
        &self.inner.models.info
    }

    /// The memory budget of decoded images.
    pub fn decode_budget(&self) -> &Arc<DecodeBudget> {
        &self.inner.budget
    }

    /// Run `job` on the blocking pool once a permit is free.
    async fn run<T, F>(&self, job: F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: FnOnce(&Checks) -> Result<T, BackendError> + Send + 'static,
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

impl Checks {
    /// The faces the face match's detector finds on `img`, as boxes cut to it.
    fn faces_on(&self, img: &RgbImage) -> Result<Vec<FaceBox>, BackendError> {
        let found = faces::recognition::detect(&self.models, img).map_err(inference)?;
        Ok(found
            .iter()
            .filter_map(|f| {
                FaceBox::clamped(
                    f64::from(f.x1),
                    f64::from(f.y1),
                    f64::from(f.width()),
                    f64::from(f.height()),
                    img.width(),
                    img.height(),
                    f64::from(f.score),
                )
            })
            .collect())
    }

    fn check_document(
        &self,
        document_type: DocumentType,
        side: Side,
        image: &[u8],
    ) -> Result<DocumentResult, BackendError> {
        // Reserved from the header before any pixel exists, held until the job is done.
        let header = imaging::probe(image, &self.imaging.limits).map_err(invalid)?;
        let _pixels = self
            .budget
            .reserve(decode_cost(header.width, header.height));
        // The front of a passport or an id card carries the holder's portrait, which is
        // checked; so does a driving licence's front, where it is not required.
        let needs_portrait = side == Side::Front
            && matches!(document_type, DocumentType::Passport | DocumentType::IdCard);
        // A front filling the whole frame (a scan of a card's front, which has no zone to
        // confirm it) is taken whole when its printed portrait is found on it.
        let shows_portrait = |frame: &RgbImage| {
            self.faces_on(frame)
                .map_or(imaging::PortraitSeen::NoFace, |boxes| {
                    faces::checks::portrait_seen(&boxes, frame.width(), frame.height())
                })
        };
        let analysis = imaging::analyse_document_with(
            image,
            document_type,
            &self.imaging,
            (side == Side::Front).then_some(&shows_portrait as imaging::PortraitProbe<'_>),
        )
        .map_err(invalid)?;
        let mut reasons: Vec<String> = analysis
            .reasons
            .iter()
            .map(|r| r.code().to_owned())
            .collect();
        let thresholds = &self.imaging.quality;
        let measured = &analysis.metrics;
        let mut borderline = Vec::new();
        if measured.sharpness < thresholds.min_sharpness * (1.0 + BORDERLINE_MARGIN) {
            borderline.push("IMAGE_BLURRY".to_owned());
        }
        if measured.glare_fraction > thresholds.max_glare_fraction * (1.0 - BORDERLINE_MARGIN) {
            borderline.push("IMAGE_GLARE".to_owned());
        }
        let mut portrait = None;
        if needs_portrait {
            // The portrait is looked for with the detector the face match uses, so an
            // accepted front always has a face to compare the selfie with.
            let on = analysis.crop.as_ref().unwrap_or(&analysis.original);
            let boxes = self.faces_on(on)?;
            let check = faces::checks::document_from_faces(
                boxes,
                on.width(),
                on.height(),
                &self.faces.document,
            );
            reasons.extend(check.reasons().into_iter().map(str::to_owned));
            portrait = Some(check);
        }
        // The printed photo around each face, from its own edges, so that redaction hides
        // all of it wherever this document prints it (the faces are boxes on the crop).
        let photos: Vec<imaging::RelRect> = match (&analysis.crop, &portrait) {
            (Some(crop), Some(check)) => check
                .faces
                .iter()
                .filter_map(|f| {
                    let face = imaging::RelRect::from_pixels(
                        f64::from(f.x),
                        f64::from(f.y),
                        f64::from(f.width),
                        f64::from(f.height),
                        crop.width(),
                        crop.height(),
                    );
                    imaging::photo_around(crop, face)
                })
                .collect(),
            _ => Vec::new(),
        };
        // The zone is read on every side of a document that may carry one; it must be on a
        // passport's data page and on an identity card's back.
        let reads_mrz = matches!(document_type, DocumentType::Passport | DocumentType::IdCard);
        let reading = analysis
            .crop
            .as_ref()
            .filter(|_| reads_mrz)
            .map(crate::document::read_mrz);
        let located = reading.as_ref().map(|r| {
            // The number the zone gives is looked for in the visual zone too, so that
            // redaction covers it wherever this document prints it.
            let printed = match (&analysis.crop, &r.mrz) {
                (Some(crop), Some(m)) if r.outcome == crate::document::MrzOutcome::Read => {
                    crate::document::find_printed(crop, &m.document_number, r.zone)
                }
                _ => Vec::new(),
            };
            Box::new(LocatedFields {
                mrz: r.zone,
                number_in_visual_zone: !printed.is_empty(),
                document_number: r.document_number.into_iter().chain(printed).collect(),
                photos,
            })
        });
        let mrz = reading.map(|r| MrzFinding {
            outcome: r.outcome,
            required: matches!(
                (document_type, side),
                (DocumentType::Passport, Side::Front) | (DocumentType::IdCard, Side::Back)
            ),
            fields: r.mrz,
        });
        let metrics = json!({
            "located": located,
            "quality": analysis.metrics,
            "corners": analysis.corners.map(|q| q.0.map(|p| [p.x, p.y])),
            // `edges` (found in the photo) or `frame` (a scan: the whole image); `null`
            // when the document was not found.
            "outline": analysis.outline,
            "portrait": portrait,
            "format": format!("{:?}", analysis.format).to_lowercase(),
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
            original_jpeg: imaging::stored_original(image, &analysis, quality)
                .map(Bytes::from)
                .map_err(invalid)?,
            cropped_jpeg: analysis
                .crop
                .as_ref()
                .map(|c| jpeg(c, quality))
                .transpose()?,
            mrz,
        })
    }

    /// Decode one image of a known header under `limits`, with its memory reserved.
    fn decode_reserved(
        &self,
        bytes: &[u8],
        header: &Probe,
        limits: &DecodeLimits,
    ) -> Result<(RgbImage, Reservation), BackendError> {
        let reservation = self
            .budget
            .reserve(decode_cost(header.width, header.height));
        let decoded = imaging::decode(bytes, limits).map_err(invalid)?;
        Ok((decoded.image, reservation))
    }

    fn check_liveness(
        &self,
        challenge: Challenge,
        frames: &[Bytes],
    ) -> Result<LivenessResult, BackendError> {
        let limits = self.imaging.frame_limits;
        // Every header first: a burst with one unusable or oversized frame is refused
        // before any pixel is decoded.
        let headers = frames
            .iter()
            .map(|f| imaging::probe(f, &limits))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let check = match faces::refuse_frame_count(challenge, frames.len(), &self.faces) {
            Some(refused) => refused,
            None => {
                // One frame at a time: a burst never holds more than one frame's pixels.
                let mut seen = Vec::with_capacity(frames.len());
                for (bytes, header) in frames.iter().zip(&headers) {
                    let (frame, _pixels) = self.decode_reserved(bytes, header, &limits)?;
                    let frame = DynamicImage::ImageRgb8(frame);
                    seen.push(faces::observe_frame(self.detector, &frame, &self.faces));
                }
                faces::judge_burst(challenge, seen, &self.faces)
            }
        };
        let mut metrics =
            serde_json::to_value(&check).map_err(|e| BackendError::Internal(e.to_string()))?;
        let mut flags = Vec::new();
        let selfie = check.selfie_frame.filter(|_| check.passed());
        let selfie_jpeg = match selfie {
            Some(index) => {
                // Passive liveness on the selfie and on the burst's first and last frames,
                // the two ends of the movement; each decoded again, one at a time.
                let mut picks = vec![index, 0, frames.len() - 1];
                picks.sort_unstable();
                picks.dedup();
                let mut scored = Vec::new();
                let mut selfie_jpeg = None;
                for i in picks {
                    let (frame, _pixels) =
                        self.decode_reserved(&frames[i], &headers[i], &limits)?;
                    if let Some(score) =
                        faces::passive::score_frame(&self.models, &frame).map_err(inference)?
                    {
                        scored.push((i, score));
                    }
                    if i == index {
                        selfie_jpeg = Some(jpeg(&frame, self.imaging.jpeg_quality)?);
                    }
                }
                let passive = faces::PassiveLiveness::from_scores(
                    &self.models,
                    scored,
                    &self.faces.passive_liveness,
                );
                flags.extend(passive.flag().map(str::to_owned));
                let passive = serde_json::to_value(&passive)
                    .map_err(|e| BackendError::Internal(e.to_string()))?;
                if let Some(fields) = metrics.as_object_mut() {
                    fields.insert("passive".into(), passive);
                }
                selfie_jpeg
            }
            None => None,
        };
        Ok(LivenessResult {
            verdict: if check.passed() {
                Verdict::Accepted
            } else {
                Verdict::Rejected
            },
            reasons: check.reasons().into_iter().map(str::to_owned).collect(),
            flags,
            metrics,
            selfie_jpeg,
        })
    }

    fn compare_faces(
        &self,
        selfie: &[u8],
        document: &[u8],
        thresholds: Thresholds,
    ) -> Result<FaceMatch, BackendError> {
        let limits = &self.imaging.limits;
        let (s, d) = (
            imaging::probe(selfie, limits).map_err(invalid)?,
            imaging::probe(document, limits).map_err(invalid)?,
        );
        // Both images are held together: one reservation for both, so two comparisons
        // never each hold one half while waiting for the other.
        let _pixels = self
            .budget
            .reserve(decode_cost(s.width, s.height) + decode_cost(d.width, d.height));
        let load = |b: &[u8]| imaging::decode(b, limits).map(|d| d.image).map_err(invalid);
        let (selfie, document) = (load(selfie)?, load(document)?);
        faces::compare(&self.models, &selfie, &document, thresholds).map_err(inference)
    }
}

fn inference(e: impl std::fmt::Display) -> BackendError {
    BackendError::Internal(format!("face model inference failed: {e}"))
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
        thresholds: Thresholds,
    ) -> Result<FaceMatch, BackendError> {
        thresholds
            .validate()
            .map_err(BackendError::InvalidRequest)?;
        self.run(move |e| e.compare_faces(&selfie, &document, thresholds))
            .await
    }

    fn models(&self) -> Option<faces::ModelInfo> {
        Some(self.inner.models.info.clone())
    }

    fn decode_budget(&self) -> Option<Arc<DecodeBudget>> {
        Some(self.inner.budget.clone())
    }

    async fn decide(&self, input: DecisionInput) -> Result<Decision, BackendError> {
        Ok(decide(&input))
    }
}
