//! Any `object_store` backend: S3-compatible buckets in production, `InMemory` and
//! `LocalFileSystem` in tests (and through `memory://` and `file:///…` URLs).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use super::{BlobError, BlobStore, validate_key};

pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    label: String,
}

impl ObjectBlobStore {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        let label = store.to_string();
        ObjectBlobStore { store, label }
    }

    /// The wrapped object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Build from a URL:
    /// - `s3://bucket[/prefix]` (or `s3a://`): an S3-compatible bucket, configured by the
    ///   `AWS_*` variables of the process and then by `aws` (name, value) pairs such as
    ///   `("AWS_ENDPOINT_URL", "http://minio:9000")`, which win;
    /// - `file:///absolute/folder`: a folder through `object_store`'s `LocalFileSystem`;
    /// - `memory://`: in process memory, gone at exit (tests and demos).
    pub fn from_url(url: &str, aws: &[(String, String)]) -> Result<Self, BlobError> {
        let bad = |reason: String| BlobError::Config {
            name: "V2CLIENT_BLOB_URL",
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
        let (store, label): (Arc<dyn ObjectStore>, String) = match parsed.scheme() {
            "memory" => (Arc::new(InMemory::new()), "memory://".into()),
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|_| bad("a file URL needs an absolute local path".into()))?;
                super::local::create_dirs(&dir)?;
                let fs = LocalFileSystem::new_with_prefix(&dir)?.with_automatic_cleanup(true);
                (
                    Arc::new(fs),
                    format!("folder {} (object_store)", dir.display()),
                )
            }
            "s3" | "s3a" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("an s3 URL names a bucket: s3://bucket/prefix".into()))?
                    .to_owned();
                let prefix = parsed.path().trim_matches('/').to_owned();
                if !prefix.is_empty() {
                    validate_key(&prefix).map_err(|e| bad(format!("bucket prefix: {e}")))?;
                }
                crate::install_tls_provider();
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
                for (name, value) in aws {
                    let key: AmazonS3ConfigKey = name
                        .to_ascii_lowercase()
                        .parse()
                        .map_err(|_| bad(format!("unknown S3 setting {name}")))?;
                    builder = builder.with_config(key, value);
                }
                let s3: Arc<dyn ObjectStore> = Arc::new(builder.build()?);
                let label = format!("s3://{bucket}/{prefix}");
                if prefix.is_empty() {
                    (s3, label)
                } else {
                    (Arc::new(PrefixStore::new(s3, prefix.as_str())), label)
                }
            }
            other => {
                return Err(bad(format!(
                    "unsupported scheme `{other}`; use s3://bucket/prefix, file:///path or memory://"
                )));
            }
        };
        Ok(ObjectBlobStore { store, label })
    }

    fn path(key: &str) -> Result<Path, BlobError> {
        validate_key(key)?;
        Path::parse(key).map_err(|_| BlobError::InvalidKey {
            reason: "not a valid object path",
        })
    }
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        let path = Self::path(key)?;
        self.store.put(&path, PutPayload::from(bytes)).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, BlobError> {
        let path = Self::path(key)?;
        match self.store.get(&path).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = Self::path(key)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = Self::path(key)?;
        match self.store.delete(&path).await {
            Err(e) if !not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        let path = Self::path(prefix)?;
        let mut doomed: BTreeSet<Path> = self
            .store
            .list(Some(&path))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        if self.exists(prefix).await? {
            doomed.insert(path);
        }
        let locations = futures_util::stream::iter(doomed.into_iter().map(Ok)).boxed();
        let mut deleted = 0;
        let mut results = self.store.delete_stream(locations);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => deleted += 1,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}
