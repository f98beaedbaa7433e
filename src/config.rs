//! Typed settings: `config/default.toml` (compiled in) < optional file named by
//! `V2CLIENT_CONFIG` < environment variables.
//!
//! Every setting is parsed and checked once at start-up, so a bad value is a clear start-up
//! error instead of a surprise at request time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::domain::duration::parse_duration;

const DEFAULT_TOML: &str = include_str!("../config/default.toml");

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
    Invalid { name: &'static str, reason: String },
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

#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub generate_per_minute: u32,
    pub check_config_per_minute: u32,
    /// Largest JSON body of the operator API and of the portal's JSON steps.
    pub max_json_body: usize,
    pub max_extra_data: usize,
    /// Largest liveness burst (all frames and the form around them), in bytes.
    pub max_liveness_body: usize,
    /// Portal requests per minute from one client address.
    pub portal_per_client_per_minute: u32,
    /// Portal requests per minute about one verification.
    pub portal_per_verification_per_minute: u32,
    /// QR-entry requests per minute from one client address.
    pub qr_per_client_per_minute: u32,
    /// Verifications per minute started from one key's QR code.
    pub qr_per_key_per_minute: u32,
    /// Most keys (clients, verifications, API keys) one rate limiter remembers.
    pub max_tracked: usize,
    /// Where rate limits are counted: in this process, or in the database, shared by every
    /// instance that uses it.
    pub shared: bool,
    /// The header a trusted proxy puts the client's address in (`x-forwarded-for`);
    /// `None`: the connection's peer address counts.
    pub trusted_proxy_header: Option<axum::http::HeaderName>,
}

/// How long a client may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutSettings {
    /// To send a request's headers, once the connection is open (HTTP/1).
    pub header_read: Duration,
    /// To send the whole body, once the headers are in.
    pub body_read: Duration,
    /// For the whole request to be answered, body and processing included.
    pub request: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which verification backend does the image work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendKind {
    /// In-process (the default).
    Local,
    /// A `v2client engine` at `url`.
    Http,
}

#[derive(Debug, Clone)]
pub struct BackendSettings {
    pub kind: BackendKind,
    /// The engine's base URL for the HTTP backend; `None` leaves it unconfigured, which the
    /// API reports as `SERVER_NOT_CONFIGURED`.
    pub url: Option<Url>,
    /// Shared secret between portal and engine (`Authorization: Bearer`), optional.
    pub token: Option<String>,
    /// Bound on each request to the engine.
    pub timeout: Duration,
    /// Concurrent image jobs of the built-in backend; 0: one per core.
    pub workers: usize,
    /// Where `v2client engine` listens.
    pub engine_bind: SocketAddr,
    pub imaging: crate::imaging::ImagingConfig,
    pub faces: crate::faces::FacesConfig,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Allow http and private, loopback and link-local targets (tests, closed networks).
    pub allow_private: bool,
    /// Bound on one delivery attempt.
    pub timeout: Duration,
    /// How often the dispatcher looks for due events.
    pub poll_interval: Duration,
    /// How long a dispatcher holds the events it claimed before another may take them;
    /// renewed every third of it while deliveries are in flight. Not an operator setting
    /// (tests shorten it).
    pub lease: Duration,
}

/// The default [`WebhookSettings::lease`].
pub const WEBHOOK_LEASE: Duration = Duration::from_secs(30);

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

