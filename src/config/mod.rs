//! Typed settings: `config/default.toml` (compiled in) < an optional TOML file named by
//! `V2CLIENT_CONFIG` < environment variables ([`layers`]).
//!
//! Each setting is declared once: a field below, whose serde attributes say how its text is
//! read and checked ([`values`]); its default in `config/default.toml`; its variable, if it
//! has one, in [`layers::ENV`]. Everything is read and checked at start-up, so a bad value is
//! a start-up error naming the variable or file key it came from, not a surprise at request
//! time.

mod layers;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::faces::FacesConfig;
use crate::imaging::ImagingConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {origin}: {source}")]
    Parse {
        origin: String,
        source: Box<toml::de::Error>,
    },
    #[error("invalid value for {name}: {reason}")]
    Invalid { name: String, reason: String },
    #[error("unknown setting {name}; expected one of {expected}")]
    Unknown { name: String, expected: String },
    #[error("image storage: {0}")]
    Blobs(#[from] crate::blobs::BlobError),
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    Postgres,
    Sqlite,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: String,
    pub kind: DatabaseKind,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    #[serde(deserialize_with = "values::at_least_one")]
    pub generate_per_minute: u32,
    #[serde(deserialize_with = "values::at_least_one")]
    pub check_config_per_minute: u32,
    /// Largest JSON body of the operator API and of the portal's JSON steps.
    pub max_json_body: usize,
    pub max_extra_data: usize,
    /// Largest liveness burst (all frames and the form around them), in bytes.
    pub max_liveness_body: usize,
    /// Portal requests per minute from one client address.
    #[serde(deserialize_with = "values::at_least_one")]
    pub portal_per_client_per_minute: u32,
    /// Portal requests per minute about one verification.
    #[serde(deserialize_with = "values::at_least_one")]
    pub portal_per_verification_per_minute: u32,
    /// QR-entry requests per minute from one client address.
    #[serde(deserialize_with = "values::at_least_one")]
    pub qr_per_client_per_minute: u32,
    /// Verifications per minute started from one key's QR code.
    #[serde(deserialize_with = "values::at_least_one")]
    pub qr_per_key_per_minute: u32,
    /// Most keys (clients, verifications, API keys) one rate limiter remembers.
    #[serde(deserialize_with = "values::one_or_more")]
    pub max_tracked: usize,
    /// Where rate limits are counted: in this process, or in the database, shared by every
    /// instance that uses it (`store = "memory" | "database"`).
    #[serde(rename = "store", deserialize_with = "values::counted_in_database")]
    pub shared: bool,
    /// The header a trusted proxy puts the client's address in (`x-forwarded-for`);
    /// `None`: the connection's peer address counts.
    #[serde(default, deserialize_with = "values::header_name")]
    pub trusted_proxy_header: Option<axum::http::HeaderName>,
}

/// How long a client may take: `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutSettings {
    /// To send a request's headers, once the connection is open (HTTP/1).
    #[serde(
        rename = "header_read_timeout",
        deserialize_with = "values::nonzero_duration"
    )]
    pub header_read: Duration,
    /// To send the whole body, once the headers are in.
    #[serde(
        rename = "body_read_timeout",
        deserialize_with = "values::nonzero_duration"
    )]
    pub body_read: Duration,
    /// For the whole request to be answered, body and processing included.
    #[serde(
        rename = "request_timeout",
        deserialize_with = "values::nonzero_duration"
    )]
    pub request: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Which verification backend does the image work.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// In-process (the default).
    Local,
    /// A `v2client engine` at `url`.
    Http,
}

/// `[backend]`, with the `[imaging]` and `[faces]` sections it runs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSettings {
    pub kind: BackendKind,
    /// The engine's base URL for the HTTP backend; `None` leaves it unconfigured, which the
    /// API reports as `SERVER_NOT_CONFIGURED`.
    #[serde(default, deserialize_with = "values::base_url")]
    pub url: Option<Url>,
    /// Shared secret between portal and engine (`Authorization: Bearer`), optional.
    #[serde(default, deserialize_with = "values::non_blank")]
    pub token: Option<String>,
    /// Bound on each request to the engine.
    #[serde(deserialize_with = "values::duration")]
    pub timeout: Duration,
    /// Concurrent image jobs of the built-in backend; 0: one per core.
    pub workers: usize,
    /// Where `v2client engine` listens.
    #[serde(deserialize_with = "values::address")]
    pub engine_bind: SocketAddr,
    #[serde(skip)]
    pub imaging: ImagingConfig,
    #[serde(skip)]
    pub faces: FacesConfig,
}

