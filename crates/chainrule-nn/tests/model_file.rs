//! Tests of the safetensors model files: round trips, the exact layout on
//! disk, files laid out as PyTorch writes them, hostile files, atomic saving.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use chainrule_nn::model_file::{
    load, load_bytes, save, to_bytes, ModelFileError, NamedTensor, MAX_FILE_BYTES,
};

const NAME: &str = "hostile.safetensors";

fn tensor(name: &str, shape: &[usize], data: &[f32]) -> NamedTensor {
    NamedTensor {
        name: name.to_string(),
        shape: shape.to_vec(),
        data: data.to_vec(),
    }
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A file laid out by hand: 8-byte little-endian header length, header, data.
fn craft(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The error of loading `bytes`, which must name the file.
fn refusal(bytes: &[u8]) -> String {
    let message = match load_bytes(bytes, NAME) {
        Ok((tensors, _)) => panic!("accepted a hostile file: {tensors:?}"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.starts_with(&format!("{NAME}: ")),
        "message does not name the file: {message}"
    );
    message
}

fn assert_refused(bytes: &[u8], expected_part: &str) {
    let message = refusal(bytes);
    assert!(
        message.contains(expected_part),
        "expected '{expected_part}' in: {message}"
    );
}

fn bits(data: &[f32]) -> Vec<u32> {
    data.iter().map(|v| v.to_bits()).collect()
}

fn temp_files_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect()
}

/// A small two-layer network, in the given (not alphabetical) order, with
/// values that a lossy format would not keep.
fn sample_tensors() -> Vec<NamedTensor> {
    vec![
        tensor(
            "0.weight",
            &[3, 2],
            &[
                1.0,
                -0.0,
                f32::from_bits(0x7fc0_0001), // NaN with a payload
                f32::MIN_POSITIVE / 4.0,     // subnormal
                f32::INFINITY,
                -1.234_567_9e-30,
            ],
        ),
        tensor("0.bias", &[3], &[0.1, 0.2, f32::MAX]),
        tensor("2.weight", &[1, 3], &[f32::NEG_INFINITY, 3.5, -7.25]),
        tensor("2.bias", &[1], &[f32::EPSILON]),
    ]
}

// ---------------------------------------------------------------- round trip

#[test]
fn round_trip_keeps_names_shapes_bits_order_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let tensors = sample_tensors();
    let metadata = meta(&[
        ("format", "pt"),
        ("chainrule.layers", "2,3,1"),
        ("quote\"and\\slash", "é ✓ \n"),
    ]);
    save(&path, &tensors, &metadata).unwrap();

    let (loaded, loaded_meta) = load(&path).unwrap();
    assert_eq!(loaded.len(), tensors.len());
    for (a, b) in tensors.iter().zip(&loaded) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.shape, b.shape);
        assert_eq!(bits(&a.data), bits(&b.data), "tensor {}", a.name);
    }
    assert_eq!(loaded_meta, Some(metadata));
    assert!(temp_files_in(dir.path()).is_empty());
}

#[test]
fn round_trip_without_metadata_zero_sized_and_scalar_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let tensors = vec![
        tensor("empty", &[0, 3], &[]),
        tensor("scalar", &[], &[42.0]),
        tensor("also_empty", &[5, 0], &[]),
        tensor("v", &[2], &[1.0, 2.0]),
    ];
    save(&path, &tensors, &BTreeMap::new()).unwrap();
    let (loaded, loaded_meta) = load(&path).unwrap();
    assert_eq!(loaded_meta, None, "no __metadata__ is written when empty");
    // Zero-sized tensors share their offsets with their neighbours; the
    // names and shapes all come back.
    let mut expected = tensors.clone();
    let mut got = loaded.clone();
    expected.sort_by(|a, b| a.name.cmp(&b.name));
    got.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(expected, got);
}

#[test]
fn empty_model_round_trips() {
    let bytes = to_bytes(&[], &BTreeMap::new(), "m").unwrap();
    assert_eq!(bytes, craft("{}      ", &[]));
    let (tensors, metadata) = load_bytes(&bytes, "m").unwrap();
    assert!(tensors.is_empty());
    assert_eq!(metadata, None);
}

// ------------------------------------------------------------ layout on disk

