//! Networks beyond the MLP end to end: a run with batch norm and dropout
//! stopped, checkpointed and resumed ends bit for bit where the run never
//! stopped ends (every weight, buffer and step loss); a network with every
//! layer kind saved and loaded predicts exactly as before; a PyTorch-named
//! file is applied strictly, buffers included.

use chainrule_nn::arch::parse;
use chainrule_nn::checkpoint;
use chainrule_nn::data::{load, train_test_split, Dataset, LabelKind, Standardizer};
use chainrule_nn::model_file::{self, IntTensor, NamedTensor};
use chainrule_nn::model_io::{apply_loaded, load_model, save_model};
use chainrule_nn::trainer::{resolve_loss, Model, TrainConfig, Trainer};
use chainrule_nn::{Init, Mode};
use std::collections::BTreeMap;

fn split(name: &str) -> (Dataset, Dataset) {
    let data = load(name, LabelKind::Class).unwrap().train;
    let (mut tr, mut te) = train_test_split(&data, 0.2, 3).unwrap();
    let s = Standardizer::fit(&tr);
    s.apply(&mut tr).unwrap();
    s.apply(&mut te).unwrap();
    (tr, te)
}

fn model(arch: &str, data: &Dataset, seed: u64) -> Model<f32> {
    let specs = parse(arch).unwrap();
    let loss = resolve_loss(data, None).unwrap();
    let shape = if chainrule_nn::network::specs_are_2d(&specs) {
        data.input_shape.clone()
    } else {
        vec![data.d]
    };
    Model::from_arch(&specs, &shape, Init::KaimingUniform, seed, loss).unwrap()
}

/// Every parameter and buffer of a model, by name, as bits.
fn state(m: &Model<f32>) -> BTreeMap<String, Vec<u32>> {
    let mut out = BTreeMap::new();
    for (name, p) in m.network.parameters() {
        let t = m.graph.param_value(p).unwrap();
        out.insert(name, t.data().iter().map(|v| v.to_bits()).collect());
    }
    for (name, v) in m.network.buffers() {
        out.insert(name, v.iter().map(|v| v.to_bits()).collect());
    }
    for (name, n) in m.network.int_buffers() {
        out.insert(name, vec![n as u32]);
    }
    out
}

#[test]
fn resume_with_batch_norm_and_dropout_is_bit_identical() {
    let (tr, te) = split("iris");
    let arch = "linear(16),batchnorm1d,relu,dropout(0.3),residual(linear(16),relu),linear(3)";
    let cfg = TrainConfig {
        epochs: 4,
        batch_size: 16,
        seed: 5,
        lr: 0.01,
        ..TrainConfig::default()
    };
    let mut straight = model(arch, &tr, cfg.seed);
    let mut t = Trainer::new(&cfg).unwrap();
    while !t.is_done() {
        t.run_epoch(&mut straight, &tr, Some(&te), |_| {}).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    let mut first = model(arch, &tr, cfg.seed);
    let mut t1 = Trainer::new(&cfg).unwrap();
    for _ in 0..2 {
        t1.run_epoch(&mut first, &tr, Some(&te), |_| {}).unwrap();
    }
    checkpoint::save(&path, &first, &t1, &tr, Some(&te), &BTreeMap::new()).unwrap();
    drop(first);
    let ck = checkpoint::load::<f32>(&path).unwrap();
    let (mut resumed, mut t2) = ck.resume(&tr, Some(&te)).unwrap();
    while !t2.is_done() {
        t2.run_epoch(&mut resumed, &tr, Some(&te), |_| {}).unwrap();
    }
    let (a, b) = (state(&straight), state(&resumed));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert_eq!(v, &b[k], "{k} differs");
    }
    assert_eq!(
        a["1.num_batches_tracked"],
        [4 * 120usize.div_ceil(16) as u32]
    );
    let bits = |t: &Trainer<f32>| -> Vec<u64> {
        t.history().steps.iter().map(|s| s.loss.to_bits()).collect()
    };
    assert_eq!(bits(&t), bits(&t2));
    assert_eq!(t.history().epochs, t2.history().epochs);
}

const EVERY_KIND: &str = "conv2d(4,3,pad=1),batchnorm2d,relu,residual(conv2d(4,3,pad=1),tanh),\
maxpool2d(2),avgpool2d(2,stride=1),layernorm(axes=3),dropout(0.5),globalavgpool2d,\
linear(8),batchnorm1d,leaky_relu,residual(linear(8,bias=false),sigmoid),identity,flatten,linear(10)";

