//! ONNX export without Python: a model is saved as a model file, loaded
//! back as `chainrule export` loads it, exported, encoded and decoded with
//! the same `prost` messages; the graph is checked node by node (operator,
//! inputs, attributes), its input and output (the symbolic batch
//! dimension), its operator set, and every initializer against the model
//! file's tensor of the same name, bit for bit, the standardization's
//! constants included. (`bench/interop/onnx_check.py` runs the files in
//! ONNX Runtime.)

use chainrule::Tensor;
use chainrule_nn::arch::parse;
use chainrule_nn::data::Standardizer;
use chainrule_nn::model_file;
use chainrule_nn::model_io::{load_model, save_model};
use chainrule_nn::onnx::proto::{
    tensor_shape_proto::dimension::Value as Dim, type_proto, AttributeProto, ModelProto, NodeProto,
    ValueInfoProto, DATA_TYPE_FLOAT, IR_VERSION, OPSET_VERSION,
};
use chainrule_nn::onnx::{self, INPUT, INPUT_MEAN, INPUT_STD, OUTPUT};
use chainrule_nn::trainer::Model;
use chainrule_nn::{Init, LossKind};
use std::collections::BTreeMap;
use std::path::Path;

/// A model of `arch` on `shape` with every parameter and buffer set to
/// distinct values (γ ≠ 1, β ≠ 0, running statistics ≠ 0 and 1) and a
/// standardization of `shape`'s size.
fn model(arch: &str, shape: &[usize], loss: LossKind) -> Model<f32> {
    let specs = parse(arch).unwrap();
    let mut m = Model::<f32>::from_arch(&specs, shape, Init::KaimingUniform, 7, loss).unwrap();
    for (k, (_, p)) in m.network.parameters().into_iter().enumerate() {
        let t = m.graph.param_value(p).unwrap();
        let values: Vec<f32> = (0..t.data().len())
            .map(|i| ((i * 7 + k * 13) as f32 * 0.37).sin() * 0.5 + t.data()[i])
            .collect();
        m.graph
            .set_param(p, &Tensor::from_vec(values, t.dims()).unwrap())
            .unwrap();
    }
    for (k, b) in m.network.batch_norm_buffers_mut().iter_mut().enumerate() {
        for (i, v) in b.running_mean.iter_mut().enumerate() {
            *v = (i as f32 + k as f32) * 0.1 - 0.3;
        }
        for (i, v) in b.running_var.iter_mut().enumerate() {
            *v = 0.5 + i as f32 * 0.25;
        }
        b.num_batches_tracked = 12;
    }
    let n: usize = shape.iter().product();
    m.standardizer = Some(Standardizer {
        mean: (0..n).map(|i| 0.1 + i as f64 / 3.0).collect(),
        std: (0..n).map(|i| 1.0 + i as f64 / 7.0).collect(),
    });
    m
}

/// Saves `m`, loads the file back (as `chainrule export` does), exports it
/// through the bytes, and returns the decoded model and the file's tensors.
fn export_via_file(m: &Model<f32>, dir: &Path) -> (ModelProto, BTreeMap<String, Vec<u32>>) {
    let file = dir.join("model.safetensors");
    save_model(&file, m).unwrap();
    let loaded = load_model::<f32>(&file, None).unwrap();
    let out = dir.join("model.onnx");
    onnx::save(&out, &loaded).unwrap();
    let proto = onnx::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(proto, onnx::to_model_proto(m).unwrap(), "exported twice");
    let tensors = model_file::load_with_ints(&file)
        .unwrap()
        .tensors
        .into_iter()
        .map(|t| (t.name, t.data.iter().map(|v| v.to_bits()).collect()))
        .collect();
    (proto, tensors)
}

fn ops(p: &ModelProto) -> Vec<&str> {
    nodes(p)
        .iter()
        .map(|n| n.op_type.as_deref().unwrap())
        .collect()
}

fn nodes(p: &ModelProto) -> &[NodeProto] {
    &p.graph.as_ref().unwrap().node
}

