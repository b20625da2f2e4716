//! `chainrule explain` on a network that is not an MLP: a CNN trained for
//! one epoch on the digits, explained on a row of its data, layer by layer
//! and one element in full; a fresh network from `--arch`; the errors.

mod common;
use common::{chainrule, stderr, stdout, train_quietly};

const CNN: &str = "conv2d(4,3,pad=1),batchnorm2d,relu,maxpool2d(2),flatten,linear(10)";

fn trained_cnn(dir: &std::path::Path) -> String {
    let model = train_quietly(
        "digits",
        &dir.join("cnn"),
        &["--arch", CNN, "--epochs", "1"],
    );
    model.to_str().unwrap().to_string()
}

#[test]
fn a_trained_cnn_is_explained_layer_by_layer_and_element_by_element() {
    let dir = tempfile::tempdir().unwrap();
    let m = trained_cnn(dir.path());
    let o = chainrule(&["explain", "--model", &m, "--row", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "evaluation mode, as predict: batch norm uses its running statistics",
        "input x (row 3 of digits, class 3)",
        "Forward pass, layer by layer",
        "1  conv2d(4,3,pad=1)  output [4, 8, 8]",
        "2  batchnorm2d        output [4, 8, 8] (evaluation mode: running statistics)",
        "4  maxpool2d(2)       output [4, 4, 4]",
        "6  linear(10)         output [10]",
        "∂L/∂output",
        "↳ 0.weight",
        "0.weight ← 0.weight − 0.5·∂L/∂0.weight",
        "after one step",
    ] {
        assert!(text.contains(want), "'{want}' in {text}");
    }
    let o = chainrule(&[
        "explain",
        "--model",
        &m,
        "--row",
        "3",
        "--element",
        "1:0,2,3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for want in [
        "Element y[0,2,3] of layer 1 conv2d(4,3,pad=1) (character 0)",
        "y[c,i,j] = b[c] + Σ w[c,ci,ki,kj]·x[ci, i·1−1+ki·1, j·1−1+kj·1]",
        "w[0,0,1,1]·x[0,2,3]",
        "sum of the terms above",
        "y[0,2,3] (engine)",
        "∂L/∂y[0,2,3] (engine)",
        "∂L/∂w[0,0,1,1] += ∂L/∂y·x[0,2,3]",
    ] {
        assert!(text.contains(want), "'{want}' in {text}");
    }
    // JSON parses and holds every layer and the element.
    let o = chainrule(&[
        "explain",
        "--model",
        &m,
        "--row",
        "3",
        "--element",
        "4:1,1,1",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 6);
    assert_eq!(v["layers"][0]["text"], "conv2d(4,3,pad=1)");
    assert_eq!(v["element"]["name"], "y[1,1,1]");
    assert!(v["gradients"]["0.weight"].is_object() || v["gradients"]["0.weight"].is_array());
    let forward = v["element"]["forward"].as_array().unwrap();
    assert!(forward
        .iter()
        .any(|l| l["what"].as_str().unwrap().starts_with("the max")));
    // Markdown too.
    let o = chainrule(&[
        "explain", "--model", &m, "--row", "3", "--format", "markdown",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("## Forward pass, layer by layer"));
}

#[test]
fn explain_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let m = trained_cnn(dir.path());
    let cases: [(&[&str], &str); 4] = [
        (&["--row", "5000"], "row 5000 is beyond the data: digits has 1797 rows (0..1797)"),
        (&["--row", "0", "--element", "7:0"], "there is no layer '7'; the layers are 1, 2, 3, 4, 5, 6"),
        (
            &["--row", "0", "--element", "1:4,0,0"],
            "layer 1 conv2d(4,3,pad=1) (character 0): index 4 on axis 0 is out of range for the output shape [4, 8, 8] (0..4)",
        ),
        (&["--row", "0", "--element", "1,0"], "'1,0' is not LAYER:INDEX"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["explain", "--model", &m];
        args.extend_from_slice(extra);
        let o = chainrule(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stdout(&o));
        let err = stderr(&o);
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_fresh_network_from_arch_is_explained() {
    let input = vec!["0.5"; 16].join(",");
    let o = chainrule(&[
        "explain",
        "--arch",
        "conv2d(2,3,pad=1),relu,avgpool2d(2),flatten,linear(3)",
        "--input-shape",
        "1x4x4",
        "--input",
        &input,
        "--loss",
        "cce",
        "--target",
        "1",
        "--element",
        "3:1,0,0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Element y[1,0,0] of layer 3 avgpool2d(2)"),
        "{text}"
    );
    assert!(text.contains("sum / divisor"), "{text}");
    // Without --input-shape a 2-D network asks for it.
    let o = chainrule(&[
        "explain",
        "--arch",
        "conv2d(2,3),flatten,linear(3)",
        "--input",
        &input,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--input-shape"), "{}", stderr(&o));
}

/// With groups, an output channel reads its group's input channels only,
/// and the formula says which.
#[test]
fn a_grouped_convolution_names_the_input_channels_it_reads() {
    // Two groups of one channel: output channel 1 reads input channel 1.
    let input: Vec<String> = (0..32).map(|i| i.to_string()).collect();
    let o = chainrule(&[
        "explain",
        "--arch",
        "conv2d(2,1,groups=2),flatten,linear(1)",
        "--input-shape",
        "2x4x4",
        "--input",
        &input.join(","),
        "--target",
        "0",
        "--element",
        "1:1,0,0",
    ]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        text.contains("y[c,i,j] = b[c] + Σ w[c,ci,ki,kj]·x[1·1+ci, i·1−0+ki·1, j·1−0+kj·1]"),
        "{text}"
    );
    // Its one term multiplies input channel 1 at (0, 0), the value 16.
    assert!(text.contains("w[1,0,0,0]·x[1,0,0]"), "{text}");
    assert!(text.contains("·16 "), "{text}");
}
