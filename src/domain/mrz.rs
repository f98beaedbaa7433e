//! What a document's machine-readable zone says (`results.document.mrz`), and the rules
//! that read it: expiry, age and the form's cross-check. Pure data; the reading itself is
//! `crate::document`.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use mrz::TransliterationStyle;
use serde::{Deserialize, Serialize};

use super::FormField;

/// The ICAO 9303 layout of a zone.
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
pub enum MrzFormat {
    /// Three lines of 30 characters: identity cards (ID-1).
    #[serde(rename = "TD1")]
    #[strum(serialize = "TD1")]
    Td1,
    /// Two lines of 36 characters (ID-2).
    #[serde(rename = "TD2")]
    #[strum(serialize = "TD2")]
    Td2,
    /// Two lines of 44 characters: passport data pages (ID-3).
    #[serde(rename = "TD3")]
    #[strum(serialize = "TD3")]
    Td3,
}

impl MrzFormat {
    /// Lines and characters per line.
    pub const fn shape(self) -> (usize, usize) {
        match self {
            MrzFormat::Td1 => (3, 30),
            MrzFormat::Td2 => (2, 36),
            MrzFormat::Td3 => (2, 44),
        }
    }

    /// The format of a zone of `lines` lines of `chars` characters.
    pub fn of_shape(lines: usize, chars: usize) -> Option<MrzFormat> {
        [MrzFormat::Td1, MrzFormat::Td2, MrzFormat::Td3]
            .into_iter()
            .find(|f| f.shape() == (lines, chars))
    }
}

/// One boolean per check digit the format prints: `true` when it agrees with its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MrzChecks {
    pub document_number: bool,
    pub date_of_birth: bool,
    pub date_of_expiry: bool,
    pub composite: bool,
    /// TD3 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_number: Option<bool>,
}

impl MrzChecks {
    pub fn all(&self) -> bool {
        self.document_number
            && self.date_of_birth
            && self.date_of_expiry
            && self.composite
            && self.personal_number.unwrap_or(true)
    }
}

/// The fields of a read zone. Names are as printed (upper case, ICAO transliteration,
/// fillers turned into single spaces); dates `YYYY-MM-DD`, absent when the zone leaves them
/// unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mrz {
    pub format: MrzFormat,
    pub document_code: String,
    pub issuing_state: String,
    pub document_number: String,
    pub nationality: String,
    pub date_of_birth: Option<NaiveDate>,
    pub date_of_expiry: Option<NaiveDate>,
    /// `M`, `F` or `X` (unspecified).
    pub sex: String,
    pub surname: String,
    pub given_names: String,
    /// The optional data elements, fillers trimmed, joined by a space (TD1 has two).
    pub optional_data: Option<String>,
    pub checks: MrzChecks,
    /// Every check digit agrees.
    pub valid: bool,
}

impl Mrz {
    /// Past its date of expiry on `today` (a document is valid through its expiry day).
    pub fn expired_on(&self, today: NaiveDate) -> bool {
        self.date_of_expiry.is_some_and(|e| e < today)
    }

    /// The holder's age in whole years on `today`, when the zone gives a date of birth.
    pub fn age_on(&self, today: NaiveDate) -> Option<u32> {
        let born = self.date_of_birth?;
        let mut years = today.year() - born.year();
        if (today.month(), today.day()) < (born.month(), born.day()) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }

    /// The fields of `form` (accepted values by field name) that disagree with the zone, in
    /// [`CROSS_CHECKED`] order. A field the form does not have, or the zone leaves
    /// unknown, is not judged. Names compare as the issuer would have written them in the
    /// zone: case, spacing, hyphens and apostrophes do not count, and national characters
    /// are taken in any of ICAO 9303's transliterations (`Jürgen` is `JUERGEN` or
    /// `JURGEN`).
    pub fn mismatches(&self, form: &BTreeMap<String, String>) -> Vec<FormField> {
        CROSS_CHECKED
            .into_iter()
            .filter(|field| {
                let Some(typed) = form.get(field.as_str()).filter(|t| !t.trim().is_empty()) else {
                    return false;
                };
                match field {
                    FormField::FirstName if !self.given_names.trim().is_empty() => {
                        !given_names_match(typed, &self.given_names, self.name_truncated())
                    }
                    FormField::LastName if !self.surname.trim().is_empty() => {
                        !surname_matches(typed, &self.surname, self.name_truncated())
                    }
                    FormField::DateOfBirth => self.date_of_birth.is_some_and(|born| {
                        NaiveDate::parse_from_str(typed.trim(), "%Y-%m-%d") != Ok(born)
                    }),
                    _ => false,
                }
            })
            .collect()
    }

