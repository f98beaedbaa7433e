//! The portal's languages: English plus okID's other four (Dutch, Spanish, German, French).
//!
//! The messages live in one TOML catalog per language, `i18n/<code>.toml` at the root of
//! the repository: translators find and edit them without reading Rust, and they sit with
//! the project's other data (`assets/`, `migrations/`). The catalogs are compiled into the
//! binary with `include_str!`, so nothing is read from disk at run time. Each is parsed once
//! per process into [`Strings`], with unknown keys refused and every key required, and then
//! checked for an entry per [`REASON_CODES`] and for empty texts; [`load_all`] does this for
//! every language at start-up, so a bad catalog stops the server before it serves a page.
//! The strings the browser script needs (status lines, result texts and what to fix for
//! each rejection reason) travel to it as JSON from [`client_messages_json`].

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantArray};

use crate::domain::settings::all_variants;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum Lang {
    En,
    Nl,
    Es,
    De,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 5] = all_variants();

    /// The BCP 47 primary tag, as used in `<html lang>` and `?lang=`.
    pub fn code(self) -> &'static str {
        self.into()
    }

    /// A language tag (`nl`, `nl-BE`, `DE_de`) to one of ours, by its primary subtag.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// The page strings, parsed from the catalog on first use (see [`load_all`]).
    pub fn strings(self) -> &'static Strings {
        match self.catalog() {
            Ok(strings) => strings,
            // Unreachable in a server that started: `load_all` refused to start it.
            Err(e) => panic!("{e}"),
        }
    }

    /// What to fix, per reason code, in the order of [`REASON_CODES`].
    pub fn reasons(self) -> &'static [(&'static str, &'static str)] {
        static REASONS: [OnceLock<Vec<(&'static str, &'static str)>>; 5] =
            [const { OnceLock::new() }; 5];
        REASONS[self.index()].get_or_init(|| {
            let table = &self.strings().reasons;
            // The parse checked that every code is there.
            REASON_CODES
                .into_iter()
                .map(|code| (code, table.get(code).map_or("", String::as_str)))
                .collect()
        })
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The catalog's text, compiled in.
    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../../i18n/en.toml"),
            Lang::Nl => include_str!("../../i18n/nl.toml"),
            Lang::Es => include_str!("../../i18n/es.toml"),
            Lang::De => include_str!("../../i18n/de.toml"),
            Lang::Fr => include_str!("../../i18n/fr.toml"),
        }
    }

    fn catalog(self) -> Result<&'static Strings, &'static CatalogError> {
        // Parsed once per process and never changed: the catalogs are compiled-in,
        // immutable data, so a lazily filled static per language is the whole cache.
        static CATALOGS: [OnceLock<Result<Strings, CatalogError>>; 5] =
            [const { OnceLock::new() }; 5];
        CATALOGS[self.index()]
            .get_or_init(|| parse(self, self.source()))
            .as_ref()
    }
}

/// Choose the language: an explicit `?lang=` we support wins, then the best
/// `Accept-Language` entry we support (by q-value, ties in header order), then English.
pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
    if let Some(lang) = query.and_then(Lang::from_tag) {
        return lang;
    }
    let Some(header) = accept_language else {
        return Lang::En;
    };
    let mut best: Option<(f32, Lang)> = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or("").trim();
        // No q means 1; a q that is not a number in (0, 1] rules the entry out.
        let q = match parts.find_map(|p| p.trim().strip_prefix("q=")) {
            None => 1.0,
            Some(v) => match v.trim().parse::<f32>() {
                Ok(q) if q > 0.0 && q <= 1.0 => q,
                _ => continue,
            },
        };
        if let Some(lang) = Lang::from_tag(tag)
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

