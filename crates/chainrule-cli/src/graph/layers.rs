//! `chainrule graph` for any network: which network (a model file, or a
//! fresh `--arch` one for `--input-shape`), and whether it is drawn layer
//! by layer or as before (an MLP's op-level training step).

use super::Args;
use chainrule::Graph;
use chainrule_inspect::draw::{self, LayerGraph};
use chainrule_nn::network::{arch_text, parse_arch, Network};
use chainrule_nn::{model_io, Error, Init, LossKind, Result};

/// The most values one example may hold for `--ops`, which runs a pass.
const OPS_MAX_INPUT: usize = 1 << 24;

/// `1x8x8`, `1×8×8`, `1,8,8` or `64`: positive sizes.
pub fn parse_shape(text: &str) -> Result<Vec<usize>> {
    let bad = |why: &str| {
        Error::config(
            "input-shape",
            format!(
                "'{text}' {why}; give C×H×W as 1x8x8 (or 1,8,8), or a feature count such as 64"
            ),
        )
    };
    let parts: Vec<&str> = text.split(['x', 'X', '×', ',']).map(str::trim).collect();
    let mut shape = Vec::new();
    for p in parts {
        match p.parse::<usize>() {
            Ok(0) => return Err(bad("has a size of 0")),
            Ok(n) => shape.push(n),
            Err(_) => return Err(bad("is not a shape")),
        }
    }
    if shape
        .iter()
        .try_fold(1usize, |a, &s| a.checked_mul(s))
        .is_none()
    {
        return Err(bad("is too large"));
    }
    Ok(shape)
}

/// The loss drawn after a fresh network: `--loss`, else cross-entropy for
/// several outputs and MSE for one (none when the output is not flat).
fn default_loss(net: &Network<f64>, asked: Option<LossKind>) -> Option<LossKind> {
    if let Some(l) = asked {
        return Some(l);
    }
    match net.output_shape() {
        [1] => Some(LossKind::Mse),
        [_] => Some(LossKind::Cce),
        _ => None,
    }
}

/// The layer view `args` ask for, or `None` where the drawing is the
/// op-level trace of an expression or an MLP as before.
pub fn picture(args: &Args) -> Result<Option<LayerGraph>> {
    let src = &args.source;
    let loss = src.loss.as_deref().map(LossKind::parse).transpose()?;
    let (graph, net, loss, title) = if let Some(text) = &src.arch {
        let Some(shape_text) = src.input_shape.as_deref() else {
            return Err(Error::config(
                "input-shape",
                "graph --arch needs the shape of one example: --input-shape 1x8x8 (C×H×W) or a feature count such as 64",
            ));
        };
        let shape = parse_shape(shape_text)?;
        let specs = parse_arch(text)?;
        let mut graph = Graph::new();
        let net = Network::new(&mut graph, &specs, &shape, Init::KaimingUniform, src.seed)?;
        let loss = default_loss(&net, loss);
        let title = format!(
            "{} on {}: {} parameters",
            arch_text(&specs),
            draw::layers::shape_text(&shape),
            draw::layers::thousands(net.parameter_count())
        );
        (graph, net, loss, title)
    } else if let Some(path) = &src.model {
        if !path.exists() {
            return Err(Error::config(
                "model",
                format!("{}: no such file", path.display()),
            ));
        }
        let model = model_io::load_model::<f64>(path, None)?;
        let mlp = model.network.as_mlp().is_some();
        if mlp && !args.by_layer && !args.ops {
            return Ok(None);
        }
        let title = format!(
            "Model {}: {} parameters",
            path.display(),
            draw::layers::thousands(model.network.parameter_count())
        );
        (
            model.graph,
            model.network,
            Some(loss.unwrap_or(model.loss)),
            title,
        )
    } else if args.by_layer || args.ops {
        return Err(Error::config(
            if args.ops { "ops" } else { "by-layer" },
            "the layer view draws --model FILE or --arch TEXT --input-shape SHAPE \
             (for --layers sizes, write them as --arch, e.g. linear(2),sigmoid,linear(1))",
        ));
    } else {
        return Ok(None);
    };
    if src.input.is_some() || src.target.is_some() {
        return Err(Error::config(
            "input",
            "--input and --target give the values of an MLP's op-level drawing; \
             the layer view shows the network's structure and shapes",
        ));
    }
    if args.ops {
        if net.input_shape().iter().product::<usize>() > OPS_MAX_INPUT {
            return Err(Error::config(
                "input-shape",
                format!("--ops runs a pass on one example, at most {OPS_MAX_INPUT} values"),
            ));
        }
        net.check_pass_size("graph --ops", 1)?;
        // The operations of a training step: batch norm computes its
        // batch's statistics, dropout draws its mask.
        let mut net = net;
        net.set_mode(chainrule_nn::network::Mode::Train);
        let title = format!("{title} (the operations of a training step on one example)");
        return Ok(Some(draw::ops_view(&graph, &net, loss, &title)?));
    }
    Ok(Some(draw::layer_view(&net, loss, &title)))
}
