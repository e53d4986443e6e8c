//! [`DataSpec`]: a data set named by a short string, as given on a command line.
//!
//! | spec | meaning |
//! |---|---|
//! | `cifar10:DIR` | CIFAR-10 binary files in DIR ([`crate::data::cifar10`]) |
//! | `mnist:DIR` | MNIST IDX files in DIR ([`crate::data::mnist`]) |
//! | `fashion-mnist`, `fashion-mnist:DIR` | Fashion-MNIST IDX files in DIR (default: where Debian's `dataset-fashion-mnist` puts them, [`mnist::FASHION_MNIST_DIR`]) |
//! | `csv:FILE:CxHxW` | images in a CSV file, of the given shape ([`crate::data::csv`]) |
//! | `shapes`, `shapes:N`, `shapes:N:SIZE`, `shapes:N:SIZE:NOISE` | N synthetic SIZE×SIZE shape images (default 10000, 32), noise × NOISE (default 1; larger is harder) |
//! | `parity`, `parity:B` | parity of vectors of B elements (default 64) |
//! | `logic`, `logic:G` | logic with at most G gates per step (default 10) |
//! | `addition`, `addition:D` | addition of numbers of at most D digits (default 5) |
//! | `sort`, `sort:L` | sorting at most L numbers (default 15) |
//!
//! [`DataSpec`]'s `Display` writes the shortest spec that parses back to the same value
//! (parameters equal to their defaults are left out). [`DataSpec::load_images`] and
//! [`DataSpec::generate_sequences`] turn a spec into data.

use crate::data::csv::parse_chw;
use crate::data::{
    cifar10, csv, mnist, shapes, tasks, AdditionConfig, ImageSet, LogicConfig, ParityConfig,
    SequenceSet, ShapesConfig, SortConfig, Split,
};
use crate::{Error, Result};
use pact::Rng;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The default number of images of `shapes`.
pub const DEFAULT_SHAPES_N: usize = 10_000;
/// The default image side of `shapes`.
pub const DEFAULT_SHAPES_SIZE: usize = 32;
/// The default vector size of `parity` (Graves' B = 64).
pub const DEFAULT_PARITY_SIZE: usize = 64;
/// The default most gates per step of `logic`.
pub const DEFAULT_LOGIC_GATES: usize = 10;
/// The default most digits per number of `addition`.
pub const DEFAULT_ADDITION_DIGITS: usize = 5;
/// The default most numbers of `sort`.
pub const DEFAULT_SORT_LEN: usize = 15;

/// The accepted forms, for error messages.
pub const VALID_SPECS: &str = "cifar10:DIR, mnist:DIR, fashion-mnist[:DIR], csv:FILE:CxHxW, \
                               shapes[:N[:SIZE[:NOISE]]], \
                               parity[:B], logic[:GATES], addition[:DIGITS], sort[:LEN]";

/// A data set or task, as named by a spec string.
///
/// ```
/// use pact_models::data::DataSpec;
/// let spec = DataSpec::parse("csv:digits.csv:1x8x8")?;
/// assert_eq!(spec, DataSpec::Csv { file: "digits.csv".into(), shape: [1, 8, 8] });
/// assert_eq!(spec.to_string(), "csv:digits.csv:1x8x8");
/// assert_eq!(DataSpec::parse("parity:16")?, DataSpec::Parity { size: 16 });
/// assert!(DataSpec::parse("imagenet").unwrap_err().to_string().contains("cifar10:DIR"));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSpec {
    /// CIFAR-10 from the binary files in `dir`.
    Cifar10 {
        /// The directory.
        dir: PathBuf,
    },
    /// MNIST from the IDX files in `dir`.
    Mnist {
        /// The directory.
        dir: PathBuf,
    },
    /// Fashion-MNIST from the IDX files in `dir` (by default [`mnist::FASHION_MNIST_DIR`]).
    FashionMnist {
        /// The directory.
        dir: PathBuf,
    },
    /// Images from a CSV file.
    Csv {
        /// The file.
        file: PathBuf,
        /// The image shape `[C, H, W]`.
        shape: [usize; 3],
    },
    /// Synthetic shapes.
    Shapes {
        /// The number of images.
        n: usize,
        /// The image side.
        size: usize,
        /// The noise multiplier ([`ShapesConfig::noise_scale`]) in hundredths: 100 is the
        /// standard task, 400 four times the noise (harder).
        noise_percent: u32,
    },
    /// Graves' parity task.
    Parity {
        /// The vector size B.
        size: usize,
    },
    /// Graves' logic task.
    Logic {
        /// The most gates per step.
        max_gates: usize,
    },
    /// Graves' addition task.
    Addition {
        /// The most digits per number.
        max_digits: usize,
    },
    /// Graves' sort task.
    Sort {
        /// The most numbers per sequence.
        max_len: usize,
    },
}

