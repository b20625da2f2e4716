//! Training a multilayer perceptron on a [`Dataset`]: the loss chosen from
//! the data, seeded mini-batches, an optimizer step per batch, and per-epoch
//! evaluation. Every step's loss is recorded before that step's update.

use crate::activation::Activation;
use crate::arch::LayerSpec;
use crate::data::{Dataset, Standardizer, Targets};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::loss::{LossKind, LossTarget};
use crate::mlp::{Mlp, MlpSpec};
use crate::network::{Mode, Network};
use crate::optim::{Adam, Optimizer, Schedule, Sgd};
use chainrule::{Float, Graph, Var};

mod run;
pub use run::{TrainState, Trainer};

/// Which optimizer to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    Sgd,
    Adam,
    AdamW,
}

impl OptimizerKind {
    /// Parses `sgd`, `adam` or `adamw`.
    pub fn parse(s: &str) -> Result<OptimizerKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            other => Err(Error::config(
                "optimizer",
                format!("unknown optimizer '{other}' (expected sgd, adam or adamw)"),
            )),
        }
    }
}

/// Everything that decides a training run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// `None`: chosen from the loss (sigmoid-free logits: identity).
    pub loss: Option<LossKind>,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub shuffle: bool,
    pub init: Init,
    pub schedule: Schedule,
    /// Clip the global gradient norm to this value.
    pub clip_norm: Option<f64>,
    /// Check every operation's output, forward and backward, and stop at
    /// the first NaN or infinity, naming the operation.
    pub detect_anomaly: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: vec![64, 32],
            activation: Activation::Relu,
            loss: None,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            // Plain gradient descent, as torch.optim.SGD and Keras' SGD.
            momentum: 0.0,
            weight_decay: 0.0,
            epochs: 30,
            batch_size: 32,
            seed: 0,
            shuffle: true,
            init: Init::KaimingUniform,
            schedule: Schedule::Constant,
            clip_norm: None,
            detect_anomaly: false,
        }
    }
}

impl TrainConfig {
    /// Checks the numbers a user can get wrong.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    name,
                    format!("must be a positive number, got {v}"),
                ))
            }
        };
        positive("lr", self.lr)?;
        if self.epochs == 0 {
            return Err(Error::config("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch-size", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(Error::config(
                "momentum",
                format!("must lie in [0, 1), got {}", self.momentum),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                "weight-decay",
                format!("must be a non-negative number, got {}", self.weight_decay),
            ));
        }
        if let Some(c) = self.clip_norm {
            positive("clip-norm", c)?;
        }
        if self.hidden.contains(&0) {
            return Err(Error::config("hidden", "hidden sizes must be positive"));
        }
        Ok(())
    }
}

/// The loss for a data set: the requested one if it fits the targets, or
/// (auto) MSE for regression, BCE on one logit for two classes, and
/// cross-entropy on logits for more.
pub fn resolve_loss(data: &Dataset, requested: Option<LossKind>) -> Result<LossKind> {
    match (&data.targets, requested) {
        (Targets::Real(_), None | Some(LossKind::Mse)) => Ok(LossKind::Mse),
        (Targets::Real(_), Some(k)) => Err(Error::config(
            "loss",
            format!(
                "{} needs class labels, but {} has real-valued targets",
                k.name(),
                data.name
            ),
        )),
        (Targets::Classes { classes, .. }, None) => Ok(if *classes == 2 {
            LossKind::Bce
        } else {
            LossKind::Cce
        }),
        (Targets::Classes { classes, .. }, Some(LossKind::Bce)) if *classes != 2 => {
            Err(Error::config(
                "loss",
                format!("bce needs exactly two classes, {} has {classes}", data.name),
            ))
        }
        (Targets::Classes { .. }, Some(k)) => Ok(k),
    }
}

/// The number of network outputs for a data set and loss.
pub fn output_size(data: &Dataset, loss: LossKind) -> usize {
    match (&data.targets, loss) {
        (Targets::Classes { classes, .. }, LossKind::Cce | LossKind::Mse) => *classes,
        _ => 1,
    }
}

