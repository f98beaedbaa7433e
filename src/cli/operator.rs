//! `v2client verifications list|review|erase` and `v2client audit export`: the operator
//! API's list, review and erase for people at the server's console, and the audit log as
//! CSV or JSON. Changes made here are in the audit log as the operating-system user's.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::{CliResult, open_store};
use crate::api::details::Details;
use crate::audit::{Actor, AuditEvent, AuditQuery};
use crate::config::Settings;
use crate::domain::lifecycle::Review;
use crate::domain::verification::rfc3339;
use crate::domain::{Status, Verification};
use crate::store::{ListCursor, Store, VerificationQuery};
use crate::workflow::operator;

#[derive(Subcommand)]
pub enum VerificationsCommand {
    /// List verifications, newest first (`--oldest-first` for the review queue).
    List(ListArgs),
    /// Decide a verification in needs_manual_review.
    Review {
        #[arg(value_name = "VERIFICATION_ID")]
        id: String,
        #[arg(long, value_enum)]
        decision: Decision,
        /// Why (required).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        note: Option<String>,
        /// Who decided (default: the operating-system user).
        #[arg(long)]
        reviewer: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Erase a verification's images and personal data now (the decision stays).
    Erase {
        #[arg(value_name = "VERIFICATION_ID")]
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Decision {
    Verified,
    Rejected,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only this key's (id or display prefix); every key's when absent.
    #[arg(long = "key", value_name = "ID_OR_PREFIX")]
    key: Option<String>,
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Created strictly after (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    created_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Created strictly before (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    created_before: Option<chrono::DateTime<chrono::Utc>>,
    /// `extra_data.reference_id`, exactly.
    #[arg(long)]
    reference: Option<String>,
    #[arg(long)]
    oldest_first: bool,
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// Where the previous page ended (printed after it).
    #[arg(long)]
    cursor: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Write the audit log, newest first, to standard output or a file.
    Export {
        #[arg(long, value_enum, default_value = "csv")]
        format: ExportFormat,
        /// Only this verification's events.
        #[arg(long = "verification", value_name = "ID")]
        verification: Option<String>,
        /// Only events about this key (id) and its verifications.
        #[arg(long = "key", value_name = "KEY_ID")]
        key: Option<String>,
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    /// One JSON object per line.
    Jsonl,
}

fn parse_status(text: &str) -> Result<Status, String> {
    text.parse()
}

fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
}

pub async fn verifications(settings: Settings, cmd: VerificationsCommand) -> CliResult {
    let store = open_store(&settings).await?;
    match cmd {
        VerificationsCommand::List(args) => list(store.as_ref(), args).await,
        VerificationsCommand::Review {
            id,
            decision,
            reason,
            note,
            reviewer,
            json,
        } => {
            let v = operator::find(store.as_ref(), &id).await?;
            let by = Actor::cli();
            let review = Review {
                decision: match decision {
                    Decision::Verified => Status::Verified,
                    Decision::Rejected => Status::Rejected,
                },
                reason,
                note,
                reviewer: reviewer.unwrap_or_else(|| by.label.clone()),
            };
            let decided = operator::review(store.as_ref(), v, review, &by).await?;
            if json {
                print_details(store.as_ref(), decided).await?;
            } else {
                println!("{} is now {}", decided.id, decided.status.as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        VerificationsCommand::Erase { id, json } => {
            let v = operator::find(store.as_ref(), &id).await?;
            let blobs = settings.blobs.open()?;
            operator::erase(store.as_ref(), blobs.as_ref(), &v, &Actor::cli()).await?;
            let erased = operator::find(store.as_ref(), &id).await?;
            if json {
                print_details(store.as_ref(), erased).await?;
            } else {
                println!(
                    "{} erased: its images and personal data are gone",
                    erased.id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn list(store: &dyn Store, args: ListArgs) -> CliResult {
    let key_ids = match &args.key {
        None => None,
        Some(id_or_prefix) => {
            let key = match store.find_key(id_or_prefix).await? {
                Some(k) => Some(k),
                None => store.find_key_by_prefix(id_or_prefix).await?,
            };
            let Some(key) = key else {
                eprintln!("v2client: no key has the id or prefix `{id_or_prefix}`");
                return Ok(ExitCode::FAILURE);
            };
            Some(vec![key.id])
        }
    };
    let after = args
        .cursor
        .as_deref()
        .map(|c| ListCursor::decode(c).ok_or("--cursor is not one this command printed"))
        .transpose()?;
    let query = VerificationQuery {
        key_ids,
        status: args.status,
        created_after: args.created_after,
        created_before: args.created_before,
        reference: args.reference,
        oldest_first: args.oldest_first,
        after,
        limit: args.limit + 1,
    };
    let mut found = store.list_verifications(&query, chrono::Utc::now()).await?;
    let more = found.len() > args.limit as usize;
    found.truncate(args.limit as usize);
    let next = more
        .then(|| found.last().map(|v| ListCursor::after(v).encode()))
        .flatten();
    if args.json {
        let items: Vec<Details> = found.into_iter().map(|v| Details::new(v, None)).collect();
        println!("{}", json!({"verifications": items, "next_cursor": next}));
    } else if found.is_empty() {
        println!("no verifications");
    } else {
        for v in &found {
            println!("{}", line(v));
        }
        if let Some(next) = next {
            println!("more: --cursor {next}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One verification on one line: id, status, created, key, reference, reasons.
fn line(v: &Verification) -> String {
    let (status, _) = v.effective_status(chrono::Utc::now());
    let reasons = v
        .results
        .decision()
        .map(|d| {
            d.reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let reference = crate::store::reference_of(v.extra_data.as_ref()).unwrap_or_default();
    format!(
        "{}  {:<19}  {}  {}  {}  {}",
        v.id,
        status.as_str(),
        rfc3339(v.created_at),
        v.key_id,
        reference,
        reasons
    )
    .trim_end()
    .to_owned()
}

async fn print_details(
    store: &dyn Store,
    v: Verification,
) -> Result<(), Box<dyn std::error::Error>> {
    let attempts = store.list_attempts(&v.id).await?;
    println!(
        "{}",
        serde_json::to_string(&Details::new(v, Some(attempts)))?
    );
    Ok(())
}

/// Pages of this many events are read at a time, so an export of any size runs in
/// bounded memory.
const EXPORT_PAGE: u32 = 500;

pub async fn audit(settings: Settings, cmd: AuditCommand) -> CliResult {
    let store = open_store(&settings).await?;
    let AuditCommand::Export {
        format,
        verification,
        key,
        output,
    } = cmd;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut query = AuditQuery {
        verification_id: verification,
        key_ids: key.map(|k| vec![k]),
        before_seq: None,
        limit: EXPORT_PAGE,
    };
    if matches!(format, ExportFormat::Csv) {
        writeln!(out, "{}", AuditEvent::CSV_HEADER)?;
    }
    let mut written = 0u64;
    loop {
        let page = store.list_audit(&query).await?;
        for event in &page {
            match format {
                ExportFormat::Csv => writeln!(out, "{}", event.csv_row())?,
                ExportFormat::Jsonl => writeln!(out, "{}", serde_json::to_string(event)?)?,
            }
        }
        written += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == EXPORT_PAGE as usize => query.before_seq = Some(last.seq),
            _ => break,
        }
    }
    out.flush()?;
    drop(out);
    let mut exported = AuditEvent::new(&Actor::cli(), crate::audit::Action::AuditExported);
    exported.detail = Some(json!({"events": written}));
    store.append_audit(&exported).await?;
    if output.is_some() {
        eprintln!("{written} audit events written");
    }
    Ok(ExitCode::SUCCESS)
}
