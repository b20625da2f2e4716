//! The data module through its public API: MNIST directories written by
//! hand (plain, gzip, mixed), missing and inconsistent files, and `load`.

use std::io::Write;
use std::path::Path;

use chainrule_nn::data::idx::{IMAGES_MAGIC, LABELS_MAGIC, MNIST_FILES};
use chainrule_nn::data::{load, load_mnist, DataError, LabelKind, LoadedData};

fn labels_file(labels: &[u8]) -> Vec<u8> {
    let mut b = LABELS_MAGIC.to_be_bytes().to_vec();
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn images_file(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = IMAGES_MAGIC.to_be_bytes().to_vec();
    for v in [n, rows, cols] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Three 2x2 training images and two test images.
const TRAIN_PIXELS: [u8; 12] = [0, 255, 51, 102, 255, 255, 0, 0, 1, 2, 3, 4];
const TEST_PIXELS: [u8; 8] = [255, 0, 0, 255, 10, 20, 30, 40];

/// Writes the four files, each gzip-compressed (with `.gz`) where `zip` says.
fn write_set(dir: &Path, zip: [bool; 4]) {
    let contents = [
        images_file(3, 2, 2, &TRAIN_PIXELS),
        labels_file(&[0, 1, 2]),
        images_file(2, 2, 2, &TEST_PIXELS),
        labels_file(&[2, 0]),
    ];
    for ((name, bytes), zip) in MNIST_FILES.iter().zip(contents).zip(zip) {
        if zip {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

fn check_set(data: &LoadedData) {
    let train = &data.train;
    assert_eq!((train.n, train.d), (3, 4));
    let expected: Vec<f64> = TRAIN_PIXELS.iter().map(|&b| b as f64 / 255.0).collect();
    assert_eq!(train.features, expected);
    assert_eq!(train.row(0), &[0.0, 1.0, 0.2, 0.4]);
    assert_eq!(train.labels(), Some(&[0, 1, 2][..]));
    assert_eq!(train.num_classes(), Some(10));
    assert_eq!(train.class_names.len(), 10);
    let test = data.test.as_ref().unwrap();
    assert_eq!((test.n, test.d), (2, 4));
    assert_eq!(test.row(0), &[1.0, 0.0, 0.0, 1.0]);
    assert_eq!(test.labels(), Some(&[2, 0][..]));
    assert_eq!(test.num_classes(), Some(10));
}

#[test]
fn mnist_plain_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [false; 4]);
    check_set(&load_mnist(dir.path()).unwrap());
    let spec = format!("mnist:{}", dir.path().display());
    check_set(&load(&spec, LabelKind::Real).unwrap());
}

#[test]
fn mnist_gzip_and_mixed_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [true; 4]);
    check_set(&load_mnist(dir.path()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [true, false, false, true]);
    check_set(&load_mnist(dir.path()).unwrap());
}

#[test]
fn mnist_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [false; 4]);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::MissingFile {
                name: "t10k-labels-idx1-ubyte",
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("t10k-labels-idx1-ubyte") && msg.contains(".gz"),
        "{msg}"
    );
}

#[test]
fn mnist_labels_file_given_as_images_file() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [false; 4]);
    std::fs::write(dir.path().join(MNIST_FILES[0]), labels_file(&[1, 2, 3])).unwrap();
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(MNIST_FILES[0]), "{err}");
}

#[test]
fn mnist_count_mismatch_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [false; 4]);
    std::fs::write(dir.path().join(MNIST_FILES[1]), labels_file(&[0, 1])).unwrap();
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(MNIST_FILES[0]) && msg.contains(MNIST_FILES[1]),
        "{msg}"
    );
}

#[test]
fn mnist_test_image_shape_must_match() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [false; 4]);
    let wrong = images_file(2, 1, 4, &TEST_PIXELS);
    std::fs::write(dir.path().join(MNIST_FILES[2]), wrong).unwrap();
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains(MNIST_FILES[2]), "{err}");
}

