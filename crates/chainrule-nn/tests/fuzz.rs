//! Fuzzing the loaders with proptest: the CSV parser, the MNIST IDX loader,
//! the safetensors reader and the checkpoint reader. Inputs are random
//! bytes and, mostly, valid files put through random edits (byte flips,
//! insertions of tokens that matter to the format, deletions, truncations,
//! header fields overwritten with extreme values). Property: no input
//! panics, every error names the file, and every input accepted gives a
//! consistent result. A loader that refused everything would fail: each
//! target asserts a share of accepted inputs (about half what seed 0
//! measures), and an unedited valid file must load back to exactly what
//! was written.
//!
//! Each target runs `FUZZ_CASES` inputs (default 256, what CI runs) from
//! seed `FUZZ_SEED` (default 0) and prints how many it ran;
//! `scripts/fuzz.sh` runs many more in release mode.

use chainrule_nn::checkpoint;
use chainrule_nn::data::idx::{IMAGES_MAGIC, LABELS_MAGIC, MNIST_FILES};
use chainrule_nn::data::{load_mnist, parse_csv, Dataset, LabelKind, Targets};
use chainrule_nn::model_file::{load_bytes, to_bytes, NamedTensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Runs `check` on `FUZZ_CASES` inputs of `strategy` and reports how many
/// ran and how many the loader accepted (`check` returns whether it did);
/// fails unless at least `min_share` of them were accepted.
fn fuzz<S: Strategy>(
    target: &str,
    min_share: f64,
    strategy: S,
    check: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    let cases = env_u64("FUZZ_CASES", 256) as u32;
    let seed = env_u64("FUZZ_SEED", 0);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8..16].copy_from_slice(target.len().to_le_bytes().as_slice());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let (count, accepted) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let result = runner.run(&strategy, |v| {
        count.fetch_add(1, Ordering::Relaxed);
        let ok = check(v)?;
        accepted.fetch_add(usize::from(ok), Ordering::Relaxed);
        Ok(())
    });
    let n = count.load(Ordering::Relaxed);
    let accepted = accepted.load(Ordering::Relaxed);
    match result {
        Ok(()) => {
            eprintln!("fuzz {target}: {n} inputs (seed {seed}), {accepted} accepted, none crashed")
        }
        Err(e) => panic!("fuzz {target}: failed after {n} inputs (seed {seed}): {e}"),
    }
    assert!(
        accepted as f64 >= min_share * n as f64,
        "fuzz {target}: only {accepted} of {n} inputs accepted (seed {seed}), expected at least {min_share}"
    );
}

/// One edit of a file.
#[derive(Clone, Debug)]
enum Edit {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    /// A big-endian u32 written over 4 bytes (IDX header fields).
    Be32(usize, u32),
    /// A little-endian u64 written over 8 bytes (the safetensors prefix).
    Le64(usize, u64),
}

fn extreme_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u32::MAX),
        Just(0x0000_0803),
        Just(1 << 31),
        any::<u32>()
    ]
}

fn extreme_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(u64::MAX),
        Just(100_000_000_000),
        Just(100_000_001),
        any::<u64>(),
        0..512u64
    ]
}

