//! The three layers, merged by figment: `config/default.toml` (compiled in) < the TOML file
//! named by `V2CLIENT_CONFIG` < environment variables. figment remembers which layer gave
//! each value, so a bad one is named as the operator wrote it: the variable, or the key and
//! its file.
//!
//! figment's own `Toml` and `Env` providers are not used: the first brings a second TOML
//! parser beside the crate's, and the second reads only the process environment (tests pass
//! theirs as a function) and cannot treat an empty variable as unset.

use std::path::PathBuf;

use figment::error::Kind;
use figment::value::{Dict, Map, Num, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::ConfigError;

const DEFAULTS: &str = include_str!("../../config/default.toml");

/// Every environment variable and the setting it sets, as its key in a file. The image store's
/// `V2CLIENT_BLOB_*` variables are read by [`crate::blobs::BlobSettings::from_env`].
pub const ENV: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("V2CLIENT_BIND", "bind"),
    ("V2CLIENT_PUBLIC_URL", "public_url"),
    ("V2CLIENT_DATA_DIR", "data_dir"),
    ("V2CLIENT_DB_MAX_CONNECTIONS", "database.max_connections"),
    ("V2CLIENT_DB_ACQUIRE_TIMEOUT", "database.acquire_timeout"),
    ("V2CLIENT_GENERATE_PER_MINUTE", "limits.generate_per_minute"),
    (
        "V2CLIENT_CHECK_CONFIG_PER_MINUTE",
        "limits.check_config_per_minute",
    ),
    ("V2CLIENT_MAX_JSON_BODY", "limits.max_json_body"),
    ("V2CLIENT_MAX_LIVENESS_BODY", "limits.max_liveness_body"),
    ("V2CLIENT_MAX_EXTRA_DATA", "limits.max_extra_data"),
    (
        "V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE",
        "limits.portal_per_client_per_minute",
    ),
    (
        "V2CLIENT_PORTAL_PER_VERIFICATION_PER_MINUTE",
        "limits.portal_per_verification_per_minute",
    ),
    (
        "V2CLIENT_QR_PER_CLIENT_PER_MINUTE",
        "limits.qr_per_client_per_minute",
    ),
    (
        "V2CLIENT_QR_PER_KEY_PER_MINUTE",
        "limits.qr_per_key_per_minute",
    ),
    (
        "V2CLIENT_TRUSTED_PROXY_HEADER",
        "limits.trusted_proxy_header",
    ),
    ("V2CLIENT_RATE_LIMIT_MAX_TRACKED", "limits.max_tracked"),
    ("V2CLIENT_RATE_LIMIT_STORE", "limits.store"),
    ("V2CLIENT_HEADER_READ_TIMEOUT", "server.header_read_timeout"),
    ("V2CLIENT_BODY_READ_TIMEOUT", "server.body_read_timeout"),
    ("V2CLIENT_REQUEST_TIMEOUT", "server.request_timeout"),
    ("V2CLIENT_KEY_CACHE_TTL", "keys.cache_ttl"),
    ("V2CLIENT_BACKEND", "backend.kind"),
    ("V2CLIENT_BACKEND_URL", "backend.url"),
    ("V2CLIENT_ENGINE_TOKEN", "backend.token"),
    ("V2CLIENT_BACKEND_TIMEOUT", "backend.timeout"),
    ("V2CLIENT_BACKEND_WORKERS", "backend.workers"),
    ("V2CLIENT_ENGINE_BIND", "backend.engine_bind"),
    (DECODE_MEMORY_MB, "imaging.decode_memory"),
    ("V2CLIENT_FACE_MODELS_DIR", "faces.models.dir"),
    ("V2CLIENT_FACE_MATCH_THRESHOLD", "faces.matching.match"),
    (
        "V2CLIENT_FACE_NO_MATCH_THRESHOLD",
        "faces.matching.no_match",
    ),
    (
        "V2CLIENT_LIVENESS_SPOOF_THRESHOLD",
        "faces.passive_liveness.spoof_threshold",
    ),
    ("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "webhooks.allow_private"),
    ("V2CLIENT_WEBHOOK_TIMEOUT", "webhooks.timeout"),
    ("V2CLIENT_WEBHOOK_POLL_INTERVAL", "webhooks.poll_interval"),
    ("V2CLIENT_METRICS_TOKEN", "metrics_token"),
    ("V2CLIENT_SHUTDOWN_TIMEOUT", "shutdown_timeout"),
    ("V2CLIENT_LOG", "log"),
    ("V2CLIENT_LOG_FORMAT", "log_format"),
];

/// The one variable in other units than its key: MiB, where `[imaging] decode_memory` is bytes.
const DECODE_MEMORY_MB: &str = "V2CLIENT_DECODE_MEMORY_MB";

/// One layer's values and where they came from.
struct Layer {
    name: String,
    file: Option<PathBuf>,
    values: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let metadata = Metadata::named(self.name.clone());
        match &self.file {
            Some(path) => metadata.source(Source::File(path.clone())),
            None => metadata,
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

fn toml_values(text: &str, origin: &str) -> Result<Dict, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_owned(),
        source: Box::new(e),
    })
}

