//! Reading the document: the machine-readable zone (ICAO 9303 TD1, TD2, TD3) found and read
//! on the straightened crop, offline, with the OCR-B typeface's own glyphs as templates.
//!
//! The zone is looked for at the bottom of the crop and, when it is not there, on the crop
//! turned by 180° (a document photographed upside down). See docs/document.md.

pub mod glyphs;
mod locate;
pub mod zone;

use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::domain::mrz::Mrz;
use crate::imaging::layout::RelRect;

/// How reading a crop's zone ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MrzOutcome {
    /// Read, and every check digit agrees.
    Read,
    /// No zone on the crop.
    NotFound,
    /// A zone, but not legible enough to trust: a better photo may read.
    Unreadable,
    /// Read with confidence, but a check digit disagrees with its field.
    CheckFailed,
}

impl MrzOutcome {
    /// The reason code of an outcome that is a finding.
    pub fn code(self) -> Option<&'static str> {
        match self {
            MrzOutcome::Read => None,
            MrzOutcome::NotFound => Some("MRZ_NOT_FOUND"),
            MrzOutcome::Unreadable => Some("MRZ_UNREADABLE"),
            MrzOutcome::CheckFailed => Some("MRZ_CHECK_FAILED"),
        }
    }
}

/// What reading a crop found.
#[derive(Debug, Clone)]
pub struct MrzReading {
    pub outcome: MrzOutcome,
    /// The fields, when the zone parsed (also when a check digit failed).
    pub mrz: Option<Mrz>,
    /// The zone, as a fraction of the crop, with a margin.
    pub zone: Option<RelRect>,
    /// The document number's cells in the zone (with its check digit), as a fraction of
    /// the crop.
    pub document_number: Option<RelRect>,
    /// The lines as read (after repair). Personal data: never logged or stored.
    pub lines: Vec<String>,
    /// The zone's grid as found, read or not: lines × characters per line.
    pub grid: Option<(usize, usize)>,
}

impl MrzReading {
    fn not_found() -> Self {
        MrzReading {
            outcome: MrzOutcome::NotFound,
            mrz: None,
            zone: None,
            document_number: None,
            lines: Vec::new(),
            grid: None,
        }
    }
}

/// Find and read the machine-readable zone of an upright document crop.
pub fn read_mrz(crop: &RgbImage) -> MrzReading {
    let grey = locate::Grey::of(crop);
    let upright = read_grey(&grey);
    if matches!(upright.outcome, MrzOutcome::Read | MrzOutcome::CheckFailed) {
        return upright;
    }
    // Nothing legible this way up (an upside-down zone is found, but does not read): the
    // crop turned, kept only when it reads better.
    let turned = read_grey(&grey.rotated());
    let rank = |o: MrzOutcome| match o {
        MrzOutcome::NotFound => 0,
        MrzOutcome::Unreadable => 1,
        MrzOutcome::CheckFailed => 2,
        MrzOutcome::Read => 3,
    };
    if rank(turned.outcome) <= rank(upright.outcome) {
        return upright;
    }
    let flip = |r: RelRect| RelRect::new(1.0 - r.x - r.w, 1.0 - r.y - r.h, r.w, r.h);
    MrzReading {
        zone: turned.zone.map(flip),
        document_number: turned.document_number.map(flip),
        ..turned
    }
}

