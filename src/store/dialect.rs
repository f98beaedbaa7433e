//! What differs between the two databases, named once: each backend implements
//! [`Dialect`], and the shared store in `sql.rs` runs the same SQL on both, splicing in
//! these fragments where the dialects disagree.
//!
//! What the dialects already agree on needs no entry here. Both take `$1`-style
//! placeholders (sqlx binds SQLite's `$NNN` by number, and a number used twice is one
//! parameter, as in Postgres). JSON columns are read as text with `CAST(… AS TEXT)`, a no-op
//! on SQLite, and written from a JSON parameter, which sqlx sends as `jsonb` to Postgres and
//! as text to SQLite; so no placeholder ever needs a cast, which SQLite would take for part
//! of the parameter's name.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Database, IntoArguments, Pool};

use super::KeyChanges;

pub trait Dialect: Send + Sync + 'static {
    /// The sqlx database, with what the shared store needs of its driver that sqlx does not
    /// promise of every driver.
    type Db: Database<Arguments: IntoArguments<Self::Db>, Connection: Migrate, QueryResult: RowsAffected>;

    /// [`super::Store::kind`].
    const KIND: &'static str;
    /// This database's migrations (`migrations/<kind>`).
    const MIGRATOR: &'static Migrator;

    /// Ends the subquery that picks rows for an `UPDATE` that claims them: concurrent
    /// claimers each get different rows, passing over those another transaction holds.
    const SKIP_LOCKED: &'static str;
    /// Ends a `SELECT` whose row a transaction goes on to rewrite from what it read.
    const FOR_UPDATE: &'static str;
    /// The larger of two values (`GREATEST(a, b)`).
    const GREATEST: &'static str;
    /// The attempts of verification `v` as one JSON array (text), oldest first, each with the
    /// fields of `rows::AttemptJson`.
    const ATTEMPTS_JSON: &'static str;
    /// Verification `v`'s results have no `erased_at`.
    const NOT_ERASED: &'static str;
    /// Verification `v` was last updated at least its key `k`'s `retention_days` (90 when
    /// unset; at most 7 for a test verification) before `$1`.
    const RETENTION_PASSED: &'static str;
    /// An event's `data` with `extra_data` set to JSON `null`.
    const EVENT_DATA_WITHOUT_EXTRA: &'static str;
    /// An event's `data` holds an `extra_data` that is not JSON `null`.
    const EVENT_HAS_EXTRA: &'static str;

    /// [`super::Store::key_changes`]: how this database tells of changes to keys.
    fn key_changes(pool: &Pool<Self::Db>) -> Box<dyn KeyChanges>;
}

/// How many rows a statement changed: each driver has it, but only as an inherent method.
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}
