//! The blob store: one behaviour suite run against every backend, and proof that what lands
//! on disk is ciphertext only.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use v2client::blobs::{
    BlobError, BlobSettings, BlobStore, EncryptedBlobStore, EncryptionKey, KeySource, Keyring,
    LocalBlobStore, ObjectBlobStore,
};

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::new(EncryptionKey::generate().unwrap(), []))
}

fn settings(data_dir: &Path, url: Option<String>, key: &EncryptionKey) -> BlobSettings {
    BlobSettings {
        url,
        key: KeySource::Inline(key.clone()),
        old_keys: Vec::new(),
        data_dir: data_dir.to_owned(),
        s3: Vec::new(),
    }
}

fn file_url(dir: &Path) -> String {
    url::Url::from_directory_path(dir).unwrap().to_string()
}

/// The same expectations for every backend.
async fn behaves_like_a_blob_store(store: &dyn BlobStore) {
    let key = "ver_00aa/att_1/front";
    assert!(store.get(key).await.unwrap().is_none());
    assert!(!store.exists(key).await.unwrap());

    store.put(key, Bytes::from_static(b"first")).await.unwrap();
    assert!(store.exists(key).await.unwrap());
    assert_eq!(store.get(key).await.unwrap().unwrap(), &b"first"[..]);
    store.put(key, Bytes::from_static(b"second")).await.unwrap();
    assert_eq!(store.get(key).await.unwrap().unwrap(), &b"second"[..]);

    store
        .put("ver_00aa/att_2/selfie", Bytes::new())
        .await
        .unwrap();
    assert_eq!(
        store.get("ver_00aa/att_2/selfie").await.unwrap().unwrap(),
        Bytes::new()
    );
    store
        .put("ver_00aab/att_1/front", Bytes::from_static(b"neighbour"))
        .await
        .unwrap();
    store
        .put("ver_00bb/att_1/back", Bytes::from_static(b"other"))
        .await
        .unwrap();

    store.delete("ver_00bb/att_1/back").await.unwrap();
    assert!(store.get("ver_00bb/att_1/back").await.unwrap().is_none());
    store.delete("ver_00bb/att_1/back").await.unwrap();

    assert_eq!(store.delete_prefix("ver_00aa").await.unwrap(), 2);
    assert!(store.get(key).await.unwrap().is_none());
    assert!(store.get("ver_00aa/att_2/selfie").await.unwrap().is_none());
    // Whole segments only: `ver_00aa` is not a prefix of `ver_00aab`.
    assert_eq!(
        store.get("ver_00aab/att_1/front").await.unwrap().unwrap(),
        &b"neighbour"[..]
    );
    assert_eq!(store.delete_prefix("ver_00aa").await.unwrap(), 0);
    // A prefix that names one object removes that object.
    assert_eq!(
        store.delete_prefix("ver_00aab/att_1/front").await.unwrap(),
        1
    );
    assert!(!store.exists("ver_00aab/att_1/front").await.unwrap());

    for bad in ["../x", "/abs", "", "a/../../b", "a//b", ".."] {
        let refused = |r: Result<(), BlobError>| {
            assert!(
                matches!(r, Err(BlobError::InvalidKey { .. })),
                "{bad:?}: {r:?}"
            )
        };
        refused(store.put(bad, Bytes::from_static(b"x")).await);
        refused(store.get(bad).await.map(|_| ()));
        refused(store.exists(bad).await.map(|_| ()));
        refused(store.delete(bad).await);
        refused(store.delete_prefix(bad).await.map(|_| ()));
    }
}

#[tokio::test]
async fn local_folder_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = EncryptedBlobStore::new(LocalBlobStore::new(dir.path()).unwrap(), keyring());
    behaves_like_a_blob_store(&store).await;
}

#[tokio::test]
async fn object_store_in_memory_round_trip() {
    let store = EncryptedBlobStore::new(ObjectBlobStore::new(Arc::new(InMemory::new())), keyring());
    behaves_like_a_blob_store(&store).await;
}

