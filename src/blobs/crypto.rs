//! The sealed blob format and the keys that open it.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "V2CB"
//!      4     1  format version (1)
//!      5     4  key id: first 4 bytes of SHA-256("v2client blob key id\0" || key)
//!      9    12  nonce, fresh from the OS CSPRNG for every object
//!     21     n  AES-256-GCM ciphertext followed by its 16-byte tag
//! ```
//!
//! The associated data is the 9-byte header followed by the object's key (its path), so
//! an object copied to another path, or with an edited header, fails authentication.
//! The key id is derived from the key itself, so rotation needs no numbering: any
//! configured key whose id matches is tried.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::BlobError;

pub(crate) const MAGIC: &[u8; 4] = b"V2CB";
pub(crate) const VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Bytes a sealed object has on top of its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Identifies which key sealed an object; safe to log.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 4]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 256-bit blob encryption key. Its bytes are wiped on drop and never printed: `Debug`
/// shows only the key id.
#[derive(Clone)]
pub struct EncryptionKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id())
            .field("bytes", &"<redacted>")
            .finish()
    }
}

impl EncryptionKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EncryptionKey {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Result<Self, BlobError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        Ok(EncryptionKey { bytes })
    }

    /// Parse standard base64 (padding optional, surrounding whitespace ignored) of exactly
    /// 32 bytes. The error never repeats the input.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .map_err(|_| "not valid base64".to_owned())?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            format!(
                "must be base64 of exactly 32 bytes (got {} bytes)",
                decoded.len()
            )
        })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as standard base64, for writing a key file.
    pub(crate) fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    pub fn id(&self) -> KeyId {
        let mut h = Sha256::new();
        h.update(b"v2client blob key id\0");
        h.update(self.bytes.as_ref());
        let digest = h.finalize();
        KeyId([digest[0], digest[1], digest[2], digest[3]])
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(self.bytes.as_ref()).expect("32-byte key")
    }
}

/// The current key (seals new objects) and older keys (still open what they sealed).
pub struct Keyring {
    current: (KeyId, Aes256Gcm),
    old: Vec<(KeyId, Aes256Gcm)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.0)
            .field("old", &self.old.iter().map(|k| k.0).collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    pub fn new(current: EncryptionKey, old: impl IntoIterator<Item = EncryptionKey>) -> Self {
        let current = (current.id(), current.cipher());
        let old = old
            .into_iter()
            .map(|k| (k.id(), k.cipher()))
            .filter(|(id, _)| *id != current.0)
            .collect();
        Keyring { current, old }
    }

    /// Id of the key new objects are sealed with.
    pub fn current_id(&self) -> KeyId {
        self.current.0
    }

    /// Ids of the older keys still accepted for reading.
    pub fn old_ids(&self) -> Vec<KeyId> {
        self.old.iter().map(|k| k.0).collect()
    }

    /// Seal `plaintext` for storage under `key`.
    pub fn seal(&self, key: &str, plaintext: &[u8]) -> Result<Vec<u8>, BlobError> {
        let (id, cipher) = &self.current;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        let header = header(*id);
        let aad = aad(&header, key);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| BlobError::Encrypt {
                key: key.to_owned(),
            })?;
        let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Open an object read from `key`: check the header, find the key by id, authenticate
    /// and decrypt. Every failure is a typed error.
    pub fn open(&self, key: &str, sealed: &[u8]) -> Result<Vec<u8>, BlobError> {
        let format = |reason| BlobError::Format {
            key: key.to_owned(),
            reason,
        };
        if sealed.len() < OVERHEAD {
            return Err(format("too short"));
        }
        if &sealed[..4] != MAGIC {
            return Err(format("missing V2CB magic"));
        }
        if sealed[4] != VERSION {
            return Err(format("unsupported format version"));
        }
        let id = KeyId(sealed[5..HEADER_LEN].try_into().expect("4 bytes"));
        let nonce: [u8; NONCE_LEN] = sealed[HEADER_LEN..HEADER_LEN + NONCE_LEN]
            .try_into()
            .expect("12 bytes");
        let aad = aad(&sealed[..HEADER_LEN], key);
        let ciphertext = &sealed[HEADER_LEN + NONCE_LEN..];
        let mut candidates = std::iter::once(&self.current)
            .chain(self.old.iter())
            .filter(|(kid, _)| *kid == id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(BlobError::UnknownKey {
                key: key.to_owned(),
                key_id: id,
            });
        }
        for (_, cipher) in candidates {
            if let Ok(plain) = cipher.decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            ) {
                return Ok(plain);
            }
        }
        Err(BlobError::Decrypt {
            key: key.to_owned(),
        })
    }
}