/// For regression: the mean squared error on `test` of always predicting
/// the mean target of `train` (the bar a model must clear).
pub fn mean_baseline(train: &Dataset, test: &Dataset) -> Option<f64> {
    match (&train.targets, &test.targets) {
        (Targets::Real(a), Targets::Real(b)) if !a.is_empty() && !b.is_empty() => {
            let mean = a.iter().sum::<f64>() / a.len() as f64;
            Some(b.iter().map(|y| (y - mean) * (y - mean)).sum::<f64>() / b.len() as f64)
        }
        _ => None,
    }
}

/// The network's output and mean loss for a batch already in `b`: a
/// training pass (buffers updated in train mode) when `net` is mutable
/// ([`NetRef::Step`]), a frozen one otherwise.
fn network_loss<'g, F: Float>(
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

enum NetRef<'a, F: Float> {
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

/// One recorded step: the mini-batch loss before the update.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
}

/// Metrics after one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
}

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

/// Reusable input and target buffers for mini-batches.
struct Batch<F: Float> {
    x: Vec<F>,
    y: Vec<F>,
    labels: Vec<usize>,
}

impl<F: Float> Batch<F> {
    fn new() -> Self {
        Batch {
            x: Vec::new(),
            y: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Fills the buffers with `rows` of `data` for `loss` with `outputs` outputs.
    fn fill(&mut self, data: &Dataset, rows: &[usize], loss: LossKind, outputs: usize) {
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
                    "{tool} shows multilayer perceptrons only; {} is not one of their layers \
                     (issue: seeing inside any model is coming)",
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
    fn training_loss<'g>(
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

/// The order of rows in epoch `epoch` (1-based): a seeded shuffle, or file order.
pub fn epoch_order(n: usize, seed: u64, epoch: usize, shuffle: bool) -> Vec<usize> {
    if shuffle {
        crate::data::shuffled_indices(n, seed.wrapping_mul(0x9E37_79B9).wrapping_add(epoch as u64))
    } else {
        (0..n).collect()
    }
}

/// Builds the optimizer of a config.
pub fn make_optimizer<F: Float>(config: &TrainConfig) -> Box<dyn Optimizer<F>> {
    match config.optimizer {
        OptimizerKind::Sgd => Box::new(
            Sgd::new(config.lr)
                .with_momentum(config.momentum, false)
                .with_weight_decay(config.weight_decay),
        ),
        OptimizerKind::Adam => {
            Box::new(Adam::new(config.lr).with_weight_decay(config.weight_decay))
        }
        OptimizerKind::AdamW => Box::new(Adam::adamw(config.lr, config.weight_decay)),
    }
}

/// What a training run records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub steps: Vec<StepRecord>,
    pub epochs: Vec<EpochRecord>,
}

/// Trains `model` on `train` for `config.epochs` epochs, evaluating on
/// `test` (if any) after each; `on_step(step, loss)` and
/// `on_epoch(record, model)` report progress (the latter may inspect the
/// model between epochs, e.g. for gradient-flow reports). Stops with [`Error::NonFinite`] if a loss is NaN or
/// infinite, before the update that would spread it into the weights.
///
/// A run that is to be checkpointed and resumed uses [`Trainer`], which
/// runs one epoch at a time; this is `Trainer::new` and every epoch.
pub fn train<F: Float>(
    model: &mut Model<F>,
    train: &Dataset,
    test: Option<&Dataset>,
    config: &TrainConfig,
    mut on_step: impl FnMut(&StepRecord),
    mut on_epoch: impl FnMut(&EpochRecord, &mut Model<F>) -> Result<()>,
) -> Result<History> {
    let mut trainer = Trainer::new(config)?;
    while !trainer.is_done() {
        let record = trainer.run_epoch(model, train, test, &mut on_step)?;
        on_epoch(&record, model)?;
    }
    Ok(trainer.into_history())
}
