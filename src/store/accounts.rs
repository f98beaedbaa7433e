//! The dashboard's accounts: its users, the keys each reviewer may see, and their
//! server-side sessions. A trait of its own ([`AccountStore`], a supertrait of
//! [`super::Store`]) so that the operator store and the people who read it stay apart;
//! implemented once for both databases, as `sql.rs` is.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Executor};

use super::StoreError;
use super::dialect::{Dialect, RowsAffected};
use super::sql::{Field, Param, SqlStore};

/// What a dashboard user may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
    serde::Serialize,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything: every key's verifications, keys, users, the audit log.
    Admin,
    /// The verifications of the keys granted to them, and their decisions.
    Reviewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A dashboard user as stored.
#[derive(Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    /// Lower case (see [`crate::dashboard::accounts::normalise_email`]).
    pub email: String,
    pub role: Role,
    /// Argon2id, as a PHC string.
    pub password_hash: String,
    /// Failed logins in a row since the last success or lock.
    pub failed_logins: u32,
    pub locked_until: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Ids of the keys this user was granted, sorted.
    pub grants: Vec<String>,
}

impl std::fmt::Debug for UserRecord {
    // Without the password hash: records end up in logs and test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("disabled_at", &self.disabled_at)
            .field("created_at", &self.created_at)
            .field("grants", &self.grants)
            .finish_non_exhaustive()
    }
}