fn node<'a>(p: &'a ModelProto, name: &str) -> &'a NodeProto {
    nodes(p)
        .iter()
        .find(|n| n.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no node {name}"))
}

fn attr<'a>(n: &'a NodeProto, name: &str) -> &'a AttributeProto {
    n.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{:?} has no {name}", n.name))
}

fn ints(n: &NodeProto, name: &str) -> Vec<i64> {
    let a = attr(n, name);
    assert_eq!(a.r#type, Some(7), "INTS");
    a.ints.clone()
}

fn int(n: &NodeProto, name: &str) -> i64 {
    let a = attr(n, name);
    assert_eq!(a.r#type, Some(2), "INT");
    a.i.unwrap()
}

fn float(n: &NodeProto, name: &str) -> f32 {
    let a = attr(n, name);
    assert_eq!(a.r#type, Some(1), "FLOAT");
    a.f.unwrap()
}

fn inputs(n: &NodeProto) -> Vec<&str> {
    n.input.iter().map(String::as_str).collect()
}

/// `["batch", 1, 8, 8]`-like text of a graph input or output.
fn dims(v: &ValueInfoProto) -> Vec<String> {
    let Some(type_proto::Value::TensorType(t)) = &v.r#type.as_ref().unwrap().value else {
        panic!("not a tensor type");
    };
    assert_eq!(t.elem_type, Some(DATA_TYPE_FLOAT));
    t.shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| match d.value.as_ref().unwrap() {
            Dim::DimValue(v) => v.to_string(),
            Dim::DimParam(p) => p.clone(),
        })
        .collect()
}

/// The header, input and output, the standardization, and every
/// initializer against the file: the state_dict's floats bit for bit, the
/// standardization as the f64 statistics rounded to f32; returns the names
/// of the initializers that are neither.
fn check_common(
    p: &ModelProto,
    m: &Model<f32>,
    file: &BTreeMap<String, Vec<u32>>,
    input: &[&str],
    output: &[&str],
) -> Vec<String> {
    assert_eq!(p.ir_version, Some(IR_VERSION));
    assert_eq!((IR_VERSION, OPSET_VERSION), (8, 17));
    assert_eq!(p.opset_import.len(), 1);
    assert_eq!(p.opset_import[0].domain.as_deref(), Some(""));
    assert_eq!(p.opset_import[0].version, Some(17));
    assert_eq!(p.producer_name.as_deref(), Some("chainrule"));
    let g = p.graph.as_ref().unwrap();
    assert_eq!(g.input.len(), 1);
    assert_eq!(g.output.len(), 1);
    assert_eq!(g.input[0].name.as_deref(), Some(INPUT));
    assert_eq!(g.output[0].name.as_deref(), Some(OUTPUT));
    assert_eq!(dims(&g.input[0]), input);
    assert_eq!(dims(&g.output[0]), output);
    // The standardization comes first, on the raw input.
    assert_eq!(inputs(&g.node[0]), [INPUT, INPUT_MEAN]);
    assert_eq!(g.node[0].op_type.as_deref(), Some("Sub"));
    assert_eq!(inputs(&g.node[1]), ["standardize.sub", INPUT_STD]);
    assert_eq!(g.node[1].op_type.as_deref(), Some("Div"));
    assert_eq!(g.node.last().unwrap().output, [OUTPUT]);
    // Every node's output is a distinct value, used after it is made.
    let mut made = vec![INPUT.to_string()];
    made.extend(g.initializer.iter().map(|t| t.name.clone().unwrap()));
    for n in &g.node {
        for i in &n.input {
            assert!(made.contains(i), "{:?} reads {i} before it exists", n.name);
        }
        assert_eq!(n.output.len(), 1);
        assert!(!made.contains(&n.output[0]), "{:?} twice", n.output);
        made.push(n.output[0].clone());
    }
    let s = m.standardizer.as_ref().unwrap();
    let shape: Vec<i64> = m.network.input_shape().iter().map(|&d| d as i64).collect();
    let mut others = Vec::new();
    let mut names = Vec::new();
    for t in &g.initializer {
        let name = t.name.clone().unwrap();
        assert!(!names.contains(&name), "initializer {name} twice");
        names.push(name.clone());
        assert_eq!(t.data_type, Some(DATA_TYPE_FLOAT), "{name}");
        assert!(t.raw_data.is_none());
        let bits: Vec<u32> = t.float_data.iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            t.float_data.len() as i64,
            t.dims.iter().product::<i64>(),
            "{name}"
        );
        let stats = match name.as_str() {
            INPUT_MEAN => Some(&s.mean),
            INPUT_STD => Some(&s.std),
            _ => None,
        };
        if let Some(stats) = stats {
            assert_eq!(t.dims, shape, "{name}");
            let want: Vec<u32> = stats.iter().map(|&v| (v as f32).to_bits()).collect();
            assert_eq!(bits, want, "{name}");
        } else if let Some(want) = file.get(&name) {
            assert_eq!(&bits, want, "{name} differs from the model file");
        } else {
            others.push(name);
        }
    }
    // Every float tensor of the file is in the graph.
    for name in file.keys() {
        assert!(names.contains(name), "{name} is not exported");
    }
    others
}