/// Every rejection reason the steps can answer, plus `GENERIC` for anything else.
pub const REASON_CODES: [&str; 22] = [
    "IMAGE_TOO_SMALL",
    "IMAGE_BLURRY",
    "IMAGE_TOO_DARK",
    "IMAGE_TOO_BRIGHT",
    "IMAGE_GLARE",
    "DOCUMENT_NOT_FOUND",
    "FACE_NOT_FOUND",
    "MULTIPLE_FACES",
    "FACE_TOO_SMALL",
    "LIVENESS_FAILED",
    "LIVENESS_NO_FACE_IN_FRAME",
    "LIVENESS_STATIC_FRAMES",
    "LIVENESS_WRONG_MOVEMENT",
    "LIVENESS_TOO_FEW_FRAMES",
    "UNSUPPORTED_FORMAT",
    "IMAGE_TOO_LARGE",
    "IMAGE_CORRUPT",
    "FIELD_REQUIRED",
    "FIELD_INVALID",
    "MRZ_NOT_FOUND",
    "MRZ_UNREADABLE",
    "GENERIC",
];

/// The message for a reason code, falling back to the generic one.
pub fn reason_message(lang: Lang, code: &str) -> &'static str {
    let table = lang.reasons();
    table
        .iter()
        .find(|(c, _)| *c == code)
        .or_else(|| table.iter().find(|(c, _)| *c == "GENERIC"))
        .map_or("", |(_, m)| m)
}

/// What the browser script needs: `{"lang", "reasons": {CODE: message}, "ui": {...}}`.
pub fn client_messages_json(lang: Lang) -> String {
    let reasons: serde_json::Map<String, serde_json::Value> = lang
        .reasons()
        .iter()
        .map(|(c, m)| ((*c).to_owned(), serde_json::Value::from(*m)))
        .collect();
    serde_json::json!({
        "lang": lang.code(),
        "reasons": reasons,
        "ui": &lang.strings().ui,
    })
    .to_string()
}

/// Page strings, rendered by the server: the top-level keys of a catalog, its `[ui]`
/// table, and its `[reasons]` table (read through [`Lang::reasons`]).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Strings {
    pub page_title: String,
    pub progress_label: String,
    pub step_terms: String,
    pub step_document: String,
    pub step_liveness: String,
    pub step_form: String,
    pub step_done: String,
    pub loading: String,
    pub noscript: String,
    pub terms_title: String,
    pub terms_body: String,
    pub terms_accept: String,
    pub continue_label: String,
    pub doc_type_title: String,
    pub doc_passport: String,
    pub doc_id_card: String,
    pub doc_driving_licence: String,
    pub front_title: String,
    pub front_hint: String,
    pub back_title: String,
    pub back_hint: String,
    pub camera_open: String,
    pub camera_take: String,
    pub file_label: String,
    pub retake: String,
    pub use_photo: String,
    pub preview_alt: String,
    pub liveness_title: String,
    pub liveness_hint: String,
    pub liveness_start: String,
    pub liveness_files_label: String,
    pub form_title: String,
    pub form_hint: String,
    pub form_prefilled: String,
    pub form_submit: String,
    pub country_choose: String,
    pub field_first_name: String,
    pub field_last_name: String,
    pub field_date_of_birth: String,
    pub field_nationality: String,
    pub field_email: String,
    pub field_phone: String,
    pub field_address_line: String,
    pub field_postal_code: String,
    pub field_city: String,
    pub field_country: String,
    pub result_title: String,
    pub handoff_title: String,
    pub handoff_body: String,
    pub handoff_qr_alt: String,
    pub handoff_here: String,
    pub close: String,
    pub retry: String,
    pub not_found_title: String,
    pub not_found_body: String,
    pub expired_title: String,
    pub expired_body: String,
    pub completed_title: String,
    pub completed_body: String,
    /// The operator erased the verification before the user finished.
    pub closed_title: String,
    pub closed_body: String,
    pub ui: Ui,
    /// Checked against [`REASON_CODES`] when parsed; ordered by [`Lang::reasons`].
    #[serde(skip_serializing)]
    reasons: BTreeMap<String, String>,
}

impl Strings {
    /// The label of a form field, or `None` for a field this version does not know.
    pub fn field_label(&self, name: &str) -> Option<&str> {
        Some(match name {
            "first_name" => &self.field_first_name,
            "last_name" => &self.field_last_name,
            "date_of_birth" => &self.field_date_of_birth,
            "nationality" => &self.field_nationality,
            "email" => &self.field_email,
            "phone" => &self.field_phone,
            "address_line" => &self.field_address_line,
            "postal_code" => &self.field_postal_code,
            "city" => &self.field_city,
            "country" => &self.field_country,
            _ => return None,
        })
    }