/// Edits that insert `tokens` (what matters to the format) or random bytes.
fn edits(tokens: &'static [&'static str]) -> impl Strategy<Value = Vec<Edit>> {
    let payload = prop_oneof![
        prop::sample::select(tokens).prop_map(|t| t.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..8),
    ];
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), payload).prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<usize>(), 1..16usize).prop_map(|(p, n)| Edit::Delete(p, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (0..4usize, extreme_u32()).prop_map(|(k, v)| Edit::Be32(4 * k, v)),
        extreme_u64().prop_map(|v| Edit::Le64(0, v)),
    ];
    prop::collection::vec(edit, 0..5)
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match e {
            Edit::Flip(p, x) if !b.is_empty() => {
                let i = p % b.len();
                b[i] ^= x | 1;
            }
            Edit::Flip(..) => {}
            Edit::Insert(p, bytes) => {
                let i = at(*p, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Edit::Delete(p, n) => {
                let i = at(*p, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Edit::Truncate(p) => b.truncate(at(*p, b.len())),
            Edit::Be32(i, v) if b.len() >= i + 4 => b[*i..i + 4].copy_from_slice(&v.to_be_bytes()),
            Edit::Le64(i, v) if b.len() >= i + 8 => b[*i..i + 8].copy_from_slice(&v.to_le_bytes()),
            Edit::Be32(..) | Edit::Le64(..) => {}
        }
    }
    b
}

/// A data set that loaded must be consistent.
fn consistent(ds: &Dataset) -> Result<(), TestCaseError> {
    prop_assert_eq!(Some(ds.features.len()), ds.n.checked_mul(ds.d));
    prop_assert_eq!(ds.targets.len(), ds.n);
    prop_assert!(ds.features.iter().all(|v| v.is_finite()));
    if let Targets::Classes { labels, classes } = &ds.targets {
        prop_assert!(labels.iter().all(|l| l < classes));
    }
    Ok(())
}

const CSV_TOKENS: &[&str] = &[
    ",",
    "\n",
    "\r\n",
    " ",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-",
    "1.5",
    "99999999999999999999",
    "\u{feff}",
    "\"",
    ",,,,",
    "label",
    "0x10",
    "1e-400",
    "3.0",
    "\n\n",
];

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1000i64..1000).prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| v.to_string()),
        (-1e6f64..1e6).prop_map(|v| format!("{v:e}")),
        prop::sample::select(&["0", "1", "2", " 3 ", "1.0", "-0", "nan", "x"][..])
            .prop_map(String::from),
    ]
}

fn valid_csv() -> impl Strategy<Value = Vec<u8>> {
    (
        1..8usize,
        1..5usize,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(cell(), 40),
        prop::collection::vec(0..4u8, 8),
    )
        .prop_map(|(rows, cols, header, crlf, cells, labels)| {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut s = String::new();
            if header {
                let names: Vec<String> = (0..cols).map(|c| format!("f{c}")).collect();
                s += &format!("{},label{nl}", names.join(","));
            }
            for r in 0..rows {
                let row: Vec<&str> = (0..cols)
                    .map(|c| cells[(r * cols + c) % cells.len()].as_str())
                    .collect();
                s += &format!("{},{}{nl}", row.join(","), labels[r]);
            }
            s.into_bytes()
        })
}

#[test]
fn fuzz_csv() {
    let input = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..300),
        4 => (valid_csv(), edits(CSV_TOKENS)).prop_map(|(b, e)| apply(b, &e)),
    ];
    fuzz(
        "csv",
        CSV_MIN_SHARE,
        (input, any::<bool>()),
        |(bytes, real)| {
            let kind = if real {
                LabelKind::Real
            } else {
                LabelKind::Class
            };
            match parse_csv(&bytes, "fuzz.csv", kind) {
                Ok(ds) => consistent(&ds).map(|()| true),
                Err(e) => {
                    prop_assert!(e.to_string().starts_with("fuzz.csv"), "{e}");
                    Ok(false)
                }
            }
        },
    );
}

fn idx_images(n: u32, rows: u32, cols: u32, seed: u8) -> Vec<u8> {
    let mut b = IMAGES_MAGIC.to_be_bytes().to_vec();
    for v in [n, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n * rows * cols).map(|i| (i as u8).wrapping_mul(seed)));
    b
}

