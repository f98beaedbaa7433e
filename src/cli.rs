//! The command line: `serve` (default), `migrate`, `keys`, `verifications`, `audit`,
//! `webhooks`, and tools for support (`faces`, `document`).

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::audit::{Action, Actor, AuditEvent};
use crate::config::{LogFormat, Settings};
use crate::domain::duration::{format_duration, parse_duration};
use crate::domain::settings::{parse_flow, parse_list, parse_origin};
use crate::domain::verification::rfc3339;
use crate::domain::{KeySettings, Module};
use crate::store::{self, ApiKeyRecord, Store};
use crate::{AppState, keys};

mod operator;

#[derive(Parser)]
#[command(
    name = "v2client",
    version,
    about = "Self-hostable identity-verification portal"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal and the API (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Manage operators' API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the dashboard's users.
    #[command(subcommand)]
    Users(crate::dashboard::cli::UsersCommand),
    /// List, review and erase verifications.
    #[command(subcommand)]
    Verifications(operator::VerificationsCommand),
    /// Export the audit log.
    #[command(subcommand)]
    Audit(operator::AuditCommand),
    /// Look at and replay webhook events.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Exit 0 when the server on V2CLIENT_BIND answers /healthz (for container health checks).
    Healthcheck,
    /// Serve the built-in verification backend over HTTP on V2CLIENT_ENGINE_BIND.
    Engine,
    /// Run the face models on photos (for operators and support).
    #[command(subcommand)]
    Faces(FacesCommand),
    /// Read documents as the built-in backend does (for operators and support).
    #[command(subcommand)]
    Document(DocumentCommand),
}