/// The file layer: everything optional so that files and the environment can each set a part.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    bind: Option<String>,
    public_url: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    log: Option<String>,
    log_format: Option<String>,
    #[serde(default)]
    database: DatabaseLayer,
    #[serde(default)]
    limits: LimitsLayer,
    #[serde(default)]
    server: ServerLayer,
    #[serde(default)]
    keys: KeysLayer,
    #[serde(default)]
    backend: BackendLayer,
    imaging: Option<crate::imaging::ImagingConfig>,
    faces: Option<crate::faces::FacesConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackendLayer {
    kind: Option<String>,
    url: Option<String>,
    token: Option<String>,
    timeout: Option<String>,
    workers: Option<usize>,
    engine_bind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseLayer {
    max_connections: Option<u32>,
    acquire_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsLayer {
    generate_per_minute: Option<u32>,
    check_config_per_minute: Option<u32>,
    max_json_body: Option<usize>,
    max_extra_data: Option<usize>,
    max_liveness_body: Option<usize>,
    portal_per_client_per_minute: Option<u32>,
    portal_per_verification_per_minute: Option<u32>,
    qr_per_client_per_minute: Option<u32>,
    qr_per_key_per_minute: Option<u32>,
    max_tracked: Option<usize>,
    trusted_proxy_header: Option<String>,
    store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerLayer {
    header_read_timeout: Option<String>,
    body_read_timeout: Option<String>,
    request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysLayer {
    cache_ttl: Option<String>,
}

impl Layer {
    fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            source: Box::new(e),
        })
    }

    /// Values of `other` win over `self`.
    fn merge(mut self, other: Layer) -> Layer {
        fn take<T>(a: &mut Option<T>, b: Option<T>) {
            if b.is_some() {
                *a = b;
            }
        }
        take(&mut self.bind, other.bind);
        take(&mut self.public_url, other.public_url);
        take(&mut self.data_dir, other.data_dir);
        take(&mut self.database_url, other.database_url);
        take(&mut self.log, other.log);
        take(&mut self.log_format, other.log_format);
        take(
            &mut self.database.max_connections,
            other.database.max_connections,
        );
        take(
            &mut self.database.acquire_timeout,
            other.database.acquire_timeout,
        );
        take(
            &mut self.limits.generate_per_minute,
            other.limits.generate_per_minute,
        );
        take(
            &mut self.limits.check_config_per_minute,
            other.limits.check_config_per_minute,
        );
        take(&mut self.limits.max_json_body, other.limits.max_json_body);
        take(&mut self.limits.max_extra_data, other.limits.max_extra_data);
        take(
            &mut self.limits.max_liveness_body,
            other.limits.max_liveness_body,
        );
        take(
            &mut self.limits.portal_per_client_per_minute,
            other.limits.portal_per_client_per_minute,
        );
        take(
            &mut self.limits.portal_per_verification_per_minute,
            other.limits.portal_per_verification_per_minute,
        );
        take(
            &mut self.limits.qr_per_client_per_minute,
            other.limits.qr_per_client_per_minute,
        );
        take(
            &mut self.limits.qr_per_key_per_minute,
            other.limits.qr_per_key_per_minute,
        );
        take(&mut self.limits.max_tracked, other.limits.max_tracked);
        take(&mut self.limits.store, other.limits.store);
        take(
            &mut self.limits.trusted_proxy_header,
            other.limits.trusted_proxy_header,
        );
        take(
            &mut self.server.header_read_timeout,
            other.server.header_read_timeout,
        );
        take(
            &mut self.server.body_read_timeout,
            other.server.body_read_timeout,
        );
        take(
            &mut self.server.request_timeout,
            other.server.request_timeout,
        );
        take(&mut self.keys.cache_ttl, other.keys.cache_ttl);
        take(&mut self.backend.kind, other.backend.kind);
        take(&mut self.backend.url, other.backend.url);
        take(&mut self.backend.token, other.backend.token);
        take(&mut self.backend.timeout, other.backend.timeout);
        take(&mut self.backend.workers, other.backend.workers);
        take(&mut self.backend.engine_bind, other.backend.engine_bind);
        take(&mut self.imaging, other.imaging);
        take(&mut self.faces, other.faces);
        self
    }

    fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        fn num<T: std::str::FromStr>(
            env: &dyn Fn(&str) -> Option<String>,
            name: &'static str,
        ) -> Result<Option<T>, ConfigError> {
            env(name)
                .map(|v| {
                    v.trim().parse::<T>().map_err(|_| ConfigError::Invalid {
                        name,
                        reason: format!("`{v}` is not a valid number"),
                    })
                })
                .transpose()
        }
        Ok(Layer {
            bind: env("V2CLIENT_BIND"),
            public_url: env("V2CLIENT_PUBLIC_URL"),
            data_dir: env("V2CLIENT_DATA_DIR"),
            database_url: env("DATABASE_URL"),
            log: env("V2CLIENT_LOG"),
            log_format: env("V2CLIENT_LOG_FORMAT"),
            database: DatabaseLayer {
                max_connections: num(env, "V2CLIENT_DB_MAX_CONNECTIONS")?,
                acquire_timeout: env("V2CLIENT_DB_ACQUIRE_TIMEOUT"),
            },
            limits: LimitsLayer {
                generate_per_minute: num(env, "V2CLIENT_GENERATE_PER_MINUTE")?,
                check_config_per_minute: num(env, "V2CLIENT_CHECK_CONFIG_PER_MINUTE")?,
                max_json_body: num(env, "V2CLIENT_MAX_JSON_BODY")?,
                max_extra_data: num(env, "V2CLIENT_MAX_EXTRA_DATA")?,
                max_liveness_body: num(env, "V2CLIENT_MAX_LIVENESS_BODY")?,
                portal_per_client_per_minute: num(env, "V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE")?,
                portal_per_verification_per_minute: num(
                    env,
                    "V2CLIENT_PORTAL_PER_VERIFICATION_PER_MINUTE",
                )?,
                qr_per_client_per_minute: num(env, "V2CLIENT_QR_PER_CLIENT_PER_MINUTE")?,
                qr_per_key_per_minute: num(env, "V2CLIENT_QR_PER_KEY_PER_MINUTE")?,
                max_tracked: num(env, "V2CLIENT_RATE_LIMIT_MAX_TRACKED")?,
                trusted_proxy_header: env("V2CLIENT_TRUSTED_PROXY_HEADER"),
                store: env("V2CLIENT_RATE_LIMIT_STORE"),
            },
            server: ServerLayer {
                header_read_timeout: env("V2CLIENT_HEADER_READ_TIMEOUT"),
                body_read_timeout: env("V2CLIENT_BODY_READ_TIMEOUT"),
                request_timeout: env("V2CLIENT_REQUEST_TIMEOUT"),
            },
            keys: KeysLayer {
                cache_ttl: env("V2CLIENT_KEY_CACHE_TTL"),
            },
            backend: BackendLayer {
                kind: env("V2CLIENT_BACKEND"),
                url: env("V2CLIENT_BACKEND_URL"),
                token: env("V2CLIENT_ENGINE_TOKEN"),
                timeout: env("V2CLIENT_BACKEND_TIMEOUT"),
                workers: num(env, "V2CLIENT_BACKEND_WORKERS")?,
                engine_bind: env("V2CLIENT_ENGINE_BIND"),
            },
            imaging: None,
            faces: None,
        })
    }
}

