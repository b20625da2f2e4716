//! The runs folder as the server sees it: a name in a URL is one folder
//! directly inside it, never a path, so no URL reaches outside.

use super::error::ApiError;
use axum::http::StatusCode;
use std::path::{Path, PathBuf};

/// Whether `name` can be a run folder's name: letters, digits, `-`, `_`
/// and `.`, not starting with a dot, at most 128 characters.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The folder of run `name` inside `runs` (which must exist, and stay
/// inside `runs` once links are followed).
pub fn run_folder(runs: &Path, name: &str) -> Result<PathBuf, ApiError> {
    if !valid_name(name) {
        return Err(ApiError::bad(
            "run",
            format!("'{name}' is not a run name (letters, digits, '-', '_', '.')"),
        ));
    }
    let not_found = || ApiError {
        status: StatusCode::NOT_FOUND,
        setting: Some("run".into()),
        message: format!("no run '{name}' in the runs folder"),
    };
    let path = runs.join(name).canonicalize().map_err(|_| not_found())?;
    if !path.starts_with(runs) || !path.is_dir() {
        return Err(not_found());
    }
    Ok(path)
}

/// `folder/file` if it is a regular file itself: not a link (which could
/// point outside the runs folder), not a device or a pipe (which could
/// never end).
pub fn plain_file(folder: &Path, file: &str) -> Option<PathBuf> {
    let path = folder.join(file);
    std::fs::symlink_metadata(&path)
        .ok()
        .filter(|m| m.file_type().is_file())
        .map(|_| path)
}

/// The contents of `folder/file`, a plain file ([`plain_file`]) of at most
/// `limit` bytes, read through its own handle (so a file swapped for
/// something else after the check is still read as at most `limit` bytes
/// of a regular file).
pub fn read_plain(folder: &Path, file: &str, limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let path = plain_file(folder, file)?;
    let f = std::fs::File::open(path).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    let mut bytes = Vec::new();
    f.take(limit + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= limit).then_some(bytes)
}

/// The model file of run `name`.
pub fn model_file(runs: &Path, name: &str) -> Result<PathBuf, ApiError> {
    let folder = run_folder(runs, name)?;
    let Some(file) = plain_file(&folder, "model.safetensors") else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            setting: Some("model".into()),
            message: format!("run '{name}' has no model.safetensors (yet)"),
        });
    };
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_folder_names() {
        assert!(valid_name("digits-20260101T000000Z"));
        for bad in ["", "..", "../etc", "a/b", ".hidden", "a\\b", "%2e%2e"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_link_out_of_the_folder_is_not_found() {
        let runs = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let runs_path = runs.path().canonicalize().unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path(), runs_path.join("escape")).unwrap();
        #[cfg(unix)]
        assert!(run_folder(&runs_path, "escape").is_err());
        std::fs::create_dir(runs_path.join("ok")).unwrap();
        assert!(run_folder(&runs_path, "ok").is_ok());
    }
}
