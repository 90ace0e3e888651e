//! Secret and credential files (the gateway's `basic-auth-*`, the store's `s3-*-key`,
//! `faas-cli secret create`'s): the one place they are read and written.
//!
//! - Written atomically: a temporary file in the same folder, created 0600 with
//!   `O_EXCL`, written, fsynced, then renamed over the name (and the folder fsynced), so
//!   a crash leaves the old value or the new one, never half of one.
//! - Never through a link: a name that is a symbolic link is refused, for reading
//!   (`O_NOFOLLOW`) and for writing, and its target is left untouched — a link planted
//!   in the secrets folder must not redirect a write or leak a file.
//! - A secret that exists but cannot be read, or is not UTF-8, is an error naming the
//!   file, never a reason to generate a new one over it (that would lock out every
//!   client holding the old one). Only a missing or empty file is generated.
//! - A pre-existing file readable by others (0644, written by hand) is tightened to 0600
//!   on read, with a warning: refusing would stop a start for a mode, while the value
//!   itself is fine — and its exposure so far is the operator's to judge.
//! - A generated secret is created with `link(2)`, which never replaces a file: two
//!   processes generating at once agree on one value.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a secret file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("{}: is a symbolic link; refusing to read or write a secret through it", .0.display())]
    Link(PathBuf),
    #[error("{}: not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("{}: cannot be read ({source}); fix or remove the file — it is not replaced", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: is not UTF-8 text; fix or remove the file — it is not replaced", .0.display())]
    NotUtf8(PathBuf),
    #[error("{}: cannot be written: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<SecretFileError> for std::io::Error {
    fn from(e: SecretFileError) -> Self {
        std::io::Error::other(e)
    }
}

/// Creates `dir` (and its parents) when missing, readable by this user only.
pub fn ensure_dir(dir: &Path) -> Result<(), SecretFileError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| SecretFileError::Write {
            path: dir.to_path_buf(),
            source,
        })
}

/// A secret's value (trimmed), generated with `make()` and written when the file is
/// missing or empty; any other failure to read it is an error.
pub fn read_or_create(path: &Path, make: impl Fn() -> String) -> Result<String, SecretFileError> {
    if let Some(value) = read(path)? {
        return Ok(value);
    }
    let value = make();
    match create_new(path, value.as_bytes()) {
        Ok(()) => Ok(value),
        // Someone else wrote it first (or an empty file is there): theirs, or ours over
        // the empty one.
        Err(SecretFileError::Write { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            match read(path)? {
                Some(theirs) => Ok(theirs),
                None => {
                    write(path, value.as_bytes())?;
                    Ok(value)
                }
            }
        }
        Err(e) => Err(e),
    }
}

/// A secret's value, trimmed; `None` when the file is missing or blank.
pub fn read(path: &Path) -> Result<Option<String>, SecretFileError> {
    let unreadable = |source| SecretFileError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(SecretFileError::Link(path.to_path_buf()));
        }
        Err(e) => return Err(unreadable(e)),
    };
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(SecretFileError::NotAFile(path.to_path_buf()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(file = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "a secret file was readable by others: tightened to 0600");
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|source| SecretFileError::Write {
                path: path.to_path_buf(),
                source,
            })?;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    let text =
        String::from_utf8(bytes).map_err(|_| SecretFileError::NotUtf8(path.to_path_buf()))?;
    let value = text.trim();
    Ok((!value.is_empty()).then(|| value.to_string()))
}

/// Writes `value` to `path` atomically, 0600, replacing what is there unless it is a
/// link (refused) or not a regular file.
pub fn write(path: &Path, value: &[u8]) -> Result<(), SecretFileError> {
    refuse_link(path)?;
    let tmp = write_temp(path, value)?;
    std::fs::rename(&tmp, path)
        .and_then(|()| sync_parent(path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            SecretFileError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
}

/// Writes `value` to `path` as [`write`] does, but only if nothing is there
/// (`AlreadyExists` otherwise).
fn create_new(path: &Path, value: &[u8]) -> Result<(), SecretFileError> {
    refuse_link(path)?;
    let tmp = write_temp(path, value)?;
    let linked = std::fs::hard_link(&tmp, path).and_then(|()| sync_parent(path));
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|source| SecretFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn refuse_link(path: &Path) -> Result<(), SecretFileError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(SecretFileError::Link(path.to_path_buf())),
        Ok(meta) if !meta.is_file() => Err(SecretFileError::NotAFile(path.to_path_buf())),
        _ => Ok(()),
    }
}

/// `value` in a new 0600 file beside `path`, on disk.
fn write_temp(path: &Path, value: &[u8]) -> Result<PathBuf, SecretFileError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&tmp)?;
        file.write_all(value)?;
        file.sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(source) => {
            let _ = std::fs::remove_file(&tmp);
            Err(SecretFileError::Write {
                path: path.to_path_buf(),
                source,
            })
        }
    }
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(what: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("greyfaas-secret-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ensure_dir(&dir).unwrap();
        dir
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn generated_once_0600_then_kept() {
        let dir = scratch("generated");
        let path = dir.join("basic-auth-password");
        let first = read_or_create(&path, || "one".into()).unwrap();
        let again = read_or_create(&path, || "two".into()).unwrap();
        assert_eq!((first.as_str(), again.as_str()), ("one", "one"));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        // An empty file (a crash of an older version mid-write) is generated again.
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(read_or_create(&path, || "three".into()).unwrap(), "three");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["basic-auth-password"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_link_is_refused_and_its_target_untouched() {
        let dir = scratch("link");
        let target = dir.join("elsewhere");
        std::fs::write(&target, "precious").unwrap();
        let path = dir.join("s3-secret-key");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let read = read_or_create(&path, || "generated".into()).unwrap_err();
        assert!(matches!(read, SecretFileError::Link(_)), "{read}");
        assert!(read.to_string().contains("s3-secret-key"), "{read}");
        let write = write(&path, b"new").unwrap_err();
        assert!(matches!(write, SecretFileError::Link(_)), "{write}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert!(
            std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A dangling link too: nothing is created where it points.
        let dangling = dir.join("basic-auth-user");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(matches!(
            read_or_create(&dangling, || "admin".into()),
            Err(SecretFileError::Link(_))
        ));
        assert!(!dir.join("nowhere").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unreadable_or_non_utf8_secret_is_an_error_naming_it_and_is_kept() {
        let dir = scratch("unreadable");
        let path = dir.join("basic-auth-password");
        std::fs::write(&path, [0xff, 0xfe, b'x']).unwrap();
        let e = read_or_create(&path, || "generated".into()).unwrap_err();
        assert!(matches!(e, SecretFileError::NotUtf8(_)), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), [0xff, 0xfe, b'x']);
        // A folder where the file should be: not readable as a secret, not replaced.
        let folder = dir.join("s3-access-key");
        std::fs::create_dir(&folder).unwrap();
        let e = read_or_create(&folder, || "generated".into()).unwrap_err();
        assert!(
            matches!(
                e,
                SecretFileError::NotAFile(_) | SecretFileError::Unreadable { .. }
            ),
            "{e}"
        );
        assert!(folder.is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pre_existing_0644_secret_is_tightened_to_0600() {
        let dir = scratch("mode");
        let path = dir.join("s3-secret-key");
        std::fs::write(&path, "kept\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            read_or_create(&path, || "generated".into()).unwrap(),
            "kept"
        );
        assert_eq!(mode(&path), 0o600);
        // A write replaces a 0644 file with a 0600 one.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