#[test]
fn an_mlp() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(
        "linear(16),relu,linear(8),tanh,linear(3)",
        &[4],
        LossKind::Cce,
    );
    let (p, file) = export_via_file(&m, dir.path());
    let others = check_common(&p, &m, &file, &["batch", "4"], &["batch", "3"]);
    assert!(others.is_empty(), "{others:?}");
    assert_eq!(
        ops(&p),
        ["Sub", "Div", "Gemm", "Relu", "Gemm", "Tanh", "Gemm"]
    );
    for (name, input) in [("0", "standardize.div"), ("2", "1"), ("4", "3")] {
        let n = if name == "4" {
            nodes(&p).last().unwrap()
        } else {
            node(&p, name)
        };
        assert_eq!(
            inputs(n),
            [input, &format!("{name}.weight"), &format!("{name}.bias")]
        );
        assert_eq!(int(n, "transB"), 1);
        assert_eq!(n.attribute.len(), 1);
    }
    let g = p.graph.as_ref().unwrap();
    let w = g
        .initializer
        .iter()
        .find(|t| t.name.as_deref() == Some("0.weight"))
        .unwrap();
    assert_eq!(w.dims, [16, 4], "[out, in], as the file stores it");
    let meta: Vec<(&str, &str)> = p
        .metadata_props
        .iter()
        .map(|e| (e.key.as_deref().unwrap(), e.value.as_deref().unwrap()))
        .collect();
    assert_eq!(
        meta,
        [
            ("arch", "linear(16),relu,linear(8),tanh,linear(3)"),
            ("loss", "cce")
        ]
    );
}

