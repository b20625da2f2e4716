//! The hostile-input table of docs/robustness.md, kept true: every case is
//! built here, run through the `chainrule` program, and its error message
//! (the temporary folder written `DIR`) must be the one the table states,
//! word for word. Each run must fail with exit status 2 and a message, not
//! a panic, and stay small in memory (peak resident set below
//! `SMALL_RSS_KIB`, the gzip bomb below the documented 1 GiB limit plus
//! `SMALL_RSS_KIB`): nothing is allocated from what a hostile file claims.
//!
//! The table is the specification: on a mismatch the test fails with, for
//! each case, the documented message, the printed one and the first
//! character where they differ; it never offers the program's output as
//! a replacement table.

#![cfg(unix)]

use chainrule_nn::model_file::{save, NamedTensor};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Peak resident memory allowed for a refused input (64 MiB).
const SMALL_RSS_KIB: i64 = 64 * 1024;
/// data::MAX_DECOMPRESSED_BYTES, in KiB.
const GZIP_LIMIT_KIB: i64 = 1024 * 1024;

struct Case {
    id: &'static str,
    args: Vec<String>,
}

fn case(id: &'static str, args: &[&str]) -> Case {
    Case {
        id,
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

fn safetensors_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !h.len().is_multiple_of(8) {
        h.push(' ');
    }
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

fn t(name: &str, shape: &[usize]) -> NamedTensor {
    NamedTensor {
        name: name.into(),
        shape: shape.to_vec(),
        data: vec![0.25; shape.iter().product()],
    }
}

fn idx(magic: u32, dims: &[u32], data_len: usize) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend(std::iter::repeat_n(7u8, data_len));
    b
}

/// A folder of four MNIST files, `train-images` replaced by `images`.
fn mnist_dir(dir: &Path, images: Vec<u8>) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let files = [
        images,
        idx(0x801, &[2], 2),
        idx(0x803, &[2, 2, 2], 8),
        idx(0x801, &[2], 2),
    ];
    for (name, bytes) in chainrule_nn::data::idx::MNIST_FILES.iter().zip(files) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    format!("mnist:{}", dir.display())
}

/// A gzip file of more than 1 GiB of CSV text: one 1 MiB member repeated.
fn gzip_bomb(path: &Path) {
    let line = b"0,0,0,0,0,0,0,1\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(1 << 20).collect();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&chunk).unwrap();
    let member = enc.finish().unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    for _ in 0..1025 {
        f.write_all(&member).unwrap();
    }
}

