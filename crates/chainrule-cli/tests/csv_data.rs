//! CSV files as people write them, through the `chainrule` program:
//! regression and classification told apart (issue 10, item 1) and quoted
//! numbers, semicolon and tab delimiters and errors naming the header's
//! column (item 13).

mod common;

use common::{chainrule, stderr, stdout};
use std::path::Path;

/// A built-in set written as a CSV file: `header` (all columns), one row
/// per line, the targets written by `target`.
fn write_builtin(
    path: &Path,
    name: &str,
    header: &str,
    sep: &str,
    target: impl Fn(usize) -> String,
) {
    let data = chainrule_nn::data::load(name, chainrule_nn::data::LabelKind::Class)
        .unwrap()
        .train;
    let mut text = format!("{header}\n");
    for r in 0..data.n {
        let row: Vec<String> = data.row(r).iter().map(|v| v.to_string()).collect();
        text += &format!("{}{sep}{}\n", row.join(sep), target(r));
    }
    std::fs::write(path, text).unwrap();
}

fn diabetes_targets() -> Vec<f64> {
    match chainrule_nn::data::load("diabetes", chainrule_nn::data::LabelKind::Real)
        .unwrap()
        .train
        .targets
    {
        chainrule_nn::data::Targets::Real(t) => t,
        other => panic!("diabetes targets: {other:?}"),
    }
}

const DIABETES_HEADER: &str = "age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,progression";
const IRIS_HEADER: &str = "sepal_length,sepal_width,petal_length,petal_width,species";

fn csv_arg(path: &Path) -> String {
    format!("csv:{}", path.display())
}

/// Runs `train` on `data` into `dir/out` with `extra` flags; returns
/// (success, stdout, stderr).
fn train(dir: &Path, data: &str, extra: &[&str]) -> (bool, String, String) {
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let out = out.display().to_string();
    let mut args = vec!["train", "--data", data, "--out", &out, "--epochs", "2"];
    args.extend_from_slice(extra);
    let o = chainrule(&args);
    (o.status.success(), stdout(&o), stderr(&o))
}

#[test]
fn item_01_real_valued_csv_targets_train_as_regression_with_mse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("houses.csv");
    // price = 1000·rooms + 3·area + 41.77 (the first row gives 213041.77).
    let mut text = String::from("rooms,area,price\n");
    for i in 0..40 {
        let (rooms, area) = (1 + i % 5, 60 + 7 * i);
        let price = 1000.0 * rooms as f64 + 3.0 * area as f64 + 41.77;
        let price = if i == 0 { 213041.77 } else { price };
        text += &format!("{rooms},{area},{price}\n");
    }
    std::fs::write(&path, text).unwrap();
    let (ok, out, err) = train(dir.path(), &csv_arg(&path), &[]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "task regression (auto: target column 'price' has non-integer values \
         (such as 213041.77); --task classification to override)"
    );
    assert!(
        lines[1].contains("→ 1 on") && lines[1].contains("loss mse"),
        "{out}"
    );
    assert!(lines[2].contains("test loss"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("test loss ")),
        "the final test loss is reported: {out}"
    );
}

#[test]
fn item_01_diabetes_written_as_csv_with_whole_number_targets_is_regression() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("diabetes.csv");
    let targets = diabetes_targets();
    // Whole numbers, written as such: "151", not "151.0".
    write_builtin(&path, "diabetes", DIABETES_HEADER, ",", |r| {
        format!("{}", targets[r] as i64)
    });
    let (ok, out, err) = train(dir.path(), &csv_arg(&path), &[]);
    assert!(ok, "{err}");
    // 214 distinct targets: `zcat crates/chainrule-nn/data/diabetes_target.csv.gz
    // | sort -u | wc -l` (and scikit-learn's documentation: 442 rows).
    assert_eq!(
        out.lines().next().unwrap(),
        "task regression (auto: target column 'progression' has 214 distinct values in \
         442 rows, more than the 100 classes read as classification; \
         --task classification to override)"
    );
    assert!(out.contains("→ 1 on") && out.contains("loss mse"), "{out}");
}

#[test]
fn item_01_class_column_stays_classification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iris.csv");
    let labels = chainrule_nn::data::load("iris", chainrule_nn::data::LabelKind::Class)
        .unwrap()
        .train
        .labels()
        .unwrap()
        .to_vec();
    write_builtin(&path, "iris", IRIS_HEADER, ",", |r| labels[r].to_string());
    let (ok, out, err) = train(dir.path(), &csv_arg(&path), &[]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "task classification (auto: target column 'species' has 3 distinct values in 150 \
         rows, the class indices 0 to 2; --task regression to override)"
    );
    assert!(
        lines[1].contains("→ 3 on") && lines[1].contains("loss cce"),
        "{out}"
    );
    assert!(out.contains("test accuracy"), "{out}");
}

