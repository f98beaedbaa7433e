//! Reading a zone's grid: each cell matched against the characters its position may hold
//! (ICAO 9303 fixes the kind of every position), check-digit repair of the usual OCR
//! confusions where the read itself was unsure, and the parse.

use std::ops::Range;

use chrono::NaiveDate;

use super::glyphs::{CAP, CellScores, SHIFT, Search, Templates};
use super::locate::{Grey, Grid};
use crate::domain::mrz::{Mrz, MrzChecks, MrzFormat};

/// A cell read this far below its best alternative (in correlation) is unsure.
const UNSURE_MARGIN: f32 = 0.06;
/// A cell whose best match correlates less than this is unsure.
const UNSURE_SCORE: f32 = 0.55;
/// A cell scoring this far below its line's typical cell is unsure.
const OUTLIER_DROP: f32 = 0.15;
/// How close a look-alike of the other class must score to take its neighbours' class.
const CLASS_MARGIN: f32 = 0.1;
/// How close an alternative must score to be considered for a state code.
const STATE_MARGIN: f32 = 0.15;

/// What a position of the zone may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A letter or the filler (names, state codes).
    Alpha,
    /// A digit or the filler (dates).
    Digit,
    /// A letter, a digit or the filler (numbers, optional data).
    AlphaNum,
    /// `M`, `F`, `X` or the filler.
    Sex,
    /// A check digit (or the filler where a field is empty or overflows).
    Check,
    /// The first letter of the document code.
    Code,
}

impl Kind {
    fn allows(self, c: u8) -> bool {
        match self {
            Kind::Alpha => c.is_ascii_uppercase() || c == b'<',
            Kind::Digit | Kind::Check => c.is_ascii_digit() || c == b'<',
            Kind::AlphaNum => c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'<',
            Kind::Sex => matches!(c, b'M' | b'F' | b'X' | b'<'),
            Kind::Code => c.is_ascii_uppercase(),
        }
    }
}

/// A run of cells on one line.
#[derive(Debug, Clone)]
struct Cells {
    line: usize,
    range: Range<usize>,
}

