//! Blob settings from the environment, and building the store from them.
//!
//! | variable | meaning |
//! |---|---|
//! | `V2CLIENT_BLOB_URL` | unset: the folder `<data_dir>/blobs`; or `s3://bucket/prefix`, `file:///path`, `memory://` |
//! | `V2CLIENT_BLOB_KEY` | base64 of the 32-byte encryption key |
//! | `V2CLIENT_BLOB_KEY_FILE` | a file holding that key (base64 text, or the 32 raw bytes) |
//! | `V2CLIENT_BLOB_OLD_KEYS` | comma-separated base64 keys still accepted for reading |
//! | `AWS_*` | S3 credentials, region and endpoint (see [`AWS_VARS`]) |
//!
//! With no key configured and a single-instance store, a key is generated once into
//! `<data_dir>/blob.key` (0600) and reused; a warning says to configure one for production.
//! A bucket is shared by many instances, so there a missing key is a start-up error.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::{
    BlobError, BlobStore, EncryptedBlobStore, EncryptionKey, Keyring, LocalBlobStore,
    ObjectBlobStore,
};

/// The `AWS_*` variables read through the settings' environment (they win over the same
/// variables read from the process by `object_store`).
pub const AWS_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
];

/// Name of the generated development key inside the data dir.
pub const DEV_KEY_FILE: &str = "blob.key";

/// Where the current encryption key comes from.
#[derive(Clone)]
pub enum KeySource {
    /// Given directly (`V2CLIENT_BLOB_KEY`).
    Inline(EncryptionKey),
    /// Read from a file (`V2CLIENT_BLOB_KEY_FILE`).
    File(PathBuf),
    /// Nothing configured: `<data_dir>/blob.key`, generated on first start.
    /// Development only; refused for buckets.
    DataDir,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Inline(k) => f.debug_tuple("Inline").field(&k.id()).finish(),
            KeySource::File(p) => f.debug_tuple("File").field(p).finish(),
            KeySource::DataDir => f.write_str("DataDir"),
        }
    }
}

#[derive(Clone)]
pub struct BlobSettings {
    /// `None`: the local folder `<data_dir>/blobs`.
    pub url: Option<String>,
    pub key: KeySource,
    /// Keys that sealed older objects, accepted for reading only.
    pub old_keys: Vec<EncryptionKey>,
    pub data_dir: PathBuf,
    /// `AWS_*` (name, value) pairs for an S3 bucket.
    pub s3: Vec<(String, String)>,
}