/// `[webhooks]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Allow http and private, loopback and link-local targets (tests, closed networks).
    pub allow_private: bool,
    /// Bound on one delivery attempt.
    #[serde(deserialize_with = "values::duration")]
    pub timeout: Duration,
    /// How often the dispatcher looks for due events.
    #[serde(deserialize_with = "values::duration")]
    pub poll_interval: Duration,
    /// How long a dispatcher holds the events it claimed before another may take them;
    /// renewed every third of it while deliveries are in flight. Not an operator setting
    /// (tests shorten it).
    #[serde(skip, default = "webhook_lease")]
    pub lease: Duration,
}

/// The default [`WebhookSettings::lease`].
pub const WEBHOOK_LEASE: Duration = Duration::from_secs(30);

fn webhook_lease() -> Duration {
    WEBHOOK_LEASE
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub public_url: Url,
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub limits: LimitSettings,
    pub timeouts: TimeoutSettings,
    pub key_cache_ttl: Duration,
    pub backend: BackendSettings,
    /// Where images are stored (encrypted), from the `V2CLIENT_BLOB_*` variables.
    pub blobs: crate::blobs::BlobSettings,
    pub webhooks: WebhookSettings,
    /// Bearer token for `GET /metrics`; without one the route does not exist.
    pub metrics_token: Option<String>,
    /// After a shutdown signal, how long in-flight requests and deliveries may take.
    pub shutdown_timeout: Duration,
    pub log: String,
    pub log_format: LogFormat,
}

/// The merged layers, shaped as `config/default.toml` is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Layered {
    #[serde(deserialize_with = "values::address")]
    bind: SocketAddr,
    #[serde(deserialize_with = "values::http_url")]
    public_url: Url,
    data_dir: PathBuf,
    /// Unset: SQLite under `data_dir`.
    database_url: Option<String>,
    log: String,
    log_format: LogFormat,
    #[serde(default, deserialize_with = "values::non_blank")]
    metrics_token: Option<String>,
    #[serde(deserialize_with = "values::duration")]
    shutdown_timeout: Duration,
    database: DatabaseSection,
    limits: LimitSettings,
    server: TimeoutSettings,
    keys: KeysSection,
    backend: BackendSettings,
    webhooks: WebhookSettings,
    #[serde(default)]
    imaging: ImagingConfig,
    #[serde(default)]
    faces: FacesConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseSection {
    #[serde(deserialize_with = "values::at_least_one")]
    max_connections: u32,
    #[serde(deserialize_with = "values::duration")]
    acquire_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysSection {
    #[serde(deserialize_with = "values::duration")]
    cache_ttl: Duration,
}

impl Layered {
    /// The checks that span settings, or that concern other modules' types, then the shape
    /// the rest of the crate reads.
    fn into_settings(
        self,
        figment: &figment::Figment,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let faces = self.faces;
        faces.matching.validate().map_err(|reason| {
            layers::invalid(
                figment,
                &["faces.matching.match", "faces.matching.no_match"],
                reason,
            )
        })?;
        if !(0.0..=1.0).contains(&faces.passive_liveness.spoof_threshold) {
            return Err(layers::invalid(
                figment,
                &["faces.passive_liveness.spoof_threshold"],
                "the spoof threshold is a probability between 0 and 1".into(),
            ));
        }
        let data_dir = self.data_dir;
        let url = self.database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                data_dir.join("v2client.db").to_string_lossy()
            )
        });
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        let kind = match scheme {
            "postgres" | "postgresql" => DatabaseKind::Postgres,
            "sqlite" => DatabaseKind::Sqlite,
            _ => {
                return Err(layers::invalid(
                    figment,
                    &["database_url"],
                    format!("unsupported scheme `{scheme}`; use postgres://… or sqlite://…"),
                ));
            }
        };
        Ok(Settings {
            bind: self.bind,
            public_url: self.public_url,
            database: DatabaseSettings {
                url,
                kind,
                max_connections: self.database.max_connections,
                acquire_timeout: self.database.acquire_timeout,
            },
            limits: self.limits,
            timeouts: self.server,
            key_cache_ttl: self.keys.cache_ttl,
            backend: BackendSettings {
                imaging: self.imaging,
                faces,
                ..self.backend
            },
            blobs: crate::blobs::BlobSettings::from_env(&data_dir, env)?,
            data_dir,
            webhooks: self.webhooks,
            metrics_token: self.metrics_token,
            shutdown_timeout: self.shutdown_timeout,
            log: self.log,
            log_format: self.log_format,
        })
    }
}

