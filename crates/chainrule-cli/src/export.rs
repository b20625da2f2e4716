//! `chainrule export`: a saved model as an ONNX file, for ONNX Runtime and
//! other ONNX tools (see [`chainrule_nn::onnx`]).

use chainrule_nn::model_io::load_model;
use chainrule_nn::onnx::{self, proto::OPSET_VERSION, BATCH};
use chainrule_nn::Result;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A model file written by `chainrule train`.
    #[arg(long)]
    model: PathBuf,
    /// The ONNX file to write (replaced atomically if it exists).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &Args) -> Result<()> {
    let model = load_model::<f32>(&args.model, None)?;
    let proto = onnx::to_model_proto(&model)?;
    onnx::write(&args.out, &proto)?;
    let graph = proto.graph.unwrap_or_default();
    let shape = |per_example: &[usize]| {
        let mut dims = vec![BATCH.to_string()];
        dims.extend(per_example.iter().map(usize::to_string));
        format!("[{}]", dims.join(", "))
    };
    let net = &model.network;
    println!(
        "wrote {}: ONNX opset {OPSET_VERSION}, {} nodes, {} initializers; input {} → output {} \
         (raw outputs{})",
        args.out.display(),
        graph.node.len(),
        graph.initializer.len(),
        shape(net.input_shape()),
        shape(net.output_shape()),
        if model.standardizer.is_some() {
            "; the input standardization is in the graph"
        } else {
            ""
        }
    );
    Ok(())
}