impl Settings {
    /// Load from the compiled-in defaults, the optional `V2CLIENT_CONFIG` file, and the
    /// process environment.
    pub fn load() -> Result<Settings, ConfigError> {
        Self::load_with(&|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Load with an explicit environment (tests use this instead of mutating the process).
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let mut layer = Layer::parse(DEFAULT_TOML, "config/default.toml")?;
        if let Some(path) = env("V2CLIENT_CONFIG") {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: PathBuf::from(&path),
                source,
            })?;
            layer = layer.merge(Layer::parse(&text, &path)?);
        }
        layer = layer.merge(Layer::from_env(env)?);
        let mut settings = Self::from_layer(layer)?;
        settings.blobs = crate::blobs::BlobSettings::from_env(&settings.data_dir, env)?;
        settings.backend.faces = faces_from_env(settings.backend.faces, env)?;
        if let Some(mb) = env("V2CLIENT_DECODE_MEMORY_MB") {
            let mb: u64 =
                mb.trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError::Invalid {
                        name: "V2CLIENT_DECODE_MEMORY_MB",
                        reason: format!("`{mb}` is not a positive number of MiB"),
                    })?;
            settings.backend.imaging.decode_memory = mb.saturating_mul(1024 * 1024);
        }
        settings.metrics_token = env("V2CLIENT_METRICS_TOKEN").filter(|t| !t.trim().is_empty());
        settings.shutdown_timeout = duration(
            env("V2CLIENT_SHUTDOWN_TIMEOUT"),
            "V2CLIENT_SHUTDOWN_TIMEOUT",
            "30s",
        )?;
        settings.webhooks = WebhookSettings {
            allow_private: match env("V2CLIENT_WEBHOOK_ALLOW_PRIVATE").as_deref() {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "V2CLIENT_WEBHOOK_ALLOW_PRIVATE",
                        reason: format!("`{other}` is neither true nor false"),
                    });
                }
            },
            timeout: duration(
                env("V2CLIENT_WEBHOOK_TIMEOUT"),
                "V2CLIENT_WEBHOOK_TIMEOUT",
                "10s",
            )?,
            poll_interval: duration(
                env("V2CLIENT_WEBHOOK_POLL_INTERVAL"),
                "V2CLIENT_WEBHOOK_POLL_INTERVAL",
                "1s",
            )?,
            lease: WEBHOOK_LEASE,
        };
        Ok(settings)
    }

    fn from_layer(l: Layer) -> Result<Settings, ConfigError> {
        let required = |v: Option<String>, name: &'static str| {
            v.ok_or(ConfigError::Invalid {
                name,
                reason: "missing".into(),
            })
        };
        let bind_text = required(l.bind, "V2CLIENT_BIND")?;
        let bind = bind_text.parse().map_err(|_| ConfigError::Invalid {
            name: "V2CLIENT_BIND",
            reason: format!("`{bind_text}` is not an address such as 127.0.0.1:8080"),
        })?;
        let public_text = required(l.public_url, "V2CLIENT_PUBLIC_URL")?;
        let public_url = Url::parse(&public_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ConfigError::Invalid {
                name: "V2CLIENT_PUBLIC_URL",
                reason: format!("`{public_text}` is not an absolute http(s) URL"),
            })?;
        let data_dir = PathBuf::from(required(l.data_dir, "V2CLIENT_DATA_DIR")?);
        let database = DatabaseSettings::from_parts(
            l.database_url,
            &data_dir,
            l.database.max_connections.unwrap_or(16),
            duration(
                l.database.acquire_timeout,
                "V2CLIENT_DB_ACQUIRE_TIMEOUT",
                "3s",
            )?,
        )?;
        let log_format = match l.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::Invalid {
                    name: "V2CLIENT_LOG_FORMAT",
                    reason: format!("`{other}` is neither `text` nor `json`"),
                });
            }
        };
        let limits = LimitSettings {
            generate_per_minute: positive(
                l.limits.generate_per_minute.unwrap_or(100),
                "V2CLIENT_GENERATE_PER_MINUTE",
            )?,
            check_config_per_minute: positive(
                l.limits.check_config_per_minute.unwrap_or(300),
                "V2CLIENT_CHECK_CONFIG_PER_MINUTE",
            )?,
            max_json_body: l.limits.max_json_body.unwrap_or(64 * 1024),
            max_extra_data: l.limits.max_extra_data.unwrap_or(16 * 1024),
            max_liveness_body: l.limits.max_liveness_body.unwrap_or(16 * 1024 * 1024),
            portal_per_client_per_minute: positive(
                l.limits.portal_per_client_per_minute.unwrap_or(300),
                "V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE",
            )?,
            portal_per_verification_per_minute: positive(
                l.limits.portal_per_verification_per_minute.unwrap_or(120),
                "V2CLIENT_PORTAL_PER_VERIFICATION_PER_MINUTE",
            )?,
            qr_per_client_per_minute: positive(
                l.limits.qr_per_client_per_minute.unwrap_or(10),
                "V2CLIENT_QR_PER_CLIENT_PER_MINUTE",
            )?,
            qr_per_key_per_minute: positive(
                l.limits.qr_per_key_per_minute.unwrap_or(60),
                "V2CLIENT_QR_PER_KEY_PER_MINUTE",
            )?,
            max_tracked: l.limits.max_tracked.unwrap_or(100_000).max(1),
            shared: match l.limits.store.as_deref().map(str::trim) {
                None | Some("memory") => false,
                Some("database") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "V2CLIENT_RATE_LIMIT_STORE",
                        reason: format!("`{other}` is neither `memory` nor `database`"),
                    });
                }
            },
            trusted_proxy_header: l
                .limits
                .trusted_proxy_header
                .filter(|h| !h.trim().is_empty())
                .map(|h| {
                    axum::http::HeaderName::from_bytes(h.trim().to_ascii_lowercase().as_bytes())
                        .map_err(|_| ConfigError::Invalid {
                            name: "V2CLIENT_TRUSTED_PROXY_HEADER",
                            reason: format!("`{h}` is not a header name"),
                        })
                })
                .transpose()?,
        };
        let timeouts = TimeoutSettings {
            header_read: duration(
                l.server.header_read_timeout,
                "V2CLIENT_HEADER_READ_TIMEOUT",
                "10s",
            )?,
            body_read: duration(
                l.server.body_read_timeout,
                "V2CLIENT_BODY_READ_TIMEOUT",
                "60s",
            )?,
            request: duration(l.server.request_timeout, "V2CLIENT_REQUEST_TIMEOUT", "120s")?,
        };
        for (d, name) in [
            (timeouts.header_read, "V2CLIENT_HEADER_READ_TIMEOUT"),
            (timeouts.body_read, "V2CLIENT_BODY_READ_TIMEOUT"),
            (timeouts.request, "V2CLIENT_REQUEST_TIMEOUT"),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be longer than zero".into(),
                });
            }
        }
        let backend = BackendSettings::from_layer(l.backend, l.imaging, l.faces)?;
        Ok(Settings {
            backend,
            blobs: crate::blobs::BlobSettings::local(&data_dir),
            shutdown_timeout: Duration::from_secs(30),
            metrics_token: None,
            webhooks: WebhookSettings {
                allow_private: false,
                timeout: Duration::from_secs(10),
                poll_interval: Duration::from_secs(1),
                lease: WEBHOOK_LEASE,
            },
            bind,
            public_url,
            data_dir,
            database,
            limits,
            timeouts,
            key_cache_ttl: duration(l.keys.cache_ttl, "V2CLIENT_KEY_CACHE_TTL", "5s")?,
            log: l.log.unwrap_or_else(|| "info".into()),
            log_format,
        })
    }

    /// The link an end user opens for a verification.
    pub fn verify_url(&self, verification_id: &str) -> String {
        let mut url = self.public_url.join("verify").expect("static path joins");
        url.query_pairs_mut()
            .append_pair("verification_id", verification_id);
        url.into()
    }
}