#[test]
fn header_written_follows_the_safetensors_spec() {
    let tensors = sample_tensors();
    let metadata = meta(&[("format", "pt")]);
    let bytes = to_bytes(&tensors, &metadata, "m").unwrap();

    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "header padded to a multiple of 8 bytes");
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(header.starts_with('{'));
    let trimmed = header.trim_end_matches(' ');
    assert!(trimmed.ends_with('}'), "only spaces pad the header");
    assert!(header.len() - trimmed.len() < 8);

    let json: serde_json::Value = serde_json::from_str(header).unwrap();
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), tensors.len() + 1);
    assert_eq!(object["__metadata__"], serde_json::json!({"format": "pt"}));

    // Keys appear in the order given, after the metadata.
    let positions: Vec<usize> = std::iter::once("__metadata__")
        .chain(tensors.iter().map(|t| t.name.as_str()))
        .map(|name| trimmed.find(&format!("\"{name}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    let data = &bytes[8 + n..];
    let mut offset = 0u64;
    for t in &tensors {
        let entry = object[&t.name].as_object().unwrap();
        assert_eq!(entry.len(), 3, "dtype, shape, data_offsets only");
        assert_eq!(entry["dtype"], "F32");
        assert_eq!(entry["shape"], serde_json::json!(t.shape));
        let end = offset + 4 * t.data.len() as u64;
        assert_eq!(entry["data_offsets"], serde_json::json!([offset, end]));
        let raw = &data[offset as usize..end as usize];
        assert_eq!(raw, f32_bytes(&t.data).as_slice(), "little-endian F32");
        offset = end;
    }
    assert_eq!(offset as usize, data.len(), "data section fully covered");

    // The reference implementation agrees.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.len(), tensors.len());
    for t in &tensors {
        let view = st.tensor(&t.name).unwrap();
        assert_eq!(view.dtype(), safetensors::Dtype::F32);
        assert_eq!(view.shape(), t.shape.as_slice());
    }
}

/// The header `safetensors.torch.save_file` writes for the `state_dict` of
/// `Sequential(Linear(3, 2), ReLU(), Linear(2, 1))`: tensors sorted by name
/// (all have the same dtype), no `__metadata__`, compact JSON, padded with
/// spaces to a multiple of 8 bytes.
fn pytorch_file() -> (Vec<u8>, Vec<NamedTensor>) {
    let tensors = vec![
        tensor("0.bias", &[2], &[0.5, -0.5]),
        tensor("0.weight", &[2, 3], &[1.0, 2.0, 3.0, -1.0, -2.0, -3.0]),
        tensor("2.bias", &[1], &[0.25]),
        tensor("2.weight", &[1, 2], &[0.75, -0.125]),
    ];
    let mut header = String::from(r#"{"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#);
    header.push_str(r#""0.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]},"#);
    header.push_str(r#""2.bias":{"dtype":"F32","shape":[1],"data_offsets":[32,36]},"#);
    header.push_str(r#""2.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[36,44]}}"#);
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let data: Vec<u8> = tensors.iter().flat_map(|t| f32_bytes(&t.data)).collect();
    (craft(&header, &data), tensors)
}

#[test]
fn reads_the_layout_pytorch_writes() {
    let (bytes, tensors) = pytorch_file();
    let (loaded, metadata) = load_bytes(&bytes, "torch.safetensors").unwrap();
    assert_eq!(metadata, None);
    assert_eq!(loaded, tensors, "in file (name) order, values exact");
}

#[test]
fn hand_written_pytorch_layout_is_what_the_reference_serializer_writes() {
    // `safetensors.torch.save_file` calls the same Rust serializer.
    let (bytes, tensors) = pytorch_file();
    let raw: Vec<(String, Vec<u8>)> = tensors
        .iter()
        .map(|t| (t.name.clone(), f32_bytes(&t.data)))
        .collect();
    // Given in a scrambled order: the serializer sorts by name.
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = [2, 0, 3, 1]
        .iter()
        .map(|&i| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                tensors[i].shape.clone(),
                &raw[i].1,
            )
            .unwrap();
            (raw[i].0.clone(), view)
        })
        .collect();
    let reference = safetensors::serialize(views, None).unwrap();
    assert_eq!(reference, bytes);

    // Saved in name order, our files are byte for byte the same...
    assert_eq!(to_bytes(&tensors, &BTreeMap::new(), "m").unwrap(), bytes);

    // ... also with metadata.
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = raw
        .iter()
        .zip(&tensors)
        .map(|((name, data), t)| {
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                t.shape.clone(),
                data,
            )
            .unwrap();
            (name.clone(), view)
        })
        .collect();
    let info: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    let reference = safetensors::serialize(views, Some(info)).unwrap();
    let ours = to_bytes(&tensors, &meta(&[("format", "pt")]), "m").unwrap();
    assert_eq!(ours, reference);
}

// --------------------------------------------------------------------- dtypes

#[test]
fn f64_tensors_are_converted_to_f32() {
    let header = r#"{"w":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]},"b":{"dtype":"F32","shape":[1],"data_offsets":[32,36]}}"#;
    let values = [1.5, -2.25, 0.1, f64::NEG_INFINITY];
    let mut data = f64_bytes(&values);
    data.extend(f32_bytes(&[7.0]));
    let (loaded, _) = load_bytes(&craft(header, &data), "f64.safetensors").unwrap();
    assert_eq!(loaded[0].name, "w");
    assert_eq!(loaded[0].shape, vec![2, 2]);
    assert_eq!(loaded[0].data, vec![1.5, -2.25, 0.1f32, f32::NEG_INFINITY]);
    assert_eq!(loaded[1].data, vec![7.0]);

    let nan = load_bytes(
        &craft(
            r#"{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#,
            &f64_bytes(&[f64::NAN]),
        ),
        "n",
    )
    .unwrap();
    assert!(nan.0[0].data[0].is_nan());
}

#[test]
fn f64_values_beyond_f32_are_refused() {
    let header = r#"{"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#;
    let bytes = craft(header, &f64_bytes(&[1.0, -1e300]));
    assert_refused(&bytes, "tensor 'w': F64 value -1e300 at index 1");
}

#[test]
fn f16_is_refused_with_a_clear_message() {
    let header = r#"{"0.weight":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let err = load_bytes(&craft(header, &[0; 4]), "model.safetensors").unwrap_err();
    assert!(matches!(err, ModelFileError::UnsupportedDtype { .. }));
    assert_eq!(
        err.to_string(),
        "model.safetensors: tensor '0.weight' has dtype F16; only F32 and F64 are read"
    );
}

#[test]
fn other_dtypes_are_refused() {
    for (dtype, size) in [("BF16", 2), ("I64", 8), ("U8", 1), ("BOOL", 1), ("Q7", 4)] {
        let header =
            format!(r#"{{"t":{{"dtype":"{dtype}","shape":[1],"data_offsets":[0,{size}]}}}}"#);
        let message = refusal(&craft(&header, &vec![0; size]));
        assert_eq!(
            message,
            format!("{NAME}: tensor 't' has dtype {dtype}; only F32 and F64 are read")
        );
    }
}

// ------------------------------------------------------------- hostile files

#[test]
fn refuses_files_too_short_for_the_header_length() {
    assert_refused(&[], "the file is 0 bytes, too short");
    assert_refused(&[1, 0, 0, 0, 0, 0, 0], "the file is 7 bytes, too short");
}

#[test]
fn refuses_header_length_beyond_the_file() {
    let mut bytes = vec![0u8; 1024];
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = load_bytes(&bytes, "model.safetensors").unwrap_err();
    assert_eq!(
        err.to_string(),
        "model.safetensors: not a safetensors file (header length 18446744073709551615 \
         exceeds the file size 1024)"
    );

    // One byte too many.
    let mut bytes = craft("{}      ", &[]);
    bytes[..8].copy_from_slice(&9u64.to_le_bytes());
    assert_refused(&bytes, "header length 9 exceeds the file size 16");
}

#[test]
fn refuses_header_longer_than_100_mb() {
    let n = 100_000_001u64;
    // Zeroed memory is not touched by the check (calloc'd lazily).
    let mut bytes = vec![0u8; 8 + n as usize + 8];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    assert_refused(
        &bytes,
        "header length 100000001 exceeds the limit of 100000000 bytes",
    );
}

#[test]
fn refuses_malformed_headers() {
    assert_refused(&craft("\u{1}", &[]), "invalid header");
    let mut bytes = craft("{}", &[]);
    bytes[8] = 0xff;
    assert_refused(&bytes, "the header is not UTF-8");
    for header in [
        "",
        "{",
        "[]",
        "\"text\"",
        "null",
        "{} {}",
        r#"{"a":{"dtype":"F32","shape":[1]}}"#,
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
        r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#,
        r#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
        r#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
        r#"{"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}"#,
        r#"{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}"#,
        r#"{"a":{"dtype":"F32","shape":{},"data_offsets":[0,4]}}"#,
        r#"{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}"#,
        r#"{"a":[]}"#,
        r#"{"__metadata__":{"a":1}}"#,
        r#"{"__metadata__":["a"]}"#,
        r#"{"__metadata__":{},"__metadata__":{}}"#,
        r#"{"__metadata__":{"k":"1","k":"2"}}"#,
    ] {
        let message = refusal(&craft(header, &[0; 4]));
        assert!(
            message.contains("not a safetensors file"),
            "{header}: {message}"
        );
    }
}

#[test]
fn refuses_deeply_nested_headers_without_overflowing_the_stack() {
    let depth = 100_000;
    let header = format!(
        r#"{{"a":{{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":{}{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_refused(&craft(&header, &[0; 4]), "recursion limit");
}

#[test]
fn refuses_too_many_dimensions() {
    let shape = vec!["1"; 65].join(",");
    let header = format!(r#"{{"a":{{"dtype":"F32","shape":[{shape}],"data_offsets":[0,4]}}}}"#);
    assert_refused(&craft(&header, &[0; 4]), "more than 64 dimensions");
}

#[test]
fn refuses_duplicate_names() {
    // The same tensor twice, with the same offsets: without our check, the
    // second entry would silently replace the first.
    let header = r#"{"0.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"0.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    assert_refused(
        &craft(header, &[0; 4]),
        "tensor name '0.weight' appears twice",
    );
}

#[test]
fn refuses_element_counts_that_overflow() {
    let header =
        r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#;
    assert_refused(
        &craft(header, &[0; 4]),
        "tensor 'a': shape [4294967296, 4294967296, 4294967296] has more elements",
    );
    // The element count fits, the byte count does not.
    let header = r#"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#;
    assert_refused(
        &craft(header, &[0; 4]),
        "has more elements than can be addressed",
    );
}

#[test]
fn refuses_shapes_that_disagree_with_the_byte_length() {
    let header = r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
    assert_refused(
        &craft(header, &[0; 8]),
        "tensor 'a': shape [3] of dtype F32 takes 12 bytes but data_offsets [0, 8] hold 8",
    );
    let header = r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,4]}}"#;
    assert_refused(&craft(header, &[0; 4]), "takes 8 bytes");
}

#[test]
fn refuses_offsets_out_of_range() {
    // The shape claims a terabyte, and the offsets agree: still refused,
    // before allocating anything.
    let header = r#"{"a":{"dtype":"F32","shape":[274877906944],"data_offsets":[0,1099511627776]}}"#;
    assert_refused(
        &craft(header, &[0; 8]),
        "tensor 'a': data_offsets [0, 1099511627776] lie outside the data section of 8 bytes",
    );
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    assert_refused(&craft(header, &[0; 8]), "lie outside the data section");
    let header = r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}}"#;
    assert_refused(&craft(header, &[]), "lie outside the data section");
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#;
    assert_refused(&craft(header, &[0; 8]), "end before they start");
}

