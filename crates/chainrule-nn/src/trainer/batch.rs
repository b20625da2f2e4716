//! Mini-batches: the reusable input and target buffers, and the loss of a
//! network on a batch.

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::loss::{LossKind, LossTarget};
use crate::network::Network;
use chainrule::{Float, Graph, Var};

/// The network's output and mean loss for a batch already in `b`: a
/// training pass (buffers updated in train mode) when `net` is mutable
/// ([`NetRef::Step`]), a frozen one otherwise.
pub(super) fn network_loss<'g, F: Float>(
    g: &'g Graph<F>,
    net: NetRef<'_, F>,
    kind: LossKind,
    b: &Batch<F>,
    rows: usize,
) -> Result<(Var<'g, F>, Var<'g, F>)> {
    let network: &Network<F> = match &net {
        NetRef::Step(n) => n,
        NetRef::Frozen(n) => n,
    };
    // `[rows, …input shape]`, without allocating for the usual ranks.
    let shape = network.input_shape();
    let mut buf = [0usize; 8];
    let owned: Vec<usize>;
    let dims: &[usize] = if shape.len() < buf.len() {
        buf[0] = rows;
        buf[1..=shape.len()].copy_from_slice(shape);
        &buf[..=shape.len()]
    } else {
        owned = std::iter::once(rows).chain(shape.iter().copied()).collect();
        &owned
    };
    let outputs = network.out_features();
    let output_activation = network.output_activation();
    let x = g.input_from(dims, &b.x)?;
    let out = match net {
        NetRef::Step(n) => n.forward(g, x)?,
        NetRef::Frozen(n) => n.forward_frozen(g, x)?,
    };
    let target = match kind {
        LossKind::Cce => LossTarget::Classes(&b.labels),
        LossKind::Bce | LossKind::Mse => LossTarget::Values(g.input_from(&[rows, outputs], &b.y)?),
    };
    let l = kind.of_output(output_activation, out, target)?;
    Ok((out, l))
}

pub(super) enum NetRef<'a, F: Float> {
    Step(&'a mut Network<F>),
    Frozen(&'a Network<F>),
}

/// The mean loss of `network` on `rows` of `data`, recorded on `g` (any
/// graph holding the network's parameters), in the network's mode without
/// touching its buffers.
pub fn loss_on_rows<'g, F: Float>(
    g: &'g Graph<F>,
    network: &Network<F>,
    kind: LossKind,
    data: &Dataset,
    rows: &[usize],
) -> Result<Var<'g, F>> {
    if let Some(&bad) = rows.iter().find(|&&r| r >= data.n) {
        return Err(Error::config(
            "rows",
            format!("row {bad} is outside {} ({} rows)", data.name, data.n),
        ));
    }
    let mut b = Batch::new();
    b.fill(data, rows, kind, network.out_features());
    Ok(network_loss(g, NetRef::Frozen(network), kind, &b, rows.len())?.1)
}

/// Reusable input and target buffers for mini-batches.
pub(super) struct Batch<F: Float> {
    x: Vec<F>,
    y: Vec<F>,
    labels: Vec<usize>,
}

impl<F: Float> Batch<F> {
    pub(super) fn new() -> Self {
        Batch {
            x: Vec::new(),
            y: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Fills the buffers with `rows` of `data` for `loss` with `outputs` outputs.
    pub(super) fn fill(&mut self, data: &Dataset, rows: &[usize], loss: LossKind, outputs: usize) {
        self.x.clear();
        self.y.clear();
        self.labels.clear();
        for &r in rows {
            self.x.extend(data.row(r).iter().map(|&v| F::from_f64(v)));
            match (&data.targets, loss) {
                (Targets::Real(v), _) => self.y.push(F::from_f64(v[r])),
                (Targets::Classes { labels, .. }, LossKind::Cce) => self.labels.push(labels[r]),
                (Targets::Classes { labels, .. }, LossKind::Bce) => {
                    self.y.push(F::from_f64(labels[r] as f64))
                }
                (Targets::Classes { labels, .. }, LossKind::Mse) => {
                    self.labels.push(labels[r]);
                    self.y.extend((0..outputs).map(|k| {
                        if k == labels[r] {
                            F::one()
                        } else {
                            F::zero()
                        }
                    }));
                }
            }
        }
    }
}
