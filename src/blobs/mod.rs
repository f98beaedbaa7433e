//! Image storage, encrypted at rest.
//!
//! Identity-document photos and selfies never go into the database: they live in a
//! [`BlobStore`], either a local folder (the default, `<data_dir>/blobs`) or an
//! S3-compatible bucket through the `object_store` crate. Whatever the backend, the store
//! built by [`BlobSettings::open`] wraps it in [`EncryptedBlobStore`], so every object is
//! sealed with AES-256-GCM before it leaves the process and nothing decodable lands on disk
//! or in a bucket. The format and the key handling are described in `docs/storage.md`.
//!
//! Keys (object names) are made by the caller, such as `ver_<hex>/<attempt_id>/front`,
//! and are checked by [`validate_key`] on every call.

mod crypto;
mod encrypted;
mod local;
mod object;
mod settings;

use async_trait::async_trait;
use bytes::Bytes;

pub use crypto::{EncryptionKey, KeyId, Keyring};
pub use encrypted::EncryptedBlobStore;
pub use local::LocalBlobStore;
pub use object::ObjectBlobStore;
pub use settings::{BlobSettings, KeySource};

/// The longest key accepted, in bytes. Generous for `ver_…/attempt/role` names, small enough
/// to stay far below file-system and S3 limits.
pub const MAX_KEY_LEN: usize = 512;
/// The longest segment between slashes: a file name on common file systems.
pub const MAX_SEGMENT_LEN: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The caller passed a key (or prefix) that is not a safe relative name.
    #[error("invalid blob key: {reason}")]
    InvalidKey { reason: &'static str },
    /// Authentication failed: the object was altered, moved to another key, or sealed with
    /// a different key that happens to share its key id.
    #[error("blob `{key}` failed authentication (tampered, moved, or wrong key)")]
    Decrypt { key: String },
    /// The stored object was sealed with a key that is not configured (any more).
    #[error("blob `{key}` was sealed with key id {key_id}, which is not configured")]
    UnknownKey { key: String, key_id: KeyId },
    /// The stored object is not in the encrypted blob format at all.
    #[error("blob `{key}` is not a sealed blob: {reason}")]
    Format { key: String, reason: &'static str },
    /// Encryption itself failed (payload beyond AES-GCM's limits).
    #[error("blob `{key}` cannot be encrypted")]
    Encrypt { key: String },
    #[error("blob storage I/O error")]
    Io(#[from] std::io::Error),
    #[error("object store error")]
    ObjectStore(#[from] object_store::Error),
    /// A blob setting (URL, encryption key…) is missing or malformed.
    #[error("invalid value for {name}: {reason}")]
    Config { name: &'static str, reason: String },
}

/// Where images live. Object-safe, so the application holds an `Arc<dyn BlobStore>`.
///
/// Implementations are plain byte stores; confidentiality comes from wrapping them in
/// [`EncryptedBlobStore`] (which [`BlobSettings::open`] always does).
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Store `bytes` under `key`, replacing any previous object. Readers see either the old
    /// or the new object, never a partial one.
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError>;
    /// The object under `key`, `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, BlobError>;
    /// Whether an object exists under `key`.
    async fn exists(&self, key: &str) -> Result<bool, BlobError>;
    /// Remove the object under `key`; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), BlobError>;
    /// Remove `prefix` itself and every object below `prefix/` (whole path segments:
    /// `ver_a` does not touch `ver_ab/…`). Returns how many objects were removed.
    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError>;
    /// A short description for start-up logs (never secrets).
    fn describe(&self) -> String;
}

/// Check that `key` is a safe relative object name: 1–[`MAX_KEY_LEN`] bytes of `/`-separated
/// segments of at most [`MAX_SEGMENT_LEN`] bytes, each made of ASCII letters, digits, `_`, `-` and `.`, not starting with `.`
/// (so no `.`, `..` or hidden names) and not empty (so no leading, trailing or double `/`).
/// Prefixes given to [`BlobStore::delete_prefix`] follow the same rules.
pub fn validate_key(key: &str) -> Result<(), BlobError> {
    let bad = |reason| Err(BlobError::InvalidKey { reason });
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("too long");
    }
    if key.starts_with('/') {
        return bad("absolute path");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return bad("empty path segment");
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return bad("path segment too long");
        }
        if segment.starts_with('.') {
            return bad("path segment starts with `.`");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return bad("only ASCII letters, digits, `_`, `-`, `.` and `/` are allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_keys_pass() {
        for key in [
            "ver_0123abcd/att_1/front",
            "a",
            "ver_x/attempt-2/selfie.jpg",
            "A_b-c.d/e",
        ] {
            validate_key(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn bad_keys_are_refused() {
        let long = "a/".repeat(MAX_KEY_LEN / 2) + "a";
        let long_segment = "a".repeat(MAX_SEGMENT_LEN + 1);
        for key in [
            "",
            "../x",
            "..",
            ".",
            "a/../b",
            "a/./b",
            "/abs",
            "/",
            "a/",
            "a//b",
            "a\\b",
            "..\\x",
            ".hidden",
            "a/.tmp-1",
            "a b",
            "ü",
            "a\0b",
            "c:/x",
            "a#b",
            "a%2e%2e",
            long.as_str(),
            long_segment.as_str(),
        ] {
            match validate_key(key) {
                Err(BlobError::InvalidKey { .. }) => {}
                other => panic!("{key:?} gave {other:?}"),
            }
        }
    }
}