#[test]
fn refuses_offsets_whose_sum_would_overflow() {
    // Eight consistent tensors of 2^60 bytes each, whose offsets add up to
    // 2^63: the end of the data would overflow in naive arithmetic.
    let step = 1u64 << 60;
    let entries: Vec<String> = (0..8)
        .map(|i| {
            format!(
                r#""t{i}":{{"dtype":"F32","shape":[{}],"data_offsets":[{},{}]}}"#,
                step / 4,
                i * step,
                (i + 1) * step
            )
        })
        .collect();
    let header = format!("{{{}}}", entries.join(","));
    assert_refused(&craft(&header, &[0; 8]), "lie outside the data section");
}

#[test]
fn refuses_overlapping_offsets() {
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    assert_refused(
        &craft(header, &[0; 12]),
        "tensor 'b': data_offsets [4, 12] overlap the data of another tensor",
    );
    // The same bytes for two tensors.
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    assert_refused(
        &craft(header, &[0; 8]),
        "overlap the data of another tensor",
    );
}

#[test]
fn refuses_holes_and_trailing_bytes() {
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    assert_refused(
        &craft(header, &[0; 12]),
        "bytes 4..8 of the data section belong to no tensor",
    );
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    assert_refused(&craft(header, &[0; 8]), "bytes 0..4 of the data section");
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    assert_refused(
        &craft(header, &[0; 5]),
        "bytes 4..5 of the data section belong to no tensor",
    );
}

