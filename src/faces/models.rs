//! The face-recognition model set: four ONNX networks run in-process by `tract`.
//!
//! | file | does | input | output |
//! |---|---|---|---|
//! | `fr_detect.onnx` | finds faces | 1×3×240×320 RGB, (x−127)/128 | `scores` 1×4420×2 (softmaxed), `boxes` 1×4420×4 (x1, y1, x2, y2 in 0–1) |
//! | `fr_landmark.onnx` | 68 landmarks | 1×1×64×64 grey /256 | 1×136 (x, y) relative to the square box |
//! | `fr_feature.onnx` | identity embedding | 1×3×112×112 RGB aligned, (x−127)/128 | 1×512 |
//! | `fr_liveness.onnx` | passive anti-spoofing | 1×3×128×128 RGB 0–255 | 1×3 logits, index 0 = live |
//!
//! The default set is embedded in the binary from `assets/models/` and checked against its
//! SHA-256 manifest before it is parsed, so nothing is read from disk or fetched at run
//! time. An operator who holds a licence for another set with the same inputs and outputs
//! points `faces.models.dir` at a folder holding the four files (and, optionally, a
//! `SHA256SUMS` that is then enforced). Provenance and licence: `docs/faces.md`.
//!
//! Parsing and optimising the networks takes a moment and some memory, so each set is
//! loaded once per process and shared ([`FaceModels::load`]); a loaded plan runs from many
//! threads at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use strum::VariantArray;
use tract_onnx::prelude::*;

/// One network of the set: its file name and the input shape it is run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray)]
pub(crate) enum Net {
    Detect,
    Landmark,
    Feature,
    Liveness,
}

impl Net {
    pub(crate) fn file(self) -> &'static str {
        match self {
            Net::Detect => "fr_detect.onnx",
            Net::Landmark => "fr_landmark.onnx",
            Net::Feature => "fr_feature.onnx",
            Net::Liveness => "fr_liveness.onnx",
        }
    }

    fn input_shape(self) -> [usize; 4] {
        match self {
            Net::Detect => [1, 3, 240, 320],
            Net::Landmark => [1, 1, 64, 64],
            Net::Feature => [1, 3, 112, 112],
            Net::Liveness => [1, 3, 128, 128],
        }
    }

    /// The shape of each output, checked once at load so a foreign model set fails at
    /// start-up, not on the first upload.
    fn output_shapes(self) -> &'static [&'static [usize]] {
        match self {
            Net::Detect => &[&[1, 4420, 2], &[1, 4420, 4]],
            Net::Landmark => &[&[1, 136]],
            Net::Feature => &[&[1, 512]],
            Net::Liveness => &[&[1, 3]],
        }
    }
}

/// The embedded default set: `faceplugin-face-recognition-js` 0.0.1 (npm), `model/`.
const EMBEDDED_NAME: &str = "faceplugin-face-recognition-js";
const EMBEDDED_VERSION: &str = "0.0.1";
const EMBEDDED: [(Net, &[u8], &str); 4] = [
    (
        Net::Detect,
        include_bytes!("../../assets/models/fr_detect.onnx"),
        "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
    ),
    (
        Net::Landmark,
        include_bytes!("../../assets/models/fr_landmark.onnx"),
        "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
    ),
    (
        Net::Feature,
        include_bytes!("../../assets/models/fr_feature.onnx"),
        "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581",
    ),
    (
        Net::Liveness,
        include_bytes!("../../assets/models/fr_liveness.onnx"),
        "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d",
    ),
];

/// Where the model set comes from. Settings section `[faces.models]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// A folder with `fr_detect.onnx`, `fr_landmark.onnx`, `fr_feature.onnx` and
    /// `fr_liveness.onnx`; unset: the set embedded in the binary.
    pub dir: Option<PathBuf>,
    /// A name and version for that folder's set, reported with every result.
    pub name: Option<String>,
    pub version: Option<String>,
}

/// Which models made a result: reported by `check-config` and stored with every face
/// match and liveness score, so a decision can be traced to the exact weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    /// `embedded`, or the folder it was loaded from.
    pub source: String,
    /// SHA-256 of each file, by file name.
    pub sha256: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("face model file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("face model {file}: SHA-256 is {actual}, the manifest says {expected}")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("face model {file} does not load: {reason}")]
    Invalid { file: String, reason: String },
}

type Plan = Arc<TypedRunnableModel>;

/// A loaded, optimised model set, shared by every request of the process.
pub struct FaceModels {
    detect: Plan,
    landmark: Plan,
    feature: Plan,
    liveness: Plan,
    pub info: ModelInfo,
}

impl std::fmt::Debug for FaceModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceModels")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Sets loaded so far, by configuration. Weak, so a set nobody uses any more is freed.
static LOADED: Mutex<Vec<(ModelsConfig, Weak<FaceModels>)>> = Mutex::new(Vec::new());

impl FaceModels {
    /// The set `config` names, loaded on first use and shared afterwards.
    pub fn load(config: &ModelsConfig) -> Result<Arc<FaceModels>, ModelError> {
        // Held while loading, so two callers never parse the same set twice at once.
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        loaded.retain(|(_, weak)| weak.strong_count() > 0);
        if let Some(models) = loaded
            .iter()
            .find(|(c, _)| c == config)
            .and_then(|(_, weak)| weak.upgrade())
        {
            return Ok(models);
        }
        let models = Arc::new(Self::load_uncached(config)?);
        loaded.push((config.clone(), Arc::downgrade(&models)));
        Ok(models)
    }

