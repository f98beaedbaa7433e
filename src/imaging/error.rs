//! Typed failures with stable reason codes. Codes are part of the API (they reach operators
//! in `attempts` and end users as "what to fix"), so they never change once published.

use serde::{Deserialize, Serialize};
use strum::{Display, IntoStaticStr, VariantArray};

/// Why bytes could not become a usable image at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImagingError {
    /// Not JPEG, PNG or WebP by content (GIF, BMP, HEIC, PDF, text, empty…).
    #[error("unsupported image format; send JPEG, PNG or WebP")]
    UnsupportedFormat,
    /// Byte size, width, height or pixel count above the configured limit.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// The format was recognised but the data does not decode.
    #[error("image data is corrupt: {0}")]
    Corrupt(String),
    /// Encoding the result failed; not the sender's fault.
    #[error("image could not be encoded: {0}")]
    Encode(String),
}

impl ImagingError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ImagingError::UnsupportedFormat => "UNSUPPORTED_FORMAT",
            ImagingError::TooLarge(_) => "IMAGE_TOO_LARGE",
            ImagingError::Corrupt(_) => "IMAGE_CORRUPT",
            ImagingError::Encode(_) => "IMAGE_ENCODE_FAILED",
        }
    }
}

/// Why a decodable image was rejected. A rejection carries every reason that applies, so the
/// user can fix all of them in one retry. Serialised as the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(IntoStaticStr, Display, VariantArray)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    ImageTooSmall,
    ImageBlurry,
    ImageTooDark,
    ImageTooBright,
    ImageGlare,
    DocumentNotFound,
}

impl Reason {
    pub fn code(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_codes() {
        for &r in Reason::VARIANTS {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.code()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
            assert_eq!(r.to_string(), r.code());
        }
        assert_eq!(Reason::ImageTooBright.code(), "IMAGE_TOO_BRIGHT");
        assert_eq!(Reason::DocumentNotFound.code(), "DOCUMENT_NOT_FOUND");
        assert!(serde_json::from_str::<Reason>("\"NOPE\"").is_err());
    }
}