#[derive(Subcommand)]
enum FacesCommand {
    /// Compare the faces of two photos under the instance's thresholds. Exits 0 whatever
    /// the decision; non-zero when a photo has no face or cannot be read.
    Compare {
        a: std::path::PathBuf,
        b: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The passive-liveness spoof score of the most certain face of a photo.
    Liveness {
        image: std::path::PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DocumentCommand {
    /// Find the document in a photo, straighten it and read its machine-readable zone. Exits
    /// 0 when the zone is read, also when a check digit fails (`valid` is then false);
    /// non-zero when there is no document, no zone, or no legible zone.
    Read {
        image: std::path::PathBuf,
        /// The document the photo shows.
        #[arg(long = "type", default_value = "passport", value_parser = document_type_parser())]
        doc_type: crate::domain::DocumentType,
        #[arg(long)]
        json: bool,
    },
}

/// `--type`: the document types by their API names, listed in `--help`.
fn document_type_parser()
-> impl clap::builder::TypedValueParser<Value = crate::domain::DocumentType> {
    use crate::domain::DocumentType;
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(DocumentType::ALL.map(DocumentType::as_str))
        .try_map(|name| name.parse::<DocumentType>())
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once.
    Create(CreateKey),
    /// List keys (never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id or display prefix.
    Revoke {
        #[arg(value_name = "ID_OR_PREFIX")]
        id_or_prefix: String,
    },
    /// Give a key a new QR token (for GET /generate); the old one stops working.
    RotateQr {
        #[arg(value_name = "ID_OR_PREFIX")]
        id_or_prefix: String,
    },
    /// Set a key's webhook URL (a new signing secret is printed once), or clear it.
    SetWebhook {
        #[arg(value_name = "ID_OR_PREFIX")]
        id_or_prefix: String,
        /// The https endpoint; omit to stop sending webhooks.
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// New webhook signing secret; the old one keeps signing during the grace period.
    RotateWebhookSecret {
        #[arg(value_name = "ID_OR_PREFIX")]
        id_or_prefix: String,
        #[arg(long, value_parser = parse_duration, default_value = "24h")]
        grace: std::time::Duration,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// Recent events, newest first, with their delivery state.
    List {
        #[arg(long = "verification", value_name = "ID")]
        verification: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Queue an event for delivery again now.
    Redeliver {
        #[arg(value_name = "EVENT_ID")]
        event_id: String,
    },
}

#[derive(Args)]
struct CreateKey {
    /// A name to recognise the key by.
    #[arg(long)]
    name: String,
    /// Steps of the end-user flow, comma separated.
    #[arg(long, value_parser = parse_flow, default_value = "terms,document,liveness,form_data")]
    flow: ::std::vec::Vec<Module>,
    /// How long each verification stays open, from 1m to 30d (15m, 24h, 7d).
    #[arg(long, value_parser = parse_ttl, default_value = "24h")]
    ttl: std::time::Duration,
    /// An origin return_url must belong to (repeatable). None: any https URL.
    #[arg(long = "allowed-return-origin", value_parser = parse_origin)]
    allowed_return_origins: Vec<String>,
    /// Document types users may choose: passport,id_card,driving_licence.
    #[arg(long, value_parser = parse_list::<crate::domain::DocumentType>)]
    document_types: Option<::std::vec::Vec<crate::domain::DocumentType>>,
    /// Form fields to collect (see README for the set and their types).
    #[arg(long, value_parser = parse_list::<crate::domain::FormField>)]
    form_fields: Option<::std::vec::Vec<crate::domain::FormField>>,
    /// Parts to black out in images served to this key: mrz,portrait,document_number.
    #[arg(long, value_parser = parse_list::<crate::domain::RedactionTarget>)]
    redact: Option<::std::vec::Vec<crate::domain::RedactionTarget>>,
    /// Submissions allowed per step.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    max_attempts: u32,
    /// Override the instance's generation rate limit for this key (per minute).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    generate_per_minute: Option<u32>,
    /// How long images and personal data are kept after a verification is decided or
    /// expires, in whole days (e.g. 30d).
    #[arg(long, value_parser = parse_days, default_value = "90d")]
    retention: u32,
    /// Where to send this key's webhooks (https; a signing secret is created and shown once).
    #[arg(long)]
    webhook_url: Option<String>,
    /// Override the instance's configuration-check rate limit for this key (per minute).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    check_config_per_minute: Option<u32>,
    /// Face similarity at or above which this key's selfies match their document
    /// (default: the instance's `faces.matching.match`). Needs --face-no-match-threshold.
    #[arg(long, requires = "face_no_match_threshold")]
    face_match_threshold: Option<f64>,
    /// Face similarity below which this key's verifications are rejected as a mismatch.
    #[arg(long, requires = "face_match_threshold")]
    face_no_match_threshold: Option<f64>,
    /// Reject, rather than send to review, a verification whose selfie looks like a photo
    /// or a screen.
    #[arg(long)]
    strict_liveness: bool,
    /// Reject a holder younger than this many years, by the date of birth read from the
    /// document's machine-readable zone (1 to 150; needs the document module).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=150))]
    min_age: Option<u8>,
    /// Make a test key (`v2c_test_…`): its verifications run no checks, take any image,
    /// and end as the tester or `POST /api/verifications/{id}/simulate` picks. They are
    /// kept at most 7 days.
    #[arg(long)]
    test: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl CreateKey {
    fn settings(&self) -> Result<KeySettings, String> {
        let d = KeySettings::default();
        let mut s = KeySettings {
            // clap collects one parsed flow per occurrence; the last one wins.
            flow: self.flow.clone(),
            ttl_seconds: self.ttl.as_secs(),
            allowed_return_origins: self.allowed_return_origins.clone(),
            document_types: self.document_types.clone().unwrap_or(d.document_types),
            form_fields: self.form_fields.clone().unwrap_or(d.form_fields),
            redact: self.redact.clone().unwrap_or_default(),
            max_attempts: self.max_attempts,
            rate_limits: Default::default(),
            retention_days: self.retention,
            face_match: None,
            strict_liveness: self.strict_liveness,
            min_age: self.min_age.map(u32::from),
        };
        s.rate_limits.generate_per_minute = self.generate_per_minute;
        s.rate_limits.check_config_per_minute = self.check_config_per_minute;
        if let (Some(matched), Some(no_match)) =
            (self.face_match_threshold, self.face_no_match_threshold)
        {
            let t = crate::faces::Thresholds { matched, no_match };
            s.face_match = Some(t);
        }
        s.validate()?;
        Ok(s)
    }
}

fn parse_ttl(text: &str) -> Result<std::time::Duration, String> {
    crate::domain::settings::check_ttl(parse_duration(text)?)
}

fn parse_days(text: &str) -> Result<u32, String> {
    let d = parse_duration(text)?;
    let secs = d.as_secs();
    if secs == 0 || !secs.is_multiple_of(86_400) {
        return Err(format!(
            "`{text}` is not a whole number of days (such as 30d)"
        ));
    }
    let max = crate::domain::settings::MAX_RETENTION_DAYS;
    u32::try_from(secs / 86_400)
        .ok()
        .filter(|days| *days <= max)
        .ok_or_else(|| format!("`{text}` is too long: keep data at most {max}d"))
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::install_tls_provider();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("v2client: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::Keys(cmd) => keys_command(settings, cmd).await,
        Command::Users(cmd) => users_command(settings, cmd).await,
        Command::Webhooks(cmd) => webhooks_command(settings, cmd).await,
        Command::Verifications(cmd) => operator::verifications(settings, cmd).await,
        Command::Audit(cmd) => operator::audit(settings, cmd).await,
        Command::Healthcheck => healthcheck(settings).await,
        Command::Engine => engine(settings).await,
        Command::Faces(cmd) => faces_command(settings, cmd),
        Command::Document(cmd) => document_command(settings, cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("v2client: {e}");
            ExitCode::FAILURE
        }
    }
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

fn init_tracing(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, Box<dyn std::error::Error>> {
    // Whatever lives there (database, images, their key), only the service reads it.
    crate::files::tighten_or_warn(&settings.data_dir, crate::files::DIR_MODE);
    store::connect(&settings.database).await.map_err(|e| {
        format!(
            "cannot open the {:?} database: {}",
            settings.database.kind,
            crate::error::chain(&e)
        )
        .into()
    })
}

async fn serve(settings: Settings) -> CliResult {
    let store = open_store(&settings).await?;
    if let Some((record, secret)) = keys::bootstrap_first_key(store.as_ref()).await? {
        // Printed once, to the console only (never to the log), so a newcomer can start.
        println!(
            "Created the first API key ({}, id {}):",
            record.name, record.id
        );
        println!();
        println!("    {}", secret.expose());
        println!();
        println!("It is shown only this once. Use it in the X-SDK-Key header, for example:");
        println!(
            "    curl -X POST -H 'X-SDK-Key: {}' {}api/generate-verification",
            secret.expose(),
            settings.public_url
        );
        println!("Create more with `v2client keys create --name NAME`.");
    }
    // Models and storage first: a server that cannot check faces never starts listening.
    let bind = settings.bind;
    let state = AppState::new(settings, store).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = state.store.kind(),
        public_url = %state.settings.public_url,
        "v2client listening"
    );
    tracing::info!(blobs = %state.blobs.describe(), backend = state.backend.name(), "ready");
    crate::run(listener, state, shutdown_signal()).await?;
    tracing::info!("v2client stopped");
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// A minimal HTTP/1.0 GET of `/healthz` on the configured address (loopback when bound to
/// all interfaces), so the container image needs no curl.
async fn healthcheck(settings: Settings) -> CliResult {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = settings.bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), probe).await {
        Ok(Ok(head)) if head.starts_with(b"HTTP/1.") && &head[9..12] == b"200" => {
            Ok(ExitCode::SUCCESS)
        }
        Ok(Ok(head)) => Err(format!("unhealthy: {}", String::from_utf8_lossy(&head).trim()).into()),
        Ok(Err(e)) => Err(format!("cannot reach {addr}: {e}").into()),
        Err(_) => Err(format!("no answer from {addr} within 3 s").into()),
    }
}

async fn engine(settings: Settings) -> CliResult {
    let b = &settings.backend;
    let backend = Arc::new(crate::backend::LocalBackend::new(
        b.imaging,
        b.faces.clone(),
        b.workers,
    )?);
    // Room for the largest liveness burst the checks accept, plus form overhead.
    let max_body = b.imaging.limits.max_bytes.saturating_mul(9);
    let listener = tokio::net::TcpListener::bind(b.engine_bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", b.engine_bind))?;
    if b.token.is_none() && !b.engine_bind.ip().is_loopback() {
        tracing::warn!("the engine listens beyond loopback without V2CLIENT_ENGINE_TOKEN");
    }
    tracing::info!(address = %listener.local_addr()?, "v2client engine listening");
    let app = crate::backend::engine::router(backend, b.token.clone(), max_body);
    crate::serve::serve(
        listener,
        app,
        settings.timeouts.header_read,
        shutdown_signal(),
        settings.shutdown_timeout,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// What a `faces` command prints: a JSON object, or a stable code and what went wrong.
type FacesOutcome = Result<FacesReport, (&'static str, String)>;

/// What a `faces` command found, printed as JSON or as a line of text.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum FacesReport {
    Compared {
        similarity: f64,
        decision: crate::faces::MatchDecision,
        thresholds: crate::faces::Thresholds,
    },
    Liveness {
        spoof_score: f64,
        threshold: f64,
        spoof_suspected: bool,
    },
}

impl std::fmt::Display for FacesReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Numbers as JSON writes them, so the text and `--json` agree.
        let num = |x: f64| serde_json::Value::from(x).to_string();
        match self {
            FacesReport::Compared {
                similarity,
                decision,
                thresholds,
            } => {
                let decision = serde_json::to_value(decision).unwrap_or_default();
                write!(
                    f,
                    "similarity {}: {} (match at or above {}, no match below {})",
                    num(*similarity),
                    decision.as_str().unwrap_or_default(),
                    num(thresholds.matched),
                    num(thresholds.no_match)
                )
            }
            FacesReport::Liveness {
                spoof_score,
                threshold,
                spoof_suspected,
            } => write!(
                f,
                "spoof score {} (suspected above {}): {}",
                num(*spoof_score),
                num(*threshold),
                if *spoof_suspected {
                    "suspected spoof"
                } else {
                    "looks live"
                }
            ),
        }
    }
}

/// `v2client faces …`: one JSON object (or a line of text) on stdout; failures are
/// `{"error", "details", "code"}` and exit 1.
fn faces_command(settings: Settings, cmd: FacesCommand) -> CliResult {
    let models = crate::faces::FaceModels::load(&settings.backend.faces.models)?;
    let (json, outcome) = match &cmd {
        FacesCommand::Compare { a, b, json } => (*json, faces_compare(&settings, &models, a, b)),
        FacesCommand::Liveness { image, json } => {
            (*json, faces_liveness(&settings, &models, image))
        }
    };
    report(
        outcome,
        json,
        "The photos could not be analysed",
        FacesReport::to_string,
    )
}

/// Print a one-photo command's outcome: the report as JSON (or `text` of it), exit 0; or
/// `{"error", "details", "code"}` (or a line on stderr), exit 1.
fn report<T: serde::Serialize>(
    outcome: Result<T, (&'static str, String)>,
    json: bool,
    error: &str,
    text: impl Fn(&T) -> String,
) -> CliResult {
    match outcome {
        Ok(report) if json => println!("{}", serde_json::to_value(&report)?),
        Ok(report) => println!("{}", text(&report)),
        Err((code, details)) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"error": error, "details": details, "code": code})
                );
            } else {
                eprintln!("v2client: {details} ({code})");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_photo(
    settings: &Settings,
    path: &std::path::Path,
) -> Result<image::RgbImage, (&'static str, String)> {
    let bytes = read_input(path)?;
    crate::imaging::decode(&bytes, &settings.backend.imaging.limits)
        .map(|d| d.image)
        .map_err(|e| (e.code(), format!("{}: {e}", path.display())))
}

fn read_input(path: &std::path::Path) -> Result<Vec<u8>, (&'static str, String)> {
    std::fs::read(path).map_err(|e| {
        (
            "FILE_UNREADABLE",
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

fn no_face(path: &std::path::Path) -> (&'static str, String) {
    (
        "FACE_NOT_FOUND",
        format!("no face found in {}", path.display()),
    )
}

fn inference_failed(e: tract_onnx::prelude::TractError) -> (&'static str, String) {
    ("INFERENCE_FAILED", format!("{e:#}"))
}

fn faces_compare(
    settings: &Settings,
    models: &crate::faces::FaceModels,
    a: &std::path::Path,
    b: &std::path::Path,
) -> FacesOutcome {
    use crate::faces::{FaceMatch, FaceMatchReason};
    let (ia, ib) = (load_photo(settings, a)?, load_photo(settings, b)?);
    let thresholds = settings.backend.faces.matching;
    match crate::faces::compare(models, &ia, &ib, thresholds).map_err(inference_failed)? {
        FaceMatch::Performed {
            similarity,
            decision,
            thresholds,
            ..
        } => Ok(FacesReport::Compared {
            similarity,
            decision,
            thresholds,
        }),
        FaceMatch::NotPerformed {
            reason: FaceMatchReason::DocumentFaceNotFound,
        } => Err(no_face(b)),
        FaceMatch::NotPerformed { .. } => Err(no_face(a)),
    }
}

fn faces_liveness(
    settings: &Settings,
    models: &crate::faces::FaceModels,
    path: &std::path::Path,
) -> FacesOutcome {
    use crate::faces::recognition;
    let img = load_photo(settings, path)?;
    let face = recognition::detect(models, &img)
        .map_err(inference_failed)?
        .into_iter()
        .next()
        .ok_or_else(|| no_face(path))?;
    let score = recognition::spoof_score(models, &img, &face).map_err(inference_failed)?;
    let threshold = settings.backend.faces.passive_liveness.spoof_threshold;
    Ok(FacesReport::Liveness {
        spoof_score: (score * 10_000.0).round() / 10_000.0,
        threshold,
        spoof_suspected: score > threshold,
    })
}

/// `v2client document read`: the zone's fields as one JSON object (the `results.document.mrz`
/// shape) or a line of text; failures are `{"error", "details", "code"}` and exit 1, as for
/// `faces`. The photo's quality gates are not applied: a photo the portal would refuse as
/// blurry may still be read here.
fn document_command(settings: Settings, cmd: DocumentCommand) -> CliResult {
    let DocumentCommand::Read {
        image,
        doc_type,
        json,
    } = cmd;
    report(
        document_read(&settings, &image, doc_type),
        json,
        "The document could not be read",
        mrz_line,
    )
}

/// Decode under the instance's limits, find and straighten the document, read its zone.
fn document_read(
    settings: &Settings,
    path: &std::path::Path,
    doc: crate::domain::DocumentType,
) -> Result<crate::domain::mrz::Mrz, (&'static str, String)> {
    use crate::document::MrzOutcome;
    let bytes = read_input(path)?;
    let analysis = crate::imaging::analyse_document(&bytes, doc, &settings.backend.imaging)
        .map_err(|e| (e.code(), format!("{}: {e}", path.display())))?;
    let crop = analysis.crop.ok_or_else(|| {
        (
            crate::imaging::Reason::DocumentNotFound.code(),
            format!("no {} found in {}", doc.as_str(), path.display()),
        )
    })?;
    let reading = crate::document::read_mrz(&crop);
    match (reading.outcome, reading.mrz) {
        // Read, or read with a failing check digit: the fields say which.
        (_, Some(mrz)) => Ok(mrz),
        (MrzOutcome::NotFound, None) => Err((
            "MRZ_NOT_FOUND",
            format!(
                "no machine-readable zone on the document in {}",
                path.display()
            ),
        )),
        (_, None) => Err((
            "MRZ_UNREADABLE",
            format!(
                "the machine-readable zone in {} is not legible",
                path.display()
            ),
        )),
    }
}

/// A read zone as one line of text.
fn mrz_line(m: &crate::domain::mrz::Mrz) -> String {
    let date = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "unknown".into(), |d| d.to_string());
    let failed: Vec<&str> = [
        ("document_number", m.checks.document_number),
        ("date_of_birth", m.checks.date_of_birth),
        ("date_of_expiry", m.checks.date_of_expiry),
        ("composite", m.checks.composite),
        ("personal_number", m.checks.personal_number.unwrap_or(true)),
    ]
    .into_iter()
    .filter_map(|(name, ok)| (!ok).then_some(name))
    .collect();
    format!(
        "{} {} {} {}: {}, {} ({}), {}, born {}, expires {}: {}",
        <&str>::from(m.format),
        m.document_code,
        m.issuing_state,
        m.document_number,
        m.surname,
        m.given_names,
        m.sex,
        m.nationality,
        date(m.date_of_birth),
        date(m.date_of_expiry),
        if m.valid {
            "every check digit agrees".to_owned()
        } else {
            format!("check digits FAIL: {}", failed.join(", "))
        }
    )
}

async fn migrate(settings: Settings) -> CliResult {
    let store = open_store(&settings).await?;
    println!("database ({}) is up to date", store.kind());
    Ok(ExitCode::SUCCESS)
}

async fn keys_command(settings: Settings, cmd: KeysCommand) -> CliResult {
    let store = open_store(&settings).await?;
    match cmd {
        KeysCommand::Create(args) => {
            let webhook = args
                .webhook_url
                .as_deref()
                .map(|url| new_webhook(url, settings.webhooks.allow_private))
                .transpose()?;
            let mode = if args.test {
                keys::KeyMode::Test
            } else {
                keys::KeyMode::Live
            };
            let (mut record, secret) = keys::new_key_in(&args.name, args.settings()?, mode);
            record.webhook = webhook;
            store.insert_key(&record).await?;
            key_changed(store.as_ref(), Action::KeyCreated, &record.id, None).await?;
            if args.json {
                let mut out = key_json(&record);
                out["key"] = json!(secret.expose());
                if let Some(w) = &record.webhook {
                    out["webhook_secret"] = json!(w.secret.expose());
                }
                println!("{out}");
            } else {
                let kind = if record.is_test() {
                    "test API key"
                } else {
                    "API key"
                };
                println!("Created {kind} {} ({}):", record.name, record.id);
                println!();
                println!("    {}", secret.expose());
                println!();
                println!("It is shown only this once; store it in your server's secrets.");
                println!("Send it in the X-SDK-Key header.");
                if record.is_test() {
                    println!();
                    println!(
                        "Its verifications are test verifications: no checks run, and each ends \
                         as picked in the portal, by extra_data.test_outcome, or by \
                         POST /api/verifications/{{id}}/simulate."
                    );
                }
                if let Some(w) = &record.webhook {
                    println!();
                    println!("Webhooks go to {}, signed with (shown once):", w.url);
                    println!("    {}", w.secret.expose());
                }
            }
        }
        KeysCommand::SetWebhook {
            id_or_prefix,
            url,
            json,
        } => {
            let webhook = url
                .as_deref()
                .map(|u| new_webhook(u, settings.webhooks.allow_private))
                .transpose()?;
            let Some(k) = store.set_webhook(&id_or_prefix, webhook.as_ref()).await? else {
                eprintln!("v2client: no key has the id or prefix `{id_or_prefix}`");
                return Ok(ExitCode::FAILURE);
            };
            key_changed(store.as_ref(), Action::KeyRotated, &k.id, Some("webhook")).await?;
            let secret = webhook.map(|w| w.secret.expose());
            if json {
                println!(
                    "{}",
                    json!({"id": k.id, "webhook_url": url, "webhook_secret": secret})
                );
            } else if let Some(secret) = secret {
                println!(
                    "{} sends webhooks to {}; signing secret (shown once):",
                    k.id,
                    url.unwrap_or_default()
                );
                println!("    {secret}");
            } else {
                println!("{} sends no webhooks any more", k.id);
            }
        }
        KeysCommand::RotateWebhookSecret {
            id_or_prefix,
            grace,
            json,
        } => {
            let Some(current) = store
                .list_keys()
                .await?
                .into_iter()
                .find(|k| k.id == id_or_prefix || k.prefix == id_or_prefix)
            else {
                eprintln!("v2client: no key has the id or prefix `{id_or_prefix}`");
                return Ok(ExitCode::FAILURE);
            };
            let Some(old) = current.webhook else {
                eprintln!(
                    "v2client: key {} has no webhook; set one with keys set-webhook",
                    current.id
                );
                return Ok(ExitCode::FAILURE);
            };
            let rotated = keys::rotated_webhook(&old, grace);
            let until = rotated.old_until.unwrap_or_else(chrono::Utc::now);
            store.set_webhook(&current.id, Some(&rotated)).await?;
            let target = Some("webhook_secret");
            key_changed(store.as_ref(), Action::KeyRotated, &current.id, target).await?;
            if json {
                println!(
                    "{}",
                    json!({
                        "id": current.id,
                        "webhook_secret": rotated.secret.expose(),
                        "old_secret_valid_until": rfc3339(until),
                    })
                );
            } else {
                println!("new signing secret for {} (shown once):", current.id);
                println!("    {}", rotated.secret.expose());
                println!("the previous secret also signs until {}", rfc3339(until));
            }
        }
        KeysCommand::List { json } => {
            let keys = store.list_keys().await?;
            if json {
                let list: Vec<_> = keys.iter().map(key_json).collect();
                println!("{}", serde_json::Value::Array(list));
            } else if keys.is_empty() {
                println!("no keys yet; create one with `v2client keys create --name NAME`");
            } else {
                println!(
                    "{:<21} {:<18} {:<8} {:<21} NAME",
                    "ID", "PREFIX", "STATE", "CREATED"
                );
                for k in &keys {
                    println!(
                        "{:<21} {:<18} {:<8} {:<21} {}",
                        k.id,
                        k.prefix,
                        if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                        rfc3339(k.created_at),
                        k.name
                    );
                }
            }
        }
        KeysCommand::RotateQr { id_or_prefix } => {
            let token = keys::new_qr_token();
            match store.rotate_qr_token(&id_or_prefix, &token).await? {
                Some(k) => {
                    key_changed(store.as_ref(), Action::KeyRotated, &k.id, Some("qr_token"))
                        .await?;
                    println!(
                        "{} ({}) now starts verifications at {}generate?token={token}",
                        k.id, k.prefix, settings.public_url
                    );
                }
                None => {
                    eprintln!("v2client: no key has the id or prefix `{id_or_prefix}`");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        KeysCommand::Revoke { id_or_prefix } => {
            match store.revoke_key(&id_or_prefix, chrono::Utc::now()).await? {
                Some(k) => {
                    key_changed(store.as_ref(), Action::KeyRevoked, &k.id, None).await?;
                    println!("revoked {} ({}, {})", k.id, k.prefix, k.name);
                }
                None => {
                    eprintln!("v2client: no key has the id or prefix `{id_or_prefix}`");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Put a change to a key made here in the audit log.
async fn key_changed(
    store: &dyn Store,
    action: Action,
    key_id: &str,
    target: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut event = AuditEvent::new(&Actor::cli(), action);
    event.key_id = Some(key_id.to_owned());
    event.target = target.map(str::to_owned);
    store.append_audit(&event).await?;
    Ok(())
}

fn new_webhook(
    url: &str,
    allow_private: bool,
) -> Result<crate::webhooks::WebhookConfig, Box<dyn std::error::Error>> {
    Ok(keys::new_webhook(url, allow_private)?)
}

async fn users_command(settings: Settings, cmd: crate::dashboard::cli::UsersCommand) -> CliResult {
    crate::dashboard::cli::run(open_store(&settings).await?.as_ref(), cmd).await
}

async fn webhooks_command(settings: Settings, cmd: WebhooksCommand) -> CliResult {
    let store = open_store(&settings).await?;
    match cmd {
        WebhooksCommand::List {
            verification,
            limit,
            json,
        } => {
            let events = store.list_events(verification.as_deref(), limit).await?;
            if json {
                let mut list = Vec::new();
                for e in &events {
                    let deliveries = store.list_deliveries(&e.id).await?;
                    list.push(json!({
                        "id": e.id,
                        "type": e.event_type,
                        "verification_id": e.verification_id,
                        "sequence": e.sequence,
                        "state": e.state,
                        "attempts": e.attempts,
                        "created_at": rfc3339(e.created_at),
                        "next_attempt_at": rfc3339(e.next_attempt_at),
                        "delivered_at": e.delivered_at.map(rfc3339),
                        "deliveries": deliveries.iter().map(|d| json!({
                            "attempted_at": rfc3339(d.attempted_at),
                            "status_code": d.status_code,
                            "latency_ms": d.latency_ms,
                            "error": d.error,
                        })).collect::<Vec<_>>(),
                    }));
                }
                println!("{}", serde_json::Value::Array(list));
            } else if events.is_empty() {
                println!("no webhook events");
            } else {
                for e in &events {
                    println!(
                        "{}  {:<24} {}  #{:<3} {:<9} attempts {}",
                        e.id, e.event_type, e.verification_id, e.sequence, e.state, e.attempts
                    );
                }
            }
        }
        WebhooksCommand::Redeliver { event_id } => {
            if store.redeliver(&event_id, chrono::Utc::now()).await? {
                println!("{event_id} queued for delivery");
            } else {
                eprintln!("v2client: no webhook event `{event_id}`");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A key as the CLI shows it: everything but the secret.
fn key_json(k: &ApiKeyRecord) -> serde_json::Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "mode": if k.is_test() { "test" } else { "live" },
        "qr_token": k.qr_token,
        "webhook_url": k.webhook.as_ref().map(|w| w.url.as_str()),
        "created_at": rfc3339(k.created_at),
        "revoked_at": k.revoked_at.map(rfc3339),
        "flow": k.settings.flow,
        "verification_ttl": format_duration(k.settings.ttl()),
        "allowed_return_origins": k.settings.allowed_return_origins,
        "document_types": k.settings.document_types,
        "form_fields": k.settings.form_fields,
        "redact": k.settings.redact,
        "max_attempts": k.settings.max_attempts,
        "retention_days": k.settings.retention_days,
        "rate_limits": k.settings.rate_limits,
        "face_match": k.settings.face_match,
        "strict_liveness": k.settings.strict_liveness,
        "min_age": k.settings.min_age,
    })
}
