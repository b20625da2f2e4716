//! A hand-written training loop over a network with convolutions, batch
//! norm, a residual block and dropout: every step spelled out with the
//! engine's own calls, where `chainrule_nn::trainer` would do it for you.
//!
//! ```sh
//! cargo run --release --example custom_loop
//! ```

use chainrule::Graph;
use chainrule_nn::arch;
use chainrule_nn::data::builtin::load_builtin;
use chainrule_nn::data::{batches, shuffled_indices, train_test_split, Standardizer};
use chainrule_nn::loss::{cross_entropy, Reduction};
use chainrule_nn::network::{Mode, Network};
use chainrule_nn::optim::{Adam, Optimizer};
use chainrule_nn::{Error, Init, Result};

const ARCH: &str =
    "conv2d(8,3,pad=1),batchnorm2d,relu,residual(conv2d(8,3,pad=1),batchnorm2d,relu),\
     maxpool2d(2),dropout(0.2),flatten,linear(10)";
const SEED: u64 = 7;
const EPOCHS: usize = 10;
const BATCH: usize = 64;

fn main() -> Result<()> {
    let digits = load_builtin("digits").expect("digits is built in")?;
    let (mut train_set, mut test_set) = train_test_split(&digits, 0.2, SEED)?;
    let standardizer = Standardizer::fit(&train_set);
    standardizer.apply(&mut train_set)?;
    standardizer.apply(&mut test_set)?;
    let (train_labels, test_labels) = match (train_set.labels(), test_set.labels()) {
        (Some(a), Some(b)) => (a.to_vec(), b.to_vec()),
        _ => return Err(Error::config("data", "digits has class labels")),
    };
    let shape = train_set.input_shape.clone(); // [1, 8, 8]

    // The graph holds the parameters; the network knows its layers, its
    // batch-norm buffers and its mode.
    let mut g = Graph::<f32>::new();
    let mut net = Network::new(
        &mut g,
        &arch::parse(ARCH)?,
        &shape,
        Init::KaimingUniform,
        SEED,
    )?;
    let mut opt = Adam::new(2e-3);

    // Reused input buffers: a warm step allocates nothing.
    let (mut x, mut y) = (Vec::<f32>::new(), Vec::<usize>::new());
    let mut step = 0u64;
    for epoch in 1..=EPOCHS {
        net.set_mode(Mode::Train);
        let order = shuffled_indices(train_set.n, SEED + epoch as u64);
        let mut total = 0.0;
        for rows in batches(train_set.n, BATCH, Some(&order)) {
            step += 1;
            x.clear();
            y.clear();
            for &r in &rows {
                x.extend(train_set.row(r).iter().map(|&v| v as f32));
                y.push(train_labels[r]);
            }
            // Dropout's mask is a function of (seed, step, layer).
            net.set_step(SEED, step);
            let loss = {
                let input = g.input_from(&[rows.len(), shape[0], shape[1], shape[2]], &x)?;
                let logits = net.forward(&g, input)?;
                let loss = cross_entropy(logits, &y, Reduction::Mean)?;
                loss.backward()?;
                loss.item()?
            };
            opt.step(&mut g);
            g.zero_grad();
            g.clear();
            total += loss as f64 * rows.len() as f64;
        }

        // Evaluation: running statistics, no dropout, no gradients.
        net.set_mode(Mode::Eval);
        let correct = {
            let _off = g.no_grad();
            let input = g.input_from(
                &[test_set.n, shape[0], shape[1], shape[2]],
                &test_set
                    .features
                    .iter()
                    .map(|&v| v as f32)
                    .collect::<Vec<_>>(),
            )?;
            let logits = net.forward(&g, input)?.to_vec();
            logits
                .chunks(10)
                .zip(&test_labels)
                .filter(|(row, &label)| {
                    let best = (0..10).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                    best == label
                })
                .count()
        };
        g.clear();
        println!(
            "epoch {epoch:2}  train loss {:.4}  test accuracy {:.2}%",
            total / train_set.n as f64,
            100.0 * correct as f64 / test_set.n as f64
        );
    }
    let bn = &net.batch_norm_buffers()[0];
    println!(
        "first batch norm: {} batches tracked; running mean {:.3e}, running variance {:.3e} (channel 0)",
        bn.num_batches_tracked, bn.running_mean[0], bn.running_var[0]
    );
    Ok(())
}