#[tokio::test]
async fn object_store_local_file_system_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let fs = LocalFileSystem::new_with_prefix(dir.path())
        .unwrap()
        .with_automatic_cleanup(true);
    let store = EncryptedBlobStore::new(ObjectBlobStore::new(Arc::new(fs)), keyring());
    behaves_like_a_blob_store(&store).await;
}

#[tokio::test]
async fn stores_built_from_settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate().unwrap();
    for url in [
        None,
        Some("memory://".to_owned()),
        Some(file_url(&dir.path().join("via-url"))),
    ] {
        let store = settings(dir.path(), url.clone(), &key).open().unwrap();
        assert!(store.describe().contains("AES-256-GCM"), "{url:?}");
        behaves_like_a_blob_store(store.as_ref()).await;
    }
}

/// Small but real images, encoded by the `image` crate.
fn sample_images() -> Vec<(&'static str, Vec<u8>)> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(12, 9, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 25) as u8, 180])
    }));
    let encode = |format| {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), format).unwrap();
        out
    };
    let images = vec![
        ("jpeg", encode(image::ImageFormat::Jpeg)),
        ("png", encode(image::ImageFormat::Png)),
        ("webp", encode(image::ImageFormat::WebP)),
    ];
    // The payloads really carry the signatures the scan looks for.
    assert!(has_image_magic(&images[0].1));
    assert!(has_image_magic(&images[1].1));
    assert!(has_image_magic(&images[2].1));
    images
}

