//! Typed failures with stable reason codes. Codes are part of the API (they reach operators
//! in `attempts` and end users as "what to fix"), so they never change once published.

use serde::{Serialize, Serializer};

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
/// user can fix all of them in one retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
        match self {
            Reason::ImageTooSmall => "IMAGE_TOO_SMALL",
            Reason::ImageBlurry => "IMAGE_BLURRY",
            Reason::ImageTooDark => "IMAGE_TOO_DARK",
            Reason::ImageTooBright => "IMAGE_TOO_BRIGHT",
            Reason::ImageGlare => "IMAGE_GLARE",
            Reason::DocumentNotFound => "DOCUMENT_NOT_FOUND",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}