fn idx_labels(n: u32, seed: u8) -> Vec<u8> {
    let mut b = LABELS_MAGIC.to_be_bytes().to_vec();
    b.extend_from_slice(&n.to_be_bytes());
    b.extend((0..n).map(|i| (i as u8).wrapping_add(seed) % 12));
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn fuzz_idx() {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().display().to_string();
    // Which file to damage, whether to gzip it (and damage before or after
    // compressing), the set's sizes, and the edits.
    let input = (
        0..4usize,
        0..3u8,
        1..5u32,
        1..4u32,
        1..4u32,
        any::<u8>(),
        edits(&["\0", "\u{8}\u{3}", "\u{ff}"]),
    );
    fuzz(
        "idx",
        IDX_MIN_SHARE,
        input,
        |(which, zip, n, rows, cols, seed, e)| {
            let mut files = [
                idx_images(n, rows, cols, seed),
                idx_labels(n, seed),
                idx_images(2, rows, cols, seed ^ 0x55),
                idx_labels(2, seed),
            ];
            if zip == 2 {
                files[which] = gz(&files[which]);
            }
            files[which] = apply(std::mem::take(&mut files[which]), &e);
            if zip == 1 {
                files[which] = gz(&files[which]);
            }
            for (k, (file, bytes)) in MNIST_FILES.iter().zip(&files).enumerate() {
                let plain = dir.path().join(file);
                let packed = dir.path().join(format!("{file}.gz"));
                let _ = std::fs::remove_file(&plain);
                let _ = std::fs::remove_file(&packed);
                let target = if k == which && zip > 0 { packed } else { plain };
                std::fs::write(target, bytes).unwrap();
            }
            match load_mnist(dir.path()) {
                Ok(data) => {
                    consistent(&data.train)?;
                    consistent(data.test.as_ref().unwrap())?;
                    Ok(true)
                }
                Err(e) => {
                    prop_assert!(e.to_string().contains(&name), "{e}");
                    Ok(false)
                }
            }
        },
    );
}

const SAFETENSORS_TOKENS: &[&str] = &[
    "\"F64\"",
    "\"F16\"",
    "\"I64\"",
    "99999999999999999999",
    "18446744073709551615",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"__metadata__\"",
    "\"data_offsets\":[0,",
    "\"shape\":[",
    "-1",
    "1e9",
    "\"",
    "\\u0000",
    "null",
    "  ",
];

fn tensors() -> impl Strategy<Value = Vec<NamedTensor>> {
    let shape = prop::collection::vec(0..4usize, 0..3);
    let tensor = (
        prop::sample::select(&["0.weight", "0.bias", "2.weight", "x", "é"][..]),
        shape,
        any::<u32>(),
    )
        .prop_map(|(name, shape, seed)| {
            let n: usize = shape.iter().product();
            NamedTensor {
                name: name.to_string(),
                shape,
                data: (0..n)
                    .map(|i| f32::from_bits(seed.wrapping_add(i as u32)))
                    .collect(),
            }
        });
    prop::collection::vec(tensor, 0..4).prop_map(|mut ts| {
        ts.sort_by(|a, b| a.name.cmp(&b.name));
        ts.dedup_by(|a, b| a.name == b.name);
        ts
    })
}

#[test]
fn fuzz_safetensors() {
    let valid = (tensors(), any::<bool>()).prop_map(|(ts, meta)| {
        let meta = if meta {
            BTreeMap::from([
                ("layers".to_string(), "4,8,3".to_string()),
                ("loss".into(), "cce".into()),
            ])
        } else {
            BTreeMap::new()
        };
        let bytes = to_bytes(&ts, &meta, "fuzz").unwrap();
        (ts, bytes)
    });
    // (what was written when the file is unedited, the bytes)
    let input = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (None, b)),
        4 => (valid, edits(SAFETENSORS_TOKENS)).prop_map(|((ts, b), e)| {
            (e.is_empty().then_some(ts), apply(b, &e))
        }),
    ];
    fuzz(
        "safetensors",
        SAFETENSORS_MIN_SHARE,
        input,
        |(written, bytes)| {
            match load_bytes(&bytes, "fuzz.safetensors") {
                Ok((ts, _)) => {
                    for t in &ts {
                        prop_assert_eq!(
                            Some(t.data.len()),
                            t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
                        );
                    }
                    if let Some(w) = written {
                        // Unedited: exactly the tensors written, bit for bit.
                        let key = |t: &NamedTensor| {
                            (
                                t.name.clone(),
                                t.shape.clone(),
                                t.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                            )
                        };
                        let mut got: Vec<_> = ts.iter().map(key).collect();
                        got.sort();
                        prop_assert_eq!(got, w.iter().map(key).collect::<Vec<_>>());
                    }
                    Ok(true)
                }
                Err(e) => {
                    prop_assert!(written.is_none(), "an unedited file was refused: {e}");
                    prop_assert!(e.to_string().starts_with("fuzz.safetensors: "), "{e}");
                    Ok(false)
                }
            }
        },
    );
}

