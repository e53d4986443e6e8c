//! The MNIST IDX format (also used by Fashion-MNIST and KMNIST).
//!
//! Four files, each plain or gzipped (`.gz` suffix; the plain file wins when both exist):
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`. All integers are big-endian `u32`:
//!
//! - images: magic 2051, count N, rows R, columns C, then `N·R·C` pixel bytes, row-major;
//! - labels: magic 2049, count N, then N label bytes (0–9).
//!
//! Pixels are scaled to `[0, 1]` by dividing by 255; images are `1×R×C`.

use crate::data::{ImageSet, Split};
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The magic number of an IDX file of unsigned-byte images (`0x00000803`).
pub const IMAGES_MAGIC: u32 = 2051;
/// The magic number of an IDX file of unsigned-byte labels (`0x00000801`).
pub const LABELS_MAGIC: u32 = 2049;
/// The number of classes.
pub const NUM_CLASSES: usize = 10;

/// The image and label file names of a split (without the optional `.gz`).
pub fn files(split: Split) -> [&'static str; 2] {
    match split {
        Split::Train => ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
        Split::Test => ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
    }
}

/// Decoded IDX images: `count` images of `rows × cols` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    /// The number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count·rows·cols` pixel bytes, row-major.
    pub pixels: Vec<u8>,
}

/// The directory where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The class names of Fashion-MNIST, by label.
pub const FASHION_MNIST_CLASSES: [&str; NUM_CLASSES] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Which data set in the MNIST IDX layout a directory holds: it names the loaded set and
/// says, when files are missing, where to get them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxSet {
    /// Handwritten digits (or any set in the same layout, such as KMNIST).
    Mnist,
    /// Zalando's Fashion-MNIST.
    FashionMnist,
}

impl IdxSet {
    /// The set's name: `mnist` or `fashion-mnist`.
    pub fn name(self) -> &'static str {
        match self {
            IdxSet::Mnist => "mnist",
            IdxSet::FashionMnist => "fashion-mnist",
        }
    }

    fn where_to_get(self) -> &'static str {
        match self {
            IdxSet::Mnist => "",
            IdxSet::FashionMnist => {
                " On Debian and Ubuntu, `apt-get install dataset-fashion-mnist` installs them in \
                 /usr/share/datasets/fashion-mnist, the directory `fashion-mnist` reads by \
                 default."
            }
        }
    }
}

/// Loads a split of MNIST from `dir` as a `1×28×28` [`ImageSet`] named `mnist-train` or
/// `mnist-test` ([`load_set`] with [`IdxSet::Mnist`]).
///
/// Missing files give [`Error::MissingData`] naming the expected files and the directory;
/// malformed ones give [`Error::Data`] naming the file and the problem.
///
/// ```
/// use pact_models::data::{mnist, Split};
/// let dir = tempfile::tempdir()?;
/// // One 2x2 image and its label, as IDX files: big-endian u32 header, then bytes.
/// let header = |words: &[u32]| words.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
/// let mut images = header(&[mnist::IMAGES_MAGIC, 1, 2, 2]);
/// images.extend([0, 51, 102, 255]);
/// let mut labels = header(&[mnist::LABELS_MAGIC, 1]);
/// labels.push(7);
/// std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), images)?;
/// std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), labels)?;
/// let test = mnist::load(dir.path(), Split::Test)?;
/// assert_eq!((test.shape(), test.labels.clone()), ([1, 2, 2], vec![7]));
/// assert_eq!(test.image(0), &[0.0, 0.2, 0.4, 1.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<ImageSet> {
    load_set(dir, split, IdxSet::Mnist)
}

