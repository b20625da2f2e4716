//! MNIST in the IDX format: four files in one directory,
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each plain or
//! gzip-compressed with a `.gz` suffix (the plain file is used when both
//! exist).
//!
//! Layout (all integers big-endian `u32`):
//! - labels: magic `0x00000801`, count `n`, then `n` label bytes;
//! - images: magic `0x00000803`, count `n`, rows, columns, then
//!   `n * rows * columns` pixel bytes, row-major.
//!
//! Pixels are scaled to `[0, 1]` (divided by 255). The size the header
//! implies is checked against the bytes actually present before anything is
//! allocated for the data, so a hostile header cannot make the loader
//! allocate more than the file holds; files are read under
//! [`MAX_FILE_BYTES`] and decompressed under [`MAX_DECOMPRESSED_BYTES`].

use std::path::{Path, PathBuf};

use super::{
    read_maybe_gz, DataError, Dataset, LoadedData, Targets, MAX_DECOMPRESSED_BYTES, MAX_FILE_BYTES,
};

/// Magic number of an IDX labels file (unsigned bytes, one dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Magic number of an IDX images file (unsigned bytes, three dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;

/// The four MNIST file names: training images and labels, test images and
/// labels.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Loads MNIST from a directory: the training set as `train`, the `t10k`
/// set as `test`. Both have 10 classes named `"0"`..`"9"` (more if a label
/// is above 9).
pub fn load_mnist(dir: &Path) -> Result<LoadedData, DataError> {
    load_mnist_with_limits(dir, MAX_FILE_BYTES, MAX_DECOMPRESSED_BYTES)
}

/// [`load_mnist`] with the file-size and decompressed-size limits given.
pub(crate) fn load_mnist_with_limits(
    dir: &Path,
    file_limit: u64,
    unzip_limit: u64,
) -> Result<LoadedData, DataError> {
    // Find all four first, so a missing one is reported before reading.
    let train_images = &find(dir, MNIST_FILES[0])?;
    let train_labels = &find(dir, MNIST_FILES[1])?;
    let test_images = &find(dir, MNIST_FILES[2])?;
    let test_labels = &find(dir, MNIST_FILES[3])?;
    let load = |images: &Path, labels: &Path, name: &str| {
        load_pair(images, labels, name, file_limit, unzip_limit)
    };
    let (mut train, train_shape) = load(train_images, train_labels, "mnist-train")?;
    let (mut test, test_shape) = load(test_images, test_labels, "mnist-test")?;
    if train_shape != test_shape {
        return Err(DataError::Invalid {
            file: test_images.display().to_string(),
            message: format!(
                "images are {}x{}, but the training images ({}) are {}x{}",
                test_shape.0,
                test_shape.1,
                train_images.display(),
                train_shape.0,
                train_shape.1
            ),
        });
    }
    // Both sets get the same class count and names.
    let classes = train.num_classes().max(test.num_classes()).unwrap_or(10);
    for ds in [&mut train, &mut test] {
        if let Targets::Classes { classes: k, .. } = &mut ds.targets {
            *k = classes;
        }
        ds.class_names = (0..classes).map(|c| c.to_string()).collect();
    }
    Ok(LoadedData {
        train,
        test: Some(test),
        task_reason: None,
    })
}

/// The path of `name` in `dir`, plain or with `.gz`.
fn find(dir: &Path, name: &'static str) -> Result<PathBuf, DataError> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile {
        dir: dir.display().to_string(),
        name,
    })
}

/// Loads one images file and its labels file as a data set; also returns
/// the image shape (rows, columns).
fn load_pair(
    images_path: &Path,
    labels_path: &Path,
    name: &str,
    file_limit: u64,
    unzip_limit: u64,
) -> Result<(Dataset, (usize, usize)), DataError> {
    let images_file = images_path.display().to_string();
    let labels_file = labels_path.display().to_string();
    let image_bytes = read_maybe_gz(images_path, file_limit, unzip_limit)?;
    let images = parse_images(&image_bytes, &images_file)?;
    drop(image_bytes);
    let label_bytes = read_maybe_gz(labels_path, file_limit, unzip_limit)?;
    let labels = parse_labels(&label_bytes, &labels_file)?;
    if labels.len() != images.n {
        return Err(DataError::CountMismatch {
            images_file,
            images: images.n as u64,
            labels_file,
            labels: labels.len() as u64,
        });
    }
    let classes = labels.iter().copied().max().map_or(10, |m| (m + 1).max(10));
    let ds = Dataset {
        name: name.to_string(),
        n: images.n,
        d: images.rows * images.cols,
        input_shape: vec![1, images.rows, images.cols],
        features: images.pixels,
        targets: Targets::Classes { labels, classes },
        class_names: Vec::new(),
    };
    Ok((ds, (images.rows, images.cols)))
}

