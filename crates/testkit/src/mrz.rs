//! Machine-readable zones printed in OCR-B: a holder's data, the zone lines ICAO 9303 makes
//! of it (by the `mrz` crate's emitters), and a printer that sets text in the typeface at a
//! document's physical pitch.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use v2client::document::glyphs::OCR_B;
use v2client::domain::DocumentType;

use crate::synth::Rng;

/// Everything a zone says about its holder and document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub document_code: String,
    pub issuing_state: String,
    pub document_number: String,
    pub surname: String,
    pub given_names: String,
    pub nationality: String,
    /// `(year, month, day)`.
    pub date_of_birth: (i32, u32, u32),
    pub date_of_expiry: (i32, u32, u32),
    /// `M`, `F` or `<`.
    pub sex: char,
    pub optional_data: String,
}

impl Default for Holder {
    /// The holder every generated document shows unless told otherwise: an adult whose
    /// document expires long after any test runs.
    fn default() -> Self {
        Holder {
            document_code: "P".into(),
            issuing_state: "UTO".into(),
            document_number: "L898902C3".into(),
            surname: "ERIKSSON".into(),
            given_names: "ANNA MARIA".into(),
            nationality: "UTO".into(),
            date_of_birth: (1974, 8, 12),
            date_of_expiry: (2041, 4, 15),
            sex: 'F',
            optional_data: "ZE184226B".into(),
        }
    }
}

const SURNAMES: &[&str] = &[
    "ERIKSSON",
    "OKAFOR",
    "NGUYEN",
    "GARCIA LOPEZ",
    "MUELLER",
    "DUBOIS",
    "KOWALSKA",
    "ROSSI",
    "VAN DER BERG",
    "OBRIEN",
    "SATO",
    "HOSSEINI",
    "SILVA",
    "JANSEN",
    "PETROV",
    "MBEKI",
];
const GIVEN: &[&str] = &[
    "ANNA MARIA",
    "JOHN",
    "LINH",
    "JOSE LUIS",
    "KLAUS",
    "CLAIRE",
    "ZOFIA",
    "MARCO",
    "PIETER",
    "AOIFE",
    "YUKI",
    "DARIUS",
    "BEATRIZ",
    "SANNE",
    "IVAN",
    "THABO",
    "OLUWASEUN",
];
const STATES: &[&str] = &[
    "UTO", "NLD", "DEU", "FRA", "ESP", "GBR", "D", "ITA", "POL", "SWE",
];

impl Holder {
    /// [`Holder::default`] on a document of `doc`: a passport (`P`) or an identity card (`I`).
    pub fn for_document(doc: DocumentType) -> Holder {
        Holder {
            document_code: if doc == DocumentType::Passport {
                "P"
            } else {
                "I"
            }
            .into(),
            ..Holder::default()
        }
    }

    /// A random holder with a random number, dates and names, for `doc`.
    pub fn random(doc: DocumentType, rng: &mut Rng) -> Holder {
        let pick = |rng: &mut Rng, list: &[&str]| {
            list[(rng.next_u64() % list.len() as u64) as usize].to_owned()
        };
        let alnum = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let number_len = 8 + (rng.next_u64() % 2) as usize;
        let document_number: String = (0..number_len)
            .map(|i| {
                let set: &[u8] = if i == 0 { &alnum[10..] } else { alnum };
                char::from(set[(rng.next_u64() % set.len() as u64) as usize])
            })
            .collect();
        let state = pick(rng, STATES);
        let day = |rng: &mut Rng, y0: i32, y1: i32| {
            (
                y0 + (rng.next_u64() % (y1 - y0) as u64) as i32,
                1 + (rng.next_u64() % 12) as u32,
                1 + (rng.next_u64() % 28) as u32,
            )
        };
        Holder {
            document_code: if doc == DocumentType::Passport {
                "P"
            } else {
                "I"
            }
            .into(),
            issuing_state: state.clone(),
            document_number,
            surname: pick(rng, SURNAMES),
            given_names: pick(rng, GIVEN),
            nationality: state,
            date_of_birth: day(rng, 1940, 2006),
            date_of_expiry: day(rng, 2027, 2036),
            sex: ['M', 'F', '<'][(rng.next_u64() % 3) as usize],
            optional_data: if rng.next_u64().is_multiple_of(2) {
                String::new()
            } else {
                format!("{}", 100_000 + rng.next_u64() % 900_000)
            },
        }
    }