#[test]
fn every_layer_kind_saves_loads_and_predicts_identically() {
    let (tr, te) = split("digits");
    let mut m = model(EVERY_KIND, &tr, 1);
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: 64,
        lr: 0.01,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(&cfg).unwrap();
    t.run_epoch(&mut m, &tr, Some(&te), |_| {}).unwrap();
    assert!(m.network.batch_norm_buffers()[0].num_batches_tracked > 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_model(&path, &m).unwrap();
    let mut back = load_model::<f32>(&path, None).unwrap();
    assert_eq!(state(&m), state(&back));
    assert_eq!(back.network.input_shape(), [1, 8, 8]);
    for r in 0..5 {
        assert_eq!(
            m.predict(te.row(r)).unwrap(),
            back.predict(te.row(r)).unwrap()
        );
    }
    assert_eq!(m.evaluate(&te).unwrap(), back.evaluate(&te).unwrap());
    // Eval and train mode differ (batch statistics, dropout).
    let mut rows = Vec::new();
    for r in 0..8 {
        rows.extend(te.row(r).iter().map(|&v| v as f32));
    }
    let g = &back.graph;
    let x = g.input_from(&[8, 1, 8, 8], &rows).unwrap();
    back.network.set_mode(Mode::Eval);
    let eval = back.network.forward_frozen(g, x).unwrap().to_vec();
    back.network.set_mode(Mode::Train);
    let train = back.network.forward_frozen(g, x).unwrap().to_vec();
    assert_ne!(eval, train);
    // The file names, PyTorch's: a 0-dim I64 num_batches_tracked.
    let c = model_file::load_with_ints(&path).unwrap();
    let ints: Vec<(&str, &[usize])> = c
        .ints
        .iter()
        .map(|t| (t.name.as_str(), &t.shape[..]))
        .collect();
    assert_eq!(
        ints,
        [
            ("1.num_batches_tracked", &[][..]),
            ("10.num_batches_tracked", &[][..])
        ]
    );
    assert!(c.tensors.iter().any(|t| t.name == "3.body.0.weight"));
    assert!(c.tensors.iter().any(|t| t.name == "12.body.0.weight"));
    assert!(!c.tensors.iter().any(|t| t.name == "12.body.0.bias"));
}

#[test]
fn a_pytorch_named_file_is_applied_strictly_with_buffers() {
    let (tr, _) = split("iris");
    let arch = "linear(4),batchnorm1d,relu,linear(3)";
    let t = |name: &str, shape: &[usize], v: f32| NamedTensor {
        name: name.into(),
        shape: shape.to_vec(),
        data: vec![v; shape.iter().product()],
    };
    let tensors = vec![
        t("0.weight", &[4, 4], 0.5),
        t("0.bias", &[4], 0.1),
        t("1.weight", &[4], 2.0),
        t("1.bias", &[4], -1.0),
        t("1.running_mean", &[4], 0.25),
        t("1.running_var", &[4], 4.0),
        t("3.weight", &[3, 4], 0.3),
        t("3.bias", &[3], 0.0),
    ];
    let count = IntTensor {
        name: "1.num_batches_tracked".into(),
        shape: vec![],
        data: vec![17],
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torch.safetensors");
    model_file::save_with_ints(
        &path,
        &tensors,
        std::slice::from_ref(&count),
        &BTreeMap::new(),
    )
    .unwrap();
    let mut m = model(arch, &tr, 0);
    apply_loaded(&mut m, &path).unwrap();
    let b = &m.network.batch_norm_buffers()[0];
    assert_eq!(b.running_mean, [0.25; 4]);
    assert_eq!(b.running_var, [4.0; 4]);
    assert_eq!(b.num_batches_tracked, 17);
    // A stray name is refused, listing the names expected.
    let mut extra = tensors.clone();
    extra.push(t("4.weight", &[3], 0.0));
    model_file::save_with_ints(&path, &extra, &[count], &BTreeMap::new()).unwrap();
    let e = apply_loaded(&mut m, &path).unwrap_err().to_string();
    assert!(
        e.contains("unexpected tensor '4.weight'")
            && e.contains("1.bias, 1.running_mean, 1.running_var, 1.num_batches_tracked, 3.weight"),
        "{e}"
    );
    // A missing count is named.
    model_file::save_with_ints(&path, &tensors, &[], &BTreeMap::new()).unwrap();
    let e = apply_loaded(&mut m, &path).unwrap_err().to_string();
    assert!(
        e.ends_with("tensor '1.num_batches_tracked' is missing"),
        "{e}"
    );
}