#[test]
fn item_01_task_flag_forces_either_reading() {
    let dir = tempfile::tempdir().unwrap();
    let diabetes = dir.path().join("diabetes.csv");
    let targets = diabetes_targets();
    write_builtin(&diabetes, "diabetes", DIABETES_HEADER, ",", |r| {
        format!("{}", targets[r] as i64)
    });
    let (ok, out, err) = train(
        dir.path(),
        &csv_arg(&diabetes),
        &["--task", "classification"],
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "task classification (--task classification)");
    // Labels up to 346: 347 classes, as asked.
    assert!(
        lines[1].contains("→ 347 on") && lines[1].contains("loss cce"),
        "{out}"
    );

    // Whole numbers 0..2 as a regression target, by --task or by --loss mse.
    let iris = dir.path().join("iris.csv");
    write_builtin(&iris, "iris", IRIS_HEADER, ",", |r| (r % 3).to_string());
    for (flags, why) in [
        (&["--task", "regression"][..], "--task regression"),
        (&["--loss", "mse"][..], "--loss mse"),
    ] {
        let (ok, out, err) = train(dir.path(), &csv_arg(&iris), flags);
        assert!(ok, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("task regression ({why})"));
        assert!(
            lines[1].contains("→ 1 on") && lines[1].contains("loss mse"),
            "{out}"
        );
    }
    // A built-in set keeps its own task, and says so.
    let (ok, out, err) = train(dir.path(), "iris", &[]);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().next().unwrap(),
        "task classification (iris is a classification set with 3 classes)"
    );
}

#[test]
fn item_01_contradicting_task_and_loss_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let iris = dir.path().join("iris.csv");
    write_builtin(&iris, "iris", IRIS_HEADER, ",", |r| (r % 3).to_string());
    let cases: [(String, &[&str], &str); 4] = [
        (
            csv_arg(&iris),
            &["--task", "regression", "--loss", "cce"],
            "error: task: --task regression contradicts the loss cce, a classification loss: \
             use --loss mse (or auto) for regression, or --task classification",
        ),
        (
            csv_arg(&iris),
            &["--task", "classification", "--loss", "mse"],
            "error: task: --task classification contradicts the loss mse, the regression loss: \
             use --loss bce or cce (or auto) for classification, or --task regression",
        ),
        (
            "iris".to_string(),
            &["--task", "regression"],
            "error: task: --task regression does not fit iris: iris is a classification set \
             with 3 classes; --task says how to read the last column of a csv: file",
        ),
        (
            csv_arg(&iris),
            &["--task", "ordinal"],
            "error: task: unknown task 'ordinal' (expected auto, regression or classification)",
        ),
    ];
    for (data, flags, want) in cases {
        let (ok, out, err) = train(dir.path(), &data, flags);
        assert!(!ok, "{flags:?} should fail: {out}");
        assert_eq!(err.lines().next().unwrap(), want, "{flags:?}");
        assert!(
            !dir.path().join("out").exists(),
            "{flags:?}: nothing is written"
        );
    }
}

/// The same small regression set written in several CSV styles.
fn styles() -> Vec<(&'static str, String)> {
    let rows = [
        ["5.1", "3.5", "0.25"],
        ["4.9", "3.0", "-1.5"],
        ["6.2", "2.9", "2.75"],
        ["5.9", "3.0", "1.125"],
        ["6.7", "3.1", "3.5"],
        ["5.0", "3.6", "0.5"],
        ["5.5", "2.4", "1.0"],
        ["6.3", "3.3", "2.25"],
    ];
    let make = |sep: &str, quote: bool, end: &str, bom: bool| {
        let q = |s: &str| {
            if quote {
                format!("\"{s}\"")
            } else {
                s.to_string()
            }
        };
        let mut t = if bom {
            "\u{feff}".to_string()
        } else {
            String::new()
        };
        t += &["x1", "x2", "y"].map(q).join(sep);
        t += end;
        for r in rows {
            t += &r.map(q).join(sep);
            t += end;
        }
        t
    };
    vec![
        ("plain.csv", make(",", false, "\n", false)),
        ("quoted.csv", make(",", true, "\r\n", true)),
        ("semicolon.csv", make(";", false, "\n", false)),
        ("quoted-semicolon.csv", make(";", true, "\n", false)),
        ("spaced-semicolon.csv", make(" ; ", false, "\n", false)),
        ("tab.tsv", make("\t", false, "\r\n", false)),
    ]
}

#[test]
fn item_13_quoted_numbers_semicolons_and_tabs_read_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut metrics = Vec::new();
    for (name, text) in styles() {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = dir.path().join(format!("run-{name}"));
        let o = chainrule(&[
            "train",
            "--data",
            &csv_arg(&path),
            "--epochs",
            "2",
            "--test-fraction",
            "0.25",
            "--out",
            &out.display().to_string(),
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            stdout(&o).starts_with(
                "task regression (auto: target column 'y' has non-integer values (such as 0.25)"
            ),
            "{name}: {}",
            stdout(&o)
        );
        metrics.push((name, std::fs::read(out.join("metrics.json")).unwrap()));
    }
    // The same numbers, however written: the same training, to the bit.
    for (name, m) in &metrics[1..] {
        assert!(
            m == &metrics[0].1,
            "{name} trains differently from plain.csv"
        );
    }
}