impl fmt::Debug for BlobSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobSettings")
            .field("url", &self.url)
            .field("key", &self.key)
            .field(
                "old_keys",
                &self.old_keys.iter().map(|k| k.id()).collect::<Vec<_>>(),
            )
            .field("data_dir", &self.data_dir)
            .field(
                "s3",
                &self.s3.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl BlobSettings {
    /// The local folder under `data_dir`, with the generated development key.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        BlobSettings {
            url: None,
            key: KeySource::DataDir,
            old_keys: Vec::new(),
            data_dir: data_dir.into(),
            s3: Vec::new(),
        }
    }

    /// Read the variables listed in the module docs through `env` (like
    /// `Settings::load_with`, so tests need not touch the process environment).
    /// Malformed values are errors that name the variable and never echo a key.
    pub fn from_env(
        data_dir: impl Into<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, BlobError> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let key = match (get("V2CLIENT_BLOB_KEY"), get("V2CLIENT_BLOB_KEY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(BlobError::Config {
                    name: "V2CLIENT_BLOB_KEY",
                    reason: "set either V2CLIENT_BLOB_KEY or V2CLIENT_BLOB_KEY_FILE, not both"
                        .into(),
                });
            }
            (Some(text), None) => {
                KeySource::Inline(EncryptionKey::from_base64(&text).map_err(|reason| {
                    BlobError::Config {
                        name: "V2CLIENT_BLOB_KEY",
                        reason,
                    }
                })?)
            }
            (None, Some(path)) => KeySource::File(PathBuf::from(path.trim())),
            (None, None) => KeySource::DataDir,
        };
        let old_keys = get("V2CLIENT_BLOB_OLD_KEYS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .enumerate()
                    .map(|(i, s)| {
                        EncryptionKey::from_base64(s).map_err(|reason| BlobError::Config {
                            name: "V2CLIENT_BLOB_OLD_KEYS",
                            reason: format!("entry {}: {reason}", i + 1),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let s3 = AWS_VARS
            .iter()
            .filter_map(|name| get(name).map(|v| (name.to_string(), v)))
            .collect();
        Ok(BlobSettings {
            url: get("V2CLIENT_BLOB_URL").map(|u| u.trim().to_owned()),
            key,
            old_keys,
            data_dir: data_dir.into(),
            s3,
        })
    }

    fn is_shared(&self) -> bool {
        self.url
            .as_deref()
            .is_some_and(|u| u.starts_with("s3://") || u.starts_with("s3a://"))
    }

    /// Resolve the keys: the configured one, or the development key in the data dir.
    pub fn keyring(&self) -> Result<Keyring, BlobError> {
        let current = match &self.key {
            KeySource::Inline(k) => k.clone(),
            KeySource::File(path) => read_key_file(path)
                .and_then(|k| k.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound)))
                .map_err(|e| BlobError::Config {
                    name: "V2CLIENT_BLOB_KEY_FILE",
                    reason: format!("{}: {e}", path.display()),
                })?,
            KeySource::DataDir if self.is_shared() => {
                return Err(BlobError::Config {
                    name: "V2CLIENT_BLOB_KEY",
                    reason: "required with a bucket: every instance must share one key".into(),
                });
            }
            KeySource::DataDir => dev_key(&self.data_dir.join(DEV_KEY_FILE))?,
        };
        Ok(Keyring::new(current, self.old_keys.iter().cloned()))
    }

    /// Build the store: the chosen backend, always behind [`EncryptedBlobStore`].
    /// Call at start-up; it touches the file system.
    pub fn open(&self) -> Result<Arc<dyn BlobStore>, BlobError> {
        let keys = Arc::new(self.keyring()?);
        let store: Arc<dyn BlobStore> = match &self.url {
            None => Arc::new(EncryptedBlobStore::new(
                LocalBlobStore::new(self.data_dir.join("blobs"))?,
                keys.clone(),
            )),
            Some(url) => Arc::new(EncryptedBlobStore::new(
                ObjectBlobStore::from_url(url, &self.s3)?,
                keys.clone(),
            )),
        };
        tracing::info!(
            store = %store.describe(),
            old_keys = keys.old_ids().len(),
            "blob store ready"
        );
        Ok(store)
    }
}

/// A key file holds base64 text of 32 bytes, or exactly the 32 raw bytes.
/// `Ok(None)` when the file does not exist.
fn read_key_file(path: &Path) -> io::Result<Option<EncryptionKey>> {
    let content = match fs::read(path) {
        Ok(c) => Zeroizing::new(c),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(key) = std::str::from_utf8(&content)
        .ok()
        .and_then(|text| EncryptionKey::from_base64(text).ok())
    {
        return Ok(Some(key));
    }
    let raw: [u8; 32] = content.as_slice().try_into().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "must hold base64 of 32 bytes (or the 32 raw bytes)",
        )
    })?;
    Ok(Some(EncryptionKey::from_bytes(raw)))
}

/// The development key: read `path`, or create it (0600) without ever clobbering a key
/// another process wrote first.
fn dev_key(path: &Path) -> Result<EncryptionKey, BlobError> {
    create_dev_key(path).map_err(|e| BlobError::Config {
        name: "V2CLIENT_BLOB_KEY",
        reason: format!("none set, and the development key {}: {e}", path.display()),
    })
}