/// The face settings the environment overrides, checked.
fn faces_from_env(
    mut faces: crate::faces::FacesConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<crate::faces::FacesConfig, ConfigError> {
    let number = |name: &'static str| -> Result<Option<f64>, ConfigError> {
        env(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| ConfigError::Invalid {
                        name,
                        reason: format!("`{v}` is not a number"),
                    })
            })
            .transpose()
    };
    if let Some(dir) = env("V2CLIENT_FACE_MODELS_DIR") {
        faces.models.dir = Some(PathBuf::from(dir));
    }
    if let Some(v) = number("V2CLIENT_FACE_MATCH_THRESHOLD")? {
        faces.matching.matched = v;
    }
    if let Some(v) = number("V2CLIENT_FACE_NO_MATCH_THRESHOLD")? {
        faces.matching.no_match = v;
    }
    faces
        .matching
        .validate()
        .map_err(|reason| ConfigError::Invalid {
            name: "V2CLIENT_FACE_MATCH_THRESHOLD",
            reason,
        })?;
    if let Some(v) = number("V2CLIENT_LIVENESS_SPOOF_THRESHOLD")? {
        faces.passive_liveness.spoof_threshold = v;
    }
    if !(0.0..=1.0).contains(&faces.passive_liveness.spoof_threshold) {
        return Err(ConfigError::Invalid {
            name: "V2CLIENT_LIVENESS_SPOOF_THRESHOLD",
            reason: "the spoof threshold is a probability between 0 and 1".into(),
        });
    }
    Ok(faces)
}