#[test]
fn a_cnn_with_batch_norm_pools_and_a_residual_block() {
    let dir = tempfile::tempdir().unwrap();
    let arch = "conv2d(4,3,pad=1),batchnorm2d(eps=0.001),relu,\
                residual(conv2d(4,3,pad=2,dilation=2,groups=2,bias=false),batchnorm2d,relu),\
                maxpool2d(2),avgpool2d(3,stride=1,pad=1),conv2d(6,kh=3,kw=1,sh=2,sw=1,ph=1),\
                flatten,dropout(0.2),linear(10)";
    let m = model(arch, &[2, 8, 8], LossKind::Cce);
    let (p, file) = export_via_file(&m, dir.path());
    let others = check_common(&p, &m, &file, &["batch", "2", "8", "8"], &["batch", "10"]);
    assert!(others.is_empty(), "{others:?}");
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
            "AveragePool",
            "Conv",
            "Flatten",
            "Identity",
            "Gemm"
        ]
    );
    let conv = node(&p, "0");
    assert_eq!(inputs(conv), ["standardize.div", "0.weight", "0.bias"]);
    assert_eq!(ints(conv, "kernel_shape"), [3, 3]);
    assert_eq!(ints(conv, "strides"), [1, 1]);
    assert_eq!(ints(conv, "pads"), [1, 1, 1, 1]);
    assert_eq!(ints(conv, "dilations"), [1, 1]);
    assert_eq!(int(conv, "group"), 1);
    let bn = node(&p, "1");
    assert_eq!(
        inputs(bn),
        ["0", "1.weight", "1.bias", "1.running_mean", "1.running_var"]
    );
    assert_eq!(float(bn, "epsilon"), 0.001f32);
    assert_eq!(bn.attribute.len(), 1, "evaluation mode: no training_mode");
    // The residual body, then x + body(x).
    let inner = node(&p, "3.body.0");
    assert_eq!(inputs(inner), ["2", "3.body.0.weight"], "no bias");
    assert_eq!(ints(inner, "pads"), [2, 2, 2, 2]);
    assert_eq!(ints(inner, "dilations"), [2, 2]);
    assert_eq!(int(inner, "group"), 2);
    assert_eq!(float(node(&p, "3.body.1"), "epsilon"), 1e-5f32);
    assert_eq!(inputs(node(&p, "3")), ["2", "3.body.2"]);
    assert_eq!(node(&p, "3").op_type.as_deref(), Some("Add"));
    let max = node(&p, "4");
    assert_eq!(ints(max, "kernel_shape"), [2, 2]);
    assert_eq!(ints(max, "strides"), [2, 2]);
    assert_eq!(ints(max, "pads"), [0, 0, 0, 0]);
    let avg = node(&p, "5");
    assert_eq!(ints(avg, "kernel_shape"), [3, 3]);
    assert_eq!(ints(avg, "strides"), [1, 1]);
    assert_eq!(ints(avg, "pads"), [1, 1, 1, 1]);
    assert_eq!(int(avg, "count_include_pad"), 1);
    let tall = node(&p, "6");
    assert_eq!(ints(tall, "kernel_shape"), [3, 1]);
    assert_eq!(ints(tall, "strides"), [2, 1]);
    assert_eq!(ints(tall, "pads"), [1, 0, 1, 0], "begins, then ends");
    assert_eq!(int(node(&p, "7"), "axis"), 1);
    assert_eq!(inputs(node(&p, "8")), ["7"], "dropout: the identity");
    // The running statistics are the buffers, as set.
    let buffers = &m.network.batch_norm_buffers()[0];
    let g = p.graph.as_ref().unwrap();
    let mean = g
        .initializer
        .iter()
        .find(|t| t.name.as_deref() == Some("1.running_mean"))
        .unwrap();
    assert_eq!(mean.float_data, buffers.running_mean);
    assert_eq!(mean.dims, [4]);
}

#[test]
fn layer_norm_leaky_relu_global_pool_and_norms_without_affine() {
    let dir = tempfile::tempdir().unwrap();
    let arch = "conv2d(3,3,pad=1),layernorm(axes=3,eps=0.0001),leaky_relu(0.2),globalavgpool2d,\
                linear(5),layernorm(affine=false),sigmoid,batchnorm1d(affine=false),\
                leaky_relu,identity,linear(1)";
    let m = model(arch, &[1, 4, 4], LossKind::Mse);
    let (p, file) = export_via_file(&m, dir.path());
    let others = check_common(&p, &m, &file, &["batch", "1", "4", "4"], &["batch", "1"]);
    assert_eq!(
        others,
        ["5.scale_ones", "7.scale_ones", "7.bias_zeros"],
        "γ = 1 and β = 0 of the layers without them"
    );
    assert_eq!(
        ops(&p),
        [
            "Sub",
            "Div",
            "Conv",
            "LayerNormalization",
            "LeakyRelu",
            "GlobalAveragePool",
            "Flatten",
            "Gemm",
            "LayerNormalization",
            "Sigmoid",
            "BatchNormalization",
            "LeakyRelu",
            "Identity",
            "Gemm"
        ]
    );
    let ln = node(&p, "1");
    assert_eq!(inputs(ln), ["0", "1.weight", "1.bias"]);
    assert_eq!(int(ln, "axis"), -3);
    assert_eq!(float(ln, "epsilon"), 1e-4f32);
    assert_eq!(float(node(&p, "2"), "alpha"), 0.2f32);
    assert_eq!(inputs(node(&p, "3.flatten")), ["3"]);
    assert_eq!(int(node(&p, "3.flatten"), "axis"), 1);
    assert_eq!(inputs(node(&p, "4")), ["3.flatten", "4.weight", "4.bias"]);
    let plain = node(&p, "5");
    assert_eq!(inputs(plain), ["4", "5.scale_ones"]);
    assert_eq!(int(plain, "axis"), -1);
    assert_eq!(float(plain, "epsilon"), 1e-5f32);
    assert_eq!(
        inputs(node(&p, "7")),
        [
            "6",
            "7.scale_ones",
            "7.bias_zeros",
            "7.running_mean",
            "7.running_var"
        ]
    );
    assert_eq!(float(node(&p, "8"), "alpha"), 0.01f32);
    let g = p.graph.as_ref().unwrap();
    let find = |name: &str| {
        g.initializer
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap()
    };
    assert_eq!(find("1.weight").dims, [3, 4, 4], "the normalized shape");
    assert_eq!(find("5.scale_ones").float_data, [1.0; 5]);
    assert_eq!(find("7.bias_zeros").float_data, [0.0; 5]);
}