/// Loads a split of a data set in the MNIST IDX layout from `dir`, named after `set`
/// (`fashion-mnist-test`, ...). For Fashion-MNIST the error for missing files also says which
/// Debian package installs them.
///
/// ```
/// use pact_models::data::mnist::{load_set, IdxSet};
/// use pact_models::data::Split;
/// let empty = tempfile::tempdir()?;
/// let err = load_set(empty.path(), Split::Train, IdxSet::FashionMnist).unwrap_err();
/// assert!(err.to_string().contains("apt-get install dataset-fashion-mnist"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_set(dir: impl AsRef<Path>, split: Split, set: IdxSet) -> Result<ImageSet> {
    let dir = dir.as_ref();
    let [images_name, labels_name] = files(split);
    let (images_path, labels_path) = match (find(dir, images_name), find(dir, labels_name)) {
        (Some(i), Some(l)) => (i, l),
        (i, l) => {
            let missing: Vec<&str> = [(i.is_none(), images_name), (l.is_none(), labels_name)]
                .into_iter()
                .filter_map(|(m, n)| m.then_some(n))
                .collect();
            return Err(Error::MissingData(format!(
                "{} {split} data not found: missing {} (plain or .gz) in {}. Put \
                 train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and \
                 t10k-labels-idx1-ubyte (each plain or gzipped with a .gz suffix) in {}.{}",
                match set {
                    IdxSet::Mnist => "MNIST",
                    IdxSet::FashionMnist => "Fashion-MNIST",
                },
                missing.join(" and "),
                dir.display(),
                dir.display(),
                set.where_to_get()
            )));
        }
    };
    let images = read_images(&images_path)?;
    let labels = read_labels(&labels_path)?;
    if images.count != labels.len() {
        return Err(Error::data(
            &labels_path,
            format!(
                "{} labels, but {} has {} images",
                labels.len(),
                images_path.display(),
                images.count
            ),
        ));
    }
    let pixels = images
        .pixels
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let loaded = ImageSet::new(
        format!("{}-{split}", set.name()),
        pixels,
        labels,
        [1, images.rows, images.cols],
        NUM_CLASSES,
    )?;
    match set {
        IdxSet::Mnist => loaded.with_class_names((0..NUM_CLASSES).map(|d| d.to_string())),
        IdxSet::FashionMnist => loaded.with_class_names(FASHION_MNIST_CLASSES),
    }
}

/// `dir/name` if it is a file, else `dir/name.gz` if that is, else `None`.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [plain, gz].into_iter().find(|p| p.is_file())
}

/// The bytes of a file, decompressed if its name ends in `.gz`.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        gunzip(path, &raw)
    } else {
        Ok(raw)
    }
}

/// Decompresses gzipped bytes (`path` is only used in messages); anything that is not a
/// complete gzip stream is an [`Error::Data`].
///
/// ```
/// use pact_models::data::mnist;
/// let err = mnist::gunzip(std::path::Path::new("x.gz"), b"not gzip").unwrap_err();
/// assert!(err.to_string().contains("x.gz: cannot decompress as gzip"));
/// ```
pub fn gunzip(path: &Path, raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .read_to_end(&mut out)
        .map_err(|e| Error::data(path, format!("cannot decompress as gzip: {e}")))?;
    Ok(out)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads an IDX image file (plain or `.gz`).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(path, &read_maybe_gz(path)?)
}

/// Reads an IDX label file (plain or `.gz`), checking every label is below 10.
pub fn read_labels(path: &Path) -> Result<Vec<usize>> {
    parse_labels(path, &read_maybe_gz(path)?)
}

