//! The CIFAR-10 binary format.
//!
//! The "CIFAR-10 binary version" archive unpacks to `cifar-10-batches-bin/` holding
//! `data_batch_1.bin` … `data_batch_5.bin` (training, 10 000 images each) and `test_batch.bin`
//! (10 000 test images). Each file is a run of 3073-byte records: one label byte (0–9), then
//! 3072 pixel bytes, the 1024 red, 1024 green and 1024 blue values of a 32×32 image, each
//! plane row-major (so CHW). Pixels are scaled to `[0, 1]` by dividing by 255.

use crate::data::{ImageSet, Split};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Image side in pixels.
pub const SIDE: usize = 32;
/// Channels (RGB).
pub const CHANNELS: usize = 3;
/// Bytes of one record: 1 label byte and `3·32·32` pixel bytes.
pub const RECORD_BYTES: usize = 1 + CHANNELS * SIDE * SIDE;
/// The number of classes.
pub const NUM_CLASSES: usize = 10;
/// The class names, by label.
pub const CLASS_NAMES: [&str; NUM_CLASSES] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
/// The training files, in the order they are concatenated.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test file.
pub const TEST_FILE: &str = "test_batch.bin";
/// The directory the official archive unpacks to; [`load`] also looks inside it.
pub const ARCHIVE_DIR: &str = "cifar-10-batches-bin";

/// The file names a split reads, in order.
pub fn files(split: Split) -> &'static [&'static str] {
    match split {
        Split::Train => &TRAIN_FILES,
        Split::Test => std::slice::from_ref(&TEST_FILE),
    }
}

/// Loads a split of CIFAR-10 from `dir` (or from `dir/cifar-10-batches-bin` when the files
/// are there instead), as a `3×32×32` [`ImageSet`] named `cifar10-train` or `cifar10-test`.
///
/// Missing files give [`Error::MissingData`] naming every expected file and the directory;
/// malformed ones give [`Error::Data`] naming the file and the offending record.
///
/// ```
/// use pact_models::data::{cifar10, Split};
/// let dir = tempfile::tempdir()?;
/// // A one-record test file: label 3, then 3072 pixel bytes (all 255).
/// let mut record = vec![3u8];
/// record.resize(cifar10::RECORD_BYTES, 255);
/// std::fs::write(dir.path().join("test_batch.bin"), &record)?;
/// let test = cifar10::load(dir.path(), Split::Test)?;
/// assert_eq!((test.len(), test.shape(), test.labels[0]), (1, [3, 32, 32], 3));
/// assert_eq!(test.image(0)[0], 1.0);
/// // The training files are not there: the error says what to put where.
/// let err = cifar10::load(dir.path(), Split::Train).unwrap_err();
/// assert!(err.to_string().contains("data_batch_1.bin"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<ImageSet> {
    let dir = dir.as_ref();
    let names = files(split);
    let nested = dir.join(ARCHIVE_DIR);
    let base = if !dir.join(names[0]).exists() && nested.join(names[0]).exists() {
        nested
    } else {
        dir.to_path_buf()
    };
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !base.join(n).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingData(format!(
            "CIFAR-10 {split} data not found: missing {} in {}. Put data_batch_1.bin … \
             data_batch_5.bin and test_batch.bin (the CIFAR-10 binary version, \
             cifar-10-binary.tar.gz) in {} (or its {ARCHIVE_DIR}/ subdirectory)",
            missing.join(", "),
            base.display(),
            dir.display()
        )));
    }
    let paths: Vec<PathBuf> = names.iter().map(|n| base.join(n)).collect();
    let mut set = load_files(&paths)?;
    set.name = format!("cifar10-{split}");
    Ok(set)
}

/// Loads and concatenates CIFAR-10 binary files in the given order.
pub fn load_files(paths: &[PathBuf]) -> Result<ImageSet> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (im, lb) = parse(path, &bytes)?;
        images.extend(im);
        labels.extend(lb);
    }
    ImageSet::new(
        "cifar10",
        images,
        labels,
        [CHANNELS, SIDE, SIDE],
        NUM_CLASSES,
    )?
    .with_class_names(CLASS_NAMES)
}

