//! An API key's settings: the flow its verifications follow and the operator's choices.
//! Stored as one JSON document beside the key so new settings need no migration.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};
use url::Url;

use super::duration::format_duration;

/// One step of the end-user flow, in the order the portal walks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, EnumString, Display, VariantArray)]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = Module::unknown)]
#[derive(utoipa::ToSchema)]
pub enum Module {
    Terms,
    Document,
    Liveness,
    FormData,
}

impl Module {
    /// Every module, in the portal's order.
    pub const ALL: [Module; 4] = all_variants();

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn unknown(given: &str) -> String {
        unknown::<Module>("module", given)
    }
}

/// A flow: a non-empty subset of the modules, always in the portal's order
/// (terms → document → liveness → form_data), whatever order it was given in.
pub fn parse_flow(text: &str) -> Result<Vec<Module>, String> {
    let mut flow = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse())
        .collect::<Result<Vec<Module>, _>>()?;
    flow.sort();
    let before = flow.len();
    flow.dedup();
    if flow.len() != before {
        return Err("a module appears twice in the flow".into());
    }
    if flow.is_empty() {
        return Err("the flow needs at least one module".into());
    }
    Ok(flow)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, EnumString, VariantArray)]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = DocumentType::unknown)]
#[derive(utoipa::ToSchema)]
pub enum DocumentType {
    Passport,
    IdCard,
    DrivingLicence,
}

impl DocumentType {
    pub const ALL: [DocumentType; 3] = all_variants();

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The sides a user photographs: a passport's data page has no back worth checking.
    pub fn sides(self) -> &'static [&'static str] {
        match self {
            DocumentType::Passport => &["front"],
            DocumentType::IdCard | DocumentType::DrivingLicence => &["front", "back"],
        }
    }

    fn unknown(given: &str) -> String {
        unknown::<DocumentType>("document type", given)
    }
}

/// The form fields an operator can ask for, each with a fixed type and validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, EnumString, VariantArray)]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = FormField::unknown)]
pub enum FormField {
    FirstName,
    LastName,
    DateOfBirth,
    Nationality,
    Email,
    Phone,
    AddressLine,
    PostalCode,
    City,
    Country,
}

impl FormField {
    pub const ALL: [FormField; 10] = all_variants();

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The value type, as the portal's form and the API describe it.
    pub fn kind(self) -> &'static str {
        match self {
            FormField::DateOfBirth => "date",
            FormField::Nationality | FormField::Country => "country",
            FormField::Email => "email",
            FormField::Phone => "tel",
            _ => "text",
        }
    }

    fn unknown(given: &str) -> String {
        unknown::<FormField>("form field", given)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, EnumString, VariantArray)]
#[strum(
    serialize_all = "snake_case",
    parse_err_ty = String,
    parse_err_fn = RedactionTarget::unknown
)]
pub enum RedactionTarget {
    Mrz,
    Portrait,
    DocumentNumber,
}

impl RedactionTarget {
    pub const ALL: [RedactionTarget; 3] = all_variants();

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn unknown(given: &str) -> String {
        unknown::<RedactionTarget>("redaction", given)
    }
}

/// Every variant of `T` in declaration order, as an array: a `const ALL` that is iterated
/// by value and borrowed as a slice. A length `N` other than the number of variants stops
/// the build where the constant is used.
pub(crate) const fn all_variants<T: VariantArray + Copy, const N: usize>() -> [T; N] {
    match T::VARIANTS.first_chunk() {
        Some(all) if T::VARIANTS.len() == N => *all,
        _ => panic!("the array's length is not the number of variants"),
    }
}

/// The parse error of the enums above, as the command line and the portal show it: what was
/// given and every name allowed.
fn unknown<T: VariantArray + Copy + Into<&'static str>>(what: &str, given: &str) -> String {
    let names: Vec<&str> = T::VARIANTS.iter().map(|&v| v.into()).collect();
    format!("unknown {what} `{given}`; choose from {}", names.join(", "))
}

/// Parse a comma-separated list of any of the enums above, sorted and without repeats.
pub fn parse_list<T: FromStr<Err = String> + Ord>(text: &str) -> Result<Vec<T>, String> {
    let mut items = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| T::from_str(s.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    items.sort();
    items.dedup();
    Ok(items)
}

/// Per-key rate limits; `None` means the instance default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_config_per_minute: Option<u32>,
}

/// The shortest time a verification may stay open: less leaves no one time to finish.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// The longest: beyond a month an unfinished verification is a link that still works
/// long after anyone meant it to, and what the user sent on the way waits that long for a
/// decision (retention only starts counting at the decision or the expiry).
pub const MAX_TTL: Duration = Duration::from_secs(30 * 86_400);