#[test]
fn no_corruption_or_truncation_of_a_valid_file_panics() {
    let bytes = to_bytes(&sample_tensors(), &meta(&[("format", "pt")]), "m").unwrap();
    for len in 0..bytes.len() {
        assert!(load_bytes(&bytes[..len], NAME).is_err(), "prefix of {len}");
    }
    let mut corrupted = bytes.clone();
    for i in 0..bytes.len() {
        for value in [
            0x00,
            0xff,
            0x80,
            b'"',
            b'9',
            b'{',
            b'}',
            b'[',
            b',',
            b' ',
            bytes[i] ^ 1,
        ] {
            corrupted[i] = value;
            if let Err(e) = load_bytes(&corrupted, NAME) {
                assert!(e.to_string().starts_with(NAME));
            }
        }
        corrupted[i] = bytes[i];
    }
}

// ------------------------------------------------------------ files on disk

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.safetensors");
    let err = load(&path).unwrap_err();
    assert!(matches!(err, ModelFileError::Io { .. }));
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}: I/O error: ", path.display())),
        "{message}"
    );
    // A folder is not a model file either.
    let message = load(dir.path()).unwrap_err().to_string();
    assert!(message.starts_with(&format!("{}: ", dir.path().display())));
}

#[test]
fn files_over_the_size_limit_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.safetensors");
    // A sparse file: no disk space, no reading.
    let file = fs::File::create(&path).unwrap();
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
    drop(file);
    let err = load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: file is 4294967297 bytes, more than the limit of 4294967296 bytes",
            path.display()
        )
    );
}