/// Parsed images.
#[derive(Debug)]
pub(crate) struct Images {
    /// The number of images.
    pub n: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// Pixels in `[0, 1]`, image after image, row-major.
    pub pixels: Vec<f64>,
}

/// Parses an IDX images file held in memory.
pub(crate) fn parse_images(bytes: &[u8], file: &str) -> Result<Images, DataError> {
    let (dims, data) = checked_body(bytes, file, IMAGES_MAGIC, "IDX images, 3 dimensions")?;
    let to_usize = |v: u32| usize::try_from(v).ok();
    let [n, rows, cols] = dims[..] else {
        return Err(invalid(file, "images need three dimensions"));
    };
    let (Some(n), Some(rows), Some(cols)) = (to_usize(n), to_usize(rows), to_usize(cols)) else {
        return Err(invalid(file, "dimensions do not fit in memory"));
    };
    if n == 0 {
        return Err(DataError::Empty {
            file: file.to_string(),
        });
    }
    if rows == 0 || cols == 0 {
        return Err(invalid(
            file,
            &format!("images of {rows}x{cols} have no pixels"),
        ));
    }
    // The size check in checked_body bounds this by the bytes present.
    let pixels = data.iter().map(|&b| f64::from(b) / 255.0).collect();
    Ok(Images {
        n,
        rows,
        cols,
        pixels,
    })
}

/// Parses an IDX labels file held in memory.
pub(crate) fn parse_labels(bytes: &[u8], file: &str) -> Result<Vec<usize>, DataError> {
    let (_, data) = checked_body(bytes, file, LABELS_MAGIC, "IDX labels, 1 dimension")?;
    if data.is_empty() {
        return Err(DataError::Empty {
            file: file.to_string(),
        });
    }
    Ok(data.iter().map(|&b| usize::from(b)).collect())
}

fn invalid(file: &str, message: &str) -> DataError {
    DataError::Invalid {
        file: file.to_string(),
        message: message.to_string(),
    }
}

