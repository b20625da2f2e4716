//! Files written before the safetensors code moved into `tensor_file`
//! (committed under `tests/data/compat/`, written by the code of a0d47a9)
//! still load, and today's code writes the same bytes: model files byte for
//! byte; checkpoints with the same tensors, in the same order, with the same
//! bytes, and the same metadata entries with the same JSON text (only the
//! order of the metadata keys in the header may differ: the old writer
//! emitted them in hash-map order, which varied from run to run).
//!
//! `CHAINRULE_WRITE_COMPAT=1 cargo test -p chainrule-nn --test file_compat`
//! rewrites the fixtures.

use chainrule::Float;
use chainrule_nn::arch::parse;
use chainrule_nn::checkpoint;
use chainrule_nn::data::{load, train_test_split, Dataset, LabelKind};
use chainrule_nn::model_io::save_model;
use chainrule_nn::optim::Schedule;
use chainrule_nn::trainer::{resolve_loss, Model, OptimizerKind, TrainConfig, Trainer};
use chainrule_nn::Init;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/compat")
        .join(name)
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 64,
        seed: 11,
        lr: 0.01,
        optimizer: OptimizerKind::Adam,
        schedule: Schedule::Step {
            step_size: 1,
            gamma: 0.5,
        },
        clip_norm: Some(2.5),
        ..TrainConfig::default()
    }
}

/// Iris, batch norm (so an I64 buffer), one epoch of Adam.
fn trained<F: Float>() -> (Model<F>, Trainer<F>, Dataset, Dataset) {
    let data = load("iris", LabelKind::Class).unwrap().train;
    let (tr, te) = train_test_split(&data, 0.2, 3).unwrap();
    let specs = parse("linear(4),batchnorm1d,relu,linear(3)").unwrap();
    let loss = resolve_loss(&tr, None).unwrap();
    let cfg = config();
    let mut model = Model::from_arch(&specs, &[tr.d], Init::KaimingUniform, 7, loss).unwrap();
    let mut t = Trainer::new(&cfg).unwrap();
    t.run_epoch(&mut model, &tr, Some(&te), |_| {}).unwrap();
    (model, t, tr, te)
}

fn extra() -> BTreeMap<String, String> {
    BTreeMap::from([("note".to_string(), "compat".to_string())])
}

fn write_model<F: Float>(name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    save_model(&path, &trained::<F>().0).unwrap();
    std::fs::read(path).unwrap()
}

fn write_checkpoint<F: Float>(name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let (model, t, tr, te) = trained::<F>();
    checkpoint::save(&path, &model, &t, &tr, Some(&te), &extra()).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn write_fixtures_when_asked() {
    if std::env::var_os("CHAINRULE_WRITE_COMPAT").is_none() {
        return;
    }
    std::fs::create_dir_all(fixture("")).unwrap();
    std::fs::write(fixture("model_f32.safetensors"), write_model::<f32>("m")).unwrap();
    for (name, bytes) in [
        ("checkpoint_f32.safetensors", write_checkpoint::<f32>("c")),
        ("checkpoint_f64.safetensors", write_checkpoint::<f64>("c")),
    ] {
        std::fs::write(fixture(name), bytes).unwrap();
    }
}

#[test]
fn model_files_are_byte_identical() {
    let old = std::fs::read(fixture("model_f32.safetensors")).unwrap();
    assert_eq!(write_model::<f32>("model.safetensors"), old);
}

/// The header's tensors in data order, the metadata, the data section.
type Parts = (
    Vec<(String, serde_json::Value)>,
    BTreeMap<String, String>,
    Vec<u8>,
);

fn parts(bytes: &[u8]) -> Parts {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut meta = BTreeMap::new();
    let mut tensors = Vec::new();
    for (k, v) in header {
        if k == "__metadata__" {
            meta = serde_json::from_value(v).unwrap();
        } else {
            tensors.push((k, v));
        }
    }
    tensors.sort_by_key(|(_, v)| v["data_offsets"][0].as_u64().unwrap());
    (tensors, meta, bytes[8 + n..].to_vec())
}

fn check_checkpoint<F: Float>(name: &str) {
    let old = std::fs::read(fixture(name)).unwrap();
    let new = write_checkpoint::<F>(name);
    let (old_t, old_m, old_d) = parts(&old);
    let (new_t, new_m, new_d) = parts(&new);
    assert_eq!(new_t, old_t, "tensors, order and offsets");
    assert_eq!(new_d, old_d, "data section");
    assert_eq!(new_m, old_m, "metadata entries");
    assert_eq!(new.len(), old.len());

    // The old file loads, holding what was saved.
    let ck = checkpoint::load::<F>(&fixture(name)).unwrap();
    let (model, t, tr, te) = trained::<F>();
    assert_eq!(ck.config, config());
    assert_eq!(ck.extra, extra());
    let state = t.state();
    assert_eq!(ck.state.epochs_done, state.epochs_done);
    assert_eq!(ck.state.steps_done, state.steps_done);
    assert_eq!(ck.state.history, state.history);
    assert_eq!(ck.state.optimizer.kind, state.optimizer.kind);
    assert_eq!(ck.state.optimizer.steps, state.optimizer.steps);
    assert_eq!(ck.state.optimizer.buffers, state.optimizer.buffers);
    for ((na, pa), (nb, pb)) in model
        .network
        .parameters()
        .into_iter()
        .zip(ck.model.network.parameters())
    {
        assert_eq!(na, nb);
        let a = model.graph.param_value(pa).unwrap();
        let b = ck.model.graph.param_value(pb).unwrap();
        assert_eq!(a.data(), b.data(), "{na}");
    }
    assert_eq!(model.network.buffers(), ck.model.network.buffers());
    assert_eq!(model.network.int_buffers(), ck.model.network.int_buffers());
    ck.check_data(&tr, Some(&te)).unwrap();
    let err = ck.check_data(&te, Some(&tr)).unwrap_err().to_string();
    assert!(err.contains("other data (then {\"test\":{"), "{err}");
}

#[test]
fn old_f32_checkpoints_load_and_new_ones_hold_the_same() {
    check_checkpoint::<f32>("checkpoint_f32.safetensors");
}

#[test]
fn old_f64_checkpoints_load_and_new_ones_hold_the_same() {
    check_checkpoint::<f64>("checkpoint_f64.safetensors");
}
