//! The form step's rules: which fields a form may carry, and each value checked and
//! normalised against its field's type.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::FormField;
use super::modules::FieldSpec;

/// Most unknown field names an error message repeats, and how much of each.
const NAMED_UNKNOWN: usize = 3;
const NAME_CHARS: usize = 32;

/// Longest accepted value of a form field, in characters.
const MAX_VALUE_CHARS: usize = 200;

/// A message naming a few of the fields in `values` the form does not ask for, if any:
/// such a form is refused outright, neither stored nor counted as an attempt.
pub fn unknown_fields(fields: &[FieldSpec], values: &Map<String, Value>) -> Option<String> {
    let unknown: Vec<&String> = values
        .keys()
        .filter(|name| !fields.iter().any(|f| f.name.as_str() == name.as_str()))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let mut named: Vec<String> = unknown
        .iter()
        .take(NAMED_UNKNOWN)
        .map(|name| {
            let shown: String = name
                .chars()
                .filter(|c| !c.is_control())
                .take(NAME_CHARS)
                .collect();
            format!("`{shown}`")
        })
        .collect();
    if unknown.len() > NAMED_UNKNOWN {
        named.push(format!("{} more", unknown.len() - NAMED_UNKNOWN));
    }
    let expected: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    Some(format!(
        "unknown form fields: {}; this form takes {}",
        named.join(", "),
        if expected.is_empty() {
            "no fields".to_owned()
        } else {
            expected.join(", ")
        }
    ))
}

/// Check each of the form's fields against its type; reasons read `<field>:FIELD_REQUIRED`
/// or `<field>:FIELD_INVALID`. Only normalised values of known fields come out. A value
/// that is not a string, or longer than `MAX_VALUE_CHARS`, is invalid; with unknown
/// fields refused first, the whole form is at most one short value per field.
pub fn validate(
    fields: &[FieldSpec],
    values: &Map<String, Value>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut clean = BTreeMap::new();
    let mut reasons = Vec::new();
    for spec in fields {
        let name = spec.name.as_str();
        let raw = match values.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(v)) => Some(v.trim()),
            Some(_) => {
                reasons.push(format!("{name}:FIELD_INVALID"));
                continue;
            }
        };
        match raw {
            None | Some("") => {
                if spec.required {
                    reasons.push(format!("{name}:FIELD_REQUIRED"));
                }
            }
            Some(v) => match normalise(spec.name, v) {
                Some(ok) => {
                    clean.insert(name.to_owned(), ok);
                }
                None => reasons.push(format!("{name}:FIELD_INVALID")),
            },
        }
    }
    (clean, reasons)
}

fn normalise(field: FormField, value: &str) -> Option<String> {
    if value.chars().count() > MAX_VALUE_CHARS || value.chars().any(char::is_control) {
        return None;
    }
    match field.kind() {
        "date" => {
            let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
            let today = chrono::Utc::now().date_naive();
            (date < today && date > NaiveDate::from_ymd_opt(1900, 1, 1)?).then(|| date.to_string())
        }
        "email" => {
            let (user, domain) = value.split_once('@')?;
            (!user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !value.contains(char::is_whitespace))
            .then(|| value.to_owned())
        }
        "tel" => {
            let digits = value.chars().filter(char::is_ascii_digit).count();
            (value
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()".contains(c))
                && (6..=20).contains(&digits))
            .then(|| value.to_owned())
        }
        "country" => (value.len() == 2 && value.chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| value.to_ascii_uppercase()),
        _ => Some(value.to_owned()),
    }
}
