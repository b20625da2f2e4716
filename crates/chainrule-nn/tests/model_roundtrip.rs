//! Save a trained model, load it back: identical predictions, and a file
//! that does not fit the architecture is refused with the first mismatch
//! named.

use chainrule_nn::data::{self, LabelKind, Standardizer};
use chainrule_nn::model_file::{self, NamedTensor};
use chainrule_nn::model_io::{load_model, save_model};
use chainrule_nn::trainer::{train, Model, TrainConfig};
use chainrule_nn::{Activation, LossKind, MlpSpec};
use std::collections::BTreeMap;

#[test]
fn save_load_gives_identical_predictions() {
    let mut iris = data::load("iris", LabelKind::Class).unwrap().train;
    let s = Standardizer::fit(&iris);
    let raw = iris.clone();
    s.apply(&mut iris).unwrap();
    let cfg = TrainConfig {
        epochs: 5,
        hidden: vec![6],
        ..TrainConfig::default()
    };
    let mut model = Model::<f32>::new(&iris, &cfg).unwrap();
    model.standardizer = Some(s);
    train(&mut model, &iris, None, &cfg, |_| {}, |_, _| Ok(())).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iris.safetensors");
    save_model(&path, &model).unwrap();
    let mut loaded = load_model::<f32>(&path, None).unwrap();
    assert_eq!(loaded.loss, LossKind::Cce);
    assert_eq!(
        loaded.network.as_mlp().unwrap().spec,
        model.network.as_mlp().unwrap().spec
    );
    for r in 0..raw.n {
        let a = model.predict(raw.row(r)).unwrap();
        let b = loaded.predict(raw.row(r)).unwrap();
        assert_eq!(a, b, "row {r}: predictions differ after a round trip");
    }
    assert_eq!(
        model.evaluate(&iris).unwrap(),
        loaded.evaluate(&iris).unwrap()
    );
}

#[test]
fn mismatched_files_are_refused_with_the_first_mismatch_named() {
    let dir = tempfile::tempdir().unwrap();
    let spec = MlpSpec {
        sizes: vec![3, 4, 2],
        activation: Activation::Tanh,
        output_activation: Activation::Identity,
    };
    let fallback = Some((spec, LossKind::Cce));
    let t = |name: &str, shape: &[usize]| NamedTensor {
        name: name.into(),
        shape: shape.to_vec(),
        data: vec![0.5; shape.iter().product()],
    };
    let cases: Vec<(Vec<NamedTensor>, &str)> = vec![
        (
            vec![
                t("0.weight", &[4, 3]),
                t("0.bias", &[4]),
                t("2.weight", &[2, 4]),
            ],
            "tensor '2.bias' is missing",
        ),
        (
            vec![
                t("0.weight", &[3, 4]),
                t("0.bias", &[4]),
                t("2.weight", &[2, 4]),
                t("2.bias", &[2]),
            ],
            "tensor '0.weight' has shape [3, 4]",
        ),
        (
            vec![
                t("0.weight", &[4, 3]),
                t("0.bias", &[4]),
                t("1.weight", &[2, 4]),
                t("2.bias", &[2]),
            ],
            "unexpected tensor '1.weight'",
        ),
    ];
    for (k, (tensors, expected)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("bad{k}.safetensors"));
        model_file::save(&path, &tensors, &BTreeMap::new()).unwrap();
        let err = load_model::<f32>(&path, fallback.clone())
            .err()
            .expect("must be refused")
            .to_string();
        assert!(
            err.contains(expected) && err.contains(&format!("bad{k}.safetensors")),
            "{err}"
        );
    }
    // A file without metadata and no architecture given.
    let path = dir.path().join("bare.safetensors");
    model_file::save(&path, &[t("0.weight", &[4, 3])], &BTreeMap::new()).unwrap();
    let err = load_model::<f32>(&path, None).err().unwrap().to_string();
    assert!(err.contains("no architecture metadata"), "{err}");
}

#[test]
fn a_non_finite_loss_stops_training_with_a_clear_error() {
    use chainrule_nn::data::{Dataset, Targets};
    // Features of 1e38 overflow f32 in the first layer: the loss is not finite.
    let ds = Dataset::new(
        "huge",
        2,
        vec![1e38, -1e38, 3e38, 2e38],
        Targets::Classes {
            labels: vec![0, 1],
            classes: 2,
        },
        vec![],
    )
    .unwrap();
    let cfg = TrainConfig {
        epochs: 2,
        ..TrainConfig::default()
    };
    let mut model = Model::<f32>::new(&ds, &cfg).unwrap();
    let before = model.graph.param_value(model.graph.params()[0]).unwrap();
    let err = train(&mut model, &ds, None, &cfg, |_| {}, |_, _| Ok(())).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("epoch 1, step 1") && text.contains("training stopped"),
        "{text}"
    );
    // The update that would spread it was not applied.
    assert_eq!(
        model.graph.param_value(model.graph.params()[0]).unwrap(),
        before
    );
}
