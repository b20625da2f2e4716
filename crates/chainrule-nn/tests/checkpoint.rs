//! Checkpoints and resume: a run stopped after 5 of 10 epochs, saved,
//! read back in a fresh model and continued ends bit for bit where the run
//! that never stopped ends (weights, model file, every step's loss and
//! every epoch's metrics), for SGD with momentum, Adam and AdamW with a
//! schedule, in f32 and f64. Damaged or foreign checkpoints are refused
//! with the file named.

use chainrule::Float;
use chainrule_nn::checkpoint::{self, CHECKPOINT_FILE};
use chainrule_nn::data::{load, train_test_split, Dataset, LabelKind, Standardizer};
use chainrule_nn::model_io::save_model;
use chainrule_nn::optim::{Adam, Optimizer, Schedule, Sgd};
use chainrule_nn::trainer::{train, History, Model, OptimizerKind, TrainConfig, Trainer};
use std::collections::BTreeMap;
use std::path::Path;

fn iris() -> (Dataset, Dataset) {
    let data = load("iris", LabelKind::Class).unwrap().train;
    let (mut tr, mut te) = train_test_split(&data, 0.2, 3).unwrap();
    let s = Standardizer::fit(&tr);
    s.apply(&mut tr).unwrap();
    s.apply(&mut te).unwrap();
    (tr, te)
}

fn configs() -> Vec<(&'static str, TrainConfig)> {
    let base = TrainConfig {
        hidden: vec![16, 8],
        epochs: 10,
        batch_size: 16,
        seed: 11,
        ..TrainConfig::default()
    };
    vec![
        (
            "sgd+momentum",
            TrainConfig {
                optimizer: OptimizerKind::Sgd,
                lr: 0.05,
                momentum: 0.9,
                weight_decay: 1e-3,
                ..base.clone()
            },
        ),
        ("adam", base.clone()),
        (
            "adamw+cosine+clip",
            TrainConfig {
                optimizer: OptimizerKind::AdamW,
                lr: 0.01,
                weight_decay: 0.01,
                schedule: Schedule::Cosine {
                    total: 10,
                    min_lr: 1e-4,
                },
                clip_norm: Some(1.0),
                ..base
            },
        ),
    ]
}

/// Every parameter's bits, in order.
fn bits<F: Float>(m: &Model<F>) -> Vec<u64> {
    m.graph
        .params()
        .into_iter()
        .flat_map(|p| m.graph.param_value(p).unwrap().into_vec())
        .map(|v| v.as_f64().to_bits())
        .collect()
}

/// Ten epochs in one go: weights, model file bytes and history.
fn straight<F: Float>(
    cfg: &TrainConfig,
    tr: &Dataset,
    te: &Dataset,
    dir: &Path,
) -> (Vec<u64>, Vec<u8>, History) {
    let mut model = Model::<F>::new(tr, cfg).unwrap();
    let h = train(&mut model, tr, Some(te), cfg, |_| {}, |_, _| Ok(())).unwrap();
    let path = dir.join("straight.safetensors");
    save_model(&path, &model).unwrap();
    (bits(&model), std::fs::read(path).unwrap(), h)
}

/// Five epochs, a checkpoint, everything dropped, then resumed from the file.
fn in_two_parts<F: Float>(
    cfg: &TrainConfig,
    tr: &Dataset,
    te: &Dataset,
    dir: &Path,
) -> (Vec<u64>, Vec<u8>, History) {
    let ck = dir.join(CHECKPOINT_FILE);
    {
        let mut model = Model::<F>::new(tr, cfg).unwrap();
        let mut t = Trainer::<F>::new(cfg).unwrap();
        for _ in 0..5 {
            t.run_epoch(&mut model, tr, Some(te), |_| {}).unwrap();
        }
        let extra = BTreeMap::from([("note".to_string(), "five".to_string())]);
        checkpoint::save(&ck, &model, &t, tr, Some(te), &extra).unwrap();
    }
    let loaded = checkpoint::load::<F>(&ck).unwrap();
    assert_eq!(loaded.extra.get("note").map(String::as_str), Some("five"));
    assert_eq!(&loaded.config, cfg);
    assert_eq!(loaded.state.epochs_done, 5);
    let (mut model, mut t) = loaded.resume(tr, Some(te)).unwrap();
    while !t.is_done() {
        t.run_epoch(&mut model, tr, Some(te), |_| {}).unwrap();
    }
    let path = dir.join("resumed.safetensors");
    save_model(&path, &model).unwrap();
    (bits(&model), std::fs::read(path).unwrap(), t.into_history())
}

