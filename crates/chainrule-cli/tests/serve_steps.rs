//! `chainrule serve` on a run's training steps (`/api/explore?model=RUN&
//! train_step=N&batch_row=R`), the planned epochs in `metrics.json`, and
//! the `/train` form's architecture, over loopback.

mod serve_support;

use serde_json::Value;
use serve_support::steps::{matrix, metrics, node, train, vector, Mlp};
use serve_support::Server;

/// Every step opens on the weights the trainer computed its loss with: with
/// batches of one row, the explorer's loss is the loss `metrics.json`
/// recorded for that step (the trainer's own record), and its gradients
/// are those of a forward pass written out here.
#[test]
fn a_training_step_opens_on_the_weights_before_its_update() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let args = [
        "--data",
        "iris",
        "--hidden",
        "3",
        "--epochs",
        "2",
        "--batch-size",
        "1",
        "--seed",
        "3",
        "--lr",
        "0.01",
    ];
    train(runs.path(), "iris-steps", Some(&server), &args);
    let m = metrics(runs.path(), "iris-steps");
    assert_eq!(m["epochs_planned"], 2, "{}", m["epochs_planned"]);
    let steps = m["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 240, "120 training rows, 2 epochs");
    let mut losses = Vec::new();
    for step in [1usize, 2, 77, 120, 121, 240] {
        let (status, v) = server.json(&format!(
            "/api/explore?model=iris-steps&train_step={step}&batch_row=0"
        ));
        assert_eq!(status, 200, "{v}");
        let t = &v["train_step"];
        let recorded = steps[step - 1]["loss"].as_f64().unwrap();
        assert_eq!(t["step"], step);
        assert_eq!(t["epoch"], (step - 1) / 120 + 1);
        assert_eq!(t["batch_size"], 1);
        assert_eq!(t["recorded_loss"].as_f64(), Some(recorded));
        let loss = node(&v, "L")["value"].as_f64().unwrap();
        // The same weights and input; the trainer computed in f32.
        assert!(
            (loss - recorded).abs() <= 1e-5 * recorded.abs().max(1.0),
            "step {step}: explorer {loss}, trainer {recorded}"
        );
        let mut net = Mlp {
            w1: matrix(&node(&v, "W1")["value"]),
            b1: vector(&node(&v, "b1")["value"]),
            w2: matrix(&node(&v, "W2")["value"]),
            b2: vector(&node(&v, "b2")["value"]),
        };
        let x = matrix(&node(&v, "x")["value"]).remove(0);
        let class = v["explain"]["target"][0].as_f64().unwrap() as usize;
        assert!((net.loss(&x, class) - loss).abs() < 1e-12, "step {step}");
        let want = net.w1_gradient(&x, class);
        let got = matrix(&node(&v, "W1")["grad"]);
        for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
            assert!(
                (g - w).abs() < 1e-6,
                "step {step}: ∂L/∂W1 {got:?} vs {want:?}"
            );
        }
        for c in v["check"].as_array().unwrap() {
            assert_eq!(c["verdict"], "correct", "{c}");
        }
        losses.push(loss);
    }
    // Each step has weights of its own.
    losses.dedup();
    assert_eq!(losses.len(), 6, "{losses:?}");
    // The run's page knows the planned epochs from metrics.json too.
    let (_, info) = server.json("/api/runs/iris-steps");
    assert_eq!(info["metrics"]["epochs_planned"], 2);
}

#[test]
fn training_steps_are_refused_with_4xx_naming_the_problem() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let args = [
        "--data",
        "iris",
        "--hidden",
        "3",
        "--epochs",
        "1",
        "--batch-size",
        "16",
    ];
    train(runs.path(), "served", Some(&server), &args);
    // Trained without --serve: no start to replay from.
    train(runs.path(), "plain", None, &args);
    assert!(!runs.path().join("plain/start.safetensors").exists());
    for (query, status, setting) in [
        ("model=served&train_step=0", 400, "train_step"),
        ("model=served&train_step=9", 400, "train_step"),
        ("model=served&train_step=x", 400, "train_step"),
        ("train_step=2", 400, "model"),
        ("model=served&batch_row=1", 400, "batch_row"),
        ("model=served&train_step=2&batch_row=16", 400, "batch_row"),
        ("model=served&train_step=2&row=3", 400, "row"),
        ("model=served&train_step=2&expr=x", 400, "expr"),
        ("model=..%2Fetc&train_step=2", 400, "run"),
        ("model=plain&train_step=2", 409, "model"),
    ] {
        let (got, body) = server.json(&format!("/api/explore?{query}"));
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["setting"], setting, "{query}: {body}");
    }
    let (status, v) = server.json("/api/explore?model=served&train_step=8&batch_row=7");
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["train_step"]["batch_size"], 8,
        "120 rows: the last batch has 8"
    );
    // A record the replay does not reproduce is refused, never shown.
    let path = runs.path().join("served/metrics.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["steps"][2]["loss"] = Value::from(0.125);
    std::fs::write(&path, m.to_string()).unwrap();
    let (status, body) = server.json("/api/explore?model=served&train_step=5");
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("step 3 recorded loss 0.125"),
        "{body}"
    );
}

