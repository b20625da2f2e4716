//! A small convolutional network on the embedded handwritten digits (1×8×8
//! images), trained by chainrule's own trainer, then saved and read back.
//!
//! ```sh
//! cargo run --release --example cnn_digits
//! ```
//!
//! The architecture string is the one `chainrule train --arch` takes; the
//! same network from the command line:
//! `chainrule train --arch "conv2d(16,3,pad=1),batchnorm2d,relu,residual(conv2d(16,3,pad=1),batchnorm2d,relu),maxpool2d(2),dropout(0.1),flatten,linear(10)"`.

use chainrule_nn::arch;
use chainrule_nn::data::builtin::load_builtin;
use chainrule_nn::data::{train_test_split, Standardizer};
use chainrule_nn::model_io::{load_model, save_model};
use chainrule_nn::trainer::{train, Model, TrainConfig};
use chainrule_nn::{Init, LossKind, Result};
use std::time::Instant;

const ARCH: &str = "conv2d(16,3,pad=1),batchnorm2d,relu,\
                    residual(conv2d(16,3,pad=1),batchnorm2d,relu),\
                    maxpool2d(2),dropout(0.1),flatten,linear(10)";

fn main() -> Result<()> {
    // The data: 1,797 images, 20 % held out, standardized per pixel on the
    // training rows (as `chainrule train` does for built-in sets).
    let digits = load_builtin("digits").expect("digits is built in")?;
    let (mut train_set, mut test_set) = train_test_split(&digits, 0.2, 0)?;
    let standardizer = Standardizer::fit(&train_set);
    standardizer.apply(&mut train_set)?;
    standardizer.apply(&mut test_set)?;
    println!(
        "digits: {} training and {} test images of {:?}",
        train_set.n, test_set.n, train_set.input_shape
    );

    // The network, its shapes checked before anything is allocated.
    let layers = arch::parse(ARCH)?;
    let mut model: Model<f32> = Model::from_arch(
        &layers,
        &train_set.input_shape,
        Init::KaimingUniform,
        0,
        LossKind::Cce,
    )?;
    model.standardizer = Some(standardizer);
    for row in model.network.summary() {
        let shape: Vec<String> = row.output.iter().map(|d| d.to_string()).collect();
        println!(
            "  {:<10} {:<28} → {:<10} {:>6} parameters",
            row.path,
            row.text,
            shape.join("×"),
            row.params
        );
    }
    println!("{} parameters", model.network.parameter_count());

    let config = TrainConfig {
        epochs: 30,
        batch_size: 32,
        lr: 1e-3,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let history = train(
        &mut model,
        &train_set,
        Some(&test_set),
        &config,
        |_| {},
        |epoch, _| {
            if epoch.epoch % 5 == 0 {
                println!(
                    "epoch {:2}  train loss {:.4}  test accuracy {:.2}%",
                    epoch.epoch,
                    epoch.train_loss,
                    100.0 * epoch.test_accuracy.unwrap_or(0.0)
                );
            }
            Ok(())
        },
    )?;
    let last = history.epochs.last().expect("30 epochs ran");
    println!(
        "test accuracy {:.2}% after {} epochs ({:.1} s)",
        100.0 * last.test_accuracy.unwrap_or(0.0),
        last.epoch,
        start.elapsed().as_secs_f64()
    );

    // Saved with PyTorch's names (`0.weight`, `1.running_mean`, …) and read
    // back: the same predictions.
    let dir = std::env::temp_dir().join("chainrule-cnn-digits");
    std::fs::create_dir_all(&dir).map_err(|e| chainrule_nn::Error::config("out", e.to_string()))?;
    let path = dir.join("model.safetensors");
    save_model(&path, &model)?;
    let mut loaded: Model<f32> = load_model(&path, None)?;
    let row = digits.row(0).to_vec();
    let (a, b) = (model.predict(&row)?, loaded.predict(&row)?);
    assert_eq!(a, b, "a saved model predicts what it predicted before");
    println!("saved to {} and read back: same outputs", path.display());
    Ok(())
}