    pub fn document_label(&self, document_type: &str) -> Option<&str> {
        Some(match document_type {
            "passport" => &self.doc_passport,
            "id_card" => &self.doc_id_card,
            "driving_licence" => &self.doc_driving_licence,
            _ => return None,
        })
    }
}

/// Strings the browser script shows; `{n}` and `{step}` are filled in there.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ui {
    pub sending: String,
    pub attempts_left: String,
    pub camera_unavailable: String,
    pub network_error: String,
    pub photo_check: String,
    pub liveness_closer: String,
    pub liveness_farther: String,
    pub liveness_recording: String,
    pub liveness_files_count: String,
    pub verified_title: String,
    pub verified_body: String,
    pub review_title: String,
    pub review_body: String,
    pub rejected_title: String,
    pub rejected_body: String,
    pub expired_title: String,
    pub expired_body: String,
    pub not_found_title: String,
    pub redirect_in: String,
    pub handoff_waiting: String,
    pub handoff_at: String,
}

/// A catalog that failed to parse or to check, naming the language and the key.
#[derive(Debug, Clone, thiserror::Error)]
#[error("translations, i18n/{lang}.toml: {message}")]
pub struct CatalogError {
    pub lang: &'static str,
    pub message: String,
}

/// Parse and check every language's catalog now, so that a bad one stops the server at
/// start rather than on a page view.
pub fn load_all() -> Result<(), CatalogError> {
    for lang in Lang::ALL {
        lang.catalog().map_err(Clone::clone)?;
    }
    Ok(())
}

/// Parse one catalog and check what the types cannot: no empty text, and exactly one
/// message per reason code.
fn parse(lang: Lang, text: &str) -> Result<Strings, CatalogError> {
    let error = |message: String| CatalogError {
        lang: lang.code(),
        message,
    };
    let strings: Strings = toml::from_str(text).map_err(|e| error(e.to_string()))?;
    if let Some(key) = empty_key(&strings) {
        return Err(error(format!("`{key}` is empty")));
    }
    if let Some(code) = strings
        .reasons
        .keys()
        .find(|c| !REASON_CODES.contains(&c.as_str()))
    {
        return Err(error(format!("`reasons.{code}` is not a reason code")));
    }
    for code in REASON_CODES {
        match strings.reasons.get(code) {
            None => return Err(error(format!("`reasons.{code}` is missing"))),
            Some(m) if m.trim().is_empty() => {
                return Err(error(format!("`reasons.{code}` is empty")));
            }
            Some(_) => {}
        }
    }
    Ok(strings)
}