/// Adds one metadata entry to a safetensors file, leaving the tensors as
/// they are (the header is JSON after its 8-byte length).
fn add_metadata(path: &std::path::Path, key: &str, value: &str) {
    let bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header["__metadata__"][key] = Value::from(value);
    let mut text = header.to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + len..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_run_trained_on_several_processes_is_not_replayed_on_one() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    let args = ["--data", "iris", "--hidden", "3", "--epochs", "1"];
    train(runs.path(), "ranks", Some(&server), &args);
    let (status, body) = server.json("/api/explore?model=ranks&train_step=2");
    assert_eq!(status, 200, "{body}");
    // What `train --distributed --serve` writes on rank 0 (the MPI tests
    // run without a server).
    add_metadata(
        &runs.path().join("ranks/start.safetensors"),
        "extra.cli.distributed",
        "true",
    );
    let (status, body) = server.json("/api/explore?model=ranks&train_step=2");
    assert_eq!(status, 409, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("run 'ranks' was trained with --distributed: its steps are not replayed"),
        "{body}"
    );
}

fn post_form(server: &Server, body: &str) -> (u16, Value) {
    let (status, text) = server.request("POST", "/api/train", body);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn the_train_form_takes_an_architecture() {
    let runs = tempfile::tempdir().unwrap();
    let server = Server::start(runs.path());
    for (arch, extra, needle) in [
        (
            "conv2d(4,3),relu,maxpool(2),flatten,linear(10)",
            "",
            "at character 17",
        ),
        (
            "conv2d(4,3),relu,maxpool(2),flatten,linear(10)",
            "",
            "maxpool2d",
        ),
        ("linear(10", "", "at character 6"),
        ("linear(7)", "", "digits needs 10"),
        ("linear(10)", "&hidden=4", "not both"),
        ("conv2d(4,3),relu,flatten,linear(10)", "&data=iris", ""),
    ] {
        let body = format!("arch={}{extra}&epochs=1", urlencode(arch));
        let (status, v) = post_form(&server, &body);
        assert_eq!(status, 400, "{arch}: {v}");
        assert_eq!(v["setting"], "arch", "{arch}: {v}");
        assert!(v["error"].as_str().unwrap().contains(needle), "{arch}: {v}");
    }
    assert_eq!(std::fs::read_dir(runs.path()).unwrap().count(), 0);
    let arch = "conv2d(4,3,pad=1),relu,maxpool2d(2),flatten,linear(10)";
    let (status, v) = post_form(
        &server,
        &format!("arch={}&epochs=2&lr=0.01&data=digits", urlencode(arch)),
    );
    assert_eq!(status, 200, "{v}");
    let name = v["name"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let info = loop {
        let (_, info) = server.json(&format!("/api/runs/{name}"));
        if !info["streaming"].as_bool().unwrap_or(true) && !info["metrics"].is_null() {
            break info;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let m = &info["metrics"];
    assert_eq!(m["epochs"].as_array().unwrap().len(), 2, "{m}");
    assert_eq!(m["epochs_planned"], 2);
    assert!(
        m["epochs"][1]["test_accuracy"].as_f64().unwrap() > 0.5,
        "{m}"
    );
    // The conv net's steps open too, layer by layer.
    let (status, v) = server.json(&format!(
        "/api/explore?model={name}&train_step=50&batch_row=3"
    ));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "layers");
    assert_eq!(v["train_step"]["epoch"], 2);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
