//! The SQLite store: the embedded default, so `cargo run` serves with no setup. Its queries
//! are the shared ones in `sql.rs`; here are its dialect, its database file and how it
//! hears of key changes.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Sqlite, SqlitePool};

use super::dialect::{Dialect, RowsAffected};
use super::sql::SqlStore;
use super::{KeyChanges, StoreError};
use crate::config::DatabaseSettings;
use crate::files;

pub type SqliteStore = SqlStore<SqliteDialect>;

pub struct SqliteDialect;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

impl Dialect for SqliteDialect {
    type Db = Sqlite;

    const KIND: &'static str = "sqlite";
    const MIGRATOR: &'static Migrator = &MIGRATOR;

    // One writer at a time: a transaction that writes holds the whole database, so rows it
    // picks cannot be picked by another meanwhile.
    const SKIP_LOCKED: &'static str = "";
    const FOR_UPDATE: &'static str = "";
    const GREATEST: &'static str = "MAX";
    // `json()` embeds the stored JSON text as JSON rather than as a string; the subquery
    // orders the rows, as `json_group_array` takes no ORDER BY.
    const ATTEMPTS_JSON: &'static str = "COALESCE((
            SELECT json_group_array(json_object(
                'id', a.id, 'verification_id', a.verification_id, 'step', a.step,
                'outcome', a.outcome, 'reasons', json(a.reasons),
                'metrics', json(a.metrics), 'images', json(a.images),
                'content_hash', a.content_hash, 'created_at', a.created_at))
            FROM (SELECT * FROM attempts WHERE verification_id = v.id
                  ORDER BY created_at, id) a
        ), '[]')";
    const NOT_ERASED: &'static str = "json_extract(v.results, '$.erased_at') IS NULL";
    const RETENTION_PASSED: &'static str = "julianday(v.updated_at)
            + CASE WHEN v.test
                THEN MIN(COALESCE(json_extract(k.settings, '$.retention_days'), 90), 7)
                ELSE COALESCE(json_extract(k.settings, '$.retention_days'), 90) END
            <= julianday($1)";
    const EVENT_DATA_WITHOUT_EXTRA: &'static str = "json_set(data, '$.extra_data', json('null'))";
    const EVENT_HAS_EXTRA: &'static str = "json_extract(data, '$.extra_data') IS NOT NULL";

    fn key_changes(pool: &SqlitePool) -> Box<dyn KeyChanges> {
        Box::new(SqliteKeyChanges {
            pool: pool.clone(),
            seen: None,
        })
    }
}

impl RowsAffected for SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        SqliteQueryResult::rows_affected(self)
    }
}

impl SqliteStore {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&settings.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(settings.acquire_timeout);
        if !in_memory(&settings.url) {
            prepare_files(options.get_filename())
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self::new(pool))
    }
}

fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Make the database readable by this user only: its folder is created 0700 when
/// missing, the file itself 0600 before SQLite opens it (SQLite gives its `-wal` and
/// `-shm` files the database file's mode), and an existing database, WAL or shared-memory
/// file with a looser mode is tightened with a warning.
fn prepare_files(db: &Path) -> std::io::Result<()> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        files::create_private_dir(dir)?;
    }
    files::create_private_file(db)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        files::tighten_or_warn(Path::new(&name), files::FILE_MODE);
    }
    Ok(())
}

/// How often a server reads `keys_version`: a one-row read, cheap enough to do often,
/// and often enough that a revocation by another process takes effect within a second.
const KEYS_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// SQLite has no notifications across processes: poll the counter every key change bumps
/// (migration 0007).
struct SqliteKeyChanges {
    pool: SqlitePool,
    seen: Option<i64>,
}

#[async_trait]
impl KeyChanges for SqliteKeyChanges {
    async fn changed(&mut self) -> Result<(), StoreError> {
        loop {
            if self.seen.is_some() {
                tokio::time::sleep(KEYS_POLL).await;
            }
            let read: Result<(i64,), _> =
                sqlx::query_as("SELECT version FROM keys_version WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await;
            let (version,) = read.inspect_err(|_| self.seen = None)?;
            if self.seen != Some(version) {
                self.seen = Some(version);
                return Ok(());
            }
        }
    }
}
