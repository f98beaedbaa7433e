//! Physical formats and field positions of the supported documents, as fractions of the
//! upright crop so they hold at any crop resolution.
//!
//! Positions follow ICAO 9303 (TD1 cards, TD3 passport data pages) and the EU driving
//! licence model. They are generic boxes, deliberately a little generous: national layouts
//! differ, and a redaction that misses a field by a millimetre is worse than one that covers
//! a little extra.

use serde::{Deserialize, Serialize};

use crate::domain::{DocumentType, RedactionTarget};

/// A rectangle as fractions (0–1) of a crop's width and height.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RelRect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl RelRect {
    pub const fn new(x: f64, y: f64, w: f64, h: f64) -> Self {
        RelRect { x, y, w, h }
    }

    /// A pixel box on a `crop_w × crop_h` crop (e.g. from face detection) as fractions.
    pub fn from_pixels(x: f64, y: f64, w: f64, h: f64, crop_w: u32, crop_h: u32) -> Self {
        let (cw, ch) = (f64::from(crop_w.max(1)), f64::from(crop_h.max(1)));
        RelRect::new(x / cw, y / ch, w / cw, h / ch)
    }

    /// This box clipped to the unit square; `None` if nothing is left or it is not finite.
    pub fn clipped(self) -> Option<RelRect> {
        let vals = [self.x, self.y, self.w, self.h];
        if vals.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let x0 = self.x.clamp(0.0, 1.0);
        let y0 = self.y.clamp(0.0, 1.0);
        let x1 = (self.x + self.w).clamp(0.0, 1.0);
        let y1 = (self.y + self.h).clamp(0.0, 1.0);
        (x1 > x0 && y1 > y0).then(|| RelRect::new(x0, y0, x1 - x0, y1 - y0))
    }

    /// The centre of the box.
    pub fn centre(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

/// Physical size and field positions of one document type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layout {
    pub width_mm: f64,
    pub height_mm: f64,
    pub portrait: RelRect,
    pub document_number: RelRect,
    /// `None` where the format has no machine-readable zone on the photographed side.
    pub mrz: Option<RelRect>,
}

impl Layout {
    /// Width over height.
    pub fn aspect(&self) -> f64 {
        self.width_mm / self.height_mm
    }

    /// The box of one redaction target, if this layout has it.
    pub fn region(&self, target: RedactionTarget) -> Option<RelRect> {
        match target {
            RedactionTarget::Mrz => self.mrz,
            RedactionTarget::Portrait => Some(self.portrait),
            RedactionTarget::DocumentNumber => Some(self.document_number),
        }
    }
}

/// ID-1 (85.60 × 53.98 mm) identity card with a TD1 machine-readable zone of three lines.
const ID_CARD: Layout = Layout {
    width_mm: 85.60,
    height_mm: 53.98,
    portrait: RelRect::new(0.03, 0.17, 0.30, 0.50),
    document_number: RelRect::new(0.58, 0.04, 0.39, 0.12),
    mrz: Some(RelRect::new(0.0, 0.68, 1.0, 0.32)),
};

/// ID-1 driving licence (EU model): no MRZ; the licence number is field 5.
const DRIVING_LICENCE: Layout = Layout {
    width_mm: 85.60,
    height_mm: 53.98,
    portrait: RelRect::new(0.03, 0.17, 0.30, 0.62),
    document_number: RelRect::new(0.34, 0.74, 0.45, 0.12),
    mrz: None,
};

/// TD3 passport data page (125 × 88 mm) with a two-line MRZ at the bottom.
const PASSPORT: Layout = Layout {
    width_mm: 125.0,
    height_mm: 88.0,
    portrait: RelRect::new(0.03, 0.16, 0.29, 0.56),
    document_number: RelRect::new(0.64, 0.07, 0.34, 0.10),
    mrz: Some(RelRect::new(0.0, 0.74, 1.0, 0.26)),
};

/// The layout of a document type.
pub fn layout(doc: DocumentType) -> &'static Layout {
    match doc {
        DocumentType::IdCard => &ID_CARD,
        DocumentType::DrivingLicence => &DRIVING_LICENCE,
        DocumentType::Passport => &PASSPORT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspects_match_the_standards() {
        assert!((layout(DocumentType::IdCard).aspect() - 1.5858).abs() < 1e-3);
        assert!((layout(DocumentType::Passport).aspect() - 1.4205).abs() < 1e-3);
    }

    #[test]
    fn boxes_lie_inside_the_crop() {
        for d in DocumentType::ALL {
            for t in RedactionTarget::ALL {
                if let Some(r) = layout(d).region(t) {
                    let inside = r.x >= 0.0 && r.y >= 0.0 && r.w > 0.0 && r.h > 0.0;
                    let fits = r.x + r.w <= 1.0 + 1e-9 && r.y + r.h <= 1.0 + 1e-9;
                    assert!(inside && fits, "{d:?} {t:?}");
                }
            }
        }
    }

    #[test]
    fn clipping_rejects_empty_and_nan() {
        assert_eq!(RelRect::new(1.2, 0.0, 0.5, 0.5).clipped(), None);
        assert_eq!(RelRect::new(f64::NAN, 0.0, 0.5, 0.5).clipped(), None);
        let c = RelRect::new(-0.1, 0.5, 0.5, 0.8).clipped().unwrap();
        assert!((c.x - 0.0).abs() < 1e-12 && (c.w - 0.4).abs() < 1e-12);
        assert!((c.h - 0.5).abs() < 1e-12);
    }
}