/// Whether a data set is made of images or of sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// An [`crate::data::ImageSet`].
    Images,
    /// A [`crate::data::SequenceSet`].
    Sequences,
}

fn bad(spec: &str, why: impl fmt::Display) -> Error {
    Error::InvalidInput(format!("data spec {spec:?}: {why}"))
}

fn number(spec: &str, what: &str, text: &str, min: usize, max: usize) -> Result<usize> {
    match text.trim().parse::<usize>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(bad(
            spec,
            format!("{what} {text:?} is not an integer in {min}..={max}"),
        )),
    }
}

impl DataSpec {
    /// Parses a spec (forms in the module docs); unknown names give an error listing the valid
    /// forms.
    pub fn parse(spec: &str) -> Result<DataSpec> {
        let (name, rest) = match spec.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (spec, None),
        };
        let path = |what: &str, form: &str| -> Result<PathBuf> {
            match rest {
                Some(r) if !r.is_empty() => Ok(PathBuf::from(r)),
                _ => Err(bad(spec, format!("{name} needs a {what}: {form}"))),
            }
        };
        let param = |what: &str, default: usize, min: usize, max: usize| -> Result<usize> {
            match rest {
                None => Ok(default),
                Some(r) => number(spec, what, r, min, max),
            }
        };
        Ok(match name.trim() {
            "cifar10" => DataSpec::Cifar10 {
                dir: path("directory", "cifar10:DIR")?,
            },
            "mnist" => DataSpec::Mnist {
                dir: path("directory", "mnist:DIR")?,
            },
            "fashion-mnist" => DataSpec::FashionMnist {
                dir: match rest {
                    None => PathBuf::from(mnist::FASHION_MNIST_DIR),
                    Some(_) => path("directory", "fashion-mnist[:DIR]")?,
                },
            },
            "csv" => {
                let form = "csv:FILE:CxHxW, e.g. csv:digits.csv:1x8x8";
                match rest.and_then(|r| r.rsplit_once(':')) {
                    Some((file, shape)) if !file.is_empty() => DataSpec::Csv {
                        file: PathBuf::from(file),
                        shape: parse_chw(shape).map_err(|e| bad(spec, e))?,
                    },
                    _ => return Err(bad(spec, format!("csv needs a file and a shape: {form}"))),
                }
            }
            "shapes" => {
                let mut parts = rest.map(|r| r.split(':')).into_iter().flatten();
                let n = match parts.next() {
                    Some(n) => number(spec, "N", n, 1, usize::MAX)?,
                    None => DEFAULT_SHAPES_N,
                };
                let size = match parts.next() {
                    Some(s) => number(spec, "SIZE", s, 8, 4096)?,
                    None => DEFAULT_SHAPES_SIZE,
                };
                let noise_percent = match parts.next() {
                    Some(v) => match v.parse::<f64>() {
                        Ok(x) if x.is_finite() && (0.0..=100.0).contains(&x) => {
                            (x * 100.0).round() as u32
                        }
                        _ => {
                            return Err(bad(
                                spec,
                                format!("NOISE must be a number in [0, 100], got '{v}'"),
                            ))
                        }
                    },
                    None => 100,
                };
                if parts.next().is_some() {
                    return Err(bad(spec, "shapes takes at most N:SIZE:NOISE".to_string()));
                }
                DataSpec::Shapes {
                    n,
                    size,
                    noise_percent,
                }
            }
            "parity" => DataSpec::Parity {
                size: param("B", DEFAULT_PARITY_SIZE, 1, 1 << 20)?,
            },
            "logic" => DataSpec::Logic {
                max_gates: param("GATES", DEFAULT_LOGIC_GATES, 1, 1000)?,
            },
            "addition" => DataSpec::Addition {
                max_digits: param("DIGITS", DEFAULT_ADDITION_DIGITS, 1, 18)?,
            },
            "sort" => DataSpec::Sort {
                max_len: param("LEN", DEFAULT_SORT_LEN, 2, 10_000)?,
            },
            other => {
                return Err(bad(
                    spec,
                    format!("unknown data set {other:?}; valid specs: {VALID_SPECS}"),
                ))
            }
        })
    }

    /// The data set's name (`"cifar10"`, `"parity"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            DataSpec::Cifar10 { .. } => "cifar10",
            DataSpec::Mnist { .. } => "mnist",
            DataSpec::FashionMnist { .. } => "fashion-mnist",
            DataSpec::Csv { .. } => "csv",
            DataSpec::Shapes { .. } => "shapes",
            DataSpec::Parity { .. } => "parity",
            DataSpec::Logic { .. } => "logic",
            DataSpec::Addition { .. } => "addition",
            DataSpec::Sort { .. } => "sort",
        }
    }

    /// Whether the spec names images or sequences.
    pub fn kind(&self) -> DataKind {
        match self {
            DataSpec::Cifar10 { .. }
            | DataSpec::Mnist { .. }
            | DataSpec::FashionMnist { .. }
            | DataSpec::Csv { .. }
            | DataSpec::Shapes { .. } => DataKind::Images,
            _ => DataKind::Sequences,
        }
    }

    /// The images an image spec names. `split` picks the CIFAR-10 or MNIST files; a CSV file
    /// has no split and is loaded whole; `shapes` draws `n` fresh 3-channel images from `rng`
    /// (so use different generators, or one generator in turn, for training and test sets).
    /// Sequence specs are an error.
    ///
    /// ```
    /// use pact_models::data::{DataSpec, Split};
    /// let set = DataSpec::parse("shapes:12:8")?.load_images(Split::Train, &mut pact::Rng::seed(0))?;
    /// assert_eq!((set.len(), set.shape()), (12, [3, 8, 8]));
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn load_images(&self, split: Split, rng: &mut Rng) -> Result<ImageSet> {
        match self {
            DataSpec::Cifar10 { dir } => cifar10::load(dir, split),
            DataSpec::Mnist { dir } => mnist::load(dir, split),
            DataSpec::FashionMnist { dir } => {
                mnist::load_set(dir, split, mnist::IdxSet::FashionMnist)
            }
            DataSpec::Csv { file, shape } => csv::load(file, *shape),
            DataSpec::Shapes {
                n,
                size,
                noise_percent,
            } => {
                let config = ShapesConfig {
                    size: *size,
                    noise_scale: *noise_percent as f32 / 100.0,
                    ..ShapesConfig::default()
                };
                shapes::generate(*n, &config, rng)
            }
            _ => Err(Error::InvalidInput(format!(
                "data spec {self} names a sequence task, not images"
            ))),
        }
    }

    /// `n` examples of the sequence task a spec names, with the task's default settings apart
    /// from the spec's parameter (the input layout widens when the parameter needs it: `logic:12`
    /// has 12 gate chunks, `addition:7` 7 digit slots). Image specs are an error.
    ///
    /// ```
    /// use pact_models::data::DataSpec;
    /// let set = DataSpec::parse("parity:8")?.generate_sequences(5, &mut pact::Rng::seed(0))?;
    /// assert_eq!((set.len(), set.input_size), (5, 8));
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn generate_sequences(&self, n: usize, rng: &mut Rng) -> Result<SequenceSet> {
        match *self {
            DataSpec::Parity { size } => tasks::parity::generate(n, &ParityConfig::new(size), rng),
            DataSpec::Logic { max_gates } => {
                let base = LogicConfig::default();
                let config = LogicConfig {
                    gate_slots: base.gate_slots.max(max_gates),
                    max_gates,
                    ..base
                };
                tasks::logic::generate(n, &config, rng)
            }
            DataSpec::Addition { max_digits } => {
                let base = AdditionConfig::default();
                let config = AdditionConfig {
                    digit_slots: base.digit_slots.max(max_digits),
                    max_digits,
                    ..base
                };
                tasks::addition::generate(n, &config, rng)
            }
            DataSpec::Sort { max_len } => {
                let config = SortConfig {
                    max_len,
                    ..SortConfig::default()
                };
                tasks::sort::generate(n, &config, rng)
            }
            _ => Err(Error::InvalidInput(format!(
                "data spec {self} names images, not a sequence task"
            ))),
        }
    }
}