/// The three layers, merged.
pub fn merged(env: &dyn Fn(&str) -> Option<String>) -> Result<Figment, ConfigError> {
    let defaults = toml_values(DEFAULTS, "config/default.toml")?;
    let env_values = from_env(env, &defaults)?;
    let mut figment = Figment::new().merge(Layer {
        name: "the built-in defaults".into(),
        file: None,
        values: defaults,
    });
    if let Some(path) = env("V2CLIENT_CONFIG") {
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: PathBuf::from(&path),
            source,
        })?;
        figment = figment.merge(Layer {
            values: toml_values(&text, &path)?,
            name: "the configuration file".into(),
            file: Some(PathBuf::from(path)),
        });
    }
    Ok(figment.merge(Layer {
        name: "the environment".into(),
        file: None,
        values: env_values,
    }))
}

/// How an operator finds the setting at `key` (dotted): its key and file when a file gave
/// the value, else its environment variable, which is where a default is overridden.
fn describe(key: &str, source: Option<&Metadata>) -> String {
    if let Some(Source::File(path)) = source.and_then(|m| m.source.as_ref()) {
        return format!("`{key}` in {}", path.display());
    }
    ENV.iter()
        .find(|(_, k)| *k == key)
        .map_or_else(|| format!("`{key}`"), |(var, _)| (*var).to_owned())
}

/// A failed extraction, naming the setting as [`describe`] does.
pub fn named(error: figment::Error) -> ConfigError {
    let name = describe(&error.path.join("."), error.metadata.as_ref());
    match error.kind {
        Kind::UnknownField(_, expected) => ConfigError::Unknown {
            name,
            expected: expected.join(", "),
        },
        Kind::UnknownVariant(found, expected) => ConfigError::Invalid {
            name,
            reason: format!("`{found}` is neither `{}`", expected.join("` nor `")),
        },
        kind => ConfigError::Invalid {
            name,
            reason: kind.to_string(),
        },
    }
}

/// A check over the settings at `keys` failed: name each where its value came from.
pub fn invalid(figment: &Figment, keys: &[&str], reason: String) -> ConfigError {
    let names: Vec<String> = keys
        .iter()
        .map(|key| describe(key, figment.find_metadata(key)))
        .collect();
    ConfigError::Invalid {
        name: names.join(" / "),
        reason,
    }
}

/// The environment layer. A variable's text is read as the type of its setting's default, so
/// `16` is a number for a pool size while a token of digits stays text; the face thresholds,
/// which `config/default.toml` leaves to [`crate::faces::FacesConfig`], are decimals.
fn from_env(env: &dyn Fn(&str) -> Option<String>, defaults: &Dict) -> Result<Dict, ConfigError> {
    let defaults = Value::from(defaults.clone());
    let faces = Value::serialize(crate::faces::FacesConfig::default())
        .expect("the face defaults serialise");
    let mut values = Dict::new();
    for (var, key) in ENV {
        let Some(text) = env(var) else { continue };
        let default = match key.strip_prefix("faces.") {
            Some(rest) => faces.find_ref(rest),
            None => defaults.find_ref(key),
        };
        let value = if *var == DECODE_MEMORY_MB {
            mebibytes(&text)
        } else {
            typed(text, default)
        };
        let value = value.map_err(|reason| ConfigError::Invalid {
            name: (*var).to_owned(),
            reason,
        })?;
        insert(&mut values, key, value);
    }
    Ok(values)
}

fn typed(text: String, default: Option<&Value>) -> Result<Value, String> {
    match default {
        Some(Value::Num(_, Num::F32(_) | Num::F64(_))) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Value::from)
            .ok_or_else(|| format!("`{text}` is not a number")),
        Some(Value::Num(..)) => text
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| format!("`{text}` is not a valid number")),
        Some(Value::Bool(..)) => match text.as_str() {
            "true" | "1" => Ok(Value::from(true)),
            "false" | "0" => Ok(Value::from(false)),
            _ => Err(format!("`{text}` is neither true nor false")),
        },
        _ => Ok(Value::from(text)),
    }
}

fn mebibytes(text: &str) -> Result<Value, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| Value::from(n.saturating_mul(1024 * 1024)))
        .ok_or_else(|| format!("`{text}` is not a positive number of MiB"))
}

/// Set the dotted `key` in `dict`, making the tables on its way.
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_owned(), value);
        }
        Some((table, rest)) => {
            let entry = dict
                .entry(table.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}