    fn load_uncached(config: &ModelsConfig) -> Result<FaceModels, ModelError> {
        let started = std::time::Instant::now();
        let (files, info) = match &config.dir {
            None => embedded_files()?,
            Some(dir) => dir_files(dir, config)?,
        };
        let plan = |net: Net| {
            let bytes = files
                .iter()
                .find(|(n, _)| *n == net)
                .map(|(_, b)| b.as_slice())
                .unwrap_or_default();
            build_plan(net, bytes)
        };
        let models = FaceModels {
            detect: plan(Net::Detect)?,
            landmark: plan(Net::Landmark)?,
            feature: plan(Net::Feature)?,
            liveness: plan(Net::Liveness)?,
            info,
        };
        tracing::info!(
            models = %models.info.name,
            version = %models.info.version,
            source = %models.info.source,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "face models loaded"
        );
        Ok(models)
    }

    pub(crate) fn run(&self, net: Net, input: Tensor) -> TractResult<TVec<TValue>> {
        let plan = match net {
            Net::Detect => &self.detect,
            Net::Landmark => &self.landmark,
            Net::Feature => &self.feature,
            Net::Liveness => &self.liveness,
        };
        plan.run(tvec!(input.into()))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Each network's file contents, and what to report about the set.
type ModelFiles = (Vec<(Net, Vec<u8>)>, ModelInfo);

fn embedded_files() -> Result<ModelFiles, ModelError> {
    let mut files = Vec::new();
    let mut sha256 = BTreeMap::new();
    for (net, bytes, expected) in EMBEDDED {
        let actual = sha256_hex(bytes);
        if actual != expected {
            return Err(ModelError::Checksum {
                file: net.file().into(),
                expected: expected.into(),
                actual,
            });
        }
        sha256.insert(net.file().to_owned(), actual);
        files.push((net, bytes.to_vec()));
    }
    let info = ModelInfo {
        name: EMBEDDED_NAME.into(),
        version: EMBEDDED_VERSION.into(),
        source: "embedded".into(),
        sha256,
    };
    Ok((files, info))
}

fn dir_files(dir: &Path, config: &ModelsConfig) -> Result<ModelFiles, ModelError> {
    let read =
        |path: PathBuf| std::fs::read(&path).map_err(|source| ModelError::Read { path, source });
    // An optional manifest in `sha256sum` format; when present, every file must match it.
    let manifest_path = dir.join("SHA256SUMS");
    let manifest: Option<BTreeMap<String, String>> = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Some(
            text.lines()
                .filter_map(|l| {
                    let (hash, name) = l.trim().split_once(char::is_whitespace)?;
                    Some((
                        name.trim().trim_start_matches('*').to_owned(),
                        hash.to_lowercase(),
                    ))
                })
                .collect(),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ModelError::Read {
                path: manifest_path,
                source,
            });
        }
    };
    let mut files = Vec::new();
    let mut sha256 = BTreeMap::new();
    for &net in Net::VARIANTS {
        let bytes = read(dir.join(net.file()))?;
        let actual = sha256_hex(&bytes);
        if let Some(expected) = manifest.as_ref().map(|m| m.get(net.file())) {
            let expected = expected.cloned().unwrap_or_else(|| "no entry".into());
            if expected != actual {
                return Err(ModelError::Checksum {
                    file: net.file().into(),
                    expected,
                    actual,
                });
            }
        }
        sha256.insert(net.file().to_owned(), actual);
        files.push((net, bytes));
    }
    let info = ModelInfo {
        name: config.name.clone().unwrap_or_else(|| "custom".into()),
        version: config
            .version
            .clone()
            .unwrap_or_else(|| "unversioned".into()),
        source: dir.display().to_string(),
        sha256,
    };
    Ok((files, info))
}

/// Parse one network, flush its denormal weights, fix its input shape, optimise it and
/// check its outputs.
fn build_plan(net: Net, bytes: &[u8]) -> Result<Plan, ModelError> {
    let invalid = |e: &dyn std::fmt::Display| ModelError::Invalid {
        file: net.file().into(),
        reason: format!("{e:#}"),
    };
    let onnx = tract_onnx::onnx();
    let mut proto = onnx
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| invalid(&e))?;
    if let Some(graph) = proto.graph.as_mut() {
        for tensor in &mut graph.initializer {
            flush_denormals(tensor);
        }
    }
    let plan = onnx
        .model_for_proto_model(&proto)
        .and_then(|m| m.with_input_fact(0, f32::fact(net.input_shape()).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| invalid(&e))?;
    // One run on zeros: every output has the shape the pipeline reads.
    let outputs = plan
        .run(tvec!(
            Tensor::zero::<f32>(&net.input_shape())
                .map_err(|e| invalid(&e))?
                .into()
        ))
        .map_err(|e| invalid(&e))?;
    let expected = net.output_shapes();
    let shapes: Vec<&[usize]> = outputs.iter().map(|o| o.shape()).collect();
    if shapes.len() != expected.len() || shapes.iter().zip(expected).any(|(a, b)| a != b) {
        return Err(invalid(&format!(
            "outputs have shapes {shapes:?}, expected {expected:?}"
        )));
    }
    Ok(plan)
}

/// Replace subnormal `f32` weights by zero. The outputs stay bit-identical for these
/// models, and arithmetic on subnormals is many times slower on most CPUs.
fn flush_denormals(tensor: &mut tract_onnx::pb::TensorProto) {
    const FLOAT: i32 = 1;
    if tensor.data_type != FLOAT {
        return;
    }
    for chunk in tensor.raw_data.chunks_exact_mut(4) {
        let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if v.is_subnormal() {
            chunk.copy_from_slice(&0f32.to_le_bytes());
        }
    }
    for v in &mut tensor.float_data {
        if v.is_subnormal() {
            *v = 0.0;
        }
    }
}