    /// What the zone says of the form's cross-checked fields, for the user to confirm:
    /// names in title case (the zone has capitals only), the date of birth `YYYY-MM-DD`.
    pub fn form_values(&self) -> BTreeMap<FormField, String> {
        let mut out = BTreeMap::new();
        if !self.given_names.trim().is_empty() {
            out.insert(FormField::FirstName, title_case(&self.given_names));
        }
        if !self.surname.trim().is_empty() {
            out.insert(FormField::LastName, title_case(&self.surname));
        }
        if let Some(born) = self.date_of_birth {
            out.insert(FormField::DateOfBirth, born.to_string());
        }
        out
    }

    /// The zone's name field is full, so the issuer may have cut the name short.
    fn name_truncated(&self) -> bool {
        let capacity = match self.format {
            MrzFormat::Td1 => 30,
            MrzFormat::Td2 => 31,
            MrzFormat::Td3 => 39,
        };
        let given = self.given_names.trim().len();
        let written = self.surname.trim().len() + if given > 0 { 2 + given } else { 0 };
        written >= capacity
    }
}

/// The form fields a zone vouches for.
pub const CROSS_CHECKED: [FormField; 3] = [
    FormField::FirstName,
    FormField::LastName,
    FormField::DateOfBirth,
];

/// Every way an issuer may have written `typed` in a zone, as its name components: ICAO
/// 9303 Part 3 §6 admits several transliterations of a few letters (`Ü` is `UE`, `U` or
/// `UXX`), and §4.6 drops apostrophes and folds spaces, hyphens and commas to fillers.
fn spellings(typed: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = [
        TransliterationStyle::Expanded,
        TransliterationStyle::Simple,
        TransliterationStyle::XxSuffix,
    ]
    .into_iter()
    .map(|style| {
        components(&mrz::encode_name_component(&mrz::transliterate(
            typed, style,
        )))
    })
    .collect();
    out.dedup();
    out
}