impl BackendSettings {
    fn from_layer(
        l: BackendLayer,
        imaging: Option<crate::imaging::ImagingConfig>,
        faces: Option<crate::faces::FacesConfig>,
    ) -> Result<BackendSettings, ConfigError> {
        let kind = match l.kind.as_deref().unwrap_or("local") {
            "local" => BackendKind::Local,
            "http" => BackendKind::Http,
            other => {
                return Err(ConfigError::Invalid {
                    name: "V2CLIENT_BACKEND",
                    reason: format!("`{other}` is neither `local` nor `http`"),
                });
            }
        };
        let url = l
            .url
            .map(|raw| {
                // A trailing slash keeps a path prefix when routes are joined onto it.
                let with_slash = if raw.ends_with('/') {
                    raw.clone()
                } else {
                    format!("{raw}/")
                };
                Url::parse(&with_slash)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                    .ok_or_else(|| ConfigError::Invalid {
                        name: "V2CLIENT_BACKEND_URL",
                        reason: format!("`{raw}` is not an absolute http(s) URL"),
                    })
            })
            .transpose()?;
        let bind_text = l.engine_bind.unwrap_or_else(|| "127.0.0.1:8081".into());
        let engine_bind = bind_text.parse().map_err(|_| ConfigError::Invalid {
            name: "V2CLIENT_ENGINE_BIND",
            reason: format!("`{bind_text}` is not an address such as 127.0.0.1:8081"),
        })?;
        Ok(BackendSettings {
            kind,
            url,
            token: l.token.filter(|t| !t.is_empty()),
            timeout: duration(l.timeout, "V2CLIENT_BACKEND_TIMEOUT", "30s")?,
            workers: l.workers.unwrap_or(0),
            engine_bind,
            imaging: imaging.unwrap_or_default(),
            faces: faces.unwrap_or_default(),
        })
    }
}