/// JPEG start-of-image followed by a marker (`FF D8 FF`, then APPn, DQT or COM: four bytes,
/// so random ciphertext matches by chance about once in four billion positions), PNG's
/// eight-byte signature, or a RIFF container of type WEBP.
fn has_image_magic(bytes: &[u8]) -> bool {
    let jpeg = bytes
        .windows(4)
        .any(|w| w[..3] == [0xFF, 0xD8, 0xFF] && (matches!(w[3], 0xE0..=0xEF | 0xDB | 0xFE)));
    let png = bytes
        .windows(8)
        .any(|w| w == [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]);
    let webp = bytes
        .windows(12)
        .any(|w| &w[..4] == b"RIFF" && &w[8..] == b"WEBP");
    jpeg || png || webp
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

async fn assert_only_ciphertext_lands(store: &dyn BlobStore, folder: &Path) {
    let images = sample_images();
    for (i, (kind, bytes)) in images.iter().enumerate() {
        let key = format!("ver_{i:032x}/att_1/{kind}");
        store.put(&key, Bytes::from(bytes.clone())).await.unwrap();
        assert_eq!(store.get(&key).await.unwrap().unwrap(), bytes.as_slice());
    }

    let files = files_under(folder);
    assert_eq!(files.len(), images.len(), "{files:?}");
    for file in files {
        let stored = std::fs::read(&file).unwrap();
        assert_eq!(&stored[..4], b"V2CB", "{}", file.display());
        assert!(
            !has_image_magic(&stored),
            "{} holds an image signature",
            file.display()
        );
        for (kind, plain) in &images {
            // Not the image, and not any 16-byte run of it either.
            let runs: std::collections::HashSet<&[u8]> = plain.windows(16).collect();
            assert!(
                !stored.windows(16).any(|w| runs.contains(w)),
                "{} holds plaintext of the {kind} image",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn local_folder_holds_no_readable_image() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate().unwrap();
    let store = settings(dir.path(), None, &key).open().unwrap();
    assert_only_ciphertext_lands(store.as_ref(), &dir.path().join("blobs")).await;
}

#[tokio::test]
async fn object_store_folder_holds_no_readable_image() {
    let dir = tempfile::tempdir().unwrap();
    let key = EncryptionKey::generate().unwrap();
    let folder = dir.path().join("bucket");
    let store = settings(dir.path(), Some(file_url(&folder)), &key)
        .open()
        .unwrap();
    assert_only_ciphertext_lands(store.as_ref(), &folder).await;
}

#[tokio::test]
async fn tampered_object_on_disk_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = settings(dir.path(), None, &EncryptionKey::generate().unwrap())
        .open()
        .unwrap();
    store
        .put("ver_aa/1/front", Bytes::from_static(b"document"))
        .await
        .unwrap();
    let file = dir.path().join("blobs/ver_aa/1/front");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 20;
    bytes[last] ^= 0x80;
    std::fs::write(&file, &bytes).unwrap();
    assert!(matches!(
        store.get("ver_aa/1/front").await,
        Err(BlobError::Decrypt { .. })
    ));

    std::fs::write(&file, b"plain bytes written by someone else").unwrap();
    assert!(matches!(
        store.get("ver_aa/1/front").await,
        Err(BlobError::Format { .. })
    ));
}

#[tokio::test]
async fn object_moved_to_another_key_does_not_open() {
    // Local folder: move the file on disk.
    let dir = tempfile::tempdir().unwrap();
    let store = settings(dir.path(), None, &EncryptionKey::generate().unwrap())
        .open()
        .unwrap();
    store
        .put("ver_aa/1/selfie", Bytes::from_static(b"alice"))
        .await
        .unwrap();
    let blobs = dir.path().join("blobs");
    std::fs::create_dir_all(blobs.join("ver_bb/1")).unwrap();
    std::fs::rename(blobs.join("ver_aa/1/selfie"), blobs.join("ver_bb/1/selfie")).unwrap();
    assert!(store.exists("ver_bb/1/selfie").await.unwrap());
    assert!(matches!(
        store.get("ver_bb/1/selfie").await,
        Err(BlobError::Decrypt { .. })
    ));

    // Object store: copy the sealed object to another path.
    let store = EncryptedBlobStore::new(ObjectBlobStore::new(Arc::new(InMemory::new())), keyring());
    store
        .put("ver_aa/1/front", Bytes::from_static(b"alice's passport"))
        .await
        .unwrap();
    let raw: &Arc<dyn ObjectStore> = store.inner().store();
    raw.copy(&"ver_aa/1/front".into(), &"ver_aa/1/back".into())
        .await
        .unwrap();
    assert!(matches!(
        store.get("ver_aa/1/back").await,
        Err(BlobError::Decrypt { .. })
    ));
    assert_eq!(
        store.get("ver_aa/1/front").await.unwrap().unwrap(),
        &b"alice's passport"[..]
    );
}

#[tokio::test]
async fn wrong_key_fails_and_rotation_keeps_old_objects_readable() {
    let dir = tempfile::tempdir().unwrap();
    let old = EncryptionKey::generate().unwrap();
    let new = EncryptionKey::generate().unwrap();
    settings(dir.path(), None, &old)
        .open()
        .unwrap()
        .put("ver_aa/1/front", Bytes::from_static(b"sealed with old"))
        .await
        .unwrap();

    let wrong = settings(dir.path(), None, &new).open().unwrap();
    assert!(matches!(
        wrong.get("ver_aa/1/front").await,
        Err(BlobError::UnknownKey { .. })
    ));

    let mut rotated = settings(dir.path(), None, &new);
    rotated.old_keys = vec![old.clone()];
    let rotated = rotated.open().unwrap();
    assert_eq!(
        rotated.get("ver_aa/1/front").await.unwrap().unwrap(),
        &b"sealed with old"[..]
    );
    rotated
        .put("ver_aa/2/front", Bytes::from_static(b"sealed with new"))
        .await
        .unwrap();
    assert_eq!(
        wrong.get("ver_aa/2/front").await.unwrap().unwrap(),
        &b"sealed with new"[..]
    );
    let only_old = settings(dir.path(), None, &old).open().unwrap();
    assert!(only_old.get("ver_aa/2/front").await.is_err());
}

#[tokio::test]
async fn generated_dev_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = |_: &str| -> Option<String> { None };
    let first = BlobSettings::from_env(dir.path(), &env)
        .unwrap()
        .open()
        .unwrap();
    first
        .put("ver_aa/1/front", Bytes::from_static(b"kept"))
        .await
        .unwrap();
    drop(first);
    let again = BlobSettings::from_env(dir.path(), &env)
        .unwrap()
        .open()
        .unwrap();
    assert_eq!(
        again.get("ver_aa/1/front").await.unwrap().unwrap(),
        &b"kept"[..]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("blob.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
