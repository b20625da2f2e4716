//! Atomic replacement of a file's contents.
//!
//! [`write_atomically`] writes the new contents to a temporary file in the
//! same folder as the target, flushes it to disk, renames it over the target
//! and then flushes the folder, so that a reader (or a crash) sees either the
//! complete old file or the complete new one, never a mixture or a truncated
//! file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How many temporary names are tried before giving up when every one of
/// them is already taken (which only happens if stale temporary files of
/// the same process id are lying around).
const MAX_NAME_ATTEMPTS: u32 = 100;

/// Distinguishes concurrent writes from the same process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces the contents of `path` with `bytes`, atomically.
///
/// The steps are:
///
/// 1. create a new file `.{name}.tmp-{pid}-{counter}` next to `path` (same
///    folder, hence same file system, so the rename below is atomic);
/// 2. write all of `bytes` to it and `sync_all` it;
/// 3. if `path` already exists, give the temporary file its permissions;
/// 4. rename the temporary file over `path`;
/// 5. on Unix, `fsync` the folder so that the rename itself is durable.
///    Errors of this last step are returned, except those that mean that the
///    file system does not support syncing a folder.
///
/// On any error before the rename, the temporary file is removed and `path`
/// is left exactly as it was (absent, or with its old contents).
///
/// If `path` is a symbolic link, the link itself is replaced by a regular
/// file; the file it pointed to is not changed.
///
/// # Errors
///
/// Any I/O error of the steps above; an [`io::ErrorKind::InvalidInput`]
/// error if `path` has no file name (for example `..` or `/`).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with_hook(path, bytes, |_| Ok(()))
}

/// [`write_atomically`] with a hook called on the complete, synced
/// temporary file just before the rename; an error of the hook aborts the
/// write like any other error. Lets the tests simulate a failure at the
/// last possible moment.
pub(crate) fn write_atomically_with_hook(
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: path has no file name", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };

    let (tmp_path, file) = create_temp_file(dir, &file_name.to_string_lossy())?;
    let result = fill_and_rename(file, &tmp_path, path, bytes, before_rename);
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&tmp_path);
        return result;
    }
    sync_dir(dir)
}

/// Creates a new temporary file in `dir` with a name not used before.
fn create_temp_file(dir: &Path, file_name: &str) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last_error = None;
    for _ in 0..MAX_NAME_ATTEMPTS {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_path = dir.join(format!(".{file_name}.tmp-{pid}-{n}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
        {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name")))
}

/// Writes `bytes` to the temporary file, syncs it, closes it and renames it
/// over `target`.
fn fill_and_rename(
    mut file: File,
    tmp_path: &Path,
    target: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    file.write_all(bytes)?;
    if let Ok(meta) = fs::metadata(target) {
        if meta.is_file() {
            file.set_permissions(meta.permissions())?;
        }
    }
    file.sync_all()?;
    drop(file);
    before_rename(tmp_path)?;
    fs::rename(tmp_path, target)
}

/// Makes the rename durable by syncing the folder that holds the file.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    let result = File::open(dir).and_then(|d| d.sync_all());
    match result {
        // Some file systems refuse fsync on a folder (EINVAL, ENOTSUP):
        // nothing more can be done there.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Folders cannot be synced through the standard library on this platform;
/// the rename is as durable as the platform makes it.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftover_temp_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_new_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomically(&path, b"hello").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert!(leftover_temp_files(dir.path()).is_empty());
    }

    #[test]
    fn replaces_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        fs::write(&path, b"old contents, longer than the new").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target is left in the folder");
    }

    #[cfg(unix)]
    #[test]
    fn keeps_permissions_of_replaced_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"new").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn failure_before_rename_keeps_old_file_and_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        fs::write(&path, b"old").unwrap();
        let mut seen_tmp = None;
        let err = write_atomically_with_hook(&path, b"new contents", |tmp| {
            // The temporary file is complete at this point.
            assert_eq!(fs::read(tmp).unwrap(), b"new contents");
            assert_eq!(tmp.parent(), Some(dir.path()));
            seen_tmp = Some(tmp.to_path_buf());
            Err(io::Error::other("simulated failure"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "simulated failure");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(!seen_tmp.unwrap().exists());
        assert!(leftover_temp_files(dir.path()).is_empty());
    }

    #[test]
    fn failed_rename_removes_temp_file() {
        // Renaming a file over a non-empty folder fails on every platform.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"keep").unwrap();
        assert!(write_atomically(&target, b"new").is_err());
        assert_eq!(fs::read(target.join("inside")).unwrap(), b"keep");
        assert!(leftover_temp_files(dir.path()).is_empty());
    }

    #[test]
    fn missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-folder").join("out.bin");
        let err = write_atomically(&path, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!path.exists());
    }

    #[test]
    fn path_without_file_name_is_refused() {
        let err = write_atomically(Path::new(".."), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
