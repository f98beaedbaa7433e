//! The Postgres store: the production database. Its queries are the shared ones in
//! `sql.rs`; here are its dialect, its connection pool and its key-change listener.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions, PgQueryResult};
use sqlx::{PgPool, Postgres};

use super::dialect::{Dialect, RowsAffected};
use super::sql::SqlStore;
use super::{KeyChanges, StoreError};
use crate::config::DatabaseSettings;

pub type PgStore = SqlStore<PgDialect>;

pub struct PgDialect;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

impl Dialect for PgDialect {
    type Db = Postgres;

    const KIND: &'static str = "postgres";
    const MIGRATOR: &'static Migrator = &MIGRATOR;

    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const GREATEST: &'static str = "GREATEST";
    const ATTEMPTS_JSON: &'static str = "COALESCE((
            SELECT json_agg(json_build_object(
                'id', a.id, 'verification_id', a.verification_id, 'step', a.step,
                'outcome', a.outcome, 'reasons', a.reasons, 'metrics', a.metrics,
                'images', a.images, 'content_hash', a.content_hash,
                'created_at', a.created_at) ORDER BY a.created_at, a.id)
            FROM attempts a WHERE a.verification_id = v.id
        ), '[]')::text";
    const NOT_ERASED: &'static str = "NOT (v.results ? 'erased_at')";
    const RETENTION_PASSED: &'static str = "v.updated_at + make_interval(
            days => CASE WHEN v.test
                THEN LEAST(COALESCE((k.settings->>'retention_days')::int, 90), 7)
                ELSE COALESCE((k.settings->>'retention_days')::int, 90) END) <= $1";
    const EVENT_DATA_WITHOUT_EXTRA: &'static str = "jsonb_set(data, '{extra_data}', 'null')";
    const EVENT_HAS_EXTRA: &'static str = "data->'extra_data' <> 'null'::jsonb";

    fn key_changes(pool: &PgPool) -> Box<dyn KeyChanges> {
        let connection = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(pool.options().get_acquire_timeout())
            .connect_lazy_with((*pool.connect_options()).clone());
        Box::new(PgKeyChanges {
            connection,
            listener: None,
        })
    }
}

impl RowsAffected for PgQueryResult {
    fn rows_affected(&self) -> u64 {
        PgQueryResult::rows_affected(self)
    }
}

impl PgStore {
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)?.application_name("v2client");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            // A request waits this long for a connection, then answers 503; the pool
            // keeps trying to reconnect in the background of later requests.
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self::new(pool))
    }
}

/// The channel the `api_keys` trigger notifies (migration 0007).
const KEYS_CHANNEL: &str = "v2client_keys";

/// `LISTEN v2client_keys` for changes to the keys of this installation (the schema its
/// tables live in), on a connection of its own: outside the request pool, so that even a
/// pool of one connection is never starved by it.
struct PgKeyChanges {
    connection: PgPool,
    listener: Option<(PgListener, String)>,
}

#[async_trait]
impl KeyChanges for PgKeyChanges {
    async fn changed(&mut self) -> Result<(), StoreError> {
        let Some((listener, schema)) = self.listener.as_mut() else {
            let mut listener = PgListener::connect_with(&self.connection).await?;
            // Reconnecting is left to the next call, so that the time without a listener
            // is reported (as an error) rather than spent inside `try_recv`.
            listener.eager_reconnect(false);
            let (schema,): (String,) = sqlx::query_as("SELECT current_schema()::text")
                .fetch_one(&mut listener)
                .await?;
            listener.listen(KEYS_CHANNEL).await?;
            self.listener = Some((listener, schema));
            return Ok(());
        };
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.payload() != schema.as_str() => continue,
                Ok(Some(_)) => return Ok(()),
                // Lost: notifications sent until the next call reconnects are lost too.
                Ok(None) => {
                    self.listener = None;
                    return Err(StoreError::Unavailable(
                        "the connection listening for key changes was lost".into(),
                    ));
                }
                Err(e) => {
                    self.listener = None;
                    return Err(e.into());
                }
            }
        }
    }
}
