//! `tensor_file`, the one reader and writer of safetensors bytes: every
//! dtype round-trips bit for bit in the order written, the reference library
//! reads what it writes, dtypes the caller does not accept are refused, and
//! errors name the file and the tensor.

use chainrule_nn::tensor_file::{
    decode, encode, library_verdict, read, write, Dtype, StoredTensor, TensorFileError, TensorRef,
    Values, ValuesRef,
};
use std::collections::BTreeMap;

const ALL: &[Dtype] = &[Dtype::F32, Dtype::F64, Dtype::I64];

fn sample() -> Vec<StoredTensor> {
    vec![
        StoredTensor {
            name: "w".into(),
            shape: vec![2, 2],
            values: Values::F64(vec![0.1 + 0.2, f64::NAN, -0.0, f64::INFINITY]),
        },
        StoredTensor {
            name: "n".into(),
            shape: vec![],
            values: Values::I64(vec![i64::MIN]),
        },
        StoredTensor {
            name: "b".into(),
            shape: vec![3],
            values: Values::F32(vec![1.5, f32::MIN_POSITIVE / 2.0, -7.0]),
        },
    ]
}

fn bits(v: &Values) -> Vec<u64> {
    match v {
        Values::F32(v) => v.iter().map(|x| u64::from(x.to_bits())).collect(),
        Values::F64(v) => v.iter().map(|x| x.to_bits()).collect(),
        Values::I64(v) => v.iter().map(|&x| x as u64).collect(),
    }
}

#[test]
fn every_dtype_round_trips_in_order_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let tensors = sample();
    let refs: Vec<TensorRef> = tensors.iter().map(StoredTensor::as_ref).collect();
    let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
    write(&path, &refs, &meta).unwrap();
    let back = read(&path, ALL).unwrap();
    assert_eq!(back.metadata, Some(meta.clone()));
    assert_eq!(back.tensors.len(), 3);
    for (a, b) in tensors.iter().zip(&back.tensors) {
        assert_eq!((&a.name, &a.shape), (&b.name, &b.shape));
        assert_eq!(bits(&a.values), bits(&b.values), "{}", a.name);
    }
    assert_eq!(back.get("n").unwrap().values, Values::I64(vec![i64::MIN]));
    let bytes = std::fs::read(&path).unwrap();
    library_verdict(&bytes).unwrap();
    assert_eq!(encode(&refs, &meta, "x").unwrap(), bytes);
}

#[test]
fn unaccepted_dtypes_and_bad_tensors_are_refused_by_name() {
    let tensors = sample();
    let refs: Vec<TensorRef> = tensors.iter().map(StoredTensor::as_ref).collect();
    let bytes = encode(&refs, &BTreeMap::new(), "f").unwrap();
    let err = decode(&bytes, "f.st", &[Dtype::F32, Dtype::F64]).unwrap_err();
    assert!(matches!(err, TensorFileError::UnsupportedDtype { .. }));
    assert_eq!(
        err.to_string(),
        "f.st: tensor 'n' has dtype I64; only F32 and F64 are read"
    );
    let bad = [TensorRef {
        name: "m",
        shape: &[2, 3],
        values: ValuesRef::I64(&[1, 2]),
    }];
    let err = encode(&bad, &BTreeMap::new(), "out.st").unwrap_err();
    assert_eq!(
        err.to_string(),
        "out.st: tensor 'm': shape [2, 3] does not match the 2 values given"
    );
    let twice = [refs[0], refs[0]];
    let err = encode(&twice, &BTreeMap::new(), "out.st").unwrap_err();
    assert_eq!(
        err.to_string(),
        "out.st: tensor 'w': the name is used twice"
    );
    let err = decode(&bytes[..bytes.len() - 1], "cut.st", ALL).unwrap_err();
    assert!(err.to_string().starts_with("cut.st: "), "{err}");
    assert!(library_verdict(&bytes[..bytes.len() - 1]).is_err());
}