impl DatabaseSettings {
    /// Work out the database from `DATABASE_URL` (or the SQLite default under the data dir).
    /// An unknown scheme is a start-up error rather than a late connection failure.
    pub fn from_parts(
        url: Option<String>,
        data_dir: &Path,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<DatabaseSettings, ConfigError> {
        let url = url.unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                data_dir.join("v2client.db").to_string_lossy()
            )
        });
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        let kind = match scheme {
            "postgres" | "postgresql" => DatabaseKind::Postgres,
            "sqlite" => DatabaseKind::Sqlite,
            _ => {
                return Err(ConfigError::Invalid {
                    name: "DATABASE_URL",
                    reason: format!(
                        "unsupported scheme `{scheme}`; use postgres://… or sqlite://…"
                    ),
                });
            }
        };
        Ok(DatabaseSettings {
            url,
            kind,
            max_connections: positive(max_connections, "V2CLIENT_DB_MAX_CONNECTIONS")?,
            acquire_timeout,
        })
    }
}

fn duration(
    value: Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let text = value.unwrap_or_else(|| default.to_owned());
    parse_duration(&text).map_err(|reason| ConfigError::Invalid { name, reason })
}

fn positive(v: u32, name: &'static str) -> Result<u32, ConfigError> {
    if v == 0 {
        return Err(ConfigError::Invalid {
            name,
            reason: "must be at least 1".into(),
        });
    }
    Ok(v)
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

    #[test]
    fn verify_url_respects_a_path_prefix() {
        let s = load(&[("V2CLIENT_PUBLIC_URL", "https://id.example.com/")]).unwrap();
        assert_eq!(
            s.verify_url("ver_1"),
            "https://id.example.com/verify?verification_id=ver_1"
        );
    }
}
