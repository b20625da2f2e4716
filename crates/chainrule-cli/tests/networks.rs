//! `train --arch` end to end: a small CNN learns the digits as 8×8 images,
//! its run resumes to the same files, `predict` and `eval` work on it, and
//! the tools that show only MLPs say so, naming the layer.

mod common;
use common::{chainrule, stderr, stdout, train_quietly};
use std::path::Path;

const CNN: &str = "conv2d(4,3,pad=1),batchnorm2d,relu,maxpool2d(2),flatten,linear(10)";

fn accuracy(out: &Path) -> f64 {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let epochs = m["epochs"].as_array().unwrap();
    epochs.last().unwrap()["test_accuracy"].as_f64().unwrap()
}

#[test]
fn a_cnn_learns_the_digits_in_two_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cnn");
    let o = chainrule(&[
        "train",
        "--data",
        "digits",
        "--arch",
        CNN,
        "--epochs",
        "2",
        "--lr",
        "0.01",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // The header: the architecture, the input, every layer's output shape.
    assert!(
        text.contains(&format!(
            "architecture {CNN} on 1×8×8 inputs: 698 parameters"
        )),
        "{text}"
    );
    assert!(
        text.contains("training 1×8×8 → 6 layers → 10 on digits"),
        "{text}"
    );
    // The layer table: position, layer, output shape, parameters
    // (conv 4·1·3·3 + 4 = 40; batch norm 2·4 = 8; linear 64·10 + 10 = 650).
    for row in [
        ("0", "conv2d(4,3,pad=1)", "4×8×8", "40"),
        ("1", "batchnorm2d", "4×8×8", "8"),
        ("3", "maxpool2d(2)", "4×4×4", "0"),
        ("5", "linear(10)", "10", "650"),
    ] {
        assert!(
            text.lines().any(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words == [row.0, row.1, row.2, row.3]
            }),
            "{row:?} in {text}"
        );
    }
    let acc = accuracy(&out);
    assert!(acc > 0.8, "test accuracy {acc}");
    let model = out.join("model.safetensors");
    let m = model.to_str().unwrap();
    // eval scores the recorded split as training did.
    let o = chainrule(&["eval", "--model", m, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let eval_acc = e["test_accuracy"].as_f64().unwrap_or(f64::NAN);
    assert!((eval_acc - acc).abs() < 1e-9, "{e} vs {acc}");
    // predict takes the 64 pixels of one row.
    let pixels = vec!["0"; 64].join(",");
    let o = chainrule(&["predict", "--model", m, "--input", &pixels]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("class"), "{}", stdout(&o));
    // explain shows it layer by layer; without an example it asks for one.
    let o = chainrule(&["explain", "--model", m]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(
            "give one input row with --input (64 comma-separated values, an example of shape \
             [1, 8, 8]) or --row N of the model's data"
        ),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    let o = chainrule(&["explain", "--model", m, "--row", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Forward pass, layer by layer"),
        "{}",
        stdout(&o)
    );
    // diagnose measures its conv and linear layers on its data.
    let o = chainrule(&[
        "diagnose",
        "--model",
        m,
        "--out",
        dir.path().join("d.svg").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("1 conv2d(4,3,pad=1)"), "{}", stdout(&o));
}

#[test]
fn an_arch_run_stopped_and_resumed_equals_the_straight_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let flags = [
        "--arch",
        "linear(16),batchnorm1d,relu,dropout(0.3),residual(linear(16),relu),linear(3)",
        "--epochs",
        "4",
        "--seed",
        "3",
    ];
    train_quietly("iris", &a, &flags);
    train_quietly("iris", &b, &[&flags[..], &["--stop-after", "2"]].concat());
    let o = chainrule(&["train", "--resume", b.to_str().unwrap(), "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["model.safetensors", "metrics.json"] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
}

#[test]
fn input_shape_reads_a_csv_as_images() {
    let dir = tempfile::tempdir().unwrap();
    // 12 rows of 4 pixels (2×2 images) and a class.
    let mut csv = String::new();
    for i in 0..12 {
        let c = i % 2;
        let v = if c == 1 { 1.0 } else { 0.0 };
        csv += &format!("{v},{v},{},{},{c}\n", 1.0 - v, i as f64 / 12.0);
    }
    let path = dir.path().join("img.csv");
    std::fs::write(&path, csv).unwrap();
    let data = format!("csv:{}", path.display());
    let out = dir.path().join("run");
    let o = chainrule(&[
        "train",
        "--data",
        &data,
        "--task",
        "classification",
        "--arch",
        "conv2d(2,2),flatten,linear(1)",
        "--input-shape",
        "1,2,2",
        "--epochs",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("on 1×2×2 inputs"), "{}", stdout(&o));
}

#[test]
fn a_one_row_batch_through_batchnorm1d_is_refused_before_training() {
    // iris with 30 % held out: 105 training rows, and 105 = 13·8 + 1.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = chainrule(&[
        "train",
        "--data",
        "iris",
        "--test-fraction",
        "0.3",
        "--batch-size",
        "8",
        "--arch",
        "linear(16),batchnorm1d,relu,linear(3)",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(
            "batch-size: batchnorm1d at position 1 needs more than one value per channel in \
             training, but the last batch of each epoch holds 1 row (105 training rows in \
             batches of 8); --batch-size 9 leaves 6 rows in the last batch"
        ),
        "{err}"
    );
    assert!(
        !stdout(&o).contains("epoch   1"),
        "refused before the first epoch"
    );
    // 105 = 11·9 + 6: the suggested size trains.
    let o = chainrule(&[
        "train",
        "--data",
        "iris",
        "--test-fraction",
        "0.3",
        "--batch-size",
        "9",
        "--epochs",
        "1",
        "--arch",
        "linear(16),batchnorm1d,relu,linear(3)",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn input_shape_is_refused_for_a_network_without_image_layers() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!("{},{},{},{},{}\n", i, i + 1, i % 3, 2 * i, i % 2));
    }
    std::fs::write(&csv, text).unwrap();
    let data = format!("csv:{}", csv.display());
    let o = chainrule(&[
        "train",
        "--data",
        &data,
        "--input-shape",
        "2,2",
        "--arch",
        "batchnorm1d,flatten,linear(2)",
        "--out",
        dir.path().join("run").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(
            "input-shape: only a network with a 2-D layer (conv2d, maxpool2d, avgpool2d, \
             globalavgpool2d, batchnorm2d) reads rows as images; this one reads each row as a \
             vector of 4 values"
        ),
        "{}",
        stderr(&o)
    );
}

/// Inspection keeps every layer's values: a short string must not make it
/// allocate gigabytes (or overflow the stack) before saying so.
#[test]
fn inspecting_a_huge_network_is_refused_before_anything_is_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.dot");
    let o = chainrule(&[
        "graph",
        "--arch",
        "repeat(300,relu)",
        "--input-shape",
        "1x4096x4096",
        "--ops",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // 4096² values in and out of each of 300 layers: 301 · 16,777,216.
    assert!(
        err.contains("graph --ops keeps every layer's values: 1 example(s) through this network hold 5049942016 values, over the limit of 67108864"),
        "{err}"
    );
    assert!(!out.exists());
    let pixels = vec!["0"; 64].join(",");
    let o = chainrule(&[
        "explain",
        "--arch",
        "conv2d(500000,1),repeat(4000,relu),globalavgpool2d,linear(1)",
        "--input-shape",
        "1x8x8",
        "--input",
        &pixels,
        "--target",
        "0",
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("explain keeps every layer's values"), "{err}");
    let nested = format!("{}relu{}", "repeat(1,".repeat(12_000), ")".repeat(12_000));
    let o = chainrule(&["diagnose", "--arch", &nested]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("nested more than 64 deep"), "{err}");
}