#[test]
fn item_13_errors_name_the_header_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.csv");
    let mut text = format!("{}\n", IRIS_HEADER.replace(',', ";"));
    for i in 0..5 {
        text += &format!("5.{i};3.5;1.4;0.2;0\n");
    }
    text += "6.0;2.2;5.0;1,5;2\n"; // line 7: a decimal comma
    std::fs::write(&path, text).unwrap();
    let (ok, _, err) = train(dir.path(), &csv_arg(&path), &[]);
    assert!(!ok);
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "error: {}: line 7, column 4 ('petal_width'): '1,5' is not a number \
             (decimal commas are not read: write 1.5)",
            path.display()
        )
    );
    // Without a header: the column's number alone; a bad label in the last.
    std::fs::write(&path, "1,2,0\n3,4,1\n5,6,x\n").unwrap();
    let (ok, _, err) = train(dir.path(), &csv_arg(&path), &["--task", "classification"]);
    assert!(!ok);
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "error: {}: line 3, column 3: label 'x' is not a class index \
             (an integer from 0 to 99999)",
            path.display()
        )
    );
}

#[test]
fn item_13_delimiter_flag_overrides_detection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipes.txt");
    std::fs::write(&path, "a|b|y\n1|2|0.5\n3|4|1.5\n5|6|2.5\n7|8|3.5\n").unwrap();
    let data = csv_arg(&path);
    // Detection knows tab, ';' and ','.
    let (ok, _, err) = train(dir.path(), &data, &[]);
    assert!(!ok);
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "error: {}: line 2 has 1 field(s) separated by ','; need at least 2",
            path.display()
        )
    );
    let (ok, out, err) = train(dir.path(), &data, &["--delimiter", "|"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("task regression (auto"), "{out}");
    for (flags, want) in [
        (
            &["--delimiter", "ab"][..],
            "error: delimiter: 'ab' is not one character (or tab, comma, semicolon, space)",
        ),
        (
            &["--delimiter", "."][..],
            "error: delimiter: '.' cannot separate fields: it can be part of a number or of \
             the quoting",
        ),
    ] {
        let (ok, _, err) = train(dir.path(), &data, flags);
        assert!(!ok);
        assert_eq!(err.lines().next().unwrap(), want);
    }
    let (ok, _, err) = train(dir.path(), "iris", &["--delimiter", ";"]);
    assert!(!ok);
    assert_eq!(
        err.lines().next().unwrap(),
        "error: delimiter: --delimiter applies to csv: files, not iris"
    );
}

#[test]
fn item_01_task_and_delimiter_survive_resume_and_eval_checks_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipes.txt");
    let mut text = String::from("a|b|y\n");
    for i in 0..30 {
        text += &format!("{}|{}|{}\n", i % 7, i % 5, (i % 3) as f64 * 0.5);
    }
    std::fs::write(&path, text).unwrap();
    let data = csv_arg(&path);
    let run = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out).display().to_string();
        let mut args = vec!["train", "--epochs", "4", "--quiet", "--out", &out];
        args.extend_from_slice(extra);
        let o = chainrule(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    };
    let flags = ["--data", &data, "--delimiter", "|", "--task", "regression"];
    run("straight", &flags);
    run("stopped", &[&flags[..], &["--stop-after", "2"]].concat());
    let stopped = dir.path().join("stopped").display().to_string();
    // A contradicting --task is refused; none at all continues as started.
    let o = chainrule(&["train", "--resume", &stopped, "--task", "classification"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).starts_with(
            "error: task: --task classification contradicts the run being resumed, \
             started with --task regression"
        ),
        "{}",
        stderr(&o)
    );
    let o = chainrule(&["train", "--resume", &stopped, "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for file in ["metrics.json", "model.safetensors"] {
        let a = std::fs::read(dir.path().join("straight").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("stopped").join(file)).unwrap();
        assert!(a == b, "{file}: 2 + resume + 2 differs from 4 epochs");
    }
    // eval reads the file as training did; a task that contradicts the
    // model's loss is refused.
    let model = dir.path().join("straight/model.safetensors");
    let model = model.display().to_string();
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--model",
            &model,
            "--data",
            &data,
            "--delimiter",
            "|",
        ];
        args.extend_from_slice(extra);
        chainrule(&args)
    };
    let o = eval(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("test  (6 rows): loss"),
        "{}",
        stdout(&o)
    );
    let o = eval(&["--task", "classification"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).starts_with("error: task: --task classification contradicts the loss mse"),
        "{}",
        stderr(&o)
    );
}