/// Parses the (decompressed) bytes of an IDX image file; `path` is only used in messages.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<IdxImages> {
    if bytes.len() < 4 {
        return Err(Error::data(
            path,
            format!("{} bytes is too short for an IDX image file", bytes.len()),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != IMAGES_MAGIC {
        return Err(Error::data(
            path,
            format!(
                "magic number {magic} is not {IMAGES_MAGIC} (IDX unsigned-byte images){}",
                if magic == LABELS_MAGIC {
                    "; this looks like a label file"
                } else {
                    ""
                }
            ),
        ));
    }
    if bytes.len() < 16 {
        return Err(Error::data(
            path,
            format!(
                "{} bytes is too short for an IDX image header (16 bytes)",
                bytes.len()
            ),
        ));
    }
    let [count, rows, cols] = [4, 8, 12].map(|at| be_u32(bytes, at) as usize);
    if rows == 0 || cols == 0 {
        return Err(Error::data(
            path,
            format!("image size {rows}x{cols} has a zero dimension"),
        ));
    }
    let body = bytes.len() - 16;
    let expected = count.checked_mul(rows).and_then(|v| v.checked_mul(cols));
    if expected != Some(body) {
        return Err(Error::data(
            path,
            format!(
                "the header says {count} images of {rows}x{cols} pixels ({} bytes), but the \
                 file has {body} bytes after its 16-byte header",
                expected.map_or_else(|| "too many".to_string(), |e| e.to_string())
            ),
        ));
    }
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes[16..].to_vec(),
    })
}

