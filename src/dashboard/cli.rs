//! `v2client users …`: dashboard accounts from the command line (the first admin is
//! made here).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use zeroize::Zeroizing;

use super::accounts::{self, AccountError};
use crate::domain::verification::{now, rfc3339};
use crate::store::{Role, Store, UserRecord};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a dashboard user. The password is asked for (without echo) on a terminal,
    /// else read from the first line of standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = role_parser())]
        role: Role,
        /// A key (id or display prefix) whose verifications the user may see (repeatable;
        /// admins see every key's).
        #[arg(long = "grant", value_name = "KEY_ID_OR_PREFIX")]
        grants: Vec<String>,
    },
    /// List dashboard users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user; their sessions end at once.
    Disable { email: String },
    /// Let a user see the verifications of a key (id or display prefix).
    Grant {
        email: String,
        #[arg(value_name = "KEY_ID_OR_PREFIX")]
        key: String,
    },
}

fn role_parser() -> impl clap::builder::TypedValueParser<Value = Role> {
    use clap::builder::TypedValueParser as _;
    use strum::VariantArray as _;
    clap::builder::PossibleValuesParser::new(Role::VARIANTS.iter().map(|r| r.as_str()))
        .try_map(|name| name.parse::<Role>())
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// The password of a new user: prompted for twice without echo on a terminal, else the
/// first line of standard input.
fn read_password() -> Result<Zeroizing<String>, Box<dyn std::error::Error>> {
    if std::io::stdin().is_terminal() {
        let first = Zeroizing::new(rpassword::prompt_password("Password: ")?);
        let again = Zeroizing::new(rpassword::prompt_password("Password again: ")?);
        if first != again {
            return Err("the two passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line)?;
    let trimmed = line.trim_end_matches(['\r', '\n']);
    Ok(Zeroizing::new(trimmed.to_owned()))
}

fn user_json(u: &UserRecord) -> serde_json::Value {
    json!({
        "id": u.id,
        "email": u.email,
        "role": u.role,
        "grants": u.grants,
        "disabled_at": u.disabled_at.map(rfc3339),
        "locked_until": u.locked_until.filter(|t| *t > now()).map(rfc3339),
        "created_at": rfc3339(u.created_at),
    })
}

fn fail(e: AccountError) -> CliResult {
    match e {
        AccountError::Store(e) => Err(Box::new(e)),
        other => {
            eprintln!("v2client: {other}");
            Ok(ExitCode::FAILURE)
        }
    }
}

pub async fn run(store: &dyn Store, cmd: UsersCommand) -> CliResult {
    match cmd {
        UsersCommand::Create {
            email,
            role,
            grants,
        } => {
            // Check the address before asking for a password.
            if let Err(e) = accounts::normalise_email(&email) {
                eprintln!("v2client: {e}");
                return Ok(ExitCode::FAILURE);
            }
            let password = read_password()?;
            match accounts::create_user(store, &email, role, password, &grants).await {
                Ok(u) => println!("created {} {} ({})", u.role, u.email, u.id),
                Err(e) => return fail(e),
            }
        }
        UsersCommand::List { json } => {
            let users = store.list_users().await?;
            if json {
                let list: Vec<_> = users.iter().map(user_json).collect();
                println!("{}", serde_json::Value::Array(list));
            } else if users.is_empty() {
                println!(
                    "no dashboard users yet; create one with \
                     `v2client users create --email E --role admin`"
                );
            } else {
                println!("{:<21} {:<9} {:<9} EMAIL (GRANTS)", "ID", "ROLE", "STATE");
                for u in &users {
                    let state = if u.disabled_at.is_some() {
                        "disabled"
                    } else if u.locked_until.is_some_and(|t| t > now()) {
                        "locked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<21} {:<9} {:<9} {} ({})",
                        u.id,
                        u.role,
                        state,
                        u.email,
                        u.grants.join(", ")
                    );
                }
            }
        }
        UsersCommand::Disable { email } => match store.disable_user(&email, now()).await? {
            Some(u) => println!("disabled {} ({}); their sessions have ended", u.email, u.id),
            None => return fail(AccountError::UnknownUser(email)),
        },
        UsersCommand::Grant { email, key } => match accounts::grant(store, &email, &key).await {
            Ok((u, k, true)) => println!(
                "{} may now see the verifications of {} ({})",
                u.email, k.name, k.id
            ),
            Ok((u, k, false)) => println!(
                "{} could already see the verifications of {} ({})",
                u.email, k.name, k.id
            ),
            Err(e) => return fail(e),
        },
    }
    Ok(ExitCode::SUCCESS)
}