impl Settings {
    /// Load from the compiled-in defaults, the optional `V2CLIENT_CONFIG` file, and the
    /// process environment, where an empty variable counts as unset.
    pub fn load() -> Result<Settings, ConfigError> {
        Self::load_with(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Load with an explicit environment (tests use this instead of mutating the process).
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let figment = layers::merged(env)?;
        let layered: Layered = figment.extract().map_err(layers::named)?;
        layered.into_settings(&figment, env)
    }

    /// The link an end user opens for a verification.
    pub fn verify_url(&self, verification_id: &str) -> String {
        let mut url = self.public_url.join("verify").expect("static path joins");
        url.query_pairs_mut()
            .append_pair("verification_id", verification_id);
        url.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with(&move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[]).unwrap();
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.public_url.as_str(), "http://localhost:8080/");
        assert_eq!(s.database.kind, DatabaseKind::Sqlite);
        assert_eq!(s.database.url, "sqlite://data/v2client.db");
        assert_eq!(s.limits.generate_per_minute, 100);
        assert_eq!(s.limits.check_config_per_minute, 300);
        assert_eq!(s.database.acquire_timeout, Duration::from_secs(3));
    }

    #[test]
    fn environment_overrides_the_file() {
        let s = load(&[
            ("V2CLIENT_BIND", "0.0.0.0:9000"),
            ("DATABASE_URL", "postgres://u@h/db"),
            ("V2CLIENT_GENERATE_PER_MINUTE", "7"),
            ("V2CLIENT_DATA_DIR", "/var/lib/v2client"),
        ])
        .unwrap();
        assert_eq!(s.bind.port(), 9000);
        assert_eq!(s.database.kind, DatabaseKind::Postgres);
        assert_eq!(s.limits.generate_per_minute, 7);
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/v2client"));
    }