/// A real checkpoint: iris, one epoch of Adam (three batches of at most
/// 64 of the 150 rows); its bytes and the weights it holds.
fn checkpoint_bytes() -> (Vec<u8>, Vec<u32>) {
    use chainrule_nn::data::{load, LabelKind};
    use chainrule_nn::trainer::{Model, TrainConfig, Trainer};
    let data = load("iris", LabelKind::Class).unwrap().train;
    let cfg = TrainConfig {
        hidden: vec![3],
        epochs: 3,
        batch_size: 64,
        ..TrainConfig::default()
    };
    let mut model = Model::<f32>::new(&data, &cfg).unwrap();
    let mut t = Trainer::<f32>::new(&cfg).unwrap();
    t.run_epoch(&mut model, &data, None, |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    checkpoint::save(&path, &model, &t, &data, None, &BTreeMap::new()).unwrap();
    (std::fs::read(path).unwrap(), weights(&model))
}

fn weights(m: &chainrule_nn::trainer::Model<f32>) -> Vec<u32> {
    m.graph
        .params()
        .into_iter()
        .flat_map(|p| m.graph.param_value(p).unwrap().into_vec())
        .map(f32::to_bits)
        .collect()
}

// The least share of inputs each target must accept: about half of what
// seed 0 measures with 256 inputs (csv 37, idx 45, safetensors 40,
// checkpoint 40 accepted), over 3 standard deviations below it.
const CSV_MIN_SHARE: f64 = 0.07;
const IDX_MIN_SHARE: f64 = 0.08;
const SAFETENSORS_MIN_SHARE: f64 = 0.07;
const CHECKPOINT_MIN_SHARE: f64 = 0.07;

#[test]
fn fuzz_checkpoint() {
    let (valid, saved) = checkpoint_bytes();
    let tokens: &'static [&'static str] = &[
        "\"F64\"",
        "99999999999999999999",
        "1000000,1000000",
        "[",
        "]",
        "{",
        "}",
        ",",
        "\"",
        "-1",
        "null",
        "\\\"",
        "inf",
        "NaN",
        "1e999",
    ];
    // (whether the file is unedited, the bytes)
    let input = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (false, b)),
        6 => edits(tokens).prop_map(move |e| (e.is_empty(), apply(valid.clone(), &e))),
    ];
    fuzz(
        "checkpoint",
        CHECKPOINT_MIN_SHARE,
        input,
        |(unedited, bytes)| {
            match checkpoint::load_bytes::<f32>(&bytes, "fuzz.ckpt") {
                Ok(ck) => {
                    // A loaded checkpoint's progress is consistent with itself.
                    prop_assert_eq!(ck.state.epochs_done, ck.state.history.epochs.len());
                    prop_assert!(ck.state.steps_done >= ck.state.epochs_done);
                    if unedited {
                        // What was saved: one epoch, three steps, the weights.
                        prop_assert_eq!((ck.state.epochs_done, ck.state.steps_done), (1, 3));
                        prop_assert!(weights(&ck.model) == saved, "weights changed");
                    }
                    Ok(true)
                }
                Err(e) => {
                    prop_assert!(!unedited, "the unedited checkpoint was refused: {e}");
                    prop_assert!(e.to_string().starts_with("fuzz.ckpt: "), "{e}");
                    Ok(false)
                }
            }
        },
    );
}