#[test]
fn mnist_truncated_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), [false; 4]);
    let short = images_file(3, 2, 2, &TRAIN_PIXELS[..5]);
    std::fs::write(dir.path().join(MNIST_FILES[0]), gz(&short)).unwrap();
    std::fs::rename(
        dir.path().join(MNIST_FILES[0]),
        dir.path().join(format!("{}.gz", MNIST_FILES[0])),
    )
    .unwrap();
    let err = load_mnist(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Truncated {
                expected: 28,
                found: 21,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("train-images-idx3-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn csv_through_load() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.csv");
    std::fs::write(&path, "f1,f2,label\n0.5,1,1\n2,3,0\n").unwrap();
    let data = load(&format!("csv:{}", path.display()), LabelKind::Class).unwrap();
    assert!(data.test.is_none());
    assert_eq!((data.train.n, data.train.d), (2, 2));
    assert_eq!(data.train.labels(), Some(&[1, 0][..]));
    let targets = load(&format!("csv:{}", path.display()), LabelKind::Real)
        .map(|d| d.train.targets)
        .unwrap();
    assert_eq!(targets, chainrule_nn::data::Targets::Real(vec![1.0, 0.0]));
}

#[test]
fn item_13_quoted_fields_and_detected_delimiters_read_the_same_numbers() {
    use chainrule_nn::data::{parse_csv_with, CsvOptions, Targets};
    let texts = [
        ("a,b,y\n1.5,-2,0.5\n30,0.25,1\n", b','),
        (
            "\u{feff}\"a\",\"b\",\"y\"\r\n\"1.5\",\"-2\",\"0.5\"\r\n\"30\",\"0.25\",\"1\"\r\n",
            b',',
        ),
        ("a;b;y\n1.5;-2;0.5\n30;0.25;1\n", b';'),
        ("a\tb\ty\n1.5\t-2\t0.5\n\n30\t0.25\t1\n", b'\t'),
        (
            " a ; b ; y \n 1.5 ; -2 ; 0.5 \n   \n 30 ; 0.25 ; 1 \n",
            b';',
        ),
        // A delimiter inside a quoted name is no boundary.
        ("\"a; the first\",b,y\n1.5,-2,0.5\n30,0.25,1\n", b','),
        // ';' splits the header in two but not the rows: a comma file.
        ("a,b;c,y\n1.5,-2,0.5\n30,0.25,1\n", b','),
    ];
    for (text, delimiter) in texts {
        let read = parse_csv_with(text.as_bytes(), "t.csv", &CsvOptions::new(LabelKind::Real))
            .unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(read.delimiter, delimiter, "{text:?}");
        let ds = read.dataset;
        assert_eq!((ds.n, ds.d), (2, 2), "{text:?}");
        assert_eq!(ds.features, vec![1.5, -2.0, 30.0, 0.25], "{text:?}");
        assert_eq!(ds.targets, Targets::Real(vec![0.5, 1.0]), "{text:?}");
    }
    // An explicit delimiter wins over detection.
    let options = CsvOptions {
        target: LabelKind::Real,
        delimiter: Some(b'|'),
    };
    let read = parse_csv_with(b"a|b|y\n1,5|2|3\n", "p.csv", &options).unwrap_err();
    assert_eq!(
        read.to_string(),
        "p.csv: line 2, column 1 ('a'): '1,5' is not a number (decimal commas are not read: write 1.5)"
    );
}

#[test]
fn item_13_errors_name_the_header_column() {
    let err = chainrule_nn::data::parse_csv(
        b"sepal_length;petal_width;y\n1;2;0\n\n3;inf;1\n",
        "data.csv",
        LabelKind::Real,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "data.csv: line 4, column 2 ('petal_width'): 'inf' is not a finite number"
    );
    assert!(
        matches!(
            &err,
            DataError::NotFinite { line: 4, field: 2, name: Some(n), .. } if n == "petal_width"
        ),
        "{err:?}"
    );
    // The class-names header of scikit-learn's files names no columns.
    let err = chainrule_nn::data::parse_csv(b"2,2,cat,dog\n1,x,0\n", "s.csv", LabelKind::Class)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "s.csv: line 2, column 2: 'x' is not a number"
    );
}

#[test]
fn item_01_auto_tells_regression_from_classification() {
    use chainrule_nn::data::{load_with, CsvOptions, Targets};
    let dir = tempfile::tempdir().unwrap();
    let auto = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        load_with(
            &format!("csv:{}", path.display()),
            &CsvOptions::new(LabelKind::Auto),
        )
        .unwrap()
    };
    let real = auto("r.csv", "x,price\n1,213041.77\n2,5\n3,7\n");
    assert_eq!(real.train.targets, Targets::Real(vec![213041.77, 5.0, 7.0]));
    assert_eq!(
        real.task_reason.as_deref(),
        Some("target column 'price' has non-integer values (such as 213041.77)")
    );
    let class = auto("c.csv", "1,0\n2,1\n3,2\n4,2\n5,1\n6,0\n");
    assert_eq!(
        class.train.targets,
        Targets::Classes {
            labels: vec![0, 1, 2, 2, 1, 0],
            classes: 3
        }
    );
    assert_eq!(
        class.task_reason.as_deref(),
        Some("target column 2 has 3 distinct values in 6 rows, the class indices 0 to 2")
    );
    // The diabetes target as whole numbers: 214 distinct values from 25 to
    // 346 (`zcat crates/chainrule-nn/data/diabetes_target.csv.gz | sort -u |
    // wc -l`) in 442 rows.
    let diabetes = load("diabetes", LabelKind::Real).unwrap().train;
    let Targets::Real(y) = &diabetes.targets else {
        panic!("diabetes is a regression set")
    };
    let mut text = String::new();
    for (r, y) in y.iter().enumerate() {
        let row: Vec<String> = diabetes.row(r).iter().map(|v| v.to_string()).collect();
        text += &format!("{},{}\n", row.join(","), *y as i64);
    }
    let read = auto("d.csv", &text);
    assert!(!read.train.is_classification());
    assert_eq!(
        read.task_reason.as_deref(),
        Some(
            "target column 11 has 214 distinct values in 442 rows, \
             more than the 100 classes read as classification"
        )
    );
    // Class and Real still read as asked.
    let path = dir.path().join("d.csv");
    let forced = load(&format!("csv:{}", path.display()), LabelKind::Class).unwrap();
    assert_eq!(forced.train.num_classes(), Some(347));
    assert_eq!(forced.task_reason, None);
}