/// Parses the (decompressed) bytes of an IDX label file; `path` is only used in messages.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<usize>> {
    if bytes.len() < 4 {
        return Err(Error::data(
            path,
            format!("{} bytes is too short for an IDX label file", bytes.len()),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != LABELS_MAGIC {
        return Err(Error::data(
            path,
            format!(
                "magic number {magic} is not {LABELS_MAGIC} (IDX unsigned-byte labels){}",
                if magic == IMAGES_MAGIC {
                    "; this looks like an image file"
                } else {
                    ""
                }
            ),
        ));
    }
    if bytes.len() < 8 {
        return Err(Error::data(
            path,
            format!(
                "{} bytes is too short for an IDX label header (8 bytes)",
                bytes.len()
            ),
        ));
    }
    let count = be_u32(bytes, 4) as usize;
    let body = bytes.len() - 8;
    if count != body {
        return Err(Error::data(
            path,
            format!(
                "the header says {count} labels, but the file has {body} bytes after its 8-byte \
                 header"
            ),
        ));
    }
    bytes[8..]
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if (l as usize) < NUM_CLASSES {
                Ok(l as usize)
            } else {
                Err(Error::data(
                    path,
                    format!(
                        "label {i} (byte offset {}) is {l}, not in 0..{NUM_CLASSES}",
                        8 + i
                    ),
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;

    fn idx_images(magic: u32, count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [magic, count, rows, cols] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(pixels);
        b
    }

    fn idx_labels(magic: u32, labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&magic.to_be_bytes());
        b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
        b.extend_from_slice(labels);
        b
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    /// Three 2x3 images with pixel j of image i = 10*i + j (and 255 for the last pixel of the
    /// last image), labels 7, 0, 9.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        let mut pixels: Vec<u8> = (0..3)
            .flat_map(|i| (0..6).map(move |j| 10 * i + j))
            .collect();
        pixels[17] = 255;
        (
            idx_images(IMAGES_MAGIC, 3, 2, 3, &pixels),
            idx_labels(LABELS_MAGIC, &[7, 0, 9]),
        )
    }

    fn check_sample(set: &ImageSet) {
        assert_eq!(set.shape(), [1, 2, 3]);
        assert_eq!(set.labels, vec![7, 0, 9]);
        assert_eq!(set.image(1)[4], 14.0 / 255.0);
        assert_eq!(set.image(2)[5], 1.0);
        assert_eq!(set.image(0)[0], 0.0);
    }

    #[test]
    fn reads_plain_files_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let (im, lb) = sample();
        std::fs::write(tmp.path().join("t10k-images-idx3-ubyte"), im).unwrap();
        std::fs::write(tmp.path().join("t10k-labels-idx1-ubyte"), lb).unwrap();
        let set = load(tmp.path(), Split::Test).unwrap();
        check_sample(&set);
        assert_eq!(set.name, "mnist-test");
    }

    #[test]
    fn reads_gzipped_files_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let (im, lb) = sample();
        std::fs::write(tmp.path().join("train-images-idx3-ubyte.gz"), gz(&im)).unwrap();
        std::fs::write(tmp.path().join("train-labels-idx1-ubyte.gz"), gz(&lb)).unwrap();
        check_sample(&load(tmp.path(), Split::Train).unwrap());
    }

    #[test]
    fn missing_files_name_what_is_expected() {
        let tmp = tempfile::tempdir().unwrap();
        let (im, _) = sample();
        std::fs::write(tmp.path().join("train-images-idx3-ubyte"), im).unwrap();
        let err = load(tmp.path(), Split::Train).unwrap_err();
        assert!(matches!(err, Error::MissingData(_)));
        let msg = err.to_string();
        assert!(
            msg.contains("missing train-labels-idx1-ubyte (plain or .gz)"),
            "{msg}"
        );
        assert!(msg.contains("t10k-images-idx3-ubyte"), "{msg}");
        assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    }

    #[test]
    fn bad_magic_is_reported() {
        let p = Path::new("x-idx3-ubyte");
        let (im, lb) = sample();
        let msg = parse_images(p, &lb).unwrap_err().to_string();
        assert!(
            msg.contains("x-idx3-ubyte") && msg.contains("magic number 2049"),
            "{msg}"
        );
        assert!(msg.contains("label file"), "{msg}");
        let msg = parse_labels(p, &im).unwrap_err().to_string();
        assert!(msg.contains("magic number 2051 is not 2049"), "{msg}");
        let msg = parse_images(p, &[0, 0, 8]).unwrap_err().to_string();
        assert!(msg.contains("too short"), "{msg}");
        let msg = parse_images(p, &idx_labels(IMAGES_MAGIC, &[]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("too short for an IDX image header"), "{msg}");
    }

    #[test]
    fn dimensions_must_match_file_size() {
        let p = Path::new("imgs");
        let msg = parse_images(p, &idx_images(IMAGES_MAGIC, 3, 2, 3, &[0; 17]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("3 images of 2x3 pixels (18 bytes)") && msg.contains("17 bytes"),
            "{msg}"
        );
        let mut lb = idx_labels(LABELS_MAGIC, &[1, 2]);
        lb.push(3);
        let msg = parse_labels(p, &lb).unwrap_err().to_string();
        assert!(msg.contains("2 labels") && msg.contains("3 bytes"), "{msg}");
        assert!(parse_images(p, &idx_images(IMAGES_MAGIC, 0, 0, 3, &[])).is_err());
    }

    #[test]
    fn count_disagreement_and_bad_labels() {
        let tmp = tempfile::tempdir().unwrap();
        let (im, _) = sample();
        std::fs::write(tmp.path().join("t10k-images-idx3-ubyte"), &im).unwrap();
        let labels = tmp.path().join("t10k-labels-idx1-ubyte");
        std::fs::write(&labels, idx_labels(LABELS_MAGIC, &[1, 2])).unwrap();
        let msg = load(tmp.path(), Split::Test).unwrap_err().to_string();
        assert!(
            msg.contains("2 labels, but") && msg.contains("3 images"),
            "{msg}"
        );
        std::fs::write(&labels, idx_labels(LABELS_MAGIC, &[1, 12, 2])).unwrap();
        let msg = load(tmp.path(), Split::Test).unwrap_err().to_string();
        assert!(msg.contains("t10k-labels-idx1-ubyte"), "{msg}");
        assert!(msg.contains("label 1 (byte offset 9) is 12"), "{msg}");
    }

    #[test]
    fn corrupt_gzip_is_a_data_error() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("t10k-images-idx3-ubyte.gz");
        std::fs::write(&p, b"not gzip at all").unwrap();
        let err = read_images(&p).unwrap_err();
        assert!(matches!(err, Error::Data { .. }));
        assert!(err.to_string().contains("gzip"));
    }
}
