//! What v2client's tests, benchmarks and examples share but the server never needs: generated
//! document photos, EXIF-tagged JPEGs and decompression bombs ([`synth`]). A crate of its own,
//! used only as a dev-dependency, so none of it is in the library's API or in the binary.

pub mod mrz;
pub mod synth;