    #[test]
    fn unknown_database_scheme_is_a_clear_error() {
        let err = load(&[("DATABASE_URL", "mysql://x/y")]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("DATABASE_URL") && text.contains("mysql"),
            "{text}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert!(
            load(&[("V2CLIENT_BIND", "nope")])
                .unwrap_err()
                .to_string()
                .contains("V2CLIENT_BIND")
        );
        assert!(
            load(&[("V2CLIENT_PUBLIC_URL", "ftp://x")])
                .unwrap_err()
                .to_string()
                .contains("V2CLIENT_PUBLIC_URL")
        );
        assert!(
            load(&[("V2CLIENT_GENERATE_PER_MINUTE", "0")])
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
    }

    #[test]
    fn backend_settings() {
        let s = load(&[]).unwrap();
        assert_eq!(s.backend.kind, BackendKind::Local);
        assert_eq!(s.backend.engine_bind.port(), 8081);
        let s = load(&[
            ("V2CLIENT_BACKEND", "http"),
            ("V2CLIENT_BACKEND_URL", "http://127.0.0.1:9000/engine"),
        ])
        .unwrap();
        assert_eq!(s.backend.kind, BackendKind::Http);
        assert_eq!(
            s.backend.url.unwrap().join("v1/document").unwrap().as_str(),
            "http://127.0.0.1:9000/engine/v1/document"
        );
        assert!(
            load(&[("V2CLIENT_BACKEND", "magic")])
                .unwrap_err()
                .to_string()
                .contains("V2CLIENT_BACKEND")
        );
    }

    #[test]
    fn image_thresholds_come_from_the_config_file() {
        let dir = std::env::temp_dir().join(format!("v2c-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("v2client.toml");
        std::fs::write(&file, "[imaging.quality]\nmin_sharpness = 42.0\n").unwrap();
        let path = file.to_string_lossy().into_owned();
        let s = load(&[("V2CLIENT_CONFIG", path.as_str())]).unwrap();
        assert_eq!(s.backend.imaging.quality.min_sharpness, 42.0);
        assert_eq!(
            s.backend.imaging.limits.max_width, 8000,
            "the rest keeps defaults"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn throttles_and_timeouts() {
        let s = load(&[]).unwrap();
        assert_eq!(s.limits.portal_per_client_per_minute, 300);
        assert_eq!(s.limits.portal_per_verification_per_minute, 120);
        assert_eq!(s.limits.qr_per_client_per_minute, 10);
        assert_eq!(s.limits.qr_per_key_per_minute, 60);
        assert_eq!(s.limits.trusted_proxy_header, None);
        assert_eq!(s.timeouts.header_read, Duration::from_secs(10));
        assert_eq!(s.timeouts.body_read, Duration::from_secs(60));
        assert_eq!(s.timeouts.request, Duration::from_secs(120));
        let s = load(&[
            ("V2CLIENT_TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
            ("V2CLIENT_QR_PER_KEY_PER_MINUTE", "7"),
            ("V2CLIENT_REQUEST_TIMEOUT", "5s"),
        ])
        .unwrap();
        assert_eq!(
            s.limits.trusted_proxy_header.unwrap().as_str(),
            "x-forwarded-for"
        );
        assert_eq!(s.limits.qr_per_key_per_minute, 7);
        assert_eq!(s.timeouts.request, Duration::from_secs(5));
        for (name, bad) in [
            ("V2CLIENT_TRUSTED_PROXY_HEADER", "no spaces allowed"),
            ("V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE", "0"),
            ("V2CLIENT_HEADER_READ_TIMEOUT", "0s"),
        ] {
            let err = load(&[(name, bad)]).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn decode_memory_is_set_in_mib() {
        assert_eq!(load(&[]).unwrap().backend.imaging.decode_memory, 512 << 20);
        let s = load(&[("V2CLIENT_DECODE_MEMORY_MB", "64")]).unwrap();
        assert_eq!(s.backend.imaging.decode_memory, 64 << 20);
        assert!(
            load(&[("V2CLIENT_DECODE_MEMORY_MB", "0")])
                .unwrap_err()
                .to_string()
                .contains("V2CLIENT_DECODE_MEMORY_MB")
        );
    }

    /// A config file holding `text`, and the environment that names it.
    fn with_file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("v2client.toml");
        std::fs::write(&file, text).unwrap();
        (dir, file.to_string_lossy().into_owned())
    }

    #[test]
    fn each_layer_overrides_the_one_below() {
        let (_empty_dir, empty) = with_file("");
        // Defaults < file.
        let (_dir, file) = with_file(
            "log = \"debug\"\n[limits]\ngenerate_per_minute = 50\n[webhooks]\ntimeout = \"3s\"\n",
        );
        let s = load(&[("V2CLIENT_CONFIG", &file)]).unwrap();
        assert_eq!(s.limits.generate_per_minute, 50);
        assert_eq!(s.log, "debug");
        assert_eq!(s.webhooks.timeout, Duration::from_secs(3));
        assert_eq!(
            s.limits.check_config_per_minute, 300,
            "unset keys keep defaults"
        );
        // File < environment, one value at a time.
        let s = load(&[
            ("V2CLIENT_CONFIG", &file),
            ("V2CLIENT_GENERATE_PER_MINUTE", "7"),
        ])
        .unwrap();
        assert_eq!(s.limits.generate_per_minute, 7);
        assert_eq!(
            s.log, "debug",
            "the file still gives what the environment does not"
        );
        // An empty file changes nothing.
        let s = load(&[("V2CLIENT_CONFIG", &empty)]).unwrap();
        assert_eq!(s.limits.generate_per_minute, 100);
    }

    #[test]
    fn a_bad_variable_is_named() {
        for (name, bad) in [
            ("V2CLIENT_DB_MAX_CONNECTIONS", "lots"),
            ("V2CLIENT_DB_MAX_CONNECTIONS", "-1"),
            ("V2CLIENT_GENERATE_PER_MINUTE", "99999999999"),
            ("V2CLIENT_LOG_FORMAT", "xml"),
            ("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "yes"),
            ("V2CLIENT_WEBHOOK_TIMEOUT", "10"),
            ("V2CLIENT_FACE_MATCH_THRESHOLD", "NaN"),
            ("V2CLIENT_LIVENESS_SPOOF_THRESHOLD", "1.5"),
            ("V2CLIENT_ENGINE_BIND", "localhost"),
            ("V2CLIENT_RATE_LIMIT_STORE", "redis"),
        ] {
            let err = load(&[(name, bad)]).unwrap_err().to_string();
            assert!(err.contains(name), "{name}={bad}: {err}");
        }
        let err = load(&[("V2CLIENT_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value for V2CLIENT_LOG_FORMAT: `xml` is neither `text` nor `json`"
        );
    }

    #[test]
    fn a_bad_file_value_is_named_by_its_key_and_file() {
        let (_dir, file) = with_file("[limits]\nqr_per_key_per_minute = 0\n");
        let err = load(&[("V2CLIENT_CONFIG", &file)]).unwrap_err().to_string();
        assert!(
            err.contains("`limits.qr_per_key_per_minute`")
                && err.contains(&file)
                && err.contains("at least 1"),
            "{err}"
        );
        // The environment's value wins, and is the one checked.
        assert!(
            load(&[
                ("V2CLIENT_CONFIG", &file),
                ("V2CLIENT_QR_PER_KEY_PER_MINUTE", "3")
            ])
            .is_ok()
        );
        let (_dir, file) = with_file("[limits]\ngenerate_per_minut = 5\n");
        let err = load(&[("V2CLIENT_CONFIG", &file)]).unwrap_err().to_string();
        assert!(
            err.contains("`limits.generate_per_minut`") && err.contains("generate_per_minute"),
            "a misspelt key is refused: {err}"
        );
    }

    #[test]
    fn variables_are_read_as_their_settings_type() {
        let s = load(&[
            ("V2CLIENT_FACE_MATCH_THRESHOLD", "0.45"),
            ("V2CLIENT_FACE_NO_MATCH_THRESHOLD", "0.3"),
            ("V2CLIENT_ENGINE_TOKEN", "0012345"),
            ("V2CLIENT_METRICS_TOKEN", "  "),
            ("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "1"),
            ("V2CLIENT_BACKEND_WORKERS", " 3 "),
        ])
        .unwrap();
        // Decimals exactly as written, not through a narrower float.
        assert_eq!(s.backend.faces.matching.matched, 0.45);
        assert_eq!(s.backend.faces.matching.no_match, 0.3);
        assert_eq!(s.backend.token.as_deref(), Some("0012345"));
        assert_eq!(s.metrics_token, None);
        assert!(s.webhooks.allow_private);
        assert_eq!(s.backend.workers, 3);
        assert_eq!(s.webhooks.lease, WEBHOOK_LEASE);
    }

    #[test]
    fn every_documented_variable_sets_a_setting() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("\n## Configuration\n")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap();
        let documented: Vec<&str> = table
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .flat_map(|line| line.split(" | ").next())
            .flat_map(|cell| cell.split(" / "))
            .map(|cell| cell.trim_matches('`'))
            .filter(|name| !name.starts_with("V2CLIENT_BLOB_") && *name != "V2CLIENT_CONFIG")
            .collect();
        assert!(documented.len() > 30, "{documented:?}");
        for name in &documented {
            assert!(
                layers::ENV.iter().any(|(var, _)| var == name),
                "{name} is documented but not read"
            );
        }
        for (var, _) in layers::ENV {
            assert!(documented.contains(var), "{var} is read but not documented");
        }
    }

    #[test]
    fn every_variable_names_a_key_of_the_file() {
        // A value each setting accepts; a key the file does not have would be refused.
        let (_dir, models) = with_file("");
        for (var, key) in layers::ENV {
            let value = match *var {
                "DATABASE_URL" => "postgres://u@h/db",
                "V2CLIENT_TRUSTED_PROXY_HEADER" => "x-real-ip",
                "V2CLIENT_BACKEND_URL" => "http://engine:8081",
                "V2CLIENT_FACE_MODELS_DIR" => models.as_str(),
                "V2CLIENT_FACE_MATCH_THRESHOLD" => "0.5",
                "V2CLIENT_FACE_NO_MATCH_THRESHOLD" | "V2CLIENT_LIVENESS_SPOOF_THRESHOLD" => "0.2",
                "V2CLIENT_WEBHOOK_ALLOW_PRIVATE" => "true",
                "V2CLIENT_BACKEND" => "http",
                "V2CLIENT_LOG_FORMAT" => "json",
                "V2CLIENT_RATE_LIMIT_STORE" => "database",
                "V2CLIENT_BIND" | "V2CLIENT_ENGINE_BIND" => "0.0.0.0:1",
                "V2CLIENT_PUBLIC_URL" => "https://id.example.com",
                name if name.ends_with("TIMEOUT")
                    || name.ends_with("TTL")
                    || name.ends_with("INTERVAL") =>
                {
                    "2s"
                }
                _ => "2",
            };
            load(&[(var, value)]).unwrap_or_else(|e| panic!("{var}={value}: {e}"));
            let merged = layers::merged(&|name| (name == *var).then(|| value.to_owned())).unwrap();
            assert_eq!(
                merged.find_metadata(key).map(|m| m.name.as_ref()),
                Some("the environment"),
                "{var} sets `{key}`"
            );
        }
    }

    #[test]
    fn verify_url_respects_a_path_prefix() {
        let s = load(&[("V2CLIENT_PUBLIC_URL", "https://id.example.com/")]).unwrap();
        assert_eq!(
            s.verify_url("ver_1"),
            "https://id.example.com/verify?verification_id=ver_1"
        );
    }
}
