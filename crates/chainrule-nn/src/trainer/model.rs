//! [`Model`]: a network, its graph and its loss; building one, checking
//! data against it, evaluating and predicting.

use super::batch::{loss_on_rows, network_loss, Batch, NetRef};
use super::config::{output_size, resolve_loss, TrainConfig};
use crate::arch::LayerSpec;
use crate::data::{Dataset, Standardizer};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::loss::LossKind;
use crate::mlp::{Mlp, MlpSpec};
use crate::network::{Mode, Network};
use chainrule::{Float, Graph, Var};

/// Loss and (for classification) accuracy and confusion matrix on a set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: Option<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Option<Vec<Vec<usize>>>,
}

/// A network, its graph and its loss: what training produces and
/// evaluation uses.
pub struct Model<F: Float> {
    pub graph: Graph<F>,
    pub network: Network<F>,
    pub loss: LossKind,
    /// The input standardization fitted on the training data, if any:
    /// [`Model::predict`] applies it to raw inputs.
    pub standardizer: Option<Standardizer>,
}

impl<F: Float> Model<F> {
    /// A fresh MLP for `data` under `config` (`--hidden`, `--activation`).
    pub fn new(data: &Dataset, config: &TrainConfig) -> Result<Model<F>> {
        config.validate()?;
        let loss = resolve_loss(data, config.loss)?;
        let mut sizes = vec![data.d];
        sizes.extend(&config.hidden);
        sizes.push(output_size(data, loss));
        let spec = MlpSpec::for_loss(sizes, config.activation, loss, None)?;
        Model::from_spec(spec, config.init, config.seed, loss)
    }

    /// A network of `spec` with weights drawn by `init` from `seed`, scored
    /// by `loss`, on unstandardized inputs.
    pub fn from_spec(spec: MlpSpec, init: Init, seed: u64, loss: LossKind) -> Result<Model<F>> {
        let mut graph = Graph::new();
        let network = Network::from_mlp_spec(&mut graph, &spec, init, seed)?;
        Model::from_network(graph, network, loss)
    }

    /// The network of architecture `specs` for examples of `input_shape`,
    /// with weights drawn by `init` from `seed`, scored by `loss`.
    pub fn from_arch(
        specs: &[LayerSpec],
        input_shape: &[usize],
        init: Init,
        seed: u64,
        loss: LossKind,
    ) -> Result<Model<F>> {
        let mut graph = Graph::new();
        let network = Network::new(&mut graph, specs, input_shape, init, seed)?;
        Model::from_network(graph, network, loss)
    }

    /// A model of a built network, checked against how `loss` reads its
    /// output (a flat output, its activation one the loss accepts).
    pub fn from_network(graph: Graph<F>, network: Network<F>, loss: LossKind) -> Result<Model<F>> {
        if network.output_shape().len() != 1 {
            return Err(Error::config(
                "arch",
                format!(
                    "the network's output per example is {:?}; a loss needs a flat output \
                     (end with flatten or linear)",
                    network.output_shape()
                ),
            ));
        }
        loss.reading(network.output_activation())?;
        Ok(Model {
            graph,
            network,
            loss,
            standardizer: None,
        })
    }

    /// The network as a multilayer perceptron, for the tools that show
    /// only those (`tool`: `explain`, `diagnose`, `gradcheck`): an error
    /// naming the first layer they cannot show otherwise.
    pub fn mlp_for(&self, tool: &str) -> Result<Mlp> {
        self.network.as_mlp().ok_or_else(|| {
            Error::config(
                "model",
                format!(
                    "{tool} shows multilayer perceptrons only for now; {} is not a linear layer \
                     or an activation (gradcheck --model checks any network)",
                    self.network
                        .first_non_mlp_layer()
                        .unwrap_or_else(|| "a layer".into())
                ),
            )
        })
    }

    /// A copy of the model in precision `G` (parameters and buffers cast).
    pub fn cast<G: Float>(&self) -> Result<Model<G>> {
        let mut graph = Graph::<G>::new();
        let network = self.network.rebuild_in(&mut graph)?;
        for ((_, src), (_, dst)) in self.network.parameters().iter().zip(network.parameters()) {
            graph.set_param(dst, &self.graph.param_value(*src)?.cast::<G>())?;
        }
        Ok(Model {
            graph,
            network,
            loss: self.loss,
            standardizer: self.standardizer.clone(),
        })
    }

