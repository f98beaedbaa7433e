//! Typed failures with stable reason codes. Codes are part of the API (they reach operators
//! in `attempts` and end users as "what to fix"), so they never change once published.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    pub const ALL: [Reason; 6] = [
        Reason::ImageTooSmall,
        Reason::ImageBlurry,
        Reason::ImageTooDark,
        Reason::ImageTooBright,
        Reason::ImageGlare,
        Reason::DocumentNotFound,
    ];

    /// The reason with this stable code (as a remote engine sends it back).
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

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

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Reason::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code `{code}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_through_their_codes() {
        for r in Reason::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.code()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
        }
        assert!(serde_json::from_str::<Reason>("\"NOPE\"").is_err());
    }
}
