//! What a document's machine-readable zone says (`results.document.mrz`), and the rules
//! that read it: expiry and age. Pure data; the reading itself is `crate::document`.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
