//! An event file being written: created in its folder, the file version
//! first, then events, each one record (see [`super::record`]).

use super::event::{Event, HistogramProto, SummaryValue};
use super::record::{read_records, write_record};
use prost::Message;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The prefix of every event file's name (TensorBoard reads the files of a
/// folder whose name contains `tfevents`).
pub const FILE_PREFIX: &str = "events.out.tfevents.";

/// Buckets of the histograms chainrule writes.
pub const HISTOGRAM_BUCKETS: usize = 30;

/// An event file open for writing.
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

/// Seconds since the Unix epoch, as events record them.
pub fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `host` with every character outside `[A-Za-z0-9._-]` replaced by `_`,
/// fit for a file name (`localhost` if empty).
fn file_name_part(host: &str) -> String {
    let s: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "localhost".to_string()
    } else {
        s
    }
}

impl EventWriter {
    /// Creates `dir` (and its parents) if needed and a new event file in it,
    /// `events.out.tfevents.<unix seconds>.<host>.<first step, 10
    /// digits>.<process id>`, which starts with the file-version event.
    ///
    /// Files of one folder are read in name order: the name holds the
    /// first step after the time so that a run resumed within the second
    /// its earlier part stopped still sorts after it.
    pub fn create(dir: &Path, host: &str, first_step: u64) -> io::Result<EventWriter> {
        std::fs::create_dir_all(dir)?;
        let now = wall_time();
        let stem = format!(
            "{FILE_PREFIX}{}.{}.{first_step:010}.{}",
            now as u64,
            file_name_part(host),
            std::process::id()
        );
        let mut n = 0;
        let (path, file) = loop {
            let name = if n == 0 {
                stem.clone()
            } else {
                format!("{stem}.{n}")
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(e),
            }
        };
        let mut w = EventWriter {
            path,
            file: BufWriter::new(file),
        };
        w.write(&Event::file_version(now))?;
        w.flush()?;
        Ok(w)
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` (buffered: see [`EventWriter::flush`]).
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        write_record(&mut self.file, &event.encode_to_vec())
    }

    /// Appends the summary `values` at `step`, if any.
    pub fn summary(&mut self, step: i64, values: Vec<SummaryValue>) -> io::Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        self.write(&Event::summary(wall_time(), step, values))
    }

    /// Appends the scalar `tag` = `value` at `step` (as a 32-bit float).
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> io::Result<()> {
        self.summary(step, vec![SummaryValue::scalar(tag, value as f32)])
    }

    /// The histogram of `values` (in [`HISTOGRAM_BUCKETS`] buckets), if any
    /// value is finite.
    pub fn histogram_value(tag: &str, values: &[f64]) -> Option<SummaryValue> {
        HistogramProto::of(values, HISTOGRAM_BUCKETS).map(|h| SummaryValue::histogram(tag, h))
    }

    /// Writes what is buffered to the file and the file to the disk's
    /// cache, where a live TensorBoard sees it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A file that does not read back as events.
#[derive(Debug)]
pub struct ReadError {
    pub path: PathBuf,
    pub detail: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.detail)
    }
}

impl std::error::Error for ReadError {}

/// The events of the event file `path`, every record's CRCs checked.
pub fn read_events(path: &Path) -> Result<Vec<Event>, ReadError> {
    let err = |detail: String| ReadError {
        path: path.to_path_buf(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    read_records(&bytes)
        .map_err(|e| err(e.to_string()))?
        .into_iter()
        .enumerate()
        .map(|(i, data)| Event::decode(data).map_err(|e| err(format!("record {i}: {e}"))))
        .collect()
}

/// The event files of `dir`, in the order a reader takes them (by name).
pub fn event_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("tfevents"))
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}