/// The dotted key of the first page or script string that is empty or only spaces.
fn empty_key(strings: &Strings) -> Option<String> {
    fn walk(prefix: &str, value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::String(s) if s.trim().is_empty() => Some(prefix.to_owned()),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&key, v)
            }),
            _ => None,
        }
    }
    walk("", &serde_json::to_value(strings).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_primary_tags() {
        let codes: Vec<&str> = Lang::ALL.iter().map(|l| l.code()).collect();
        assert_eq!(codes, ["en", "nl", "es", "de", "fr"]);
        for lang in Lang::ALL {
            assert_eq!(Lang::from_tag(lang.code()), Some(lang));
        }
    }

    #[test]
    fn query_wins_over_header() {
        assert_eq!(negotiate(Some("nl"), Some("de")), Lang::Nl);
        assert_eq!(negotiate(Some("FR-ca"), None), Lang::Fr);
        // An unsupported `?lang=` falls through to the header.
        assert_eq!(negotiate(Some("pt"), Some("es-ES")), Lang::Es);
        assert_eq!(negotiate(Some(""), None), Lang::En);
    }

    #[test]
    fn header_q_values_are_honoured() {
        assert_eq!(negotiate(None, Some("de-DE,de;q=0.9")), Lang::De);
        assert_eq!(
            negotiate(None, Some("fr;q=0.5, nl;q=0.8, en;q=0.7")),
            Lang::Nl
        );
        // Unsupported languages are skipped, even when preferred.
        assert_eq!(negotiate(None, Some("pt-BR, es;q=0.4, *;q=0.1")), Lang::Es);
        // Ties go to the first listed.
        assert_eq!(negotiate(None, Some("de;q=0.8, fr;q=0.8")), Lang::De);
        // q=0 means "not acceptable".
        assert_eq!(negotiate(None, Some("nl;q=0, fr;q=0.2")), Lang::Fr);
        assert_eq!(negotiate(None, Some("nl;q=0")), Lang::En);
    }

    #[test]
    fn junk_falls_back_to_english() {
        assert_eq!(negotiate(None, None), Lang::En);
        assert_eq!(negotiate(None, Some("")), Lang::En);
        assert_eq!(negotiate(None, Some(";;,q=,de;q=abc")), Lang::En);
        assert_eq!(negotiate(None, Some("xx-YY")), Lang::En);
    }

    #[test]
    fn every_language_has_every_reason() {
        for lang in Lang::ALL {
            let codes: Vec<_> = lang.reasons().iter().map(|(c, _)| *c).collect();
            assert_eq!(codes, REASON_CODES, "{lang:?}");
            for (code, msg) in lang.reasons() {
                assert!(!msg.trim().is_empty(), "{lang:?} {code}");
            }
        }
    }

    #[test]
    fn every_language_has_every_string() {
        // The struct makes every key present; check that none is empty and that the
        // translations are translations, not copies of the English text.
        for lang in Lang::ALL {
            let s = lang.strings();
            let page = format!("{s:?}");
            assert!(!page.contains("\"\""), "{lang:?} has an empty string");
            let ui = serde_json::to_value(&s.ui).unwrap();
            for (key, value) in ui.as_object().unwrap() {
                assert!(!value.as_str().unwrap().is_empty(), "{lang:?} ui.{key}");
            }
            if lang != Lang::En {
                assert_ne!(s.terms_body, Lang::En.strings().terms_body, "{lang:?}");
                assert_ne!(
                    s.ui.review_body,
                    Lang::En.strings().ui.review_body,
                    "{lang:?}"
                );
                assert_ne!(lang.reasons()[1].1, Lang::En.reasons()[1].1, "{lang:?}");
            }
        }
        assert!(Lang::En.strings().ui.attempts_left.contains("{n}"));
    }

    #[test]
    fn messages_json_carries_reasons_and_ui() {
        let v: serde_json::Value = serde_json::from_str(&client_messages_json(Lang::De)).unwrap();
        assert_eq!(v["lang"], "de");
        assert_eq!(v["reasons"].as_object().unwrap().len(), REASON_CODES.len());
        assert_eq!(v["reasons"]["IMAGE_BLURRY"], Lang::De.reasons()[1].1);
        assert_eq!(
            v["ui"]["verified_title"],
            Lang::De.strings().ui.verified_title
        );
        assert_eq!(
            reason_message(Lang::Fr, "NO_SUCH_CODE"),
            Lang::Fr.reasons()[REASON_CODES.len() - 1].1
        );
        assert_eq!(
            v["reasons"]["MRZ_UNREADABLE"],
            reason_message(Lang::De, "MRZ_UNREADABLE")
        );
    }

    #[test]
    fn labels_cover_the_known_fields_and_documents() {
        for f in crate::domain::FormField::ALL {
            assert!(
                Lang::En.strings().field_label(f.as_str()).is_some(),
                "{f:?}"
            );
        }
        for d in crate::domain::DocumentType::ALL {
            assert!(
                Lang::Nl.strings().document_label(d.as_str()).is_some(),
                "{d:?}"
            );
        }
        assert!(Lang::En.strings().field_label("shoe_size").is_none());
    }

    /// SHA-256 of each language's page strings (JSON, in field order) and of its
    /// [`client_messages_json`], first taken from the Rust statics the catalogs were
    /// generated from (the move to TOML changed no byte), last updated when the form's
    /// note on values read from the document and the zone's retake reasons came.
    /// Update it with a deliberate text change.
    const SNAPSHOT: [(Lang, &str); 5] = [
        (
            Lang::En,
            "040597d3eed191f7560922f3396c3b99bb4bf1112cbbc038d81304746dc152e9",
        ),
        (
            Lang::Nl,
            "2d3a1887ce1e4343dc539fe3e382bdb2e581d6c41a9da3ffefc28aa915e4d326",
        ),
        (
            Lang::Es,
            "c46b18b8e23e231f5683b599baf9d8ee6a032878dfe06863836d0b23c6486e0d",
        ),
        (
            Lang::De,
            "d20765b0eac35e075c48124679870969ed983b6d6b25e9fee40c95646ad1d152",
        ),
        (
            Lang::Fr,
            "9f3dab01cf98feb39d9950fe7a8850d0e5f8b97970dfa8f75de8735dee185e91",
        ),
    ];

    #[test]
    fn messages_match_the_snapshot() {
        use sha2::Digest;
        for (lang, want) in SNAPSHOT {
            let all = format!(
                "{}\n{}",
                serde_json::to_string(lang.strings()).unwrap(),
                client_messages_json(lang)
            );
            let got = hex::encode(sha2::Sha256::digest(all.as_bytes()));
            assert_eq!(got, want, "{lang:?}: the messages changed");
        }
    }

    #[test]
    fn every_catalog_parses() {
        load_all().unwrap();
        for lang in Lang::ALL {
            parse(lang, lang.source()).unwrap();
        }
    }

    /// The dotted keys of a catalog and whether each value is a non-empty string.
    fn keys(text: &str) -> Vec<(String, bool)> {
        fn walk(prefix: &str, table: &toml::Table, out: &mut Vec<(String, bool)>) {
            for (k, v) in table {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    toml::Value::Table(t) => walk(&key, t, out),
                    v => out.push((key, v.as_str().is_some_and(|s| !s.trim().is_empty()))),
                }
            }
        }
        let mut out = Vec::new();
        walk("", &text.parse::<toml::Table>().unwrap(), &mut out);
        out
    }

    #[test]
    fn every_language_has_every_message() {
        let english: Vec<String> = keys(Lang::En.source())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        for code in REASON_CODES {
            let key = format!("reasons.{code}");
            assert!(english.contains(&key), "en: `{key}` is missing");
        }
        for lang in Lang::ALL {
            let code = lang.code();
            let found = keys(lang.source());
            for (key, non_empty) in &found {
                assert!(english.contains(key), "{code}: `{key}` is not in en.toml");
                assert!(non_empty, "{code}: `{key}` is empty or not text");
            }
            for key in &english {
                assert!(
                    found.iter().any(|(k, _)| k == key),
                    "{code}: `{key}` is missing"
                );
            }
        }
    }

    #[test]
    fn a_bad_catalog_is_refused_with_its_key() {
        let good = Lang::Nl.source();
        let err = |text: &str| parse(Lang::Nl, text).unwrap_err().to_string();
        let missing = good.replace("page_title = ", "# page_title = ");
        assert!(err(&missing).contains("page_title"), "{}", err(&missing));
        let unknown = good.replace("[ui]\n", "[ui]\nshoe_size = \"42\"\n");
        assert!(err(&unknown).contains("shoe_size"), "{}", err(&unknown));
        let empty = good.replacen("retry = \"", "retry = \"\" # \"", 1);
        assert_eq!(err(&empty), "translations, i18n/nl.toml: `retry` is empty");
        let extra = format!("{good}NO_SUCH_CODE = \"x\"\n");
        assert!(
            err(&extra).contains("reasons.NO_SUCH_CODE"),
            "{}",
            err(&extra)
        );
        let gone = good.replace("\nGENERIC = ", "\n# GENERIC = ");
        assert_eq!(
            err(&gone),
            "translations, i18n/nl.toml: `reasons.GENERIC` is missing"
        );
        assert!(err("page_title = ").starts_with("translations, i18n/nl.toml: "));
    }
}