/// Check a verification TTL against [`MIN_TTL`] and [`MAX_TTL`]; the error says why.
pub fn check_ttl(ttl: Duration) -> Result<Duration, String> {
    if ttl < MIN_TTL {
        return Err(format!(
            "a verification TTL of {} is too short: it must be at least 1m, or no one can \
             finish the flow in time",
            format_duration(ttl)
        ));
    }
    if ttl > MAX_TTL {
        return Err(format!(
            "a verification TTL of {} is too long: it must be at most 30d (720h), so that an \
             unfinished verification's link and the personal data sent so far do not linger \
             for months",
            format_duration(ttl)
        ));
    }
    Ok(ttl)
}

/// The longest retention period, in days: ten years is an archive, not a retention
/// period (and the erasure query counts days in a 32-bit interval).
pub const MAX_RETENTION_DAYS: u32 = 3650;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeySettings {
    pub flow: Vec<Module>,
    /// How long a verification stays open, in seconds; between [`MIN_TTL`] and [`MAX_TTL`]
    /// (see [`KeySettings::validate`], and [`KeySettings::ttl`] for keys stored before).
    pub ttl_seconds: u64,
    /// Origins (`https://app.example`) a `return_url` must belong to; empty: any.
    #[serde(default)]
    pub allowed_return_origins: Vec<String>,
    pub document_types: Vec<DocumentType>,
    pub form_fields: Vec<FormField>,
    #[serde(default)]
    pub redact: Vec<RedactionTarget>,
    /// Submissions allowed per step before the step fails.
    pub max_attempts: u32,
    #[serde(default)]
    pub rate_limits: RateLimitOverrides,
    /// Days after a verification is decided or expires before its images and personal
    /// data are erased.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Face-match thresholds for this key's verifications; `None`: the instance's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_match: Option<crate::faces::Thresholds>,
    /// A suspected spoof rejects the verification instead of sending it to review.
    #[serde(default)]
    pub strict_liveness: bool,
    /// The youngest age, in whole years on the day of the decision, this key verifies:
    /// a holder the document's zone says is younger is rejected (`UNDERAGE`). Between 1
    /// and [`MAX_MIN_AGE`]; needs the document module, the only source of a birth date
    /// the decision trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age: Option<u32>,
}

/// The highest `min_age` a key may ask for.
pub const MAX_MIN_AGE: u32 = 150;

fn default_retention_days() -> u32 {
    90
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            flow: Module::ALL.to_vec(),
            ttl_seconds: 24 * 3600,
            allowed_return_origins: Vec::new(),
            document_types: DocumentType::ALL.to_vec(),
            form_fields: vec![
                FormField::FirstName,
                FormField::LastName,
                FormField::DateOfBirth,
            ],
            redact: Vec::new(),
            max_attempts: 5,
            rate_limits: RateLimitOverrides::default(),
            retention_days: default_retention_days(),
            face_match: None,
            strict_liveness: false,
            min_age: None,
        }
    }
}

impl KeySettings {
    pub fn has(&self, module: Module) -> bool {
        self.flow.contains(&module)
    }