impl FromStr for DataSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DataSpec::parse(s)
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |f: &mut fmt::Formatter<'_>, v: usize, default: usize| {
            if v == default {
                Ok(())
            } else {
                write!(f, ":{v}")
            }
        };
        write!(f, "{}", self.name())?;
        match self {
            DataSpec::Cifar10 { dir } | DataSpec::Mnist { dir } => write!(f, ":{}", dir.display()),
            DataSpec::FashionMnist { dir } => {
                if dir.as_path() == std::path::Path::new(mnist::FASHION_MNIST_DIR) {
                    Ok(())
                } else {
                    write!(f, ":{}", dir.display())
                }
            }
            DataSpec::Csv { file, shape } => write!(
                f,
                ":{}:{}x{}x{}",
                file.display(),
                shape[0],
                shape[1],
                shape[2]
            ),
            DataSpec::Shapes {
                n,
                size,
                noise_percent,
            } => {
                if *noise_percent != 100 {
                    write!(f, ":{n}:{size}:{}", *noise_percent as f64 / 100.0)
                } else if *size != DEFAULT_SHAPES_SIZE {
                    write!(f, ":{n}:{size}")
                } else {
                    opt(f, *n, DEFAULT_SHAPES_N)
                }
            }
            DataSpec::Parity { size } => opt(f, *size, DEFAULT_PARITY_SIZE),
            DataSpec::Logic { max_gates } => opt(f, *max_gates, DEFAULT_LOGIC_GATES),
            DataSpec::Addition { max_digits } => opt(f, *max_digits, DEFAULT_ADDITION_DIGITS),
            DataSpec::Sort { max_len } => opt(f, *max_len, DEFAULT_SORT_LEN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_specs_round_trip() {
        for s in [
            "cifar10:/data/cifar-10-batches-bin",
            "mnist:data/mnist",
            "fashion-mnist",
            "fashion-mnist:data/fashion",
            "csv:digits.csv:1x8x8",
            "csv:C:\\data\\x.csv:3x4x5",
            "shapes",
            "shapes:500",
            "shapes:500:28",
            "shapes:10000:8",
            "parity",
            "parity:16",
            "logic",
            "logic:3",
            "addition",
            "addition:2",
            "sort",
            "sort:4",
        ] {
            let spec = DataSpec::parse(s).unwrap();
            assert_eq!(spec.to_string(), s);
            assert_eq!(s.parse::<DataSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn values_and_defaults() {
        assert_eq!(
            DataSpec::parse("csv:a:b.csv:1x2x3").unwrap(),
            DataSpec::Csv {
                file: "a:b.csv".into(),
                shape: [1, 2, 3]
            }
        );
        assert_eq!(
            DataSpec::parse("shapes").unwrap(),
            DataSpec::Shapes {
                n: DEFAULT_SHAPES_N,
                size: 32,
                noise_percent: 100
            }
        );
        let hard = DataSpec::parse("shapes:500:16:2.5").unwrap();
        assert_eq!(
            hard,
            DataSpec::Shapes {
                n: 500,
                size: 16,
                noise_percent: 250
            }
        );
        assert_eq!(hard.to_string(), "shapes:500:16:2.5");
        for bad in [
            "shapes:5:16:x",
            "shapes:5:16:-1",
            "shapes:5:16:1:2",
            "shapes:5:16:NaN",
        ] {
            assert!(DataSpec::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DataSpec::parse("fashion-mnist").unwrap(),
            DataSpec::FashionMnist {
                dir: mnist::FASHION_MNIST_DIR.into()
            }
        );
        assert_eq!(
            DataSpec::parse(&format!("fashion-mnist:{}", mnist::FASHION_MNIST_DIR))
                .unwrap()
                .to_string(),
            "fashion-mnist"
        );
        let p = DataSpec::parse("parity:64").unwrap();
        assert_eq!(p, DataSpec::Parity { size: 64 });
        assert_eq!(p.to_string(), "parity"); // defaults are left out
        assert_eq!(DataSpec::parse("sort").unwrap().kind(), DataKind::Sequences);
        assert_eq!(DataSpec::parse("mnist:x").unwrap().kind(), DataKind::Images);
    }

    #[test]
    fn fashion_mnist_loads_gzipped_files_with_class_names() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let gz = |name: &str, bytes: &[u8]| {
            let file = std::fs::File::create(dir.path().join(format!("{name}.gz"))).unwrap();
            let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap();
        };
        let header =
            |words: &[u32]| -> Vec<u8> { words.iter().flat_map(|w| w.to_be_bytes()).collect() };
        let mut images = header(&[mnist::IMAGES_MAGIC, 2, 2, 2]);
        images.extend([0, 255, 0, 255, 255, 0, 255, 0]);
        let mut labels = header(&[mnist::LABELS_MAGIC, 2]);
        labels.extend([9, 6]);
        gz("t10k-images-idx3-ubyte", &images);
        gz("t10k-labels-idx1-ubyte", &labels);
        let spec = DataSpec::parse(&format!("fashion-mnist:{}", dir.path().display())).unwrap();
        let set = spec.load_images(Split::Test, &mut Rng::seed(0)).unwrap();
        assert_eq!(set.name, "fashion-mnist-test");
        assert_eq!(
            (set.len(), set.shape(), set.labels.clone()),
            (2, [1, 2, 2], vec![9, 6])
        );
        assert_eq!(set.class_name(9), "Ankle boot");
        assert_eq!(set.class_name(6), "Shirt");
        assert_eq!(set.image(0), &[0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn specs_load_and_generate() {
        let mut rng = Rng::seed(0);
        let spec = DataSpec::parse("logic:12").unwrap();
        let set = spec.generate_sequences(4, &mut rng).unwrap();
        assert_eq!(set.input_size, 2 + 120);
        let set = DataSpec::parse("addition:2")
            .unwrap()
            .generate_sequences(4, &mut rng)
            .unwrap();
        assert_eq!((set.input_size, set.outputs_per_step), (50, 6));
        assert!(set.step_difficulty.iter().all(|&d| d <= 2));
        let set = DataSpec::parse("sort:3")
            .unwrap()
            .generate_sequences(4, &mut rng)
            .unwrap();
        assert_eq!(set.num_classes, 3);
        assert!(spec.load_images(Split::Test, &mut rng).is_err());
        let shapes = DataSpec::parse("shapes:3:8").unwrap();
        assert!(shapes.generate_sequences(1, &mut rng).is_err());
        let dir = tempfile::tempdir().unwrap();
        let missing = DataSpec::Mnist {
            dir: dir.path().into(),
        };
        assert!(matches!(
            missing.load_images(Split::Train, &mut rng),
            Err(Error::MissingData(_))
        ));
        let fashion = DataSpec::FashionMnist {
            dir: dir.path().into(),
        };
        let msg = fashion
            .load_images(Split::Test, &mut rng)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("Fashion-MNIST test data not found")
                && msg.contains("apt-get install dataset-fashion-mnist"),
            "{msg}"
        );
    }

    #[test]
    fn bad_specs_are_explained() {
        let msg = DataSpec::parse("imagenet:/x").unwrap_err().to_string();
        assert!(msg.contains("unknown data set \"imagenet\""), "{msg}");
        for form in [
            "cifar10:DIR",
            "mnist:DIR",
            "fashion-mnist[:DIR]",
            "csv:FILE:CxHxW",
            "parity",
            "sort",
        ] {
            assert!(msg.contains(form), "{msg}");
        }
        for (spec, needle) in [
            ("cifar10", "needs a directory"),
            ("mnist:", "needs a directory"),
            ("fashion-mnist:", "needs a directory"),
            ("csv:file.csv", "needs a file and a shape"),
            ("csv::1x8x8", "needs a file and a shape"),
            ("csv:f.csv:8x8", "CxHxW"),
            ("shapes:0", "N \"0\""),
            ("shapes:10:4", "SIZE"),
            ("shapes:ten", "N \"ten\""),
            ("parity:", "B \"\""),
            ("parity:-3", "B"),
            ("addition:19", "DIGITS"),
            ("sort:1", "LEN"),
            ("", "unknown"),
        ] {
            let msg = DataSpec::parse(spec).unwrap_err().to_string();
            assert!(msg.contains(needle), "{spec}: {msg}");
        }
    }
}