/// A zone's name (fillers as `<` or spaces) as its components.
fn components(zone: &str) -> Vec<String> {
    zone.split(|c: char| c == '<' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The same name, or one cut short where the zone ran out of room.
fn same_name(typed: &[String], zone: &[String], truncated: bool) -> bool {
    typed.concat() == zone.concat() || (truncated && typed.join("<").starts_with(&zone.join("<")))
}

/// A typed surname against the zone's.
fn surname_matches(typed: &str, zone: &str, truncated: bool) -> bool {
    let zone = components(zone);
    spellings(typed)
        .iter()
        .any(|t| !t.is_empty() && same_name(t, &zone, truncated))
}

/// A typed first name against the zone's given names: all of them, or the first ones
/// (people often give only the name they use).
fn given_names_match(typed: &str, zone: &str, truncated: bool) -> bool {
    let zone = components(zone);
    spellings(typed).iter().any(|t| {
        !t.is_empty() && (same_name(t, &zone, truncated) || zone.starts_with(t.as_slice()))
    })
}

/// `ANNA MARIA` → `Anna Maria`.
fn title_case(zone: &str) -> String {
    components(zone)
        .iter()
        .map(|word| {
            let lower = word.to_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A zone that passed its checks: ERIKSSON / ANNA MARIA, born 1974-08-12.
    pub(crate) fn sample() -> Mrz {
        mrz("1974-08-12", "2030-04-15")
    }

    fn mrz(born: &str, expires: &str) -> Mrz {
        Mrz {
            format: MrzFormat::Td3,
            document_code: "P".into(),
            issuing_state: "UTO".into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            date_of_birth: born.parse().ok(),
            date_of_expiry: expires.parse().ok(),
            sex: "F".into(),
            surname: "ERIKSSON".into(),
            given_names: "ANNA MARIA".into(),
            optional_data: None,
            checks: MrzChecks {
                document_number: true,
                date_of_birth: true,
                date_of_expiry: true,
                composite: true,
                personal_number: Some(true),
            },
            valid: true,
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_document_is_valid_through_its_expiry_day() {
        let m = mrz("1974-08-12", "2030-04-15");
        assert!(!m.expired_on(day("2030-04-15")));
        assert!(m.expired_on(day("2030-04-16")));
        assert!(!mrz("1974-08-12", "unknown").expired_on(day("2099-01-01")));
    }

    #[test]
    fn age_counts_whole_years_to_the_birthday() {
        let m = mrz("2008-02-29", "2030-01-01");
        assert_eq!(m.age_on(day("2026-02-28")), Some(17));
        assert_eq!(m.age_on(day("2026-03-01")), Some(18));
        assert_eq!(
            mrz("2030-01-01", "2040-01-01").age_on(day("2026-01-01")),
            None
        );
        assert_eq!(mrz("unknown", "2040-01-01").age_on(day("2026-01-01")), None);
    }

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn named(surname: &str, given: &str) -> Mrz {
        Mrz {
            surname: surname.into(),
            given_names: given.into(),
            ..mrz("1974-08-12", "2030-04-15")
        }
    }

    #[test]
    fn the_form_is_cross_checked_as_the_zone_writes_names() {
        // (zone surname, zone given names, typed last name, typed first name, agrees)
        let cases = [
            ("ERIKSSON", "ANNA MARIA", "Eriksson", "Anna Maria", true),
            (
                "ERIKSSON",
                "ANNA MARIA",
                "  eriksson ",
                "anna   maria",
                true,
            ),
            ("ERIKSSON", "ANNA MARIA", "ERIKSSON", "Anna-Maria", true),
            ("ERIKSSON", "ANNA MARIA", "Eriksson", "Anna", true),
            ("ERIKSSON", "ANNA MARIA", "Eriksson", "Maria", false),
            ("ERIKSSON", "ANNA MARIA", "Eriksen", "Anna Maria", false),
            ("ERIKSSON", "ANNA MARIA", "Lovelace", "Ada", false),
            ("MUELLER", "JUERGEN", "Müller", "Jürgen", true),
            ("MULLER", "JURGEN", "Müller", "Jürgen", true),
            ("MUXXLLER", "JUXXRGEN", "Müller", "Jürgen", true),
            ("OCONNOR", "SEAN", "O'Connor", "Seán", true),
            (
                "GARCIA LOPEZ",
                "JOSE LUIS",
                "García-López",
                "José Luis",
                true,
            ),
            ("VAN DER BERG", "PIETER", "van der Berg", "Pieter", true),
            ("VAN DER BERG", "PIETER", "Berg", "Pieter", false),
            ("IVANOV", "IVAN", "Иванов", "Иван", true),
            ("DUBOIS", "CLAIRE", "Dubois", "", true),
        ];
        for (surname, given, last, first, agrees) in cases {
            let zone = named(surname, given);
            let typed = form(&[("last_name", last), ("first_name", first)]);
            let found = zone.mismatches(&typed);
            assert_eq!(
                found.is_empty(),
                agrees,
                "{surname}/{given} vs {last}/{first}: {found:?}"
            );
        }
        let zone = named("ERIKSSON", "ANNA MARIA");
        assert_eq!(
            zone.mismatches(&form(&[("first_name", "Ada"), ("last_name", "Lovelace")])),
            vec![FormField::FirstName, FormField::LastName]
        );
    }

    #[test]
    fn a_name_the_zone_cut_short_still_agrees() {
        // TD1 gives surname and given names 30 characters in all.
        let zone = Mrz {
            format: MrzFormat::Td1,
            ..named("WOLFESCHLEGELSTEINHAUSEN", "HUBERT")
        };
        assert_eq!(zone.surname.len() + 2 + zone.given_names.len(), 32);
        let cut = Mrz {
            given_names: "HUBE".into(),
            ..zone.clone()
        };
        let typed = form(&[
            ("last_name", "Wolfeschlegelsteinhausen"),
            ("first_name", "Hubert"),
        ]);
        assert!(cut.mismatches(&typed).is_empty());
        // Room to spare: a short name is not cut, so a prefix is a different name.
        let short = named("ERIKSSON", "ANN");
        assert_eq!(
            short.mismatches(&form(&[("first_name", "Anna")])),
            vec![FormField::FirstName]
        );
    }

    #[test]
    fn dates_of_birth_are_compared_as_dates() {
        let zone = named("ERIKSSON", "ANNA MARIA");
        assert!(
            zone.mismatches(&form(&[("date_of_birth", "1974-08-12")]))
                .is_empty()
        );
        assert_eq!(
            zone.mismatches(&form(&[("date_of_birth", "1974-08-13")])),
            vec![FormField::DateOfBirth]
        );
        // A zone that leaves the date unknown judges nothing; nor does a form without it.
        let unknown = Mrz {
            date_of_birth: None,
            ..zone.clone()
        };
        assert!(
            unknown
                .mismatches(&form(&[("date_of_birth", "1974-08-13")]))
                .is_empty()
        );
        assert!(
            zone.mismatches(&form(&[("email", "a@b.example")]))
                .is_empty()
        );
    }

    #[test]
    fn the_form_is_offered_what_the_zone_says() {
        let values = named("VAN DER BERG", "ANNA MARIA").form_values();
        assert_eq!(values[&FormField::FirstName], "Anna Maria");
        assert_eq!(values[&FormField::LastName], "Van Der Berg");
        assert_eq!(values[&FormField::DateOfBirth], "1974-08-12");
        let bare = Mrz {
            date_of_birth: None,
            given_names: String::new(),
            ..named("SATO", "")
        };
        assert_eq!(bare.form_values().len(), 1);
    }

    #[test]
    fn formats_have_their_shapes() {
        for f in [MrzFormat::Td1, MrzFormat::Td2, MrzFormat::Td3] {
            let (l, c) = f.shape();
            assert_eq!(MrzFormat::of_shape(l, c), Some(f));
        }
        assert_eq!(MrzFormat::of_shape(2, 30), None);
        assert_eq!(serde_json::to_value(MrzFormat::Td1).unwrap(), "TD1");
    }
}
