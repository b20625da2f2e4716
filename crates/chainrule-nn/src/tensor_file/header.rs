//! The safetensors header: writing its JSON pieces, and reading it as
//! written, in order, duplicate names kept so that they can be refused.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{MAX_RANK, METADATA_KEY};

/// `s` as a JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    // Serializing a string to JSON cannot fail; escape by hand just in case.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// `shape` as a JSON array.
pub(super) fn json_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(","))
}

/// The header as written, in order, duplicates kept (so they can be refused).
pub(super) struct RawHeader {
    pub(super) metadata: Option<BTreeMap<String, String>>,
    pub(super) tensors: Vec<RawTensor>,
}

pub(super) struct RawTensor {
    pub(super) name: String,
    pub(super) dtype: String,
    pub(super) shape: Vec<usize>,
    pub(super) data_offsets: (u64, u64),
}

#[derive(Deserialize)]
struct RawTensorInfo {
    dtype: String,
    #[serde(deserialize_with = "deserialize_shape")]
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RawHeader;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object mapping tensor names to their dtype, shape and data_offsets")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let mut metadata = None;
        let mut tensors = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if name == METADATA_KEY {
                if metadata.is_some() {
                    return Err(de::Error::custom("__metadata__ appears twice"));
                }
                let MetadataMap(entries) = map.next_value()?;
                metadata = Some(entries);
            } else {
                let info: RawTensorInfo = map.next_value()?;
                tensors.push(RawTensor {
                    name,
                    dtype: info.dtype,
                    shape: info.shape,
                    data_offsets: info.data_offsets,
                });
            }
        }
        Ok(RawHeader { metadata, tensors })
    }
}

/// `__metadata__`: string keys to string values, no key twice.
struct MetadataMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for MetadataMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetadataVisitor;
        impl<'de> Visitor<'de> for MetadataVisitor {
            type Value = MetadataMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetadataMap, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    if let Some(old) = entries.insert(key, value) {
                        return Err(de::Error::custom(format!(
                            "a key of __metadata__ appears twice (one value is '{old}')"
                        )));
                    }
                }
                Ok(MetadataMap(entries))
            }
        }
        deserializer.deserialize_map(MetadataVisitor)
    }
}

/// A shape: at most [`MAX_RANK`] non-negative integers.
fn deserialize_shape<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<usize>, D::Error> {
    struct ShapeVisitor;
    impl<'de> Visitor<'de> for ShapeVisitor {
        type Value = Vec<usize>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an array of at most {MAX_RANK} dimensions")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<usize>, A::Error> {
            let mut shape = Vec::new();
            while let Some(dim) = seq.next_element::<usize>()? {
                if shape.len() == MAX_RANK {
                    return Err(de::Error::custom(format!(
                        "shape has more than {MAX_RANK} dimensions"
                    )));
                }
                shape.push(dim);
            }
            Ok(shape)
        }
    }
    deserializer.deserialize_seq(ShapeVisitor)
}