    /// Check the settings a key is created with.
    pub fn validate(&self) -> Result<(), String> {
        check_ttl(Duration::from_secs(self.ttl_seconds))?;
        if !(1..=MAX_RETENTION_DAYS).contains(&self.retention_days) {
            return Err(format!(
                "a retention of {} days is out of bounds: between 1d and {MAX_RETENTION_DAYS}d",
                self.retention_days
            ));
        }
        if self.flow.is_empty() {
            return Err("the flow needs at least one module".into());
        }
        if let Some(t) = self.face_match {
            t.validate()?;
        }
        if let Some(age) = self.min_age {
            if !(1..=MAX_MIN_AGE).contains(&age) {
                return Err(format!(
                    "a minimum age of {age} is out of bounds: between 1 and {MAX_MIN_AGE} years"
                ));
            }
            if !self.has(Module::Document) {
                return Err(
                    "a minimum age needs the document module in the flow: the date of birth \
                     is read from the document"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// How long this key's verifications stay open. Held within [`MIN_TTL`]..[`MAX_TTL`]
    /// even for a key stored before the bounds existed, so no expiry can overflow.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds).clamp(MIN_TTL, MAX_TTL)
    }

    /// The `modules` snapshot a verification created now takes.
    pub fn modules(&self) -> super::Modules {
        super::Modules::of(self)
    }

    /// Check a `return_url` against the instance's rules and this key's allowed origins.
    pub fn check_return_url(&self, raw: &str) -> Result<Url, String> {
        let url = parse_web_url(raw)?;
        if !self.allowed_return_origins.is_empty() {
            let origin = url.origin().ascii_serialization();
            if !self.allowed_return_origins.contains(&origin) {
                return Err(format!(
                    "return_url origin {origin} is not among this key's allowed origins"
                ));
            }
        }
        Ok(url)
    }
}

/// An absolute URL a browser may be sent to: https, or http on the local machine only;
/// no embedded credentials.
pub fn parse_web_url(raw: &str) -> Result<Url, String> {
    if raw.len() > 2048 {
        return Err("URL is longer than 2048 characters".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    let local = matches!(
        url.host_str(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
    );
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => return Err("must use https (http only for localhost)".into()),
        other => return Err(format!("scheme `{other}` is not allowed; use https")),
    }
    if url.host().is_none() {
        return Err("URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URL must not carry credentials".into());
    }
    Ok(url)
}

/// Normalise an allowed origin given on the command line (`https://app.example`).
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let url = parse_web_url(raw.trim())?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{raw}` is not an origin; give scheme, host and optional port only"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flows_are_normalised_to_portal_order() {
        assert_eq!(
            parse_flow("liveness,terms").unwrap(),
            vec![Module::Terms, Module::Liveness]
        );
        assert!(parse_flow("").is_err());
        assert!(parse_flow("terms,terms").is_err());
        assert!(parse_flow("terms,selfie").unwrap_err().contains("selfie"));
    }

    #[test]
    fn modules_describe_only_enabled_steps() {
        let s = KeySettings {
            flow: vec![Module::Document, Module::FormData],
            ..KeySettings::default()
        };
        let m = serde_json::to_value(s.modules()).unwrap();
        assert!(m.get("terms").is_none() && m.get("liveness").is_none());
        assert_eq!(m["document"]["sides"]["passport"], json!(["front"]));
        assert_eq!(m["document"]["sides"]["id_card"], json!(["front", "back"]));
        assert_eq!(m["form_data"]["fields"][2]["name"], "date_of_birth");
        assert_eq!(m["form_data"]["fields"][2]["type"], "date");
    }

    #[test]
    fn return_urls_must_be_safe() {
        let s = KeySettings::default();
        assert!(s.check_return_url("https://app.example/done").is_ok());
        assert!(s.check_return_url("http://localhost:3000/done").is_ok());
        assert!(s.check_return_url("http://127.0.0.1/done").is_ok());
        for bad in [
            "http://app.example/done",
            "javascript:alert(1)",
            "/relative",
            "https://user:pw@app.example/",
            "ftp://app.example/",
        ] {
            assert!(s.check_return_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowed_origins_restrict_return_urls() {
        let s = KeySettings {
            allowed_return_origins: vec![parse_origin("https://app.example").unwrap()],
            ..KeySettings::default()
        };
        assert!(s.check_return_url("https://app.example/x?y=1").is_ok());
        assert!(s.check_return_url("https://app.example:8443/x").is_err());
        assert!(s.check_return_url("https://evil.example/x").is_err());
        assert!(s.check_return_url("https://app.example.evil.com/").is_err());
    }

    #[test]
    fn the_ttl_is_bounded_with_a_reason() {
        let with = |secs| KeySettings {
            ttl_seconds: secs,
            ..KeySettings::default()
        };
        assert!(with(60).validate().is_ok());
        assert!(with(30 * 86_400).validate().is_ok());
        assert!(KeySettings::default().validate().is_ok());
        let short = with(59).validate().unwrap_err();
        assert!(short.contains("at least 1m"), "{short}");
        let long = with(30 * 86_400 + 1).validate().unwrap_err();
        assert!(long.contains("at most 30d"), "{long}");
        for secs in [3_000_000 * 86_400, u64::MAX] {
            assert!(with(secs).validate().is_err());
            assert_eq!(with(secs).ttl(), MAX_TTL, "stored out of range: clamped");
        }
        assert_eq!(with(0).ttl(), MIN_TTL);
        let keep = |days| KeySettings {
            retention_days: days,
            ..KeySettings::default()
        };
        assert!(keep(1).validate().is_ok() && keep(MAX_RETENTION_DAYS).validate().is_ok());
        assert!(keep(0).validate().is_err() && keep(MAX_RETENTION_DAYS + 1).validate().is_err());
        assert_eq!(with(900).ttl(), Duration::from_secs(900));
    }

    #[test]
    fn a_minimum_age_is_bounded_and_needs_the_document() {
        let aged = |min_age, flow: &[Module]| KeySettings {
            min_age,
            flow: flow.to_vec(),
            ..KeySettings::default()
        };
        assert!(aged(None, &Module::ALL).validate().is_ok());
        assert!(aged(Some(1), &Module::ALL).validate().is_ok());
        assert!(aged(Some(MAX_MIN_AGE), &Module::ALL).validate().is_ok());
        for bad in [0, MAX_MIN_AGE + 1] {
            let e = aged(Some(bad), &Module::ALL).validate().unwrap_err();
            assert!(e.contains("between 1 and 150"), "{e}");
        }
        let e = aged(Some(18), &[Module::FormData]).validate().unwrap_err();
        assert!(e.contains("document module"), "{e}");
        // Absent from a key stored before the setting existed, and from one without it.
        let stored = serde_json::to_value(KeySettings::default()).unwrap();
        assert!(stored.get("min_age").is_none());
        let read: KeySettings = serde_json::from_value(stored).unwrap();
        assert_eq!(read.min_age, None);
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            parse_origin("https://App.Example:443/").unwrap(),
            "https://app.example"
        );
        assert!(parse_origin("https://app.example/path").is_err());
    }
}