fn check<F: Float>() {
    let (tr, te) = iris();
    for (name, cfg) in configs() {
        let dir = tempfile::tempdir().unwrap();
        let a = straight::<F>(&cfg, &tr, &te, dir.path());
        let b = in_two_parts::<F>(&cfg, &tr, &te, dir.path());
        assert_eq!(a.0, b.0, "{name} {}: weights differ", F::NAME);
        assert_eq!(a.1, b.1, "{name} {}: model files differ", F::NAME);
        let first = a.2.steps.iter().zip(&b.2.steps).position(|(x, y)| x != y);
        assert_eq!(
            first,
            None,
            "{name} {}: first differing step {:?} {:?}",
            F::NAME,
            first.map(|i| &a.2.steps[i]),
            first.map(|i| &b.2.steps[i])
        );
        assert_eq!(a.2, b.2, "{name} {}: histories differ", F::NAME);
        assert_eq!(
            a.2.steps.len(),
            10 * 8,
            "120 rows in batches of 16: 8 steps an epoch"
        );
        assert_eq!(a.2.epochs.len(), 10);
        // Training did move: the last epoch's loss is below the first's.
        assert!(
            a.2.epochs[9].train_loss < a.2.epochs[0].train_loss,
            "{name}"
        );
    }
}

#[test]
fn five_plus_resume_plus_five_equals_ten_in_f32() {
    check::<f32>();
}

#[test]
fn five_plus_resume_plus_five_equals_ten_in_f64() {
    check::<f64>();
}

fn saved_after_two_epochs(dir: &Path) -> (std::path::PathBuf, Dataset, Dataset) {
    let (tr, te) = iris();
    let cfg = TrainConfig {
        hidden: vec![4],
        epochs: 4,
        ..TrainConfig::default()
    };
    let mut model = Model::<f32>::new(&tr, &cfg).unwrap();
    let mut t = Trainer::<f32>::new(&cfg).unwrap();
    t.run_epoch(&mut model, &tr, Some(&te), |_| {}).unwrap();
    t.run_epoch(&mut model, &tr, Some(&te), |_| {}).unwrap();
    let path = dir.join(CHECKPOINT_FILE);
    checkpoint::save(&path, &model, &t, &tr, Some(&te), &BTreeMap::new()).unwrap();
    (path, tr, te)
}

#[test]
fn other_data_and_other_precision_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, tr, te) = saved_after_two_epochs(dir.path());
    let ck = checkpoint::load::<f32>(&path).unwrap();
    let err = ck.resume(&te, Some(&tr)).err().unwrap().to_string();
    assert!(
        err.contains(CHECKPOINT_FILE) && err.contains("other data"),
        "{err}"
    );
    let err = checkpoint::load::<f64>(&path).err().unwrap().to_string();
    assert!(err.contains("holds f32 values, this run is f64"), "{err}");
}

