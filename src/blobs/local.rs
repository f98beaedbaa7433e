//! A folder on the local disk: one file per object, at `<root>/<key>`.
//!
//! Writes are atomic and durable: the bytes go to a hidden temporary file in the target's
//! own folder (`.tmp-<random>`, a name no valid key can take), are fsynced, renamed over
//! the target, and the folder is fsynced. On unix, files are created 0600 and folders 0700.
//! File-system calls run on the blocking pool.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{BlobError, BlobStore, validate_key};

#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// Use (and create, 0700, if needed; tighten to 0700 if looser) the folder `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        create_dirs(&root)?;
        crate::files::tighten_or_warn(&root, crate::files::DIR_MODE);
        Ok(LocalBlobStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        validate_key(key)?;
        Ok(key.split('/').fold(self.root.clone(), |p, s| p.join(s)))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| BlobError::Io(io::Error::other(e)))?
        .map_err(BlobError::Io)
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &str, bytes: Bytes) -> Result<(), BlobError> {
        let path = self.path(key)?;
        let root = self.root.clone();
        blocking(move || write_atomic(&root, &path, &bytes)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, BlobError> {
        let path = self.path(key)?;
        blocking(move || match fs::read(&path) {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::IsADirectory
                        | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        let path = self.path(key)?;
        blocking(move || match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        blocking(move || match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => remove_file_if_present(&path),
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(e),
        })
        .await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, BlobError> {
        let path = self.path(prefix)?;
        blocking(move || {
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if is_missing(&e) => return Ok(0),
                Err(e) => return Err(e),
            };
            if meta.is_dir() {
                let n = count_objects(&path)?;
                match fs::remove_dir_all(&path) {
                    Err(e) if !is_missing(&e) => return Err(e),
                    _ => {}
                }
                Ok(n)
            } else {
                remove_file_if_present(&path)?;
                Ok(1)
            }
        })
        .await
    }

    fn describe(&self) -> String {
        format!("local folder {}", self.root.display())
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn remove_file_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if !is_missing(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Objects below `dir`: regular files whose names a key could have (not temporaries).
fn count_objects(dir: &Path) -> io::Result<u64> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            n += count_objects(&entry.path())?;
        } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
            n += 1;
        }
    }
    Ok(n)
}

pub(super) fn create_dirs(dir: &Path) -> io::Result<()> {
    crate::files::create_private_dir(dir)
}

fn write_atomic(root: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().expect("a key path has a parent");
    let new_dir = !dir.is_dir();
    create_dirs(dir)?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".tmp-{}", hex::encode(suffix)));

    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    let written = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_dir(dir)?;
        if new_dir {
            // Folders made for this object must survive a crash too: their entries live
            // in their parents.
            for ancestor in dir.ancestors().skip(1) {
                sync_dir(ancestor)?;
                if ancestor == root {
                    break;
                }
            }
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Make a rename durable. Only meaningful (and possible) on unix.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path().join("blobs")).unwrap();
        store
            .put("ver_a/1/front", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
            .put("ver_a/1/front", Bytes::from_static(b"two"))
            .await
            .unwrap();
        assert_eq!(
            fs::read(dir.path().join("blobs/ver_a/1/front")).unwrap(),
            b"two"
        );
        assert_eq!(
            store.get("ver_a/1/front").await.unwrap().unwrap(),
            &b"two"[..]
        );
        // Reading a folder as an object is "no such object".
        assert!(store.get("ver_a/1").await.unwrap().is_none());
        assert!(!store.exists("ver_a/1").await.unwrap());
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("blobs/ver_a/1"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["front"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = LocalBlobStore::new(&root).unwrap();
        store
            .put("ver_a/1/front", Bytes::from_static(b"x"))
            .await
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("ver_a")), 0o700);
        assert_eq!(mode(&root.join("ver_a/1")), 0o700);
        assert_eq!(mode(&root.join("ver_a/1/front")), 0o600);
    }

    #[tokio::test]
    async fn delete_prefix_ignores_temporaries_in_the_count_but_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::new(dir.path()).unwrap();
        store
            .put("ver_a/1/front", Bytes::from_static(b"x"))
            .await
            .unwrap();
        fs::write(dir.path().join("ver_a/1/.tmp-dead"), b"crash leftover").unwrap();
        assert_eq!(store.delete_prefix("ver_a").await.unwrap(), 1);
        assert!(!dir.path().join("ver_a").exists());
    }
}