/// Parses the bytes of one CIFAR-10 binary file (`path` is only used in messages): pixels
/// scaled to `[0, 1]` in CHW order, and labels.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>)> {
    if bytes.is_empty() {
        return Err(Error::data(
            path,
            "the file is empty (expected 3073-byte records)",
        ));
    }
    let rest = bytes.len() % RECORD_BYTES;
    if rest != 0 {
        let whole = bytes.len() / RECORD_BYTES;
        return Err(Error::data(
            path,
            format!(
                "size {} bytes is not a multiple of the {RECORD_BYTES}-byte record \
                 (1 label byte + 3072 pixel bytes): record {whole}, at byte offset {}, is \
                 truncated to {rest} bytes (file truncated or not CIFAR-10 binary)",
                bytes.len(),
                whole * RECORD_BYTES
            ),
        ));
    }
    let n = bytes.len() / RECORD_BYTES;
    let mut images = Vec::with_capacity(n * (RECORD_BYTES - 1));
    let mut labels = Vec::with_capacity(n);
    for (r, record) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0] as usize;
        if label >= NUM_CLASSES {
            return Err(Error::data(
                path,
                format!(
                    "record {r} (byte offset {}): label {label} is not in 0..{NUM_CLASSES}",
                    r * RECORD_BYTES
                ),
            ));
        }
        labels.push(label);
        images.extend(record[1..].iter().map(|&p| f32::from(p) / 255.0));
    }
    Ok((images, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record whose label is `label` and whose pixel `j` is `(j * 7 + seed) % 256`.
    fn record(label: u8, seed: usize) -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..RECORD_BYTES - 1).map(|j| ((j * 7 + seed) % 256) as u8));
        r
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    #[test]
    fn reads_three_records_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = [record(3, 0), record(0, 1), record(9, 2)].concat();
        write(tmp.path(), TEST_FILE, &bytes);
        let set = load(tmp.path(), Split::Test).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(set.labels, vec![3, 0, 9]);
        assert_eq!(set.shape(), [3, 32, 32]);
        assert_eq!(set.name, "cifar10-test");
        for (i, seed) in [0usize, 1, 2].into_iter().enumerate() {
            let img = set.image(i);
            for j in [0, 1, 1023, 1024, 2048, 3071] {
                assert_eq!(img[j], ((j * 7 + seed) % 256) as f32 / 255.0);
            }
        }
        // Red plane first: pixel (c=1, y=0, x=0) is byte 1024 of the record's pixels.
        assert_eq!(set.image(0)[SIDE * SIDE], (1024 * 7 % 256) as f32 / 255.0);
    }

    #[test]
    fn train_concatenates_five_files_and_finds_the_archive_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let nested = tmp.path().join(ARCHIVE_DIR);
        std::fs::create_dir(&nested).unwrap();
        for (i, name) in TRAIN_FILES.iter().enumerate() {
            write(&nested, name, &record(i as u8, i));
        }
        let set = load(tmp.path(), Split::Train).unwrap();
        assert_eq!(set.labels, vec![0, 1, 2, 3, 4]);
        assert_eq!(set.image(4)[0], 4.0 / 255.0);
    }

    #[test]
    fn missing_files_name_what_is_expected() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "data_batch_1.bin", &record(0, 0));
        let err = load(tmp.path(), Split::Train).unwrap_err();
        assert!(matches!(err, Error::MissingData(_)));
        let msg = err.to_string();
        for name in &TRAIN_FILES[1..] {
            assert!(msg.contains(name), "{msg}");
        }
        assert!(msg.contains("test_batch.bin") && msg.contains("binary version"));
        assert!(msg.contains(&tmp.path().display().to_string()));
        let msg = load(tmp.path(), Split::Test).unwrap_err().to_string();
        assert!(msg.contains("missing test_batch.bin"), "{msg}");
    }

    #[test]
    fn truncated_file_names_file_and_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let mut bytes = [record(1, 0), record(2, 0)].concat();
        bytes.truncate(RECORD_BYTES + 100);
        write(tmp.path(), TEST_FILE, &bytes);
        let msg = load(tmp.path(), Split::Test).unwrap_err().to_string();
        assert!(msg.contains(TEST_FILE), "{msg}");
        assert!(msg.contains("record 1, at byte offset 3073"), "{msg}");
        assert!(msg.contains("truncated to 100 bytes"), "{msg}");
    }

    #[test]
    fn bad_label_and_empty_file() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            TEST_FILE,
            &[record(1, 0), record(10, 0)].concat(),
        );
        let msg = load(tmp.path(), Split::Test).unwrap_err().to_string();
        assert!(msg.contains(TEST_FILE), "{msg}");
        assert!(
            msg.contains("record 1 (byte offset 3073): label 10"),
            "{msg}"
        );
        write(tmp.path(), TEST_FILE, &[]);
        let msg = load(tmp.path(), Split::Test).unwrap_err().to_string();
        assert!(msg.contains("empty"), "{msg}");
    }
}