#[test]
fn damaged_checkpoints_are_refused_naming_the_file_never_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = saved_after_two_epochs(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    // Every truncation, and a flipped byte at many offsets.
    let step = (bytes.len() / 300).max(1);
    for cut in (0..bytes.len()).step_by(step) {
        let err = checkpoint::load_bytes::<f32>(&bytes[..cut], "cut.safetensors").err();
        let err = err.expect("a truncated checkpoint is refused").to_string();
        assert!(err.starts_with("cut.safetensors: "), "{err}");
    }
    for at in (0..bytes.len()).step_by(step) {
        let mut b = bytes.clone();
        b[at] ^= 0x5a;
        if let Err(e) = checkpoint::load_bytes::<f32>(&b, "flip.safetensors") {
            assert!(e.to_string().starts_with("flip.safetensors: "), "{e}");
        }
    }
    // A model file is not a checkpoint.
    let model_path = dir.path().join("model.safetensors");
    let (tr, _) = iris();
    save_model(
        &model_path,
        &Model::<f32>::new(&tr, &TrainConfig::default()).unwrap(),
    )
    .unwrap();
    let err = checkpoint::load::<f32>(&model_path)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.ends_with("model.safetensors: not a checkpoint: format is 'chainrule-mlp'"),
        "{err}"
    );
    let err = checkpoint::load::<f32>(&dir.path().join("none"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("none"), "{err}");
}

#[test]
fn optimizer_state_round_trips_and_refuses_another_kind() {
    use chainrule::{Graph, Tensor};
    // Two SGD steps with momentum, the state carried over to a fresh
    // optimizer between them, equal two steps of one optimizer: gradient
    // g = [1, -2] every step, μ = 0.9, lr = 0.1 gives w = -0.29 g (by hand:
    // v₁ = g, w₁ = -0.1 g; v₂ = 1.9 g, w₂ = w₁ - 0.19 g).
    let mut g = Graph::<f64>::new();
    let w = g.parameter(&Tensor::zeros(&[2]).unwrap());
    let grad = |g: &mut Graph<f64>| {
        g.zero_grad();
        {
            let c = g.input(&Tensor::from_f64(&[1.0, -2.0], &[2]).unwrap());
            g.param(w)
                .unwrap()
                .mul(c)
                .unwrap()
                .sum()
                .backward()
                .unwrap();
        }
        g.clear();
    };
    let mut first = Sgd::new(0.1).with_momentum(0.9, false);
    grad(&mut g);
    first.step(&mut g);
    let state = first.export_state();
    let mut second = Sgd::new(0.1).with_momentum(0.9, false);
    second.import_state(&state).unwrap();
    grad(&mut g);
    second.step(&mut g);
    let v = g.param_value(w).unwrap().into_vec();
    assert!(
        (v[0] + 0.29).abs() < 1e-12 && (v[1] - 0.58).abs() < 1e-12,
        "{v:?}"
    );
    let mut adam = Adam::<f64>::new(0.1);
    let err = adam.import_state(&state).unwrap_err().to_string();
    assert!(
        err.contains("sgd optimizer, this optimizer is adam"),
        "{err}"
    );
}

#[test]
fn a_stray_or_misshapen_tensor_is_named() {
    use safetensors::tensor::{Dtype, TensorView};
    use safetensors::SafeTensors;
    let dir = tempfile::tempdir().unwrap();
    let (path, _, _) = saved_after_two_epochs(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let four = [0u8; 16];
    // Re-encode with one more tensor, then with one tensor reshaped.
    let rebuilt = |extra: Option<(&str, Vec<usize>)>, reshape: Option<&str>| {
        let mut views: Vec<(String, TensorView)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| {
                if reshape == Some(n.as_str()) {
                    let len = v.shape().iter().product::<usize>();
                    (
                        n,
                        TensorView::new(v.dtype(), vec![1, len], v.data()).unwrap(),
                    )
                } else {
                    (n, v)
                }
            })
            .collect();
        if let Some((name, shape)) = extra {
            views.push((
                name.into(),
                TensorView::new(Dtype::F32, shape, &four).unwrap(),
            ));
        }
        safetensors::serialize(views, header.metadata().clone()).unwrap()
    };
    let err = checkpoint::load_bytes::<f32>(&rebuilt(Some(("optim.m.99", vec![4])), None), "x")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "x: tensor 'optim.m.99' belongs to no parameter or optimizer buffer"
    );
    let err = checkpoint::load_bytes::<f32>(&rebuilt(None, Some("model.0.bias")), "x")
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "x: tensor 'model.0.bias': shape [1, 4], expected [4]");
}
