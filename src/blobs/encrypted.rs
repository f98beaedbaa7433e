//! The encryption layer: seals on the way in, opens on the way out, for any [`BlobStore`].

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use super::{BlobError, BlobStore, Keyring, validate_key};

/// Wraps a byte store so that only sealed objects (see `crypto.rs`) ever reach it.
/// AES-GCM runs on the blocking pool: an image of several megabytes is real CPU work.
pub struct EncryptedBlobStore<S> {
    inner: S,
    keys: Arc<Keyring>,
}

impl<S: BlobStore> EncryptedBlobStore<S> {
    pub fn new(inner: S, keys: Arc<Keyring>) -> Self {
        EncryptedBlobStore { inner, keys }
    }

    /// The underlying store, holding sealed bytes only.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }
}

#[async_trait]
impl<S: BlobStore> BlobStore for EncryptedBlobStore<S> {
    #[tracing::instrument(skip_all, fields(key = %key, len = bytes.len()))]
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        validate_key(key)?;
        let keys = self.keys.clone();
        let owned_key = key.to_owned();
        let sealed = tokio::task::spawn_blocking(move || keys.seal(&owned_key, &bytes))
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
        self.inner.put(key, Bytes::from(sealed)).await
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn get(&self, key: &str) -> Result<Option<Bytes>, BlobError> {
        validate_key(key)?;
        let Some(sealed) = self.inner.get(key).await? else {
            return Ok(None);
        };
        let keys = self.keys.clone();
        let owned_key = key.to_owned();
        let plain = tokio::task::spawn_blocking(move || keys.open(&owned_key, &sealed))
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        match plain {
            Ok(plain) => Ok(Some(Bytes::from(plain))),
            Err(e) => {
                tracing::warn!(error = %e, "stored blob cannot be opened");
                Err(e)
            }
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        validate_key(key)?;
        self.inner.exists(key).await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.inner.delete(key).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        validate_key(prefix)?;
        self.inner.delete_prefix(prefix).await
    }

    fn describe(&self) -> String {
        format!(
            "{} (AES-256-GCM, key id {})",
            self.inner.describe(),
            self.keys.current_id()
        )
    }
}
