//! `chainrule export`: trained models written as ONNX files that decode to
//! the graph of their layers with the model file's tensors, and clear
//! errors (no panic, nothing written) for a missing or broken model file
//! and an `--out` that cannot be written.

mod common;

use chainrule_nn::model_file;
use chainrule_nn::onnx::{self, proto::ModelProto};
use common::{chainrule, stderr, stdout, train_quietly};
use std::path::Path;

fn export(model: &Path, out: &Path) -> (String, ModelProto) {
    let o = chainrule(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let proto = onnx::from_bytes(&std::fs::read(out).unwrap()).unwrap();
    (stdout(&o), proto)
}

fn ops(p: &ModelProto) -> Vec<String> {
    let g = p.graph.as_ref().unwrap();
    g.node.iter().map(|n| n.op_type.clone().unwrap()).collect()
}

/// Every float tensor of the model file is an initializer of the same name
/// with the same bits; returns how many.
fn same_tensors(p: &ModelProto, model: &Path) -> usize {
    let g = p.graph.as_ref().unwrap();
    let file = model_file::load_with_ints(model).unwrap();
    for t in &file.tensors {
        let init = g
            .initializer
            .iter()
            .find(|i| i.name.as_deref() == Some(t.name.as_str()))
            .unwrap_or_else(|| panic!("{} is not exported", t.name));
        let dims: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
        assert_eq!(init.dims, dims, "{}", t.name);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&init.float_data), bits(&t.data), "{}", t.name);
    }
    file.tensors.len()
}

#[test]
fn a_trained_cnn_and_mlp_exported() {
    let dir = tempfile::tempdir().unwrap();
    let arch = "conv2d(8,3,pad=1),batchnorm2d,relu,residual(conv2d(8,3,pad=1),batchnorm2d,relu),\
                maxpool2d(2),flatten,dropout(0.2),linear(10)";
    let model = train_quietly(
        "digits",
        &dir.path().join("cnn"),
        &["--arch", arch, "--epochs", "1"],
    );
    let out = dir.path().join("cnn.onnx");
    let (said, p) = export(&model, &out);
    assert_eq!(
        said,
        format!(
            "wrote {}: ONNX opset 17, 13 nodes, 16 initializers; input [batch, 1, 8, 8] → \
             output [batch, 10] (raw outputs; the input standardization is in the graph)\n",
            out.display()
        )
    );
    assert_eq!(
        ops(&p),
        [
            "Sub",
            "Div",
            "Conv",
            "BatchNormalization",
            "Relu",
            "Conv",
            "BatchNormalization",
            "Relu",
            "Add",
            "MaxPool",
            "Flatten",
            "Identity",
            "Gemm"
        ]
    );
    // Weights and running statistics (num_batches_tracked is not used).
    assert_eq!(same_tensors(&p, &model), 14);
    // The batch norm layers ran in training: their statistics are real.
    let g = p.graph.as_ref().unwrap();
    let var = g
        .initializer
        .iter()
        .find(|t| t.name.as_deref() == Some("3.body.1.running_var"))
        .unwrap();
    assert!(var.float_data.iter().any(|&v| v != 1.0));

    let model = train_quietly(
        "iris",
        &dir.path().join("mlp"),
        &["--epochs", "2", "--hidden", "8"],
    );
    let (said, p) = export(&model, &dir.path().join("iris.onnx"));
    assert!(
        said.ends_with(
            "ONNX opset 17, 5 nodes, 6 initializers; input [batch, 4] → output \
                        [batch, 3] (raw outputs; the input standardization is in the graph)\n"
        ),
        "{said}"
    );
    assert_eq!(ops(&p), ["Sub", "Div", "Gemm", "Relu", "Gemm"]);
    assert_eq!(same_tensors(&p, &model), 4);
}

fn fails(args: &[&str], needle: &str) -> String {
    let o = chainrule(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}");
    let e = stderr(&o);
    assert!(e.contains(needle), "{args:?}: '{needle}' not in {e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn errors_leave_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");
    let out_s = out.to_str().unwrap();
    let missing = dir.path().join("none.safetensors");
    fails(
        &[
            "export",
            "--model",
            missing.to_str().unwrap(),
            "--out",
            out_s,
        ],
        "none.safetensors",
    );
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a model").unwrap();
    fails(
        &["export", "--model", junk.to_str().unwrap(), "--out", out_s],
        "junk.safetensors",
    );
    assert!(!out.exists());

    let model = train_quietly("iris", &dir.path().join("run"), &["--epochs", "1"]);
    let m = model.to_str().unwrap();
    let nowhere = dir.path().join("no-such-folder").join("m.onnx");
    fails(
        &["export", "--model", m, "--out", nowhere.to_str().unwrap()],
        &format!("error: out: {}", nowhere.display()),
    );
    // A folder where the file should go.
    let folder = dir.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    fails(
        &["export", "--model", m, "--out", folder.to_str().unwrap()],
        "error: out: ",
    );
    assert!(std::fs::read_dir(&folder).unwrap().next().is_none());
    fails(&["export", "--model", m], "--out");
    // Nothing but the run folders and the junk file was left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a-folder", "junk.safetensors", "run"]);
}