fn create_dev_key(path: &Path) -> io::Result<EncryptionKey> {
    const ADVICE: &str = "set V2CLIENT_BLOB_KEY or V2CLIENT_BLOB_KEY_FILE in production, \
                          and keep this key: without it the stored images cannot be read";
    let dir = path.parent().expect("file in the data dir");
    crate::files::create_private_dir(dir)?;
    crate::files::tighten_or_warn(path, crate::files::FILE_MODE);
    if let Some(key) = read_key_file(path)? {
        tracing::warn!(path = %path.display(), key_id = %key.id(),
            "using the generated development blob key; {ADVICE}");
        return Ok(key);
    }

    let key = EncryptionKey::generate().map_err(io::Error::other)?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".{DEV_KEY_FILE}.tmp-{}", hex::encode(suffix)));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(key.to_base64().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        // A link fails if the name exists: two instances starting together agree on one key.
        fs::hard_link(&tmp, path)
    });
    let _ = fs::remove_file(&tmp);
    match written {
        Ok(()) => {
            tracing::warn!(path = %path.display(), key_id = %key.id(),
                "no blob encryption key configured; generated one; {ADVICE}");
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            read_key_file(path)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_the_local_folder_and_dev_key() {
        let s = BlobSettings::from_env("/data", &env(&[])).unwrap();
        assert!(s.url.is_none());
        assert!(matches!(s.key, KeySource::DataDir));
        assert!(s.old_keys.is_empty() && s.s3.is_empty());
    }

    #[test]
    fn keys_are_parsed_and_never_echoed() {
        let k = EncryptionKey::generate().unwrap();
        let old = EncryptionKey::generate().unwrap();
        let list = format!("{}, ,{}", old.to_base64().as_str(), k.to_base64().as_str());
        let s = BlobSettings::from_env(
            "/data",
            &env(&[
                ("V2CLIENT_BLOB_KEY", k.to_base64().as_str()),
                ("V2CLIENT_BLOB_OLD_KEYS", &list),
                ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ]),
        )
        .unwrap();
        let ring = s.keyring().unwrap();
        assert_eq!(ring.current_id(), k.id());
        // The current key is not repeated among the old ones.
        assert_eq!(ring.old_ids(), [old.id()]);
        let shown = format!("{s:?}");
        assert!(!shown.contains(k.to_base64().as_str()), "{shown}");
        assert!(!shown.contains("very-secret"), "{shown}");

        let short = "c2hvcnQ=";
        let err = BlobSettings::from_env("/d", &env(&[("V2CLIENT_BLOB_KEY", short)])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("V2CLIENT_BLOB_KEY") && !text.contains(short),
            "{text}"
        );
        let err = BlobSettings::from_env(
            "/d",
            &env(&[(
                "V2CLIENT_BLOB_OLD_KEYS",
                &format!("{},nope", k.to_base64().as_str()),
            )]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("entry 2"), "{err}");
        assert!(
            BlobSettings::from_env(
                "/d",
                &env(&[
                    ("V2CLIENT_BLOB_KEY", k.to_base64().as_str()),
                    ("V2CLIENT_BLOB_KEY_FILE", "/k")
                ])
            )
            .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn dev_key_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let s = BlobSettings::from_env(&data, &env(&[])).unwrap();
        let first = s.keyring().unwrap().current_id();
        let file = data.join(DEV_KEY_FILE);
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(EncryptionKey::from_base64(&text).unwrap().id(), first);
        // Next start: same key, file untouched, no stray temporaries.
        let second = BlobSettings::from_env(&data, &env(&[]))
            .unwrap()
            .keyring()
            .unwrap()
            .current_id();
        assert_eq!(first, second);
        assert_eq!(fs::read_to_string(&file).unwrap(), text);
        assert_eq!(fs::read_dir(&data).unwrap().count(), 1);
    }

    #[test]
    fn key_file_base64_or_raw() {
        let dir = tempfile::tempdir().unwrap();
        let k = EncryptionKey::from_bytes([9u8; 32]);
        let text_file = dir.path().join("k.txt");
        fs::write(&text_file, format!("{}\n", k.to_base64().as_str())).unwrap();
        let raw_file = dir.path().join("k.bin");
        fs::write(&raw_file, [9u8; 32]).unwrap();
        for file in [&text_file, &raw_file] {
            let s = BlobSettings::from_env(
                dir.path(),
                &env(&[("V2CLIENT_BLOB_KEY_FILE", file.to_str().unwrap())]),
            )
            .unwrap();
            assert_eq!(s.keyring().unwrap().current_id(), k.id());
        }
        let missing = BlobSettings::from_env(
            dir.path(),
            &env(&[("V2CLIENT_BLOB_KEY_FILE", "/nonexistent/key")]),
        )
        .unwrap();
        let err = missing.keyring().unwrap_err().to_string();
        assert!(err.contains("V2CLIENT_BLOB_KEY_FILE"), "{err}");
    }

    #[test]
    fn a_bucket_needs_a_configured_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = BlobSettings::from_env(
            dir.path(),
            &env(&[("V2CLIENT_BLOB_URL", "s3://bucket/images")]),
        )
        .unwrap();
        let err = s.open().err().unwrap().to_string();
        assert!(err.contains("V2CLIENT_BLOB_KEY"), "{err}");
        assert!(!dir.path().join(DEV_KEY_FILE).exists());
    }

    #[test]
    fn an_s3_url_builds_without_network() {
        let k = EncryptionKey::generate().unwrap();
        let s = BlobSettings::from_env(
            "/unused",
            &env(&[
                ("V2CLIENT_BLOB_URL", "s3://bucket/v2client/images"),
                ("V2CLIENT_BLOB_KEY", k.to_base64().as_str()),
                ("AWS_ACCESS_KEY_ID", "minio"),
                ("AWS_SECRET_ACCESS_KEY", "minio-secret"),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_ALLOW_HTTP", "true"),
            ]),
        )
        .unwrap();
        let store = s.open().unwrap();
        let shown = store.describe();
        assert!(shown.starts_with("s3://bucket/v2client/images"), "{shown}");
        assert!(!shown.contains("minio-secret"));
    }

    #[test]
    fn bad_urls_are_named() {
        let k = EncryptionKey::generate().unwrap();
        for url in [
            "ftp://x/y",
            "s3:///nobucket",
            "s3://b/.hidden",
            "s3://b/a b",
            "not a url",
        ] {
            let s = BlobSettings::from_env(
                "/unused",
                &env(&[
                    ("V2CLIENT_BLOB_URL", url),
                    ("V2CLIENT_BLOB_KEY", k.to_base64().as_str()),
                ]),
            )
            .unwrap();
            let err = s.open().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("V2CLIENT_BLOB_URL"), "{url}: {err}");
        }
    }
}