fn read_grey(grey: &locate::Grey) -> MrzReading {
    let Some(grid) = locate::find(grey) else {
        return MrzReading::not_found();
    };
    let (w, h) = (grey.width as f64, grey.height as f64);
    let frac = |x0: f64, y0: f64, x1: f64, y1: f64| {
        RelRect::new(x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h).clipped()
    };
    // The zone's box: every cell, with half a cell of margin.
    let cells_box = |line_range: std::ops::Range<usize>, cells: std::ops::Range<usize>| {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for l in line_range {
            let cap = grid.lines[l].cap;
            for i in [cells.start, cells.end.saturating_sub(1)] {
                let (cx, cy) = grid.centre(l, i);
                x0 = x0.min(cx - grid.pitch(l, i));
                x1 = x1.max(cx + grid.pitch(l, i));
                y0 = y0.min(cy - cap);
                y1 = y1.max(cy + cap);
            }
        }
        frac(x0, y0, x1, y1)
    };
    let zone = cells_box(0..grid.lines.len(), 0..grid.chars);
    let read = zone::read(grey, &grid);
    let (outcome, mrz, lines) = match read {
        zone::ZoneRead::Parsed { mrz, lines } => (MrzOutcome::Read, Some(mrz), lines),
        zone::ZoneRead::CheckFailed { mrz, lines } => (MrzOutcome::CheckFailed, Some(mrz), lines),
        zone::ZoneRead::Unreadable => (MrzOutcome::Unreadable, None, Vec::new()),
    };
    let document_number = mrz.as_ref().and_then(|m| {
        let (line, cells) = zone::document_number_cells(m.format);
        cells_box(line..line + 1, cells)
    });
    MrzReading {
        outcome,
        mrz,
        zone,
        document_number,
        lines,
        grid: Some((grid.lines.len(), grid.chars)),
    }
}

/// Where `text` (a document number) is printed on the crop outside `skip` (the zone, read
/// already): each run of marks on a line that reads as `text`, one character of it allowed
/// to differ, as a box with a margin. Empty when it is not found.
pub fn find_printed(crop: &RgbImage, text: &str, skip: Option<RelRect>) -> Vec<RelRect> {
    let wanted: Vec<u8> = text.bytes().filter(|c| *c != b'<').collect();
    if wanted.len() < 4 {
        return Vec::new();
    }
    let grey = locate::Grey::of(crop);
    let templates = glyphs::Templates::shared();
    let (w, h) = (grey.width as f64, grey.height as f64);
    // Only the characters of the number (and the letters and digits OCR takes them for)
    // are compared: the question is where it is, not what else is printed.
    let mut search = glyphs::Search::everything();
    search.glyphs = [false; 37];
    for (i, c) in glyphs::ALPHABET.iter().enumerate() {
        search.glyphs[i] = wanted.contains(c) || zone::partners(*c).any(|p| wanted.contains(&p));
    }
    search.blurs = 1..=1;
    let mut found = Vec::new();
    for (cap, marks) in locate::printed_lines(&grey, wanted.len() - 1) {
        let inside_skip = |m: &[f64; 4]| {
            skip.is_some_and(|z| {
                let (cx, cy) = ((m[0] + m[2]) / 2.0 / w, (m[1] + m[3]) / 2.0 / h);
                cx >= z.x && cx <= z.x + z.w && cy >= z.y && cy <= z.y + z.h
            })
        };
        let marks: Vec<&[f64; 4]> = marks.iter().filter(|m| !inside_skip(m)).collect();
        if marks.len() < wanted.len() {
            continue;
        }
        let scale = cap / f64::from(glyphs::CAP);
        let read: Vec<(u8, f32)> = marks
            .iter()
            .map(|m| {
                let centre = ((m[0] + m[2]) / 2.0, (m[1] + m[3]) / 2.0);
                let patch = zone::patch_at(&grey, templates, centre, scale, scale);
                templates.search(&patch, &search).scores.best(|_| true)
            })
            .collect();
        for start in 0..=read.len() - wanted.len() {
            let window = &read[start..start + wanted.len()];
            let differ = window
                .iter()
                .zip(&wanted)
                .filter(|((c, _), want)| c != *want && !zone::partners(*c).any(|p| p == **want))
                .count();
            let score = window.iter().map(|(_, s)| s).sum::<f32>() / window.len() as f32;
            if differ <= 1 && score > 0.6 {
                let run = &marks[start..start + wanted.len()];
                let margin = cap * 0.4;
                let x0 = run.iter().map(|m| m[0]).fold(f64::MAX, f64::min) - margin;
                let y0 = run.iter().map(|m| m[1]).fold(f64::MAX, f64::min) - margin;
                let x1 = run.iter().map(|m| m[2]).fold(f64::MIN, f64::max) + margin;
                let y1 = run.iter().map(|m| m[3]).fold(f64::MIN, f64::max) + margin;
                found.extend(RelRect::new(x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h).clipped());
            }
        }
    }
    found
}
