//! A [`Model`] as an ONNX graph: the input standardization, then one node
//! per layer (two for `globalavgpool2d`), in evaluation mode.
//!
//! Values are named after the nodes that make them: node `3` (the fourth
//! layer) writes value `3`, node `2.body.0` the first layer of the third
//! layer's residual body; the graph's input is `input` and the last node
//! writes `output`. Initializers carry the model file's state_dict names.

use super::proto::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension, tensor_shape_proto::Dimension,
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    DATA_TYPE_FLOAT, IR_VERSION, OPSET_VERSION,
};
use crate::activation::Activation;
use crate::arch::PoolSpec;
use crate::error::{Error, Result};
use crate::network::{self, BatchNormLayer, ConvLayer, Layer, LayerNormLayer, LinearLayer};
use crate::trainer::Model;
use chainrule::{Float, ParamId};

/// The graph input's name.
pub const INPUT: &str = "input";
/// The graph output's name.
pub const OUTPUT: &str = "output";
/// The symbolic batch dimension of the input and output.
pub const BATCH: &str = "batch";
/// The initializer of the input standardization's means: the graph
/// computes `(input − input_mean) / input_std`, both of the per-example
/// input shape.
pub const INPUT_MEAN: &str = "input_mean";
/// The initializer of the standardization's standard deviations.
pub const INPUT_STD: &str = "input_std";

/// The ONNX model of `model` in evaluation mode: batch norm with its running
/// statistics, dropout the identity. Its input is `[batch, …input shape]`
/// (raw, as `chainrule predict` takes it: the recorded standardization is
/// the graph's first two nodes), its output `[batch, outputs]`, the
/// network's raw outputs (before any softmax). Weights are written as f32
/// (a model in f64 is rounded, as its model file would be).
///
/// # Errors
///
/// A value the f32 graph cannot hold, naming the layer (`layer 2
/// batchnorm1d(eps=1e-60) (character 10): …`) or the standardized feature.
pub fn to_model_proto<F: Float>(model: &Model<F>) -> Result<ModelProto> {
    let net = &model.network;
    let mut b = Builder {
        model,
        nodes: Vec::new(),
        initializers: Vec::new(),
    };
    let mut x = INPUT.to_string();
    if let Some(s) = &model.standardizer {
        let shape = net.input_shape();
        let mean = standardization_values(&s.mean, "mean", false)?;
        let std = standardization_values(&s.std, "standard deviation", true)?;
        b.constant(INPUT_MEAN, shape, mean);
        b.constant(INPUT_STD, shape, std);
        x = b.node("standardize.sub", "Sub", vec![x, INPUT_MEAN.into()], vec![]);
        x = b.node("standardize.div", "Div", vec![x, INPUT_STD.into()], vec![]);
    }
    b.sequence(net.layers(), "", x)?;
    // The last node writes the graph's output (there is one: a network has
    // at least one layer and every layer makes a node).
    if let Some(last) = b.nodes.last_mut() {
        last.output = vec![OUTPUT.to_string()];
    }
    let graph = GraphProto {
        node: b.nodes,
        name: Some("chainrule".into()),
        initializer: b.initializers,
        input: vec![value_info(INPUT, net.input_shape())],
        output: vec![value_info(OUTPUT, net.output_shape())],
        ..Default::default()
    };
    let entry = |key: &str, value: String| StringStringEntryProto {
        key: Some(key.into()),
        value: Some(value),
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET_VERSION),
        }],
        producer_name: Some("chainrule".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        metadata_props: vec![
            entry("arch", network::arch_text(net.specs())),
            entry("loss", model.loss.name().to_string()),
        ],
        ..Default::default()
    })
}

/// The standardization's means or standard deviations in f32, refusing
/// one that f32 cannot hold (or a deviation that becomes 0).
fn standardization_values(values: &[f64], what: &str, divisor: bool) -> Result<Vec<f32>> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = v as f32;
            if !f.is_finite() || (divisor && f == 0.0) {
                Err(Error::config(
                    "onnx",
                    format!(
                        "the input standardization's {what} of feature {} is {v:?}, which {}; \
                         it cannot be exported",
                        i + 1,
                        in_f32(f)
                    ),
                ))
            } else {
                Ok(f)
            }
        })
        .collect()
}

/// What became of a number that f32 cannot hold.
fn in_f32(f: f32) -> &'static str {
    if f == 0.0 {
        "rounds to 0 in f32"
    } else {
        "is beyond the range of f32"
    }
}

fn value_info(name: &str, per_example: &[usize]) -> ValueInfoProto {
    let mut dim = vec![Dimension {
        value: Some(dimension::Value::DimParam(BATCH.into())),
        denotation: None,
    }];
    dim.extend(per_example.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(size(d))),
        denotation: None,
    }));
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DATA_TYPE_FLOAT),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: None,
    }
}