/// Checks the magic number, reads the dimensions (as many as the magic
/// number's last byte says) and checks that the file holds exactly the bytes
/// they imply; returns the dimensions and the data after the header.
fn checked_body<'a>(
    bytes: &'a [u8],
    file: &str,
    magic: u32,
    what: &'static str,
) -> Result<(Vec<u32>, &'a [u8]), DataError> {
    let ndims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * ndims;
    let found = bytes.len() as u64;
    let truncated = |expected: u128| DataError::Truncated {
        file: file.to_string(),
        expected,
        found,
    };
    let word = |k: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(4 * k..4 * k + 4)?.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    };
    let found_magic = word(0).ok_or_else(|| truncated(header_len as u128))?;
    if found_magic != magic {
        return Err(DataError::BadMagic {
            file: file.to_string(),
            found: found_magic,
            expected: magic,
            what,
        });
    }
    let dims: Vec<u32> = (1..=ndims)
        .map(word)
        .collect::<Option<_>>()
        .ok_or_else(|| truncated(header_len as u128))?;
    // At most three u32 factors: the product fits in u128 without overflow.
    let expected = header_len as u128 + dims.iter().map(|&v| u128::from(v)).product::<u128>();
    if u128::from(found) < expected {
        return Err(truncated(expected));
    }
    if u128::from(found) > expected {
        return Err(DataError::WrongSize {
            file: file.to_string(),
            expected,
            found,
        });
    }
    let data = bytes.get(header_len..).unwrap_or(&[]);
    Ok((dims, data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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

    const PIXELS: [u8; 12] = [0, 255, 51, 102, 255, 255, 0, 0, 1, 2, 3, 4];

    #[test]
    fn parses_pixels_and_labels() {
        let images = parse_images(&images_file(3, 2, 2, &PIXELS), "img").unwrap();
        assert_eq!((images.n, images.rows, images.cols), (3, 2, 2));
        assert_eq!(&images.pixels[..4], &[0.0, 1.0, 0.2, 0.4]);
        assert_eq!(
            parse_labels(&labels_file(&[7, 0]), "lab").unwrap(),
            vec![7, 0]
        );
    }

    #[test]
    fn wrong_magic_shows_found_and_expected() {
        let mut bytes = labels_file(&[1, 2]);
        bytes[3] = 0x03;
        let err = parse_labels(&bytes, "labels.idx").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::BadMagic {
                    found: 0x803,
                    expected: 0x801,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("labels.idx") && msg.contains("0x00000803"),
            "{msg}"
        );
        assert!(msg.contains("expected 0x00000801"), "{msg}");
    }

    #[test]
    fn truncated_and_oversized_files() {
        // Three images claimed, two present.
        let bytes = images_file(3, 2, 2, &PIXELS[..8]);
        let err = parse_images(&bytes, "img").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 28,
                    found: 24,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "img: truncated: expected 28 bytes, found 24"
        );
        // Header cut short.
        let err = parse_images(&bytes[..10], "img").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 16,
                    found: 10,
                    ..
                }
            ),
            "{err}"
        );
        let err = parse_labels(&[0, 0], "lab").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 8,
                    found: 2,
                    ..
                }
            ),
            "{err}"
        );
        // Extra bytes.
        let mut bytes = labels_file(&[1, 2]);
        bytes.push(7);
        let err = parse_labels(&bytes, "lab").unwrap_err();
        assert!(
            matches!(
                err,
                DataError::WrongSize {
                    expected: 10,
                    found: 11,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("wrong file size"), "{err}");
    }

    #[test]
    fn huge_header_on_tiny_file_errors_without_allocating() {
        let bytes = images_file(1 << 31, 2, 2, &PIXELS);
        let err = parse_images(&bytes, "img").unwrap_err();
        let expected = 16 + (1u128 << 31) * 4;
        assert!(
            matches!(err, DataError::Truncated { expected: e, found: 28, .. } if e == expected)
        );
        let bytes = images_file(u32::MAX, u32::MAX, u32::MAX, &[]);
        let err = parse_images(&bytes, "img").unwrap_err();
        assert!(
            matches!(err, DataError::Truncated { found: 16, .. }),
            "{err}"
        );
        let mut bytes = LABELS_MAGIC.to_be_bytes().to_vec();
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        let err = parse_labels(&bytes, "lab").unwrap_err();
        assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    }

    #[test]
    fn empty_and_pixelless_images() {
        let err = parse_images(&images_file(0, 2, 2, &[]), "img").unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
        let err = parse_images(&images_file(2, 0, 2, &[]), "img").unwrap_err();
        assert!(matches!(err, DataError::Invalid { .. }), "{err}");
        let err = parse_labels(&labels_file(&[]), "lab").unwrap_err();
        assert!(matches!(err, DataError::Empty { .. }), "{err}");
    }

    #[test]
    fn gzip_bomb_and_large_file_are_refused() {
        // 100 kB of zeros under a valid header compresses to a few hundred
        // bytes; with a 10 kB limit it must be refused while decoding.
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("train-images-idx3-ubyte.gz");
        let labels = dir.path().join("train-labels-idx1-ubyte");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&images_file(25_000, 2, 2, &vec![0u8; 100_000]))
            .unwrap();
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1_000);
        std::fs::write(&images, bomb).unwrap();
        std::fs::write(&labels, labels_file(&[0; 25_000])).unwrap();
        let err = load_pair(&images, &labels, "m", MAX_FILE_BYTES, 10_000).unwrap_err();
        assert!(
            matches!(err, DataError::DecompressedTooLarge { limit: 10_000, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("train-images-idx3-ubyte.gz"),
            "{err}"
        );
        // With the limit at exactly the decompressed size, the same files load.
        let (ds, shape) = load_pair(&images, &labels, "m", MAX_FILE_BYTES, 100_016).unwrap();
        assert_eq!((ds.n, ds.d, shape), (25_000, 4, (2, 2)));
        // A plain file over the file-size limit (25 008 bytes here).
        let err = load_pair(&images, &labels, "m", 25_007, 100_016);
        let err = err.map(|_| ()).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::TooLarge {
                    size: 25_008,
                    limit: 25_007,
                    ..
                }
            ),
            "{err}"
        );
    }
}
