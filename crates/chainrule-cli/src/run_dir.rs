//! The folder a training run writes to: every run its own, nothing
//! overwritten without being asked, and nothing left behind by a run that
//! failed before it wrote anything.
//!
//! - Default (`runs/<data>-<UTC timestamp>`): created atomically; when a
//!   run of the same second holds the name, the next free `-2`, `-3`, …
//!   is taken, so quick runs in a row each keep their own folder.
//! - `--out DIR`: an empty or missing folder is used; a folder holding
//!   anything is refused (with a hint to `--resume` when it holds a
//!   checkpoint) unless `--overwrite` is given, as `cargo new` and
//!   TensorBoard-style loggers refuse a non-empty target.
//! - `--resume DIR`: the run's own folder, as it is.
//!
//! A run that fails removes the folder if it created it and nothing was
//! written into it; a folder holding a checkpoint or model stays.

use chainrule_nn::checkpoint::CHECKPOINT_FILE;
use chainrule_nn::{Error, Result};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The run folder, and whether this run created it.
pub struct RunDir {
    path: PathBuf,
    created: bool,
}

impl RunDir {
    /// The folder a resumed run continues in.
    pub fn resumed(dir: &Path) -> RunDir {
        RunDir {
            path: dir.to_path_buf(),
            created: false,
        }
    }

    /// `--out DIR`: refuses a folder that holds anything unless
    /// `overwrite`.
    pub fn explicit(dir: &Path, overwrite: bool) -> Result<RunDir> {
        let err = |e: std::io::Error| Error::config("out", format!("{}: {e}", dir.display()));
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() && !overwrite {
                    let ck = dir.join(CHECKPOINT_FILE);
                    let hint = if ck.exists() {
                        format!(
                            "it holds the checkpoint of an earlier run: continue it with \
                             --resume {}, or ",
                            dir.display()
                        )
                    } else {
                        "it holds files of an earlier run: ".to_string()
                    };
                    return Err(Error::config(
                        "out",
                        format!(
                            "{} is not empty; {hint}choose another --out, or add --overwrite \
                             to replace its files",
                            dir.display()
                        ),
                    ));
                }
                Ok(RunDir {
                    path: dir.to_path_buf(),
                    created: false,
                })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(err)?;
                Ok(RunDir {
                    path: dir.to_path_buf(),
                    created: true,
                })
            }
            Err(e) => Err(err(e)),
        }
    }

    /// A new folder `base-<stamp>` in `parent`, or `base-<stamp>-N` for the
    /// first free N from 2 when that name is taken.
    pub fn fresh(parent: &Path, name: &str) -> Result<RunDir> {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::config("out", format!("{}: {e}", parent.display())))?;
        for n in 1..10_000u32 {
            let path = if n == 1 {
                parent.join(name)
            } else {
                parent.join(format!("{name}-{n}"))
            };
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    return Ok(RunDir {
                        path,
                        created: true,
                    })
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::config("out", format!("{}: {e}", path.display()))),
            }
        }
        Err(Error::config(
            "out",
            format!(
                "{}: 10,000 runs of the same second already exist; choose --out",
                parent.join(name).display()
            ),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// After a failed run: removes the folder if this run created it and it
    /// is still empty (`remove_dir` refuses a folder holding anything).
    pub fn discard_if_empty(&self) {
        if self.created {
            let _ = std::fs::remove_dir(&self.path);
        }
    }
}

/// `<data>-<UTC timestamp>`, the data name made safe for a path.
pub fn default_name(data: &str, secs_since_1970: u64) -> String {
    let name: String = data
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(data)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}-{}", utc_stamp(secs_since_1970))
}

/// Seconds since 1970 now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYYMMDD-HHMMSS` in UTC for seconds since 1970 (days to civil date by
/// Howard Hinnant's algorithm).
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_by_hand() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        // 2026-11-28 07:44:29 UTC = 1795851869 s (date -d @1795851869 -u).
        assert_eq!(utc_stamp(1_795_851_869), "20261128-074429");
        assert_eq!(
            default_name("csv:data/my file.csv", 0),
            "my_file_csv-19700101-000000"
        );
    }

    #[test]
    fn runs_of_the_same_second_get_their_own_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let a = RunDir::fresh(tmp.path(), "iris-x").unwrap();
        let b = RunDir::fresh(tmp.path(), "iris-x").unwrap();
        let c = RunDir::fresh(tmp.path(), "iris-x").unwrap();
        assert_eq!(a.path(), tmp.path().join("iris-x"));
        assert_eq!(b.path(), tmp.path().join("iris-x-2"));
        assert_eq!(c.path(), tmp.path().join("iris-x-3"));
        b.discard_if_empty();
        assert!(!b.path().exists());
    }

    #[test]
    fn a_folder_with_files_is_refused_unless_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("model.safetensors"), b"x").unwrap();
        let e = RunDir::explicit(tmp.path(), false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not empty") && e.contains("--overwrite"), "{e}");
        let d = RunDir::explicit(tmp.path(), true).unwrap();
        d.discard_if_empty();
        assert!(tmp.path().join("model.safetensors").exists());
    }
}