    /// The zone's lines for a document of `doc` (TD3 for passports, TD1 for cards).
    pub fn zone(&self, doc: DocumentType) -> Vec<String> {
        let date = |(y, m, d): (i32, u32, u32)| mrz::MrzDate::Calendar(mrz::Date::new(y, m, d));
        let sex = mrz::Sex::from_zone(self.sex);
        let text = if doc == DocumentType::Passport {
            mrz::format_td3(&mrz::Td3Fields {
                document_code: self.document_code.clone(),
                issuing_country: self.issuing_state.clone(),
                document_number: self.document_number.clone(),
                surname: self.surname.clone(),
                given_names: self.given_names.clone(),
                nationality: self.nationality.clone(),
                date_of_birth: date(self.date_of_birth),
                sex,
                date_of_expiry: date(self.date_of_expiry),
                personal_number: (!self.optional_data.is_empty())
                    .then(|| self.optional_data.clone()),
            })
        } else {
            mrz::format_td1(&mrz::Td1Fields {
                document_code: self.document_code.clone(),
                issuing_country: self.issuing_state.clone(),
                document_number: self.document_number.clone(),
                surname: self.surname.clone(),
                given_names: self.given_names.clone(),
                nationality: self.nationality.clone(),
                date_of_birth: date(self.date_of_birth),
                sex,
                date_of_expiry: date(self.date_of_expiry),
                ..Default::default()
            })
        };
        text.lines().map(str::to_owned).collect()
    }

    /// `YYYY-MM-DD` of the date of birth, as a form would carry it.
    pub fn birth_date(&self) -> String {
        let (y, m, d) = self.date_of_birth;
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// Where and how large a zone is printed on a document, in millimetres.
#[derive(Debug, Clone, Copy)]
pub struct ZoneGeometry {
    pub left_mm: f64,
    /// Baseline of the last line, from the top.
    pub last_baseline_mm: f64,
    pub line_pitch_mm: f64,
    pub char_pitch_mm: f64,
    pub cap_mm: f64,
}

impl ZoneGeometry {
    /// ICAO 9303's placement: 2.54 mm per character, lines about 4.2 mm apart, near the
    /// bottom edge.
    pub fn of(doc: DocumentType) -> ZoneGeometry {
        match doc {
            DocumentType::Passport => ZoneGeometry {
                left_mm: 6.6,
                last_baseline_mm: 82.6,
                line_pitch_mm: 4.3,
                char_pitch_mm: 2.54,
                cap_mm: 2.35,
            },
            _ => ZoneGeometry {
                left_mm: 4.7,
                last_baseline_mm: 50.6,
                line_pitch_mm: 4.3,
                char_pitch_mm: 2.54,
                cap_mm: 2.35,
            },
        }
    }
}

/// Set `text` in OCR-B on `img`: capitals `cap` px tall, one character every `pitch` px,
/// starting at `left` with the baseline at `baseline`, ink blended by coverage.
pub fn print(
    img: &mut RgbImage,
    text: &str,
    left: f64,
    baseline: f64,
    cap: f64,
    pitch: f64,
    ink: Rgb<u8>,
) {
    let font = FontRef::try_from_slice(OCR_B).expect("the embedded OCR-B font parses");
    let probe = PxScale::from(100.0);
    let h = font
        .outline_glyph(
            font.glyph_id('H')
                .with_scale_and_position(probe, point(0.0, 0.0)),
        )
        .map_or(70.0, |g| g.px_bounds().height());
    let sy = 100.0 * cap as f32 / h;
    let natural = font
        .as_scaled(PxScale::from(sy))
        .h_advance(font.glyph_id('0'));
    let scale = PxScale {
        x: sy * pitch as f32 / natural,
        y: sy,
    };
    for (i, c) in text.chars().enumerate() {
        let x = left + pitch * i as f64;
        let glyph = font
            .glyph_id(c)
            .with_scale_and_position(scale, point(x as f32, baseline as f32));
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue;
        };
        let b = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let px = b.min.x as i64 + i64::from(gx);
            let py = b.min.y as i64 + i64::from(gy);
            if px < 0 || py < 0 || px >= i64::from(img.width()) || py >= i64::from(img.height()) {
                return;
            }
            let p = img.get_pixel_mut(px as u32, py as u32);
            for (ch, k) in p.0.iter_mut().zip(ink.0) {
                *ch = (f32::from(*ch) * (1.0 - coverage) + f32::from(k) * coverage) as u8;
            }
        });
    }
}