fn cases(d: &Path) -> Vec<Case> {
    let p = |name: &str| d.join(name).display().to_string();
    let w = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
    let arch = BTreeMap::from([
        ("format".to_string(), "chainrule-mlp".to_string()),
        ("layers".into(), "4,8,3".into()),
        ("activation".into(), "relu".into()),
        ("output_activation".into(), "identity".into()),
        ("loss".into(), "cce".into()),
    ]);
    let model = |name: &str, tensors: &[NamedTensor]| {
        save(&d.join(name), tensors, &arch).unwrap();
        p(name)
    };
    let good = [
        t("0.weight", &[8, 4]),
        t("0.bias", &[8]),
        t("2.weight", &[3, 8]),
        t("2.bias", &[3]),
    ];
    let valid = std::fs::read(model("valid.safetensors", &good)).unwrap();
    // A NaN at row 1, column 2 of the output layer's weight (element 10).
    let mut nan_weights = good.clone();
    nan_weights[2].data[10] = f32::NAN;
    w("truncated.safetensors", &valid[..valid.len() / 2]);
    w(
        "header-100gb.safetensors",
        &[&100_000_000_000u64.to_le_bytes()[..], b"{}      "].concat(),
    );
    w(
        "tensor-100gb.safetensors",
        &safetensors_bytes(
            r#"{"w":{"dtype":"F32","shape":[25000000000],"data_offsets":[0,100000000000]}}"#,
            &[],
        ),
    );
    w(
        "zip.safetensors",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00 not a model",
    );
    let mut f16 = r#"{"__metadata__":{"format":"chainrule-mlp","layers":"4,8,3","activation":"relu","output_activation":"identity","loss":"cce"},"#.to_string();
    f16 += r#""0.weight":{"dtype":"F16","shape":[8,4],"data_offsets":[0,64]}}"#;
    w("f16.safetensors", &safetensors_bytes(&f16, &[0u8; 64]));
    let mut huge = arch.clone();
    huge.insert("layers".into(), "4,1000000,1000000,3".into());
    save(
        &d.join("huge-arch.safetensors"),
        &[t("0.bias", &[8])],
        &huge,
    )
    .unwrap();
    huge.insert("layers".into(), "4,10000,10000,3".into());
    save(&d.join("big-arch.safetensors"), &[t("0.bias", &[8])], &huge).unwrap();
    let ones = "1,".repeat(1_000_000) + "0\n";
    w("wide.csv", ones.as_bytes());
    w("nan.csv", b"1,2,0\n3,nan,1\n");
    w("ragged.csv", b"1,2,0\n3,4,1\n5,1\n");
    w(
        "corrupt.csv.gz",
        b"\x1f\x8b\x08\x00 this is no deflate stream",
    );
    gzip_bomb(&d.join("bomb.csv.gz"));
    let csv = |name: &str| format!("csv:{}", p(name));
    let big_idx = mnist_dir(&d.join("idx-big"), idx(0x803, &[60_000, 28, 28], 100));
    let overflow_idx = mnist_dir(&d.join("idx-overflow"), idx(0x803, &[u32::MAX; 3], 100));
    let magic_idx = mnist_dir(&d.join("idx-magic"), idx(0x801, &[3], 3));
    let short_idx = mnist_dir(&d.join("idx-short"), vec![0, 0, 8, 3, 0, 0]);
    let network_model = |name: &str, arch: &str, shape: &str, tensors: &[NamedTensor]| {
        let meta = BTreeMap::from([
            ("format".to_string(), "chainrule-network".to_string()),
            ("arch".into(), arch.into()),
            ("input_shape".into(), shape.into()),
            ("loss".into(), "cce".into()),
        ]);
        save(&d.join(name), tensors, &meta).unwrap();
        p(name)
    };
    let eval = |model: &str| {
        vec![
            "eval".to_string(),
            "--model".into(),
            model.to_string(),
            "--data".into(),
            "iris".into(),
        ]
    };
    let mut list = vec![
        case("safetensors-header-100gb", &[]),
        case("safetensors-tensor-100gb", &[]),
        case("safetensors-truncated", &[]),
        case("safetensors-wrong-magic", &[]),
        case("model-wrong-name", &[]),
        case("model-wrong-shape", &[]),
        case("model-missing-tensor", &[]),
        case("model-wrong-dtype", &[]),
        case("model-huge-architecture", &[]),
        case("model-bigger-than-file", &[]),
        case("model-nan-weight", &[]),
    ];
    let models = [
        p("header-100gb.safetensors"),
        p("tensor-100gb.safetensors"),
        p("truncated.safetensors"),
        p("zip.safetensors"),
        model(
            "name.safetensors",
            &[
                t("0.weight", &[8, 4]),
                t("0.bias", &[8]),
                t("1.weight", &[3, 8]),
                t("2.bias", &[3]),
            ],
        ),
        model(
            "shape.safetensors",
            &[
                t("0.weight", &[4, 8]),
                t("0.bias", &[8]),
                t("2.weight", &[3, 8]),
                t("2.bias", &[3]),
            ],
        ),
        model("missing.safetensors", &good[..3]),
        p("f16.safetensors"),
        p("huge-arch.safetensors"),
        p("big-arch.safetensors"),
        model("nan.safetensors", &nan_weights),
    ];
    for (c, m) in list.iter_mut().zip(&models) {
        c.args = eval(m);
    }
    let train = |data: &str, extra: &[&str]| {
        let mut a = vec![
            "train".to_string(),
            "--data".into(),
            data.to_string(),
            "--out".into(),
            p("out"),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let more = [
        ("csv-million-columns", train(&csv("wide.csv"), &[])),
        ("csv-nan", train(&csv("nan.csv"), &[])),
        ("csv-ragged", train(&csv("ragged.csv"), &[])),
        ("gzip-corrupt", train(&csv("corrupt.csv.gz"), &[])),
        ("gzip-bomb", train(&csv("bomb.csv.gz"), &[])),
        ("idx-dims-past-file-size", train(&big_idx, &[])),
        ("idx-dims-overflow", train(&overflow_idx, &[])),
        ("idx-wrong-magic", train(&magic_idx, &[])),
        ("idx-truncated-header", train(&short_idx, &[])),
        (
            "flag-hidden-empty-size",
            train("iris", &["--hidden", "64,,3"]),
        ),
        (
            "flag-hidden-huge",
            train("iris", &["--hidden", "1000000,1000000"]),
        ),
        ("flag-lr-negative", train("iris", &["--lr", "-1"])),
        ("flag-epochs-zero", train("iris", &["--epochs", "0"])),
        (
            "flag-momentum-one",
            train("iris", &["--optimizer", "sgd", "--momentum", "1"]),
        ),
        (
            "flag-test-fraction",
            train("iris", &["--test-fraction", "1.5"]),
        ),
        (
            "flag-schedule",
            train("iris", &["--schedule", "step:0:0.5"]),
        ),
        ("flag-threads-zero", train("iris", &["--threads", "0"])),
        ("arch-unclosed", train("iris", &["--arch", "linear(64"])),
        (
            "arch-unknown-layer",
            train("iris", &["--arch", "conv3d(2)"]),
        ),
        (
            "arch-linear-on-image",
            train("digits", &["--arch", "conv2d(4,3),linear(10)"]),
        ),
        (
            "arch-kernel-too-big",
            train("digits", &["--arch", "conv2d(4,9),flatten,linear(10)"]),
        ),
        (
            "arch-residual-changes-shape",
            train(
                "iris",
                &["--arch", "linear(8),residual(linear(4)),linear(3)"],
            ),
        ),
        (
            "arch-huge",
            train(
                "iris",
                &["--arch", "linear(1000000),linear(1000000),linear(3)"],
            ),
        ),
        (
            "arch-wrong-outputs",
            train("iris", &["--arch", "linear(8),relu,linear(5)"]),
        ),
        (
            "arch-with-hidden",
            train("iris", &["--arch", "linear(3)", "--hidden", "8"]),
        ),
        (
            "flag-input-shape-product",
            train("iris", &["--input-shape", "2,3"]),
        ),
        (
            "model-arch-unparsable",
            eval(&network_model(
                "arch-bad.safetensors",
                "linear(8",
                "[4]",
                &[],
            )),
        ),
        (
            "model-missing-buffer",
            eval(&network_model(
                "bn-missing.safetensors",
                "linear(8),batchnorm1d,relu,linear(3)",
                "[4]",
                &[
                    t("0.weight", &[8, 4]),
                    t("0.bias", &[8]),
                    t("1.weight", &[8]),
                    t("1.bias", &[8]),
                    t("1.running_mean", &[8]),
                    t("3.weight", &[3, 8]),
                    t("3.bias", &[3]),
                ],
            )),
        ),
    ];
    for (id, args) in more {
        list.push(Case { id, args });
    }
    // Checkpoints: a truncated one, and a resume with a contradicting flag.
    let run = d.join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_chainrule"))
        .args([
            "train",
            "--data",
            "iris",
            "--epochs",
            "2",
            "--stop-after",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ck = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let cut = d.join("cut");
    std::fs::create_dir(&cut).unwrap();
    std::fs::write(cut.join("checkpoint.safetensors"), &ck[..ck.len() / 2]).unwrap();
    let resume = |dir: &Path, extra: &[&str]| {
        let mut a = vec![
            "train".to_string(),
            "--resume".into(),
            dir.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    list.push(Case {
        id: "checkpoint-truncated",
        args: resume(&cut, &[]),
    });
    list.push(Case {
        id: "checkpoint-contradicting-flag",
        args: resume(&run, &["--lr", "0.5"]),
    });
    let explain = |expr: &str, at: &str| {
        vec![
            "explain".to_string(),
            "--expr".into(),
            expr.to_string(),
            "--at".into(),
            at.to_string(),
        ]
    };
    let deep = format!("{}x{}", "(".repeat(300), ")".repeat(300));
    list.push(Case {
        id: "expr-unclosed",
        args: explain("(x + ", "x=1"),
    });
    list.push(Case {
        id: "expr-unknown-function",
        args: explain("foo(x)", "x=1"),
    });
    list.push(Case {
        id: "expr-nested-300-deep",
        args: explain(&deep, "x=1"),
    });
    list.push(Case {
        id: "expr-missing-value",
        args: explain("x*y", "x=1"),
    });
    list
}

/// Runs the program; returns the exit status, stderr and peak RSS (KiB).
// The child is reaped by `wait4`, which `Child::wait` cannot replace: it
// alone reports the child's own peak memory.
#[allow(clippy::zombie_processes)]
fn run(args: &[String]) -> (i32, String, i64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chainrule"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be filled in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with valid pointers; afterwards the
    // `Child` handle is only dropped (dropping does not wait).
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, err, usage.ru_maxrss)
}

/// The table rows of docs/robustness.md: id → message.
fn documented() -> BTreeMap<String, String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/robustness.md");
    let text = std::fs::read_to_string(&doc).expect("docs/robustness.md exists");
    let start = text
        .find("<!-- hostile-inputs:start -->")
        .expect("table start marker");
    let end = text
        .find("<!-- hostile-inputs:end -->")
        .expect("table end marker");
    text[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let unquote = |s: &str| s.trim_matches('`').replace("\\|", "|");
            (unquote(cells[0]), unquote(cells[cells.len() - 1]))
        })
        .collect()
}

#[test]
fn every_hostile_input_gets_the_documented_error_and_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = cases(d);
    let results: Vec<(i32, String, i64)> = std::thread::scope(|s| {
        let handles: Vec<_> = list.iter().map(|c| s.spawn(|| run(&c.args))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let doc = documented();
    let mut wrong = Vec::new();
    for (c, (code, err, rss)) in list.iter().zip(&results) {
        assert!(!err.contains("panicked"), "{}: panicked: {err}", c.id);
        assert_eq!(*code, 2, "{}: exit status {code}: {err}", c.id);
        let message = err
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .replace(&d.display().to_string(), "DIR");
        let limit = if c.id == "gzip-bomb" {
            GZIP_LIMIT_KIB + SMALL_RSS_KIB
        } else {
            SMALL_RSS_KIB
        };
        assert!(
            *rss < limit,
            "{}: peak RSS {rss} KiB, over {limit} KiB",
            c.id
        );
        eprintln!("{:<32} peak RSS {:>8} KiB  {message}", c.id, rss);
        match doc.get(c.id) {
            Some(want) if *want == message => {}
            Some(want) => wrong.push(diff(c.id, want, &message)),
            None => wrong.push(format!("{}: no row in docs/robustness.md", c.id)),
        }
    }
    let missing: Vec<&String> = doc
        .keys()
        .filter(|k| !list.iter().any(|c| c.id == k.as_str()))
        .collect();
    assert!(
        wrong.is_empty() && missing.is_empty(),
        "messages differ from the specification in docs/robustness.md:\n{}\n\
         rows without a case: {missing:?}",
        wrong.join("\n")
    );
}

/// One case's mismatch: both messages and where they first differ.
fn diff(id: &str, want: &str, got: &str) -> String {
    let at = want
        .chars()
        .zip(got.chars())
        .take_while(|(a, b)| a == b)
        .count();
    format!(
        "{id}:\n  documented: {want}\n  printed:    {got}\n  first difference at character {at}: {:?} vs {:?}",
        want.chars().skip(at).take(20).collect::<String>(),
        got.chars().skip(at).take(20).collect::<String>()
    )
}
