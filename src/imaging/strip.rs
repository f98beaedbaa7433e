//! Keeping a JPEG as sent, without what it says about where and how it was taken.
//!
//! An upright JPEG (no EXIF rotation to apply) is stored as its own bytes with every
//! metadata segment removed, instead of being decoded and encoded again: the pixels are
//! the sender's exactly, and the 12 MP re-encode that used to be most of a document
//! check's time is gone. Kept: the segments a decoder needs (tables, frame and scan
//! headers, restart intervals, the entropy-coded data), JFIF (`APP0`) and Adobe's
//! colour-transform flag (`APP14` `Adobe`, without which some JPEGs decode to the wrong
//! colours). Removed: EXIF and XMP (`APP1`: camera, time, GPS position), ICC profiles
//! (`APP2`: they name the device), every other application segment, comments, and
//! anything after the end-of-image marker — as the re-encoded path keeps none of them.

/// `bytes` without metadata, or `None` when they are not a JPEG this parser can walk to
/// its end (the caller then encodes the decoded pixels instead).
pub fn strip_jpeg_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut at = 2;
    loop {
        // A marker: 0xFF (any number of fill bytes), then its code.
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        while *bytes.get(at)? == 0xFF {
            at += 1;
        }
        let code = *bytes.get(at)?;
        at += 1;
        match code {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Some(out);
            }
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => out.extend_from_slice(&[0xFF, code]),
            _ => {
                let len = usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
                if len < 2 {
                    return None;
                }
                let segment = bytes.get(at - 2..at + len)?;
                let payload = &segment[4..];
                at += len;
                if keep(code, payload) {
                    out.extend_from_slice(segment);
                }
                if code == 0xDA {
                    // Start of scan: the entropy-coded data runs to the next marker that
                    // is neither a stuffed 0xFF00 nor a restart marker.
                    let data_end = scan_end(bytes, at)?;
                    out.extend_from_slice(&bytes[at..data_end]);
                    at = data_end;
                }
            }
        }
    }
}

/// Whether a segment with marker `code` and `payload` is kept.
fn keep(code: u8, payload: &[u8]) -> bool {
    match code {
        // JFIF.
        0xE0 => true,
        0xEE => payload.starts_with(b"Adobe"),
        // Every other application segment (EXIF, XMP, ICC, IPTC, maker data…) and
        // comments.
        0xE1..=0xED | 0xEF | 0xFE => false,
        // Tables, frame and scan headers, restart interval, and the rest of the format.
        _ => true,
    }
}

/// Where the entropy-coded data that starts at `from` ends: at the first 0xFF that is
/// not followed by 0x00 (stuffing) or a restart marker.
fn scan_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let ff = i + bytes.get(i..)?.iter().position(|&b| b == 0xFF)?;
        match bytes.get(ff + 1)? {
            0x00 | 0xD0..=0xD7 => i = ff + 2,
            // Fill bytes before a marker belong to the marker.
            _ => return Some(ff),
        }
    }
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage};

    use super::*;

    fn photo() -> Vec<u8> {
        let img = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 90]));
        crate::imaging::encode_jpeg(&img, 90).unwrap()
    }

    fn segment(code: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, code];
        s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    /// `jpeg` with `segments` right after its start-of-image marker, and `trailer` after
    /// its end.
    fn with(jpeg: &[u8], segments: &[Vec<u8>], trailer: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        for s in segments {
            out.extend_from_slice(s);
        }
        out.extend_from_slice(&jpeg[2..]);
        out.extend_from_slice(trailer);
        out
    }

    #[test]
    fn metadata_goes_and_the_pixels_stay_exactly() {
        let clean = photo();
        let gps = b"Exif\0\0MM\0*GPS 52.3676N 4.9041E camera SECRET-SERIAL".to_vec();
        let sent = with(
            &clean,
            &[
                segment(0xE1, &gps),
                segment(
                    0xE1,
                    b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>SECRET</x:xmpmeta>",
                ),
                segment(0xED, b"Photoshop 3.0\0SECRET-IPTC"),
                segment(0xFE, b"SECRET comment"),
                segment(0xE2, b"ICC_PROFILE\0\x01\x01SECRET device profile"),
                segment(0xE2, b"FPXR\0SECRET"),
                segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
            ],
            b"SECRET trailing bytes",
        );
        let kept = strip_jpeg_metadata(&sent).unwrap();
        let text = String::from_utf8_lossy(&kept);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("Exif"));
        assert!(!text.contains("ICC_PROFILE"));
        assert!(text.contains("Adobe"), "the colour-transform flag stays");
        let before = image::load_from_memory(&sent).unwrap().to_rgb8();
        let after = image::load_from_memory(&kept).unwrap().to_rgb8();
        assert_eq!(before, after, "not one pixel changes");
        // Nothing to remove: the same bytes back.
        assert_eq!(strip_jpeg_metadata(&clean).unwrap(), clean);
    }

    #[test]
    fn scans_keep_stuffed_bytes_and_restarts_and_metadata_between_scans_goes() {
        // The walk, on the bytes alone: two scans (as in a progressive JPEG) with a table
        // and a comment between them.
        let soi = vec![0xFF, 0xD8];
        let sos = segment(0xDA, &[0x01, 0x02]);
        let data = vec![0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56];
        let dht = segment(0xC4, &[0x00, 0x01]);
        let eoi = vec![0xFF, 0xD9];
        let build = |parts: &[&[u8]]| parts.concat();
        let kept = build(&[&soi, &sos, &data, &dht, &sos, &data, &eoi]);
        let sent = build(&[
            &soi,
            &segment(0xE1, b"Exif\0\0SECRET"),
            &sos,
            &data,
            &segment(0xFE, b"SECRET"),
            &dht,
            &sos,
            &data,
            &[0xFF, 0xFF],
            &eoi,
            b"SECRET",
        ]);
        assert_eq!(strip_jpeg_metadata(&sent), Some(kept.clone()));
        assert_eq!(strip_jpeg_metadata(&kept), Some(kept));
    }

    #[test]
    fn what_cannot_be_walked_is_refused() {
        let clean = photo();
        assert_eq!(strip_jpeg_metadata(b""), None);
        assert_eq!(strip_jpeg_metadata(b"\x89PNG\r\n\x1a\n"), None);
        // Cut short anywhere: no end-of-image marker.
        for cut in [3, 10, clean.len() / 2, clean.len() - 1] {
            assert_eq!(strip_jpeg_metadata(&clean[..cut]), None, "cut at {cut}");
        }
        // A segment whose length runs past the end.
        let mut bad = clean[..2].to_vec();
        bad.extend_from_slice(&[0xFF, 0xE1, 0xFF, 0xFF, b'E']);
        assert_eq!(strip_jpeg_metadata(&bad), None);
        // A length too small to hold itself.
        let mut bad = clean[..2].to_vec();
        bad.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x01]);
        assert_eq!(strip_jpeg_metadata(&bad), None);
    }
}