/// A dashboard session as stored: never its token, only the token's hash.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// SHA-256 (hex) of the token in the user's cookie.
    pub id: String,
    pub user_id: String,
    /// The token every form of this session carries.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end of the session, whatever its activity.
    pub expires_at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Insert a user and its grants in one transaction; `false` (and nothing written) when
    /// another user has the same email, whatever its case.
    async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError>;
    async fn find_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError>;
    /// By email, whatever its case.
    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every user, by email.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// Disable a user (by email, whatever its case; the first time is kept) and end all
    /// their sessions, in one transaction. `None` when there is no such user.
    async fn disable_user(
        &self,
        email: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError>;
    /// Let `user_id` see the verifications of `key_id`; `false` when it already could.
    async fn grant_key(
        &self,
        user_id: &str,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Take a grant back; `false` when there was none.
    async fn revoke_grant(&self, user_id: &str, key_id: &str) -> Result<bool, StoreError>;
    /// Count one failed login. The failure that makes `limit` in a row locks the account
    /// until `lock_until` and starts the count again; it returns that time.
    async fn record_login_failure(
        &self,
        user_id: &str,
        limit: u32,
        lock_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// A successful login: the count of failures starts again.
    async fn record_login_success(&self, user_id: &str) -> Result<(), StoreError>;

    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    async fn find_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Note activity on a session; `false` when it no longer exists.
    async fn touch_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// End one session; `false` when it did not exist.
    async fn delete_session(&self, id: &str) -> Result<bool, StoreError>;
    /// End every session of a user; how many there were.
    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError>;
    /// Forget sessions past their absolute end at `now` or idle since before
    /// `idle_before`; how many.
    async fn purge_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}

const USER_COLUMNS: &str = "id, email, role, password_hash, failed_logins, locked_until,
    disabled_at, created_at";

const SESSION_COLUMNS: &str = "id, user_id, csrf_token, created_at, last_seen_at, expires_at,
    address, user_agent";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    role: String,
    password_hash: String,
    failed_logins: i32,
    locked_until: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl UserRow {
    fn into_record(self, grants: Vec<String>) -> Result<UserRecord, StoreError> {
        Ok(UserRecord {
            role: self
                .role
                .parse()
                .map_err(|_| super::corrupt("dashboard_users.role", &self.id))?,
            failed_logins: u32::try_from(self.failed_logins).unwrap_or(0),
            id: self.id,
            email: self.email,
            password_hash: self.password_hash,
            locked_until: self.locked_until,
            disabled_at: self.disabled_at,
            created_at: self.created_at,
            grants,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    csrf_token: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    address: Option<String>,
    user_agent: Option<String>,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id: r.id,
            user_id: r.user_id,
            csrf_token: r.csrf_token,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            address: r.address,
            user_agent: r.user_agent,
        }
    }
}

type Connection<D> = <<D as Dialect>::Db as Database>::Connection;
type Row<D> = <<D as Dialect>::Db as Database>::Row;

#[async_trait]
impl<D: Dialect> AccountStore for SqlStore<D>
where
    // The bounds of `Store`'s impl in `sql.rs`, so that every store is an account store.
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    for<'a> &'a str: Param<'a, D::Db> + ColumnIndex<Row<D>>,
    for<'a> Option<&'a str>: Param<'a, D::Db>,
    usize: ColumnIndex<Row<D>>,
    for<'q> String: Param<'q, D::Db> + Field<D::Db>,
    for<'q> Option<String>: Param<'q, D::Db>,
    for<'q> i64: Param<'q, D::Db> + Field<D::Db>,
    i32: Field<D::Db>,
    for<'q> Option<i32>: Param<'q, D::Db>,
    for<'q> DateTime<Utc>: Param<'q, D::Db> + Field<D::Db>,
    for<'q> Option<DateTime<Utc>>: Param<'q, D::Db>,
{
    #[tracing::instrument(skip_all)]
    async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO dashboard_users (id, email, role, password_hash, failed_logins,
                 locked_until, disabled_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(user.id.as_str())
        .bind(user.email.as_str())
        .bind(user.role.as_str())
        .bind(user.password_hash.as_str())
        .bind(i64::from(user.failed_logins))
        .bind(user.locked_until)
        .bind(user.disabled_at)
        .bind(user.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for key_id in &user.grants {
            sqlx::query(
                "INSERT INTO dashboard_grants (user_id, key_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(user.id.as_str())
            .bind(key_id.as_str())
            .bind(user.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn find_user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM dashboard_users WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        self.with_grants(row).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM dashboard_users WHERE lower(email) = lower($1)"
        )))
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        self.with_grants(row).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM dashboard_users ORDER BY email, id"
        )))
        .fetch_all(self.pool())
        .await?;
        let grants: Vec<(String, String)> =
            sqlx::query_as("SELECT user_id, key_id FROM dashboard_grants ORDER BY key_id")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|r| {
                let mine = grants
                    .iter()
                    .filter(|(u, _)| *u == r.id)
                    .map(|(_, k)| k.clone())
                    .collect();
                r.into_record(mine)
            })
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn disable_user(
        &self,
        email: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<UserRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE dashboard_users SET disabled_at = COALESCE(disabled_at, $2)
             WHERE lower(email) = lower($1) RETURNING {USER_COLUMNS}"
        )))
        .bind(email)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        sqlx::query("DELETE FROM dashboard_sessions WHERE user_id = $1")
            .bind(row.id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.with_grants(Some(row)).await
    }

    async fn grant_key(
        &self,
        user_id: &str,
        key_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO dashboard_grants (user_id, key_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(key_id)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_grant(&self, user_id: &str, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM dashboard_grants WHERE user_id = $1 AND key_id = $2")
            .bind(user_id)
            .bind(key_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    #[tracing::instrument(skip_all)]
    async fn record_login_failure(
        &self,
        user_id: &str,
        limit: u32,
        lock_until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        // One statement: concurrent failures each count, and exactly one of them locks.
        let row: Option<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(
            "UPDATE dashboard_users SET
                 locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3
                                     ELSE locked_until END,
                 failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0
                                      ELSE failed_logins + 1 END
             WHERE id = $1 RETURNING failed_logins, locked_until",
        )
        .bind(user_id)
        .bind(i64::from(limit))
        .bind(lock_until)
        .fetch_optional(self.pool())
        .await?;
        // The count is back at zero only when this failure locked the account.
        Ok(match row {
            Some((0, until)) => until,
            _ => None,
        })
    }

    async fn record_login_success(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE dashboard_users SET failed_logins = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(user_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn insert_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dashboard_sessions (id, user_id, csrf_token, created_at, last_seen_at,
                 expires_at, address, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(s.id.as_str())
        .bind(s.user_id.as_str())
        .bind(s.csrf_token.as_str())
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(s.address.as_deref())
        .bind(s.user_agent.as_deref())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn find_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM dashboard_sessions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(Into::into))
    }

    async fn touch_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE dashboard_sessions SET last_seen_at = $2
             WHERE id = $1 AND last_seen_at < $2",
        )
        .bind(id)
        .bind(at)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        // Seen at this very instant already (or later): it still exists.
        Ok(self.find_session(id).await?.is_some())
    }

    async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM dashboard_sessions WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM dashboard_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn purge_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM dashboard_sessions WHERE expires_at <= $1 OR last_seen_at < $2",
        )
        .bind(now)
        .bind(idle_before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut Connection<D>: Executor<'c, Database = D::Db>,
    for<'a> &'a str: Param<'a, D::Db> + ColumnIndex<Row<D>>,
    for<'q> String: Param<'q, D::Db> + Field<D::Db>,
    usize: ColumnIndex<Row<D>>,
{
    /// `row` as a record, with its grants read.
    async fn with_grants(&self, row: Option<UserRow>) -> Result<Option<UserRecord>, StoreError> {
        let Some(row) = row else {
            return Ok(None);
        };
        let grants: Vec<(String,)> = sqlx::query_as(
            "SELECT key_id FROM dashboard_grants WHERE user_id = $1 ORDER BY key_id",
        )
        .bind(row.id.as_str())
        .fetch_all(self.pool())
        .await?;
        row.into_record(grants.into_iter().map(|(k,)| k).collect())
            .map(Some)
    }
}