#[test]
fn save_replaces_atomically_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    fs::write(&path, b"an older model").unwrap();
    save(&path, &sample_tensors(), &BTreeMap::new()).unwrap();
    let (loaded, _) = load(&path).unwrap();
    assert_eq!(loaded.len(), 4);
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "only the model is left in the folder");
}

#[test]
fn failed_save_leaves_the_old_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    fs::write(&path, b"old").unwrap();

    // Invalid tensors: refused before anything is written.
    let bad = [tensor("a", &[2, 2], &[1.0, 2.0, 3.0])];
    let message = save(&path, &bad, &BTreeMap::new()).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "{}: tensor 'a': shape [2, 2] does not match the 3 values given",
            path.display()
        )
    );
    assert_eq!(fs::read(&path).unwrap(), b"old");

    // The rename fails (the target is a non-empty folder).
    let folder = dir.path().join("taken");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("inside"), b"keep").unwrap();
    let err = save(&folder, &sample_tensors(), &BTreeMap::new()).unwrap_err();
    assert!(err
        .to_string()
        .starts_with(&format!("{}: I/O error", folder.display())));
    assert_eq!(fs::read(folder.join("inside")).unwrap(), b"keep");

    // The folder does not exist.
    let nowhere = dir.path().join("no-such-folder").join("model.safetensors");
    let err = save(&nowhere, &sample_tensors(), &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, ModelFileError::Io { .. }));
    assert!(!nowhere.exists());

    assert_eq!(fs::read(&path).unwrap(), b"old");
    assert!(temp_files_in(dir.path()).is_empty());
}

#[test]
fn save_refuses_inconsistent_tensors() {
    let cases: Vec<(Vec<NamedTensor>, &str)> = vec![
        (
            vec![tensor("a", &[1], &[1.0]), tensor("a", &[1], &[2.0])],
            "tensor 'a': the name is used twice",
        ),
        (
            vec![tensor("__metadata__", &[1], &[1.0])],
            "tensor '__metadata__': the name is reserved",
        ),
        (
            vec![tensor("big", &[usize::MAX, 2], &[])],
            "tensor 'big': shape [18446744073709551615, 2] does not match the 0 values",
        ),
        (
            vec![tensor("r", &[1; 65], &[1.0])],
            "tensor 'r': 65 dimensions, more than the limit of 64",
        ),
    ];
    for (tensors, expected) in cases {
        let message = to_bytes(&tensors, &BTreeMap::new(), "out.safetensors")
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(&format!("out.safetensors: {expected}")),
            "{message}"
        );
    }
}

// Compatibility with files PyTorch wrote: tests/torch_interop.rs.
