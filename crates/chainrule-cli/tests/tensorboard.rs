//! `chainrule train --tensorboard DIR` end to end, read back with the same
//! prost structs that wrote the events: the first event is the file
//! version; every step's loss and every epoch's scalars are metrics.json's
//! (as 32-bit floats); the gradient flow is `--grad-report`'s; the weight
//! histograms agree with the model file; a run stopped and resumed writes
//! the straight run's steps, none twice; the flag changes nothing else; an
//! unwritable folder is a clear error.

use chainrule_inspect::tensorboard::event::{Event, HistogramProto, SessionStatus, Value, What};
use chainrule_inspect::tensorboard::{event_files, read_events};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::Path;
mod common;

use common::{chainrule, json_file, stderr, stdout};

fn ok(args: &[&str]) -> String {
    let o = chainrule(args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    stdout(&o)
}

/// Every event of the folder's files, in the order a reader takes them.
fn events(dir: &Path) -> Vec<Event> {
    event_files(dir)
        .unwrap()
        .iter()
        .flat_map(|f| read_events(f).unwrap())
        .collect()
}

/// Every scalar, by tag: (step, value) in file order.
fn scalars(events: &[Event]) -> BTreeMap<String, Vec<(i64, f32)>> {
    let mut out: BTreeMap<String, Vec<(i64, f32)>> = BTreeMap::new();
    for e in events {
        for v in e.values() {
            if let Some(Value::SimpleValue(x)) = v.value {
                out.entry(v.tag.clone()).or_default().push((e.step, x));
            }
        }
    }
    out
}

/// Every histogram, by tag: (step, histogram).
fn histograms(events: &[Event]) -> BTreeMap<String, Vec<(i64, HistogramProto)>> {
    let mut out: BTreeMap<String, Vec<(i64, HistogramProto)>> = BTreeMap::new();
    for e in events {
        for v in e.values() {
            if let Some(Value::Histo(h)) = &v.value {
                out.entry(v.tag.clone())
                    .or_default()
                    .push((e.step, h.clone()));
            }
        }
    }
    out
}

fn f(v: &Json) -> f32 {
    v.as_f64().unwrap() as f32
}

/// The last step of each epoch in metrics.json.
fn epoch_ends(m: &Json) -> Vec<i64> {
    let mut ends: BTreeMap<u64, i64> = BTreeMap::new();
    for s in m["steps"].as_array().unwrap() {
        ends.insert(s["epoch"].as_u64().unwrap(), s["step"].as_i64().unwrap());
    }
    ends.into_values().collect()
}

#[test]
fn events_hold_every_step_and_epoch_of_metrics_json() {
    let dir = tempfile::tempdir().unwrap();
    let (out, tb) = (dir.path().join("run"), dir.path().join("tb/new"));
    let text = ok(&[
        "train",
        "--data",
        "digits",
        "--hidden",
        "16",
        "--epochs",
        "3",
        "--schedule",
        "step:1:0.5",
        "--grad-report",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tensorboard",
        tb.to_str().unwrap(),
    ]);
    assert!(!text.contains("epoch "), "--quiet shows no epochs: {text}");
    let files = event_files(&tb).unwrap();
    assert_eq!(files.len(), 1, "one file per process");
    assert!(
        text.contains(&format!("tensorboard {}", files[0].display())),
        "{text}"
    );
    let ev = events(&tb);
    assert_eq!(ev[0].what, Some(What::FileVersion("brain.Event:2".into())));
    let m = json_file(&out.join("metrics.json"));
    let s = scalars(&ev);

    let want: Vec<(i64, f32)> = m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_i64().unwrap(), f(&s["loss"])))
        .collect();
    assert_eq!(want.len(), 135, "45 steps an epoch");
    assert_eq!(s["train/loss"], want);

    let ends = epoch_ends(&m);
    let epochs = m["epochs"].as_array().unwrap();
    let series = |key: &str| -> Vec<(i64, f32)> {
        ends.iter()
            .zip(epochs)
            .map(|(&at, e)| (at, f(&e[key])))
            .collect()
    };
    assert_eq!(s["train/epoch_loss"], series("train_loss"));
    assert_eq!(s["test/loss"], series("test_loss"));
    assert_eq!(s["test/accuracy"], series("test_accuracy"));
    let lr: Vec<(i64, f32)> = ends
        .iter()
        .zip([1e-3, 5e-4, 2.5e-4])
        .map(|(&at, lr)| (at, lr as f32))
        .collect();
    assert_eq!(s["train/lr"], lr);

    // The gradient flow is the report --grad-report keeps in metrics.json.
    for (e, &at) in epochs.iter().zip(&ends) {
        let layers = e["grad_report"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        for l in layers {
            let layer = format!(
                "{} {}",
                l["number"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            );
            for measure in ["delta_norm", "grad_norm", "delta_ratio", "dead_fraction"] {
                let tag = format!("grad_flow/{layer}/{measure}");
                let got = s
                    .get(&tag)
                    .unwrap_or_else(|| panic!("no {tag} in {:?}", s.keys()));
                assert!(
                    got.contains(&(at, f(&l[measure]))),
                    "{tag} at {at}: {got:?}"
                );
            }
        }
    }

    // Histograms of every parameter and its gradient, every epoch; the last
    // weights are the model file's.
    let h = histograms(&ev);
    let (tensors, _) = chainrule_nn::model_file::load(&out.join("model.safetensors")).unwrap();
    assert_eq!(tensors.len(), 4);
    for t in &tensors {
        let weights = &h[&format!("weights/{}", t.name)];
        let grads = &h[&format!("grads/{}", t.name)];
        let steps: Vec<i64> = weights.iter().map(|w| w.0).collect();
        assert_eq!(steps, ends, "{}", t.name);
        assert_eq!(grads.iter().map(|g| g.0).collect::<Vec<_>>(), ends);
        let last = &weights.last().unwrap().1;
        let values: Vec<f64> = t.data.iter().map(|&v| f64::from(v)).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = values.iter().sum();
        assert_eq!(last.num, values.len() as f64, "{}", t.name);
        assert_eq!((last.min, last.max), (min, max), "{}", t.name);
        assert!(
            (last.sum - sum).abs() <= 1e-9 * (1.0 + sum.abs()),
            "{}",
            t.name
        );
        assert_eq!(last.bucket.iter().sum::<f64>(), last.num);
        for (_, g) in grads {
            assert_eq!(g.num, values.len() as f64);
            assert!(g.sum_squares > 0.0, "{}: a zero gradient", t.name);
        }
    }
}

#[test]
fn a_regression_run_writes_its_test_loss_and_no_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let (out, tb) = (dir.path().join("run"), dir.path().join("tb"));
    ok(&[
        "train",
        "--data",
        "diabetes",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tensorboard",
        tb.to_str().unwrap(),
    ]);
    let s = scalars(&events(&tb));
    let m = json_file(&out.join("metrics.json"));
    let want: Vec<f32> = m["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| f(&e["test_loss"]))
        .collect();
    assert_eq!(s["test/loss"].iter().map(|x| x.1).collect::<Vec<_>>(), want);
    assert!(!s.contains_key("test/accuracy"));
}

#[test]
fn a_resumed_run_continues_the_event_steps_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (a, b, c) = (p("a"), p("b"), p("c"));
    let (tb_a, tb_b) = (p("tb_a"), p("tb_b"));
    let flags = [
        "train", "--data", "digits", "--hidden", "16", "--epochs", "4", "--quiet",
    ];
    ok(&[&flags[..], &["--out", &a, "--tensorboard", &tb_a]].concat());
    ok(&[
        &flags[..],
        &["--out", &b, "--tensorboard", &tb_b, "--stop-after", "2"],
    ]
    .concat());
    // --resume keeps logging without the flag being repeated.
    ok(&["train", "--resume", &b, "--quiet"]);
    // The same run without events: the flag changes no weight and no metric.
    ok(&[&flags[..], &["--out", &c]].concat());
    for f in ["model.safetensors", "metrics.json"] {
        let read = |d: &str| std::fs::read(Path::new(d).join(f)).unwrap();
        assert!(read(&a) == read(&b), "{f}: straight and resumed differ");
        assert!(read(&a) == read(&c), "{f}: --tensorboard changed the run");
    }

    let files = event_files(Path::new(&tb_b)).unwrap();
    assert_eq!(files.len(), 2, "{files:?}");
    let second = read_events(&files[1]).unwrap();
    assert_eq!(
        second[0].what,
        Some(What::FileVersion("brain.Event:2".into()))
    );
    let Some(What::SessionLog(log)) = &second[1].what else {
        panic!("no START after the file version: {:?}", second[1]);
    };
    assert_eq!(log.status, SessionStatus::Start as i32);
    assert_eq!(second[1].step, 91, "45 steps an epoch: resumed at step 91");

    let (sa, sb) = (
        scalars(&events(Path::new(&tb_a))),
        scalars(&events(Path::new(&tb_b))),
    );
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>());
    for (tag, series) in &sa {
        assert_eq!(series, &sb[tag], "{tag}: resumed differs from straight");
        let steps: Vec<i64> = series.iter().map(|x| x.0).collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "{tag}: steps repeat: {steps:?}"
        );
    }
    assert_eq!(sb["train/loss"].len(), 180);
}

#[test]
fn an_unwritable_folder_is_a_named_error_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let tb = file.join("tb");
    let out = dir.path().join("run");
    let o = chainrule(&[
        "train",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--tensorboard",
        tb.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("tensorboard: cannot write event files in") && err.contains("a-file"),
        "{err}"
    );
}
