//! The audit log: who looked at which verification and which image, who decided what, who
//! created or revoked which key or user, and from which address. Append-only: the store
//! only ever inserts, and the database refuses updates and deletes of its rows.
//!
//! A read of personal data is logged before the data is sent: when the log cannot be
//! written, the read fails rather than go unrecorded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::ratelimit::ClientAddr;
use crate::store::{ApiKeyRecord, Store};

/// What kind of party acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum ActorKind {
    /// An operator's server, by its API key.
    ApiKey,
    /// A dashboard user.
    User,
    /// Someone at the command line of a machine that holds the database's credentials.
    Cli,
    /// The server itself (the retention job).
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Who acted, and from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The key's id, the user's id, the operating-system user, or `system`.
    pub id: String,
    /// What people recognise: the key's name, the user's email.
    pub label: String,
    /// The client's address, when the action came over the network.
    pub address: Option<String>,
}

impl Actor {
    pub fn api_key(key: &ApiKeyRecord, address: ClientAddr) -> Self {
        Actor {
            kind: ActorKind::ApiKey,
            id: key.id.clone(),
            label: key.name.clone(),
            address: address.0.map(|a| a.to_string()),
        }
    }

    /// The command line, as the operating-system user running it.
    pub fn cli() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        Actor {
            kind: ActorKind::Cli,
            id: user.clone(),
            label: user,
            address: None,
        }
    }

    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: "system".to_owned(),
            label: "system".to_owned(),
            address: None,
        }
    }
}

/// What was done.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
pub enum Action {
    #[serde(rename = "verification.viewed")]
    #[strum(serialize = "verification.viewed")]
    VerificationViewed,
    #[serde(rename = "image.viewed")]
    #[strum(serialize = "image.viewed")]
    ImageViewed,
    #[serde(rename = "verification.reviewed")]
    #[strum(serialize = "verification.reviewed")]
    VerificationReviewed,
    #[serde(rename = "verification.erased")]
    #[strum(serialize = "verification.erased")]
    VerificationErased,
    #[serde(rename = "webhook.redelivered")]
    #[strum(serialize = "webhook.redelivered")]
    WebhookRedelivered,
    #[serde(rename = "key.created")]
    #[strum(serialize = "key.created")]
    KeyCreated,
    #[serde(rename = "key.revoked")]
    #[strum(serialize = "key.revoked")]
    KeyRevoked,
    #[serde(rename = "key.rotated")]
    #[strum(serialize = "key.rotated")]
    KeyRotated,
    #[serde(rename = "user.created")]
    #[strum(serialize = "user.created")]
    UserCreated,
    #[serde(rename = "user.disabled")]
    #[strum(serialize = "user.disabled")]
    UserDisabled,
    #[serde(rename = "user.granted")]
    #[strum(serialize = "user.granted")]
    UserGranted,
    #[serde(rename = "login.succeeded")]
    #[strum(serialize = "login.succeeded")]
    LoginSucceeded,
    #[serde(rename = "login.failed")]
    #[strum(serialize = "login.failed")]
    LoginFailed,
    #[serde(rename = "logout")]
    #[strum(serialize = "logout")]
    Logout,
    #[serde(rename = "audit.exported")]
    #[strum(serialize = "audit.exported")]
    AuditExported,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Its place in the log (assigned by the store; `0` before it is written).
    pub seq: i64,
    #[serde(with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: Action,
    pub verification_id: Option<String>,
    pub key_id: Option<String>,
    /// What within the verification or which other object: an image (`front:cropped`),
    /// a user, an event.
    pub target: Option<String>,
    /// Anything else worth keeping (a review's decision and reason).
    pub detail: Option<Value>,
}

impl AuditEvent {
    /// `actor` did `action` now.
    pub fn new(actor: &Actor, action: Action) -> Self {
        AuditEvent {
            seq: 0,
            at: crate::domain::verification::now(),
            actor: actor.clone(),
            action,
            verification_id: None,
            key_id: None,
            target: None,
            detail: None,
        }
    }

    /// About this verification (of this key).
    pub fn on(mut self, verification: &crate::domain::Verification) -> Self {
        self.verification_id = Some(verification.id.to_string());
        self.key_id = Some(verification.key_id.clone());
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The CSV header [`AuditEvent::csv_row`] matches.
    pub const CSV_HEADER: &'static str = "seq,at,actor_kind,actor_id,actor_label,address,action,verification_id,key_id,target,detail";

    /// One CSV record (RFC 4180 quoting). Cells that a spreadsheet would run as a formula
    /// (starting with `=`, `+`, `-`, `@`) are prefixed with `'`.
    pub fn csv_row(&self) -> String {
        let detail = self.detail.as_ref().map(Value::to_string);
        let cells = [
            self.seq.to_string(),
            crate::domain::verification::rfc3339(self.at),
            self.actor.kind.as_str().to_owned(),
            self.actor.id.clone(),
            self.actor.label.clone(),
            self.actor.address.clone().unwrap_or_default(),
            self.action.as_str().to_owned(),
            self.verification_id.clone().unwrap_or_default(),
            self.key_id.clone().unwrap_or_default(),
            self.target.clone().unwrap_or_default(),
            detail.unwrap_or_default(),
        ];
        cells
            .iter()
            .map(|c| csv_cell(c))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::domain::verification::rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.to_utc())
            .map_err(serde::de::Error::custom)
    }
}

/// Which part of the audit log [`crate::store::Store::list_audit`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub verification_id: Option<String>,
    /// Only events about these keys' verifications and the keys themselves; `None` for all.
    pub key_ids: Option<Vec<String>>,
    /// Events before this sequence number (the previous page's last).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// The address a request came from, as the settings say to read it (the peer, or what a
/// trusted proxy reports): where an audited action came from.
pub struct Origin(pub ClientAddr);

impl axum::extract::FromRequestParts<AppState> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Origin(ClientAddr::from_request(
            &parts.headers,
            peer,
            state.settings.limits.trusted_proxy_header.as_ref(),
        )))
    }
}

/// Write `event` to the log. A failure is the caller's failure: what was to be logged
/// must not happen unlogged.
pub async fn record(store: &dyn Store, event: AuditEvent) -> Result<(), ApiError> {
    store.append_audit(&event).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_disarms_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn actions_read_back_from_their_names() {
        use strum::VariantArray;
        for action in Action::VARIANTS {
            assert_eq!(action.as_str().parse::<Action>().unwrap(), *action);
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, action.as_str());
        }
    }

    #[test]
    fn a_row_has_one_cell_per_header_column() {
        let mut event = AuditEvent::new(&Actor::system(), Action::VerificationErased);
        event.seq = 7;
        event.detail = Some(serde_json::json!({"why": "asked, twice"}));
        let header_cells = AuditEvent::CSV_HEADER.split(',').count();
        // The detail cell holds a comma inside quotes; count cells outside quotes.
        let row = event.csv_row();
        let mut cells = 1;
        let mut quoted = false;
        for c in row.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => cells += 1,
                _ => {}
            }
        }
        assert_eq!(cells, header_cells);
        assert!(row.starts_with("7,"));
        assert!(row.contains(",system,system,system,,verification.erased,"));
    }
}