/// A check digit and the cells it covers.
#[derive(Debug, Clone)]
struct CheckDigit {
    name: Check,
    covers: Vec<Cells>,
    at: (usize, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    DocumentNumber,
    DateOfBirth,
    DateOfExpiry,
    PersonalNumber,
    Composite,
}

fn cells(line: usize, range: Range<usize>) -> Cells {
    Cells { line, range }
}

/// The kind of each position of a format, line by line.
fn kinds(format: MrzFormat) -> Vec<Vec<Kind>> {
    use Kind::*;
    let run = |k: Kind, n: usize| std::iter::repeat_n(k, n);
    let header = |n: usize| -> Vec<Kind> {
        [Code]
            .into_iter()
            .chain(run(Alpha, 4))
            .chain(run(Alpha, n - 5))
            .collect()
    };
    match format {
        MrzFormat::Td1 => vec![
            [Code]
                .into_iter()
                .chain(run(Alpha, 4))
                .chain(run(AlphaNum, 9))
                .chain([Check])
                .chain(run(AlphaNum, 15))
                .collect(),
            run(Digit, 6)
                .chain([Check, Sex])
                .chain(run(Digit, 6))
                .chain([Check])
                .chain(run(Alpha, 3))
                .chain(run(AlphaNum, 11))
                .chain([Check])
                .collect(),
            run(Alpha, 30).collect(),
        ],
        MrzFormat::Td2 | MrzFormat::Td3 => {
            let n = format.shape().1;
            let optional = n - 28 - if format == MrzFormat::Td3 { 2 } else { 1 };
            let mut second: Vec<Kind> = run(AlphaNum, 9)
                .chain([Check])
                .chain(run(Alpha, 3))
                .chain(run(Digit, 6))
                .chain([Check, Sex])
                .chain(run(Digit, 6))
                .chain([Check])
                .chain(run(AlphaNum, optional))
                .collect();
            if format == MrzFormat::Td3 {
                second.push(Check);
            }
            second.push(Check);
            vec![header(n), second]
        }
    }
}

/// The check digits of a format, the composite last.
fn check_digits(format: MrzFormat) -> Vec<CheckDigit> {
    let digit = |name, covers, at| CheckDigit { name, covers, at };
    match format {
        MrzFormat::Td1 => vec![
            digit(Check::DocumentNumber, vec![cells(0, 5..14)], (0, 14)),
            digit(Check::DateOfBirth, vec![cells(1, 0..6)], (1, 6)),
            digit(Check::DateOfExpiry, vec![cells(1, 8..14)], (1, 14)),
            digit(
                Check::Composite,
                vec![
                    cells(0, 5..30),
                    cells(1, 0..7),
                    cells(1, 8..15),
                    cells(1, 18..29),
                ],
                (1, 29),
            ),
        ],
        MrzFormat::Td2 => vec![
            digit(Check::DocumentNumber, vec![cells(1, 0..9)], (1, 9)),
            digit(Check::DateOfBirth, vec![cells(1, 13..19)], (1, 19)),
            digit(Check::DateOfExpiry, vec![cells(1, 21..27)], (1, 27)),
            digit(
                Check::Composite,
                vec![cells(1, 0..10), cells(1, 13..20), cells(1, 21..35)],
                (1, 35),
            ),
        ],
        MrzFormat::Td3 => vec![
            digit(Check::DocumentNumber, vec![cells(1, 0..9)], (1, 9)),
            digit(Check::DateOfBirth, vec![cells(1, 13..19)], (1, 19)),
            digit(Check::DateOfExpiry, vec![cells(1, 21..27)], (1, 27)),
            digit(Check::PersonalNumber, vec![cells(1, 28..42)], (1, 42)),
            digit(
                Check::Composite,
                vec![cells(1, 0..10), cells(1, 13..20), cells(1, 21..43)],
                (1, 43),
            ),
        ],
    }
}

/// Where the document number sits: its cells and its check digit.
pub fn document_number_cells(format: MrzFormat) -> (usize, Range<usize>) {
    match format {
        MrzFormat::Td1 => (0, 5..15),
        MrzFormat::Td2 | MrzFormat::Td3 => (1, 0..10),
    }
}

/// Characters that OCR confuses across the letter/digit divide, which only a check digit
/// can tell apart in a field that may hold both.
const CONFUSABLE: [(u8, u8); 7] = [
    (b'O', b'0'),
    (b'D', b'0'),
    (b'Q', b'0'),
    (b'I', b'1'),
    (b'B', b'8'),
    (b'S', b'5'),
    (b'Z', b'2'),
];

pub(super) fn partners(c: u8) -> impl Iterator<Item = u8> {
    CONFUSABLE.iter().filter_map(move |&(a, b)| {
        if a == c {
            Some(b)
        } else if b == c {
            Some(a)
        } else {
            None
        }
    })
}

/// One cell as read.
#[derive(Debug, Clone)]
struct Cell {
    scores: CellScores,
    kind: Kind,
    read: u8,
    unsure: bool,
}

/// How reading a found zone ended.
#[derive(Debug, Clone)]
pub enum ZoneRead {
    /// Parsed; `valid` says whether every check digit agrees.
    Parsed { mrz: Mrz, lines: Vec<String> },
    /// Every check digit that fails covers a cell the read was unsure of, or the zone did
    /// not parse: a better photo may read.
    Unreadable,
    /// A check digit fails over cells read with confidence: the printed zone is wrong.
    CheckFailed { mrz: Mrz, lines: Vec<String> },
}

/// Read the cells of `grid` on `grey`.
pub fn read(grey: &Grey, grid: &Grid) -> ZoneRead {
    let Some(format) = MrzFormat::of_shape(grid.lines.len(), grid.chars) else {
        return ZoneRead::Unreadable;
    };
    let templates = Templates::shared();
    let kinds = kinds(format);
    let mut zone: Vec<Vec<Cell>> = kinds
        .iter()
        .enumerate()
        .map(|(l, line)| {
            let (stretch, search) = calibrate(grey, grid, templates, l);
            line.iter()
                .enumerate()
                .map(|(i, &kind)| {
                    let patch = patch(grey, grid, templates, l, i, stretch);
                    let scores = templates.search(&patch, &search).scores;
                    let (read, best) = scores.best(|c| kind.allows(c));
                    let second = scores.best(|c| kind.allows(c) && c != read).1;
                    Cell {
                        unsure: best < UNSURE_SCORE || best - second < UNSURE_MARGIN,
                        scores,
                        kind,
                        read,
                    }
                })
                .collect()
        })
        .collect();
    mark_outliers(&mut zone);
    prefer_neighbours_class(&mut zone, document_number_cells(format));
    for (line, range) in state_codes(format) {
        fix_state_code(&mut zone[line], range);
    }
    let digits = check_digits(format);
    let mut failing = Vec::new();
    for digit in &digits {
        if !holds(&zone, digit) && !repair(&mut zone, digit) {
            failing.push(digit);
        }
    }
    let lines: Vec<String> = zone
        .iter()
        .map(|l| l.iter().map(|c| char::from(c.read)).collect())
        .collect();
    let Some(mrz) = parse(format, &lines) else {
        return ZoneRead::Unreadable;
    };
    if failing.is_empty() {
        return ZoneRead::Parsed { mrz, lines };
    }
    // A check digit failing over cells read with confidence is evidence about the print;
    // only when every failure may be the read's own doing is a retake the answer.
    let unsure = failing.iter().all(|d| {
        d.covers
            .iter()
            .flat_map(|c| c.range.clone().map(move |i| (c.line, i)))
            .chain([d.at])
            .any(|(l, i)| zone[l][i].unsure)
    });
    if unsure {
        ZoneRead::Unreadable
    } else {
        ZoneRead::CheckFailed { mrz, lines }
    }
}

/// Vertical stretches tried for a line: a crop straightened from slightly misplaced
/// corners is a few percent taller or shorter than the document.
const STRETCHES: [f64; 5] = [0.9, 0.95, 1.0, 1.05, 1.1];

/// How line `l` is printed and photographed: its vertical stretch, blur and vertical
/// offset are the same for every cell, so they are measured once on every fifth cell and
/// the line's cells are then searched only around them.
fn calibrate(grey: &Grey, grid: &Grid, t: &Templates, l: usize) -> (f64, Search) {
    let samples: Vec<usize> = (0..grid.chars).step_by(5).collect();
    // Each sample's three best characters, with everything searched.
    let top: Vec<[bool; 37]> = samples
        .iter()
        .map(|&i| {
            let found = t.search(&patch(grey, grid, t, l, i, 1.0), &Search::everything());
            let mut order: Vec<usize> = (0..37).collect();
            order.sort_by(|&a, &b| found.scores.0[b].total_cmp(&found.scores.0[a]));
            let mut mask = [false; 37];
            order.iter().take(3).for_each(|&g| mask[g] = true);
            mask
        })
        .collect();
    let mut best = (1.0, f32::NEG_INFINITY, Vec::new());
    for stretch in STRETCHES {
        let mut total = 0f32;
        let mut picks = Vec::new();
        for (&i, mask) in samples.iter().zip(&top) {
            let search = Search {
                glyphs: *mask,
                ..Search::everything()
            };
            let found = t.search(&patch(grey, grid, t, l, i, stretch), &search);
            let (c, s) = found.scores.best(|_| true);
            let g = super::glyphs::ALPHABET
                .iter()
                .position(|&a| a == c)
                .unwrap_or(0);
            total += s;
            picks.push((found.blur[g], found.dy[g]));
        }
        if total > best.1 {
            best = (stretch, total, picks);
        }
    }
    let (stretch, _, picks) = best;
    let mut blurs: Vec<usize> = picks.iter().map(|p| p.0).collect();
    let mut dys: Vec<usize> = picks.iter().map(|p| p.1).collect();
    blurs.sort_unstable();
    dys.sort_unstable();
    let (blur, dy) = (blurs[blurs.len() / 2], dys[dys.len() / 2]);
    let everything = Search::everything();
    let around = |v: usize, all: &std::ops::RangeInclusive<usize>| {
        v.saturating_sub(1).max(*all.start())..=(v + 1).min(*all.end())
    };
    // The blur is the line's; the offset may still vary by a pixel along it.
    let search = Search {
        glyphs: [true; 37],
        blurs: blur..=blur,
        dys: around(dy, &everything.dys),
    };
    (stretch, search)
}

/// The ink (dark = high) around cell `i` of line `l`, in template geometry with
/// [`SHIFT`] pixels of margin on every side, `stretch` times taller than the pitch says.
fn patch(grey: &Grey, grid: &Grid, t: &Templates, l: usize, i: usize, stretch: f64) -> Vec<f32> {
    let (cx, cy) = grid.centre(l, i);
    // The scale comes from the line's pitch at this cell, fitted over the whole line, and the
    // typeface's own proportions: a line's measured height is less exact (OCR-B's digits
    // stand taller than its capitals, and a line of fillers has few capitals).
    let sx = grid.pitch(l, i) / f64::from(t.pitch);
    patch_at(grey, t, (cx, cy), sx, sx * stretch)
}

/// The ink (dark = high) of a cell centred at `centre`, sampled at `sx`, `sy` image
/// pixels per template pixel, in template geometry with [`SHIFT`] pixels of margin.
pub fn patch_at(grey: &Grey, t: &Templates, (cx, cy): (f64, f64), sx: f64, sy: f64) -> Vec<f32> {
    let top = cy - f64::from(CAP) * sy / 2.0;
    let (pw, ph) = (t.width + 2 * SHIFT, t.height + 2 * SHIFT);
    let mut out = Vec::with_capacity(pw * ph);
    for v in 0..ph {
        let ty = v as f64 - SHIFT as f64 + 0.5 - f64::from(t.cap_top);
        let y = top + ty * sy;
        for u in 0..pw {
            let tx = u as f64 - SHIFT as f64 + 0.5 - f64::from(t.pitch) / 2.0;
            out.push(255.0 - grey.at(cx + tx * sx, y));
        }
    }
    out
}

fn text(zone: &[Vec<Cell>], cells: &[Cells]) -> String {
    cells
        .iter()
        .flat_map(|c| {
            c.range
                .clone()
                .map(move |i| char::from(zone[c.line][i].read))
        })
        .collect()
}

/// A cell matching its glyph much worse than the rest of its line (a smudge, a blot, a
/// reflection) is unsure, however far ahead of the other glyphs it is.
fn mark_outliers(zone: &mut [Vec<Cell>]) {
    for line in zone.iter_mut() {
        let mut scores: Vec<f32> = line.iter().map(|c| c.scores.score(c.read)).collect();
        scores.sort_by(f32::total_cmp);
        let typical = scores[scores.len() / 2];
        for cell in line.iter_mut() {
            if cell.scores.score(cell.read) < typical - OUTLIER_DROP {
                cell.unsure = true;
            }
        }
    }
}

/// In the optional data and personal numbers, a character whose look-alike of the other
/// class scored nearly as well takes the class of both its neighbours (`220O02` is
/// `220002`): such numbers run in classes, and two swaps in one field can cancel in its
/// check digit. Not in the document number, whose issuers mix letters and digits freely
/// (`Y5SF1CLB`).
fn prefer_neighbours_class(zone: &mut [Vec<Cell>], (number_line, number): (usize, Range<usize>)) {
    for (l, line) in zone.iter_mut().enumerate() {
        for i in 1..line.len().saturating_sub(1) {
            if line[i].kind != Kind::AlphaNum || (l == number_line && number.contains(&i)) {
                continue;
            }
            let (before, after) = (line[i - 1].read, line[i + 1].read);
            let read = line[i].read;
            let best = line[i].scores.score(read);
            for alt in partners(read) {
                let same = |c: u8| c.is_ascii_digit() == alt.is_ascii_digit() && c != b'<';
                if same(before) && same(after) && line[i].scores.score(alt) >= best - CLASS_MARGIN {
                    line[i].read = alt;
                    line[i].unsure = true;
                    break;
                }
            }
        }
    }
}

/// The cells of the issuing state and the nationality.
fn state_codes(format: MrzFormat) -> [(usize, Range<usize>); 2] {
    match format {
        MrzFormat::Td1 => [(0, 2..5), (1, 15..18)],
        MrzFormat::Td2 | MrzFormat::Td3 => [(0, 2..5), (1, 10..13)],
    }
}

/// No check digit covers a state code, but ICAO lists them: a code read that is not on the
/// list becomes the listed code its cells' near alternatives spell with the best score, if
/// any.
fn fix_state_code(line: &mut [Cell], range: Range<usize>) {
    let code =
        |cells: &[Cell]| -> String { cells.iter().map(|c| char::from(c.read)).collect::<String>() };
    let known = |s: &str| mrz::country_name(s.trim_end_matches('<')).is_some();
    if known(&code(&line[range.clone()])) {
        return;
    }
    let options: Vec<Vec<u8>> = line[range.clone()]
        .iter()
        .map(|c| {
            let best = c.scores.score(c.read);
            super::glyphs::ALPHABET
                .iter()
                .copied()
                .filter(|&g| c.kind.allows(g) && c.scores.score(g) >= best - STATE_MARGIN)
                .collect()
        })
        .collect();
    let mut best: Option<(f32, Vec<u8>)> = None;
    for a in &options[0] {
        for b in &options[1] {
            for c in &options[2] {
                let spelled = String::from_utf8(vec![*a, *b, *c]).unwrap_or_default();
                if !known(&spelled) {
                    continue;
                }
                let cells = &line[range.clone()];
                let total = cells[0].scores.score(*a)
                    + cells[1].scores.score(*b)
                    + cells[2].scores.score(*c);
                if best.as_ref().is_none_or(|(t, _)| total > *t) {
                    best = Some((total, vec![*a, *b, *c]));
                }
            }
        }
    }
    if let Some((_, chars)) = best {
        for (cell, c) in line[range].iter_mut().zip(chars) {
            cell.read = c;
        }
    }
}

/// Does the check digit agree with what its cells read?
fn holds(zone: &[Vec<Cell>], digit: &CheckDigit) -> bool {
    let (l, i) = digit.at;
    let check = char::from(zone[l][i].read);
    let field = text(zone, &digit.covers);
    if check == '<' {
        // An empty field may leave its check digit blank; a field that overflows into the
        // optional data (document numbers) is checked by the parser.
        return field.bytes().all(|c| c == b'<') || digit.name == Check::DocumentNumber;
    }
    mrz::verify(&field, check)
}

/// Try the letter/digit swaps of the cells the read was unsure of (one or two at a time)
/// and keep the one combination that makes the check digit agree. Nothing changes when
/// none or more than one does: a confident read is never "repaired".
fn repair(zone: &mut [Vec<Cell>], digit: &CheckDigit) -> bool {
    let mut options: Vec<(usize, usize, u8)> = Vec::new();
    for c in &digit.covers {
        for i in c.range.clone() {
            let cell = &zone[c.line][i];
            if cell.kind != Kind::AlphaNum || !cell.unsure {
                continue;
            }
            let best = cell.scores.score(cell.read);
            for alt in partners(cell.read) {
                if cell.scores.score(alt) >= best - 2.0 * UNSURE_MARGIN {
                    options.push((c.line, i, alt));
                }
            }
        }
    }
    // Every combination of one swap, then of two when none of one does.
    let mut combos: Vec<Vec<(usize, usize, u8)>> = options.iter().map(|&o| vec![o]).collect();
    let singles = combos.len();
    for a in 0..options.len() {
        for b in a + 1..options.len() {
            if (options[a].0, options[a].1) != (options[b].0, options[b].1) {
                combos.push(vec![options[a], options[b]]);
            }
        }
    }
    let works = |zone: &mut [Vec<Cell>], swaps: &[(usize, usize, u8)]| {
        let saved: Vec<u8> = swaps.iter().map(|&(l, i, _)| zone[l][i].read).collect();
        for &(l, i, c) in swaps {
            zone[l][i].read = c;
        }
        let ok = holds(zone, digit);
        for (&(l, i, _), c) in swaps.iter().zip(saved) {
            zone[l][i].read = c;
        }
        ok
    };
    let mut fixes: Vec<usize> = (0..singles).filter(|&k| works(zone, &combos[k])).collect();
    if fixes.is_empty() {
        fixes = (singles..combos.len())
            .filter(|&k| works(zone, &combos[k]))
            .collect();
    }
    let [only] = fixes[..] else {
        return false;
    };
    for &(l, i, c) in &combos[only] {
        zone[l][i].read = c;
    }
    true
}

/// Parse read lines with the `mrz` crate into the domain's record; `None` when they do not
/// parse (a document code or layout the format does not allow).
pub fn parse(format: MrzFormat, lines: &[String]) -> Option<Mrz> {
    let data = match (format, lines) {
        (MrzFormat::Td1, [a, b, c]) => mrz::parse_td1(a, b, c),
        (MrzFormat::Td2, [a, b]) => mrz::parse_td2(a, b),
        (MrzFormat::Td3, [a, b]) => mrz::parse_td3(a, b),
        _ => return None,
    }
    .ok()?;
    let date = |d: &mrz::MrzDate| {
        d.calendar()
            .and_then(|c| NaiveDate::from_ymd_opt(c.year, c.month, c.day))
    };
    let checks = MrzChecks {
        document_number: data.checks.document_number.unwrap_or(false),
        date_of_birth: data.checks.date_of_birth.unwrap_or(false),
        date_of_expiry: data.checks.date_of_expiry.unwrap_or(false),
        composite: data.checks.composite.unwrap_or(false),
        personal_number: if format == MrzFormat::Td3 {
            Some(data.checks.personal_number.unwrap_or(true))
        } else {
            None
        },
    };
    let optional: Vec<&str> = [&data.optional_data_1, &data.optional_data_2]
        .into_iter()
        .flatten()
        .map(|s| s.trim_matches('<'))
        .filter(|s| !s.is_empty())
        .collect();
    let sex = match data.sex {
        mrz::Sex::Male => "M",
        mrz::Sex::Female => "F",
        _ => "X",
    };
    Some(Mrz {
        format,
        document_code: data.document_type.clone(),
        issuing_state: data.issuing_country.trim_matches('<').to_owned(),
        document_number: data.full_document_number().trim_matches('<').to_owned(),
        nationality: data.nationality.trim_matches('<').to_owned(),
        date_of_birth: date(&data.date_of_birth),
        date_of_expiry: date(&data.date_of_expiry),
        sex: sex.to_owned(),
        surname: data.surname.clone(),
        given_names: data.given_names.clone(),
        optional_data: (!optional.is_empty()).then(|| optional.join(" ")),
        valid: checks.all() && data.valid(),
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const L1: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
    const L2: &str = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";

    #[test]
    fn kinds_cover_every_position() {
        for f in [MrzFormat::Td1, MrzFormat::Td2, MrzFormat::Td3] {
            let (lines, chars) = f.shape();
            let k = kinds(f);
            assert_eq!(k.len(), lines);
            assert!(k.iter().all(|l| l.len() == chars), "{f:?}");
        }
    }

    #[test]
    fn the_specimen_parses_and_its_kinds_allow_it() {
        let mrz = parse(MrzFormat::Td3, &[L1.into(), L2.into()]).unwrap();
        assert!(mrz.valid);
        assert_eq!(mrz.document_number, "L898902C3");
        assert_eq!(mrz.date_of_birth, NaiveDate::from_ymd_opt(1974, 8, 12));
        assert_eq!(mrz.given_names, "ANNA MARIA");
        assert_eq!(mrz.optional_data.as_deref(), Some("ZE184226B"));
        for (line, kinds) in [L1, L2].iter().zip(kinds(MrzFormat::Td3)) {
            for (c, k) in line.bytes().zip(kinds) {
                assert!(k.allows(c), "{} as {k:?}", c as char);
            }
        }
    }

    #[test]
    fn an_altered_date_fails_its_check_digits() {
        let altered = L2.replace("740812", "750812");
        let mrz = parse(MrzFormat::Td3, &[L1.into(), altered]).unwrap();
        assert!(!mrz.valid);
        assert!(!mrz.checks.date_of_birth && !mrz.checks.composite);
        assert!(mrz.checks.document_number && mrz.checks.date_of_expiry);
    }

    fn zone_of(lines: &[&str], unsure: &[(usize, usize, u8)]) -> Vec<Vec<Cell>> {
        let kinds = kinds(MrzFormat::Td3);
        lines
            .iter()
            .zip(kinds)
            .enumerate()
            .map(|(l, (line, kinds))| {
                line.bytes()
                    .zip(kinds)
                    .enumerate()
                    .map(|(i, (c, kind))| {
                        let mut scores = [0.1f32; 37];
                        let at = |c: u8| {
                            super::super::glyphs::ALPHABET
                                .iter()
                                .position(|&a| a == c)
                                .unwrap()
                        };
                        scores[at(c)] = 0.9;
                        let mut cell_unsure = false;
                        for &(ul, ui, alt) in unsure {
                            if (ul, ui) == (l, i) {
                                scores[at(alt)] = 0.88;
                                cell_unsure = true;
                            }
                        }
                        Cell {
                            scores: CellScores(scores),
                            kind,
                            read: c,
                            unsure: cell_unsure,
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn an_unsure_confusable_is_repaired_by_its_check_digit() {
        // The document number's `0` read as `O`, the read unsure between the two.
        let misread = L2.replacen("L898902C3", "L8989O2C3", 1);
        let mut zone = zone_of(&[L1, &misread], &[(1, 5, b'0')]);
        let digit = &check_digits(MrzFormat::Td3)[0];
        assert!(!holds(&zone, digit));
        assert!(repair(&mut zone, digit));
        assert_eq!(zone[1][5].read, b'0');
    }

    #[test]
    fn a_confident_read_is_never_repaired() {
        let misread = L2.replacen("L898902C3", "L8989O2C3", 1);
        let mut zone = zone_of(&[L1, &misread], &[]);
        let digit = &check_digits(MrzFormat::Td3)[0];
        assert!(!repair(&mut zone, digit));
        assert_eq!(zone[1][5].read, b'O');
    }
}