/// A size as ONNX holds it (sizes here are bounded by the parameter limit).
fn size(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sizes(n: &[usize]) -> Vec<i64> {
    n.iter().map(|&d| size(d)).collect()
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(i),
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints,
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(f),
        ..Default::default()
    }
}

/// ONNX's `pads`: the beginnings of both axes, then their ends.
fn pads(p: [usize; 2]) -> Vec<i64> {
    sizes(&[p[0], p[1], p[0], p[1]])
}

fn pool_attrs(p: &PoolSpec) -> Vec<AttributeProto> {
    vec![
        attr_ints("kernel_shape", sizes(&p.kernel)),
        attr_ints("strides", sizes(&p.stride)),
        attr_ints("pads", pads(p.padding)),
    ]
}

struct Builder<'a, F: Float> {
    model: &'a Model<F>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
}

impl<F: Float> Builder<'_, F> {
    /// Adds node `name` (which writes the value `name`) and returns the
    /// value's name.
    fn node(
        &mut self,
        name: &str,
        op: &str,
        input: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input,
            output: vec![name.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            attribute,
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds an f32 initializer and returns its name.
    fn constant(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        self.initializers.push(TensorProto {
            dims: sizes(dims),
            data_type: Some(DATA_TYPE_FLOAT),
            float_data: values,
            name: Some(name.to_string()),
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds a parameter's values under `name`.
    fn param(&mut self, name: String, p: ParamId) -> Result<String> {
        let t = self.model.graph.param_value(p)?;
        let values = t.data().iter().map(|v| v.as_f64() as f32).collect();
        Ok(self.constant(&name, t.dims(), values))
    }

    /// `layer 3 batchnorm2d (character 17)`: the layer at `path`.
    fn describe(&self, path: &str) -> String {
        self.model
            .network
            .summary()
            .iter()
            .find(|r| r.path == path)
            .map_or_else(|| format!("layer {}", path), |r| r.describe())
    }

    /// An f32 attribute, refused if f32 cannot hold it or it must be
    /// positive and becomes 0.
    fn float_attr(&self, path: &str, what: &str, v: f64, positive: bool) -> Result<f32> {
        let f = v as f32;
        if f.is_finite() && (!positive || f > 0.0) {
            return Ok(f);
        }
        Err(Error::config(
            "onnx",
            format!(
                "{}: {what}={v:?} {}, the type of ONNX's float attributes; \
                 it cannot be exported",
                self.describe(path),
                in_f32(f)
            ),
        ))
    }

    /// The nodes of `layers` (state_dict prefix `prefix`) on value `x`;
    /// returns the name of the last value.
    fn sequence(&mut self, layers: &[Layer], prefix: &str, mut x: String) -> Result<String> {
        for (i, layer) in layers.iter().enumerate() {
            let path = format!("{prefix}{i}");
            x = self.layer(layer, &path, x)?;
        }
        Ok(x)
    }

    fn layer(&mut self, layer: &Layer, path: &str, x: String) -> Result<String> {
        Ok(match layer {
            Layer::Linear(lin) => self.linear(lin, path, x)?,
            Layer::Conv2d(c) => self.conv(c, path, x)?,
            Layer::MaxPool2d(p) => self.node(path, "MaxPool", vec![x], pool_attrs(p)),
            Layer::AvgPool2d(p) => {
                let mut attrs = pool_attrs(p);
                attrs.push(attr_int("count_include_pad", 1));
                self.node(path, "AveragePool", vec![x], attrs)
            }
            Layer::GlobalAvgPool2d => {
                // [N, C, H, W] → [N, C, 1, 1] → [N, C].
                let pooled = self.node(path, "GlobalAveragePool", vec![x], vec![]);
                let name = format!("{path}.flatten");
                self.node(&name, "Flatten", vec![pooled], vec![attr_int("axis", 1)])
            }
            Layer::Flatten => self.node(path, "Flatten", vec![x], vec![attr_int("axis", 1)]),
            Layer::BatchNorm(bn) => self.batch_norm(bn, path, x)?,
            Layer::LayerNorm(ln) => self.layer_norm(ln, path, x)?,
            // Evaluation mode: dropout passes its input on.
            Layer::Dropout { .. } => self.node(path, "Identity", vec![x], vec![]),
            Layer::Activation(a) => self.activation(*a, path, x)?,
            Layer::Residual(body) => {
                let y = self.sequence(body, &format!("{path}.body."), x.clone())?;
                self.node(path, "Add", vec![x, y], vec![])
            }
        })
    }

    fn linear(&mut self, lin: &LinearLayer, path: &str, x: String) -> Result<String> {
        // Gemm: x · Wᵀ + b with W as stored, [out, in].
        let mut input = vec![x, self.param(format!("{path}.weight"), lin.weight)?];
        if let Some(b) = lin.bias {
            input.push(self.param(format!("{path}.bias"), b)?);
        }
        Ok(self.node(path, "Gemm", input, vec![attr_int("transB", 1)]))
    }

    fn conv(&mut self, c: &ConvLayer, path: &str, x: String) -> Result<String> {
        let mut input = vec![x, self.param(format!("{path}.weight"), c.weight)?];
        if let Some(b) = c.bias {
            input.push(self.param(format!("{path}.bias"), b)?);
        }
        let s = &c.spec;
        let attrs = vec![
            attr_ints("kernel_shape", sizes(&s.kernel)),
            attr_ints("strides", sizes(&s.stride)),
            attr_ints("pads", pads(s.padding)),
            attr_ints("dilations", sizes(&s.dilation)),
            attr_int("group", size(s.groups)),
        ];
        Ok(self.node(path, "Conv", input, attrs))
    }

    /// γ and β, or ones and zeros (`{path}.scale_ones`, `{path}.bias_zeros`)
    /// for a layer without them, of `shape`.
    fn scale_shift(
        &mut self,
        path: &str,
        gamma: Option<ParamId>,
        beta: Option<ParamId>,
        shape: &[usize],
    ) -> Result<(String, String)> {
        let n = shape.iter().product();
        let scale = match gamma {
            Some(p) => self.param(format!("{path}.weight"), p)?,
            None => self.constant(&format!("{path}.scale_ones"), shape, vec![1.0; n]),
        };
        let shift = match beta {
            Some(p) => self.param(format!("{path}.bias"), p)?,
            None => self.constant(&format!("{path}.bias_zeros"), shape, vec![0.0; n]),
        };
        Ok((scale, shift))
    }

    fn batch_norm(&mut self, bn: &BatchNormLayer, path: &str, x: String) -> Result<String> {
        let eps = self.float_attr(path, "eps", bn.norm.eps, true)?;
        let c = [bn.channels];
        let (scale, shift) = self.scale_shift(path, bn.gamma, bn.beta, &c)?;
        let buffers = &self.model.network.batch_norm_buffers()[bn.index];
        let f32s = |v: &[F]| v.iter().map(|x| x.as_f64() as f32).collect::<Vec<f32>>();
        let (mean, var) = (f32s(&buffers.running_mean), f32s(&buffers.running_var));
        let mean = self.constant(&format!("{path}.running_mean"), &c, mean);
        let var = self.constant(&format!("{path}.running_var"), &c, var);
        let attrs = vec![attr_float("epsilon", eps)];
        Ok(self.node(
            path,
            "BatchNormalization",
            vec![x, scale, shift, mean, var],
            attrs,
        ))
    }

    fn layer_norm(&mut self, ln: &LayerNormLayer, path: &str, x: String) -> Result<String> {
        let eps = self.float_attr(path, "eps", ln.norm.eps, true)?;
        let mut input = vec![x];
        match (ln.gamma, ln.beta) {
            (Some(g), b) => {
                input.push(self.param(format!("{path}.weight"), g)?);
                if let Some(b) = b {
                    input.push(self.param(format!("{path}.bias"), b)?);
                }
            }
            (None, _) => {
                let shape = self.normalized_shape(path, ln.axes);
                let n = shape.iter().product();
                input.push(self.constant(&format!("{path}.scale_ones"), &shape, vec![1.0; n]));
            }
        }
        let axis = -size(ln.axes);
        let attrs = vec![attr_int("axis", axis), attr_float("epsilon", eps)];
        Ok(self.node(path, "LayerNormalization", input, attrs))
    }

    /// The trailing `axes` dimensions of the layer's per-example shape (its
    /// output's, which is its input's).
    fn normalized_shape(&self, path: &str, axes: usize) -> Vec<usize> {
        let rows = self.model.network.summary();
        let shape = rows
            .iter()
            .find(|r| r.path == path)
            .map_or(&[][..], |r| &r.output[..]);
        shape[shape.len().saturating_sub(axes)..].to_vec()
    }

    fn activation(&mut self, a: Activation, path: &str, x: String) -> Result<String> {
        Ok(match a {
            Activation::Identity => self.node(path, "Identity", vec![x], vec![]),
            Activation::Sigmoid => self.node(path, "Sigmoid", vec![x], vec![]),
            Activation::Tanh => self.node(path, "Tanh", vec![x], vec![]),
            Activation::Relu => self.node(path, "Relu", vec![x], vec![]),
            Activation::LeakyRelu(slope) => {
                let alpha = self.float_attr(path, "slope", slope, false)?;
                self.node(path, "LeakyRelu", vec![x], vec![attr_float("alpha", alpha)])
            }
        })
    }
}