    /// Checks that `data` fits this network (input shape, outputs, targets).
    pub fn check_data(&self, data: &Dataset) -> Result<()> {
        let want = self.network.input_shape();
        // Flat rows of the right length are read as the images, row-major.
        let fits = if self.network.is_2d() {
            data.input_shape == want
                || (data.input_shape.len() == 1 && data.d == self.network.in_features())
        } else {
            data.d == self.network.in_features()
        };
        if !fits {
            let have = if self.network.is_2d() {
                format!("examples of shape {:?}", data.input_shape)
            } else {
                format!("{} features", data.d)
            };
            let expect = if self.network.is_2d() {
                format!("examples of shape {want:?}")
            } else {
                format!("{}", self.network.in_features())
            };
            return Err(Error::config(
                "data",
                format!("{} has {have} but the model expects {expect}", data.name),
            ));
        }
        resolve_loss(data, Some(self.loss))?;
        let want = output_size(data, self.loss);
        if want != self.network.out_features() {
            return Err(Error::config(
                "data",
                format!(
                    "{} needs {want} outputs but the model has {}",
                    data.name,
                    self.network.out_features()
                ),
            ));
        }
        Ok(())
    }

    /// The mean loss of `rows` of `data`, recorded on the model's graph
    /// (the network in its mode, its buffers untouched).
    pub fn loss_on_rows(&self, data: &Dataset, rows: &[usize]) -> Result<Var<'_, F>> {
        self.check_data(data)?;
        loss_on_rows(&self.graph, &self.network, self.loss, data, rows)
    }

    /// One training pass on the batch in `b`: train mode, dropout keyed by
    /// (`seed`, `step`), batch norm's running statistics updated.
    pub(super) fn training_loss<'g>(
        graph: &'g Graph<F>,
        network: &mut Network<F>,
        loss: LossKind,
        b: &Batch<F>,
        rows: usize,
        (seed, step): (u64, u64),
    ) -> Result<Var<'g, F>> {
        network.set_mode(Mode::Train);
        network.set_step(seed, step);
        Ok(network_loss(graph, NetRef::Step(network), loss, b, rows)?.1)
    }

    /// Loss, accuracy and confusion matrix on `data`, without gradients, in
    /// chunks of 512 rows, in eval mode.
    pub fn evaluate(&mut self, data: &Dataset) -> Result<Evaluation> {
        self.check_data(data)?;
        let mode = self.network.mode();
        self.network.set_mode(Mode::Eval);
        let e = self.evaluate_in_mode(data);
        self.network.set_mode(mode);
        e
    }

    fn evaluate_in_mode(&mut self, data: &Dataset) -> Result<Evaluation> {
        let classes = data.num_classes();
        let mut confusion = classes.map(|k| vec![vec![0usize; k]; k]);
        let (mut total_loss, mut correct) = (0.0f64, 0usize);
        let mut b = Batch::new();
        let all: Vec<usize> = (0..data.n).collect();
        let k = self.network.out_features();
        let reading = self.loss.reading(self.network.output_activation())?;
        for rows in all.chunks(512) {
            b.fill(data, rows, self.loss, k);
            {
                let g = &self.graph;
                let _off = g.no_grad();
                let (out, l) =
                    network_loss(g, NetRef::Frozen(&self.network), self.loss, &b, rows.len())?;
                total_loss += l.item()?.as_f64() * rows.len() as f64;
                if let (Some(conf), Some(labels)) = (confusion.as_mut(), data.labels()) {
                    let values = out.to_vec();
                    for (i, &r) in rows.iter().enumerate() {
                        let predicted = if k == 1 {
                            usize::from(reading.predicts_positive(values[i].as_f64()))
                        } else {
                            argmax(&values[i * k..(i + 1) * k])
                        };
                        let last = conf.len() - 1;
                        conf[labels[r]][predicted.min(last)] += 1;
                        correct += usize::from(predicted == labels[r]);
                    }
                }
            }
            self.graph.clear();
        }
        let n = data.n.max(1) as f64;
        Ok(Evaluation {
            loss: total_loss / n,
            accuracy: confusion.as_ref().map(|_| correct as f64 / n),
            confusion,
        })
    }

    /// The network's outputs for one raw input row (standardized first if
    /// the model was trained on standardized data), in eval mode.
    pub fn predict(&mut self, input: &[f64]) -> Result<Vec<F>> {
        let d = self.network.in_features();
        if input.len() != d {
            return Err(Error::config(
                "input",
                format!("{} values given, the model expects {d}", input.len()),
            ));
        }
        let mut row = input.to_vec();
        if let Some(s) = &self.standardizer {
            s.apply_row(&mut row);
        }
        let row: Vec<F> = row.into_iter().map(F::from_f64).collect();
        let mut dims = vec![1];
        dims.extend_from_slice(self.network.input_shape());
        let mode = self.network.mode();
        self.network.set_mode(Mode::Eval);
        let out = {
            let g = &self.graph;
            let _off = g.no_grad();
            g.input_from(&dims, &row)
                .map_err(Error::from)
                .and_then(|x| self.network.forward_frozen(g, x))
                .map(|v| v.to_vec())
        };
        self.network.set_mode(mode);
        self.graph.clear();
        out
    }
}

fn argmax<F: Float>(v: &[F]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
