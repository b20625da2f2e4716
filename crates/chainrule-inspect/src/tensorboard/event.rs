//! The protocol-buffer messages of a TensorBoard event file, as `prost`
//! structs: only the messages and fields chainrule writes.
//!
//! Names, field numbers and types are those of TensorBoard's own schema
//! (package `tensorboard`, mirrored from TensorFlow's
//! `core/util/event.proto`, `core/framework/summary.proto` and
//! `tsl/.../histogram.proto`):
//!
//! - `tensorboard/compat/proto/event.proto`: `Event { double wall_time = 1;
//!   int64 step = 2; oneof what { string file_version = 3; …; Summary
//!   summary = 5; …; SessionLog session_log = 7; … } }` and `SessionLog {
//!   SessionStatus status = 1; string checkpoint_path = 2; string msg = 3;
//!   }` with `SessionStatus { STATUS_UNSPECIFIED = 0; START = 1; STOP = 2;
//!   CHECKPOINT = 3; }`;
//! - `tensorboard/compat/proto/summary.proto`: `Summary { repeated Value
//!   value = 1; }` and `Summary.Value { string tag = 1; oneof value { float
//!   simple_value = 2; …; HistogramProto histo = 5; … } }`;
//! - `tensorboard/compat/proto/histogram.proto`: `HistogramProto { double
//!   min = 1; double max = 2; double num = 3; double sum = 4; double
//!   sum_squares = 5; repeated double bucket_limit = 6 [packed = true];
//!   repeated double bucket = 7 [packed = true]; }`.
//!
//! Fields chainrule never writes (`graph_def`, images, audio, tensors,
//! summary metadata, …) are left out: a reader skips unknown fields, and
//! decoding a file written by others simply drops them.

/// The first event of every file: `file_version = "brain.Event:2"`.
pub const FILE_VERSION: &str = "brain.Event:2";

/// `tensorboard.Event`: one record of an event file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// Seconds since the Unix epoch.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The global step.
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    pub what: Option<What>,
}

/// `Event.what`: what the event holds.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    /// The file's format version ([`FILE_VERSION`]), in the first event.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// Summary values (scalars, histograms).
    #[prost(message, tag = "5")]
    Summary(Summary),
    /// The state of the writing session: a `START` at step `s` tells a
    /// reader that the run restarted at `s` (from a checkpoint), so that
    /// events of steps `≥ s` written before the restart are stale.
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

/// `tensorboard.Summary`: a set of tagged values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `tensorboard.Summary.Value`: one tagged value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    #[prost(oneof = "Value", tags = "2, 5")]
    pub value: Option<Value>,
}

/// `Summary.Value.value`: a scalar or a histogram.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
    #[prost(message, tag = "5")]
    Histo(HistogramProto),
}

/// `tensorboard.HistogramProto`: bucket `i` counts the values in
/// `(bucket_limit[i-1], bucket_limit[i]]` (the first from −∞).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistogramProto {
    #[prost(double, tag = "1")]
    pub min: f64,
    #[prost(double, tag = "2")]
    pub max: f64,
    #[prost(double, tag = "3")]
    pub num: f64,
    #[prost(double, tag = "4")]
    pub sum: f64,
    #[prost(double, tag = "5")]
    pub sum_squares: f64,
    #[prost(double, repeated, packed = "true", tag = "6")]
    pub bucket_limit: Vec<f64>,
    #[prost(double, repeated, packed = "true", tag = "7")]
    pub bucket: Vec<f64>,
}

/// `tensorboard.SessionLog`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SessionLog {
    #[prost(enumeration = "SessionStatus", tag = "1")]
    pub status: i32,
    #[prost(string, tag = "2")]
    pub checkpoint_path: String,
    #[prost(string, tag = "3")]
    pub msg: String,
}

/// `tensorboard.SessionLog.SessionStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SessionStatus {
    StatusUnspecified = 0,
    Start = 1,
    Stop = 2,
    Checkpoint = 3,
}

impl Event {
    /// The first event of a file.
    pub fn file_version(wall_time: f64) -> Event {
        Event {
            wall_time,
            step: 0,
            what: Some(What::FileVersion(FILE_VERSION.to_string())),
        }
    }

    /// An event of summary `values` at `step`.
    pub fn summary(wall_time: f64, step: i64, values: Vec<SummaryValue>) -> Event {
        Event {
            wall_time,
            step,
            what: Some(What::Summary(Summary { value: values })),
        }
    }

    /// A `SessionLog` `START` at `step`: the run (re)starts there.
    pub fn start(wall_time: f64, step: i64, msg: &str) -> Event {
        Event {
            wall_time,
            step,
            what: Some(What::SessionLog(SessionLog {
                status: SessionStatus::Start as i32,
                checkpoint_path: String::new(),
                msg: msg.to_string(),
            })),
        }
    }

    /// The summary values of the event (none if it holds no summary).
    pub fn values(&self) -> &[SummaryValue] {
        match &self.what {
            Some(What::Summary(s)) => &s.value,
            _ => &[],
        }
    }
}

impl SummaryValue {
    /// A scalar (TensorBoard keeps scalars as 32-bit floats).
    pub fn scalar(tag: &str, value: f32) -> SummaryValue {
        SummaryValue {
            tag: tag.to_string(),
            value: Some(Value::SimpleValue(value)),
        }
    }

    /// A histogram.
    pub fn histogram(tag: &str, histo: HistogramProto) -> SummaryValue {
        SummaryValue {
            tag: tag.to_string(),
            value: Some(Value::Histo(histo)),
        }
    }
}

impl HistogramProto {
    /// The histogram of `values` in `buckets` equal-width buckets from their
    /// minimum to their maximum (one bucket when all are equal); values that
    /// are not finite are left out. `None` when no value is finite.
    pub fn of(values: &[f64], buckets: usize) -> Option<HistogramProto> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let (min, max) = finite
            .iter()
            .fold(None, |acc: Option<(f64, f64)>, &v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })?;
        let k = if max > min { buckets.max(1) } else { 1 };
        let width = (max - min) / k as f64;
        let mut bucket_limit: Vec<f64> = (1..k).map(|i| min + width * i as f64).collect();
        bucket_limit.push(max);
        let mut bucket = vec![0.0; k];
        for &v in &finite {
            // The first limit ≥ v: buckets are closed on the right.
            let i = bucket_limit.partition_point(|&limit| limit < v).min(k - 1);
            bucket[i] += 1.0;
        }
        Some(HistogramProto {
            min,
            max,
            num: finite.len() as f64,
            sum: finite.iter().sum(),
            sum_squares: finite.iter().map(|v| v * v).sum(),
            bucket_limit,
            bucket,
        })
    }
}