#[test]
fn a_model_without_standardization_and_a_leaky_slope_of_zero() {
    let mut m = model("linear(3),leaky_relu(0),linear(2)", &[2], LossKind::Cce);
    m.standardizer = None;
    let p = onnx::from_bytes(&onnx::to_bytes(&m).unwrap()).unwrap();
    assert_eq!(ops(&p), ["Gemm", "LeakyRelu", "Gemm"]);
    assert_eq!(inputs(node(&p, "0")), [INPUT, "0.weight", "0.bias"]);
    // A float attribute of 0 is written (proto2 `optional`), not dropped.
    assert_eq!(float(node(&p, "1"), "alpha"), 0.0);
}

#[test]
fn values_f32_cannot_hold_are_refused_naming_the_layer() {
    let m = model(
        "linear(4),batchnorm1d(eps=1e-60),linear(2)",
        &[3],
        LossKind::Cce,
    );
    let e = onnx::to_model_proto(&m).unwrap_err().to_string();
    assert!(
        e.contains("layer 2 batchnorm1d(eps=1e-60) (character 10): eps=1e-60 rounds to 0 in f32"),
        "{e}"
    );
    let m = model("linear(4),leaky_relu(1e300),linear(2)", &[3], LossKind::Cce);
    let e = onnx::to_model_proto(&m).unwrap_err().to_string();
    assert!(e.contains("layer 2 leaky_relu(1e300)"), "{e}");
    assert!(e.contains("slope=1e300 is beyond the range of f32"), "{e}");
    let mut m = model("linear(2)", &[2], LossKind::Cce);
    m.standardizer = Some(Standardizer {
        mean: vec![0.0, 0.0],
        std: vec![1.0, 1e-50],
    });
    let e = onnx::to_model_proto(&m).unwrap_err().to_string();
    assert!(
        e.contains("standard deviation of feature 2 is 1e-50, which rounds to 0 in f32"),
        "{e}"
    );
}

#[test]
fn a_failed_write_leaves_nothing_and_garbage_does_not_decode() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("linear(2)", &[2], LossKind::Cce);
    let out = dir.path().join("missing").join("m.onnx");
    let e = onnx::save(&out, &m).unwrap_err().to_string();
    assert!(e.starts_with("out: "), "{e}");
    assert!(!dir.path().join("missing").exists());
    // An existing file is replaced whole, and no temporary file stays.
    let out = dir.path().join("m.onnx");
    std::fs::write(&out, b"old").unwrap();
    onnx::save(&out, &m).unwrap();
    assert_eq!(
        onnx::from_bytes(&std::fs::read(&out).unwrap()).unwrap(),
        onnx::to_model_proto(&m).unwrap()
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    let e = onnx::from_bytes(b"\xff\xff\xff").unwrap_err().to_string();
    assert!(e.starts_with("onnx: not an ONNX model"), "{e}");
}