fn header(id: KeyId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(MAGIC);
    h[4] = VERSION;
    h[5..].copy_from_slice(&id.0);
    h
}

fn aad(header: &[u8], key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + key.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(key.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> (EncryptionKey, Keyring) {
        let k = EncryptionKey::generate().unwrap();
        (k.clone(), Keyring::new(k, []))
    }

    #[test]
    fn seal_open_round_trip_and_layout() {
        let (k, ring) = ring();
        let sealed = ring.seal("ver_a/1/front", b"secret image").unwrap();
        assert_eq!(&sealed[..4], b"V2CB");
        assert_eq!(sealed[4], 1);
        assert_eq!(&sealed[5..9], &k.id().0);
        assert_eq!(sealed.len(), b"secret image".len() + OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            ring.open("ver_a/1/front", &sealed).unwrap(),
            b"secret image"
        );
    }

    #[test]
    fn nonces_differ_between_objects() {
        let (_, ring) = ring();
        let a = ring.seal("k", b"same").unwrap();
        let b = ring.seal("k", b"same").unwrap();
        assert_ne!(a[9..21], b[9..21]);
        assert_ne!(a, b);
    }

    #[test]
    fn every_tampered_byte_is_detected() {
        let (_, ring) = ring();
        let sealed = ring.seal("k/1", b"payload bytes").unwrap();
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(ring.open("k/1", &t).is_err(), "flip at {i} went unnoticed");
        }
        assert!(matches!(
            ring.open("k/1", &sealed[..sealed.len() - 1]),
            Err(BlobError::Decrypt { .. })
        ));
        assert!(matches!(
            ring.open("k/1", &sealed[..10]),
            Err(BlobError::Format { .. })
        ));
    }

    #[test]
    fn another_path_does_not_open() {
        let (_, ring) = ring();
        let sealed = ring.seal("ver_a/1/front", b"x").unwrap();
        assert!(matches!(
            ring.open("ver_b/1/front", &sealed),
            Err(BlobError::Decrypt { .. })
        ));
    }

    #[test]
    fn wrong_key_and_rotation() {
        let (old, old_ring) = ring();
        let sealed = old_ring.seal("k", b"from before").unwrap();

        let (_, other) = ring();
        assert!(matches!(
            other.open("k", &sealed),
            Err(BlobError::UnknownKey { .. })
        ));

        let rotated = Keyring::new(EncryptionKey::generate().unwrap(), [old.clone()]);
        assert_eq!(rotated.open("k", &sealed).unwrap(), b"from before");
        let fresh = rotated.seal("k", b"new").unwrap();
        assert_ne!(&fresh[5..9], &old.id().0);
        assert!(old_ring.open("k", &fresh).is_err());
    }

    #[test]
    fn same_id_different_key_fails_authentication() {
        // A forged header naming our key id, sealed under some other key.
        let (k, ring) = ring();
        let (_, other) = ring_with_id_of(&k);
        let sealed = other.seal("k", b"x").unwrap();
        assert!(matches!(
            ring.open("k", &sealed),
            Err(BlobError::Decrypt { .. })
        ));

        fn ring_with_id_of(k: &EncryptionKey) -> (EncryptionKey, ForgedRing) {
            (
                k.clone(),
                ForgedRing(k.id(), EncryptionKey::generate().unwrap()),
            )
        }
        struct ForgedRing(KeyId, EncryptionKey);
        impl ForgedRing {
            fn seal(&self, key: &str, msg: &[u8]) -> Result<Vec<u8>, BlobError> {
                let mut sealed = Keyring::new(self.1.clone(), []).seal(key, msg)?;
                sealed[5..9].copy_from_slice(&self.0.0);
                Ok(sealed)
            }
        }
    }

    #[test]
    fn keys_never_print() {
        let k = EncryptionKey::from_bytes([7u8; 32]);
        let b64 = k.to_base64();
        let shown = format!("{k:?} {:?}", Keyring::new(k.clone(), [k.clone()]));
        assert!(!shown.contains(b64.as_str()), "{shown}");
        assert!(!shown.contains("7, 7"), "{shown}");
        assert!(shown.contains(&k.id().to_string()));
    }

    #[test]
    fn base64_parsing() {
        let k = EncryptionKey::generate().unwrap();
        let text = k.to_base64();
        assert_eq!(
            EncryptionKey::from_base64(&format!(" {}\n", text.as_str()))
                .unwrap()
                .id(),
            k.id()
        );
        assert_eq!(
            EncryptionKey::from_base64(text.trim_end_matches('='))
                .unwrap()
                .id(),
            k.id()
        );
        assert!(EncryptionKey::from_base64("c2hvcnQ=").is_err());
        assert!(EncryptionKey::from_base64("not base64!").is_err());
    }
}
