//! Files only the service can read. The data folder holds the SQLite database (personal
//! data), the images and the key that decrypts them: on unix the folders are created 0700
//! and the files 0600, and at start a looser mode left by an older version, a restored
//! backup or a hand-made folder is tightened, with a warning.
//!
//! Elsewhere (no unix permission bits) these functions only create folders.

use std::fs;
use std::io;
use std::path::Path;

/// Mode of private folders.
pub const DIR_MODE: u32 = 0o700;
/// Mode of private files.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` and any missing parents, each readable only by this user.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)
}

/// Create the file `path` empty and readable only by this user, unless it exists.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// If `path` lets its group or others in, set it to `mode` ([`DIR_MODE`] or
/// [`FILE_MODE`]) and log a warning. `Ok(true)` when it was tightened; a missing path is
/// `Ok(false)`. Stricter modes (say 0400) are left as they are.
pub fn tighten(path: &Path, mode: u32) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        // A link's own bits mean nothing; what it points to is not ours to change.
        if meta.file_type().is_symlink() {
            return Ok(false);
        }
        let was = meta.permissions().mode() & 0o777;
        if was & 0o077 == 0 {
            return Ok(false);
        }
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{was:04o}"),
            now = format!("{mode:04o}"),
            "others could read this; permissions tightened"
        );
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(false)
    }
}

/// [`tighten`], with a failure (a file owned by someone else, a read-only mount) logged
/// rather than stopping the start: the service still works, and the warning says what to
/// fix.
pub fn tighten_or_warn(path: &Path, mode: u32) {
    if let Err(e) = tighten(path, mode) {
        tracing::warn!(path = %path.display(), error = %e,
            "cannot restrict the permissions of this file; only the service should read it");
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("f");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        // An existing file is left alone, content and all.
        fs::write(&file, b"kept").unwrap();
        create_private_file(&file).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"kept");
    }

    #[test]
    fn looser_modes_are_tightened_stricter_ones_kept() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        fs::write(&file, b"x").unwrap();
        for (before, after, changed) in [
            (0o644, 0o600, true),
            (0o660, 0o600, true),
            (0o604, 0o600, true),
            (0o600, 0o600, false),
            (0o400, 0o400, false),
        ] {
            fs::set_permissions(&file, fs::Permissions::from_mode(before)).unwrap();
            assert_eq!(tighten(&file, FILE_MODE).unwrap(), changed, "{before:o}");
            assert_eq!(mode(&file), after, "{before:o}");
        }
        let dir = root.path().join("d");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(tighten(&dir, DIR_MODE).unwrap());
        assert_eq!(mode(&dir), 0o700);
        assert!(!tighten(&root.path().join("missing"), FILE_MODE).unwrap());
    }
}