/// Print `lines` as the zone of a `doc` whose face is `img` (its full width is the
/// document's width).
pub fn print_zone(img: &mut RgbImage, doc: DocumentType, lines: &[String]) {
    let lay = v2client::imaging::layout(doc);
    let px_per_mm = f64::from(img.width()) / lay.width_mm;
    let g = ZoneGeometry::of(doc);
    let n = lines.len();
    for (k, line) in lines.iter().enumerate() {
        let baseline = g.last_baseline_mm - g.line_pitch_mm * (n - 1 - k) as f64;
        print(
            img,
            line,
            g.left_mm * px_per_mm,
            baseline * px_per_mm,
            g.cap_mm * px_per_mm,
            g.char_pitch_mm * px_per_mm,
            Rgb([28, 28, 32]),
        );
    }
}

/// A date of the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    Birth,
    Expiry,
}

/// `lines` (a TD1, TD2 or TD3 zone) with one digit of a date changed and every check digit
/// left as it was: what an edit of the printed date that does not recompute the checks
/// leaves. The new date is still a calendar date (a year digit, or the day's units kept
/// within 1–28), so only the check digits can tell.
pub fn tamper_date(lines: &[String], field: DateField, rng: &mut Rng) -> Vec<String> {
    // TD1: line 2, birth in cells 0–5, expiry in 8–13; TD2 and TD3: line 2, 13–18 and 21–26.
    let (line, start) = match (lines.len(), field) {
        (3, DateField::Birth) => (1, 0),
        (3, DateField::Expiry) => (1, 8),
        (_, DateField::Birth) => (1, 13),
        (_, DateField::Expiry) => (1, 21),
    };
    let mut chars: Vec<char> = lines[line].chars().collect();
    let digit = |c: char| c.to_digit(10).expect("a printed date is digits");
    // Which of YYMMDD: the two year digits or the day's units.
    let at = [0, 1, 5][(rng.next_u64() % 3) as usize];
    let old = digit(chars[start + at]);
    let allowed: Vec<u32> = (0..10)
        .filter(|&d| d != old)
        .filter(|&d| at != 5 || (1..=28).contains(&(digit(chars[start + 4]) * 10 + d)))
        .collect();
    let new = allowed[(rng.next_u64() % allowed.len() as u64) as usize];
    chars[start + at] = char::from_digit(new, 10).expect("a digit");
    let mut out = lines.to_vec();
    out[line] = chars.into_iter().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_date_differs_in_one_digit_and_fails_its_check() {
        let mut rng = Rng::new(9);
        for doc in [DocumentType::Passport, DocumentType::IdCard] {
            for i in 0..40 {
                let lines = Holder::random(doc, &mut rng).zone(doc);
                let field = if i % 2 == 0 {
                    DateField::Birth
                } else {
                    DateField::Expiry
                };
                let tampered = tamper_date(&lines, field, &mut rng);
                let changed: Vec<(char, char)> = lines
                    .concat()
                    .chars()
                    .zip(tampered.concat().chars())
                    .filter(|(a, b)| a != b)
                    .collect();
                assert_eq!(changed.len(), 1, "{lines:?} {tampered:?}");
                assert!(changed[0].1.is_ascii_digit());
                // The date's own check digit (weights 7, 3, 1 are prime to 10, so any
                // one changed digit changes it) no longer agrees.
                let start = match (doc, field) {
                    (DocumentType::Passport, DateField::Birth) => 13,
                    (DocumentType::Passport, DateField::Expiry) => 21,
                    (_, DateField::Birth) => 0,
                    (_, DateField::Expiry) => 8,
                };
                let l = &tampered[1];
                let check = l[start + 6..start + 7].chars().next().unwrap();
                assert!(!mrz::verify(&l[start..start + 6], check), "{tampered:?}");
                assert!(mrz::verify(
                    &lines[1][start..start + 6],
                    lines[1][start + 6..].chars().next().unwrap()
                ));
            }
        }
    }
}
