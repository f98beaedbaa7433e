//! Identifiers and secrets. Everything random comes from the operating system's CSPRNG.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Fill a buffer from the OS CSPRNG. Failure means the OS cannot give randomness, which
/// no request can recover from.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}

/// `ver_` followed by 32 lowercase hex digits: 128 random bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VerificationId(String);

impl VerificationId {
    pub const PREFIX: &'static str = "ver_";

    pub fn generate() -> Self {
        Self(format!(
            "{}{}",
            Self::PREFIX,
            hex::encode(random_bytes::<16>())
        ))
    }

    /// Parse an id from the outside world. Anything that is not exactly our shape is
    /// `None`, which the API reports as "not found" without touching the database.
    pub fn parse(text: &str) -> Option<Self> {
        let hexpart = text.strip_prefix(Self::PREFIX)?;
        let ok = hexpart.len() == 32
            && hexpart
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wrap a value read back from our own database.
    pub fn from_trusted(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Display for VerificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API key as the operator holds it: `v2c_` + 43 characters of base64url (256 bits).
/// Its first 12 characters are the display prefix that identifies it in lists and logs.
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    pub const PREFIX: &'static str = "v2c_";
    /// A test key's prefix: its verifications are test verifications.
    pub const TEST_PREFIX: &'static str = "v2c_test_";
    /// Random characters of the key in its display prefix (the lookup key).
    pub const DISPLAY_RANDOM_LEN: usize = 8;
    pub const DISPLAY_PREFIX_LEN: usize = Self::PREFIX.len() + Self::DISPLAY_RANDOM_LEN;

    /// A new live key: `v2c_` and 256 random bits.
    pub fn generate() -> Self {
        // A live key must never read as a test key (one in 64⁵ would start `test_`).
        loop {
            let key = Self::generate_with(Self::PREFIX);
            if !key.0.starts_with(Self::TEST_PREFIX) {
                return key;
            }
        }
    }

    /// A new test key: `v2c_test_` and 256 random bits.
    pub fn generate_test() -> Self {
        Self::generate_with(Self::TEST_PREFIX)
    }

    fn generate_with(prefix: &str) -> Self {
        Self(format!(
            "{prefix}{}",
            URL_SAFE_NO_PAD.encode(random_bytes::<32>())
        ))
    }

    /// Whether a display prefix is a test key's.
    pub fn is_test_prefix(display_prefix: &str) -> bool {
        display_prefix.starts_with(Self::TEST_PREFIX)
    }

    /// Wrap what a client sent; shape checks happen in [`display_prefix_of`].
    pub fn from_presented(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The display prefix, or `None` when the text cannot be one of our keys.
    pub fn display_prefix(&self) -> Option<&str> {
        display_prefix_of(&self.0)
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

/// `v2c_` or `v2c_test_`, then 43 URL-safe base64 characters; the display prefix is the
/// fixed part and the first [`ApiKeySecret::DISPLAY_RANDOM_LEN`] random characters.
fn display_prefix_of(key: &str) -> Option<&str> {
    let fixed = if key.starts_with(ApiKeySecret::TEST_PREFIX) {
        ApiKeySecret::TEST_PREFIX.len()
    } else if key.starts_with(ApiKeySecret::PREFIX) {
        ApiKeySecret::PREFIX.len()
    } else {
        return None;
    };
    let well_formed = key.len() == fixed + 43
        && key[fixed..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| &key[..fixed + ApiKeySecret::DISPLAY_RANDOM_LEN])
}

/// SHA-256 of an API key: the only form in which keys are stored.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Self(out))
    }

    /// Constant-time comparison, so response time says nothing about how much matched.
    pub fn matches(&self, other: &KeyHash) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

/// Identifier of a stored API key (not a secret): `key_` + 16 hex digits.
pub fn new_key_id() -> String {
    format!("key_{}", hex::encode(random_bytes::<8>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_ids_are_long_random_and_parse_back() {
        let a = VerificationId::generate();
        let b = VerificationId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 4 + 32);
        assert_eq!(VerificationId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn malformed_verification_ids_are_refused() {
        for bad in [
            "",
            "ver_",
            "ver_abc",
            "VER_00000000000000000000000000000000",
            "ver_0000000000000000000000000000000G",
            "ver_00000000000000000000000000000000x",
            "../etc/passwd",
        ] {
            assert!(VerificationId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn test_keys_have_their_own_prefix_and_display_prefix() {
        let t = ApiKeySecret::generate_test();
        assert!(t.expose().starts_with("v2c_test_"));
        assert_eq!(t.expose().len(), 52);
        let shown = t.display_prefix().unwrap();
        assert_eq!(shown.len(), 17);
        assert!(ApiKeySecret::is_test_prefix(shown));
        let live = ApiKeySecret::generate();
        assert!(!ApiKeySecret::is_test_prefix(
            live.display_prefix().unwrap()
        ));
        // Each shape only at its own length.
        let short_test = format!("v2c_test_{}", &t.expose()[13..]);
        assert_eq!(
            ApiKeySecret::from_presented(&short_test).display_prefix(),
            None
        );
        let long_live = format!("v2c_{}x", &live.expose()[4..]);
        assert_eq!(
            ApiKeySecret::from_presented(&long_live).display_prefix(),
            None
        );
    }

    #[test]
    fn keys_have_a_recognisable_prefix_and_hash_stably() {
        let k = ApiKeySecret::generate();
        assert!(k.expose().starts_with("v2c_"));
        assert_eq!(k.expose().len(), 47);
        assert_eq!(k.display_prefix().unwrap().len(), 12);
        let again = ApiKeySecret::from_presented(k.expose());
        assert!(k.hash().matches(&again.hash()));
        assert!(!k.hash().matches(&ApiKeySecret::generate().hash()));
        assert_eq!(KeyHash::from_hex(&k.hash().to_hex()), Some(k.hash()));
        assert!(!format!("{k:?}").contains(&k.expose()[4..]));
    }

    #[test]
    fn junk_keys_have_no_prefix() {
        for bad in ["", "v2c_", "nope", &format!("v2c_{}", "!".repeat(43))] {
            assert!(ApiKeySecret::from_presented(bad).display_prefix().is_none());
        }
    }
}
