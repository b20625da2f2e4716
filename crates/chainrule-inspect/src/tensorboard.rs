//! TensorBoard event files: what `chainrule train --tensorboard DIR`
//! writes, for TensorBoard (`tensorboard --logdir DIR`) to show.
//!
//! - [`event`]: the protocol-buffer messages (`Event`, `Summary`,
//!   `HistogramProto`, `SessionLog`) as `prost` structs, with the field
//!   numbers of TensorBoard's schema;
//! - [`record`]: the record framing (length, data, masked CRC-32C of each);
//! - [`EventWriter`]: a new event file in a folder, scalars and histograms
//!   appended as events; [`read_events`] reads a file back.

pub mod event;
pub mod record;
mod writer;

pub use writer::{
    event_files, read_events, wall_time, EventWriter, ReadError, FILE_PREFIX, HISTOGRAM_BUCKETS,
};
