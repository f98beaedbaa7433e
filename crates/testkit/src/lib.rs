//! What v2client's tests, benchmarks and examples share but the server never needs: generated
//! document photos, EXIF-tagged JPEGs and decompression bombs ([`synth`]), machine-readable
//! zones in OCR-B ([`mrz`]), and documents printed for a holder on several layouts with
//! photographs of them as a phone takes them ([`card`]). A crate of its own,
//! used only as a dev-dependency, so none of it is in the library's API or in the binary.

pub mod card;
pub mod mrz;
pub mod synth;
