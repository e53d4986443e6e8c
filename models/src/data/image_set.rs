//! [`ImageSet`]: a labelled set of images held as plain host data, and mini-batch orders.

use crate::{Error, Result};
use pact::Rng;

/// A labelled set of equally sized images, `N × C × H × W`, row-major (NCHW), as `f32`.
///
/// Plain host data: later code turns [`ImageSet::to_batch`]'s output into tensors. The fields are
/// public so callers can build sets by hand; [`ImageSet::new`] and [`ImageSet::validate`] check
/// that they agree with each other.
///
/// ```
/// use pact_models::data::ImageSet;
/// let set = ImageSet::new("tiny", vec![0.0, 1.0, 2.0, 3.0], vec![0, 1], [1, 1, 2], 2)?;
/// assert_eq!(set.len(), 2);
/// assert_eq!(set.image(1), &[2.0, 3.0]);
/// let (x, y) = set.to_batch(&[1, 0])?;
/// assert_eq!((x, y), (vec![2.0, 3.0, 0.0, 1.0], vec![1, 0]));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// The pixels of all images, `N·C·H·W` values in NCHW row-major order.
    pub images: Vec<f32>,
    /// One class label per image, each below `num_classes`.
    pub labels: Vec<usize>,
    /// Channels per image (C).
    pub channels: usize,
    /// Image height in pixels (H).
    pub height: usize,
    /// Image width in pixels (W).
    pub width: usize,
    /// The number of classes; labels lie in `0..num_classes`.
    pub num_classes: usize,
    /// A difficulty level per image, where the data set knows one (the synthetic shapes do).
    pub difficulty: Option<Vec<usize>>,
    /// The class names, indexed by label, where the data set has them (empty otherwise).
    pub class_names: Vec<String>,
    /// A short name for messages and reports (`"cifar10-train"`, `"shapes"`, a file name).
    pub name: String,
}

/// How much of an [`ImageSet`] goes into the first part of a [`ImageSet::split`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SplitSize {
    /// A fraction in `[0, 1]` of the images (rounded to the nearest whole image).
    Fraction(f64),
    /// An exact number of images, at most the set's length.
    Count(usize),
}

impl ImageSet {
    /// A set from its parts, checked with [`ImageSet::validate`]; `shape` is `[C, H, W]`.
    pub fn new(
        name: impl Into<String>,
        images: Vec<f32>,
        labels: Vec<usize>,
        shape: [usize; 3],
        num_classes: usize,
    ) -> Result<Self> {
        let set = ImageSet {
            images,
            labels,
            channels: shape[0],
            height: shape[1],
            width: shape[2],
            num_classes,
            difficulty: None,
            class_names: Vec::new(),
            name: name.into(),
        };
        set.validate()?;
        Ok(set)
    }

    /// The same set with a name for each class (`num_classes` names, else an error).
    ///
    /// ```
    /// use pact_models::data::ImageSet;
    /// let set = ImageSet::new("two", vec![0.0, 1.0], vec![0, 1], [1, 1, 1], 2)?
    ///     .with_class_names(["dark", "light"])?;
    /// assert_eq!(set.class_name(1), "light");
    /// assert!(ImageSet::new("two", vec![0.0], vec![0], [1, 1, 1], 2)?.with_class_names(["x"]).is_err());
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn with_class_names<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self> {
        self.class_names = names.into_iter().map(Into::into).collect();
        self.validate()?;
        Ok(self)
    }

    /// The name of class `label`: its given name, else `class LABEL`.
    pub fn class_name(&self, label: usize) -> String {
        self.class_names
            .get(label)
            .cloned()
            .unwrap_or_else(|| format!("class {label}"))
    }

    /// The same set with a difficulty level per image (one per image, else an error).
    pub fn with_difficulty(mut self, difficulty: Vec<usize>) -> Result<Self> {
        self.difficulty = Some(difficulty);
        self.validate()?;
        Ok(self)
    }

    /// Checks that the fields agree: a non-zero image shape, `N·C·H·W` pixels for `N` labels,
    /// labels below `num_classes`, and one difficulty per image where present.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| {
            Err(Error::InvalidInput(format!(
                "image set {}: {msg}",
                self.name
            )))
        };
        if self.channels == 0 || self.height == 0 || self.width == 0 {
            return bad(format!(
                "image shape {}x{}x{} has a zero dimension",
                self.channels, self.height, self.width
            ));
        }
        let expected = self.labels.len().checked_mul(self.image_len_checked()?);
        if expected != Some(self.images.len()) {
            return bad(format!(
                "{} labels need {} pixels of shape {}x{}x{}, but there are {}",
                self.labels.len(),
                expected.map_or_else(|| "too many".to_string(), |e| e.to_string()),
                self.channels,
                self.height,
                self.width,
                self.images.len()
            ));
        }
        if let Some((i, &l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l >= self.num_classes)
        {
            return bad(format!(
                "label {l} of image {i} is not below num_classes = {}",
                self.num_classes
            ));
        }
        if let Some(d) = &self.difficulty {
            if d.len() != self.labels.len() {
                return bad(format!(
                    "{} difficulty levels for {} images",
                    d.len(),
                    self.labels.len()
                ));
            }
        }
        if !self.class_names.is_empty() && self.class_names.len() != self.num_classes {
            return bad(format!(
                "{} class names for {} classes",
                self.class_names.len(),
                self.num_classes
            ));
        }
        Ok(())
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The shape of one image, `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The number of values in one image, `C·H·W`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` (`C·H·W` values, CHW order).
    ///
    /// # Panics
    /// If `i >= self.len()`, like slice indexing; [`ImageSet::get`] is the checked form.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// The pixels of image `i`, or `None` if there is no such image.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        (i < self.len()).then(|| self.image(i))
    }

    /// How many images each class has (`num_classes` counts).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
        }
        counts
    }

    /// The O(1) part of [`ImageSet::validate`]: the array lengths agree.
    fn check_layout(&self) -> Result<()> {
        let pixels = self.labels.len().checked_mul(self.image_len_checked()?);
        let difficulty_ok = self
            .difficulty
            .as_ref()
            .is_none_or(|d| d.len() == self.labels.len());
        if pixels != Some(self.images.len()) || !difficulty_ok {
            return self.validate();
        }
        Ok(())
    }

    fn image_len_checked(&self) -> Result<usize> {
        self.channels
            .checked_mul(self.height)
            .and_then(|v| v.checked_mul(self.width))
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "image set {}: image shape {}x{}x{} is too large",
                    self.name, self.channels, self.height, self.width
                ))
            })
    }

    fn check_indices(&self, indices: &[usize]) -> Result<()> {
        self.check_layout()?;
        match indices.iter().find(|&&i| i >= self.len()) {
            Some(i) => Err(Error::InvalidInput(format!(
                "image set {}: index {i} is out of range for {} images",
                self.name,
                self.len()
            ))),
            None => Ok(()),
        }
    }

    /// A new set of the images at `indices`, in that order (repeats allowed).
    pub fn subset(&self, indices: &[usize]) -> Result<ImageSet> {
        self.check_indices(indices)?;
        let (images, labels) = self.to_batch(indices)?;
        Ok(ImageSet {
            images,
            labels,
            channels: self.channels,
            height: self.height,
            width: self.width,
            num_classes: self.num_classes,
            difficulty: self
                .difficulty
                .as_ref()
                .map(|d| indices.iter().map(|&i| d[i]).collect()),
            class_names: self.class_names.clone(),
            name: self.name.clone(),
        })
    }

    /// Splits into the first `size` images and the rest, keeping the order (shuffle first with
    /// [`ImageSet::subset`] of a [`pact::Rng::permutation`] for a random split).
    ///
    /// ```
    /// use pact_models::data::{ImageSet, SplitSize};
    /// let set = ImageSet::new("s", vec![0.0; 10], (0..10).map(|i| i % 2).collect(), [1, 1, 1], 2)?;
    /// let (train, val) = set.split(SplitSize::Fraction(0.8))?;
    /// assert_eq!((train.len(), val.len()), (8, 2));
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn split(&self, size: SplitSize) -> Result<(ImageSet, ImageSet)> {
        let n = self.len();
        let first = match size {
            SplitSize::Fraction(f) if (0.0..=1.0).contains(&f) => (f * n as f64).round() as usize,
            SplitSize::Fraction(f) => {
                return Err(Error::InvalidInput(format!(
                    "split fraction {f} is not in [0, 1]"
                )))
            }
            SplitSize::Count(c) if c <= n => c,
            SplitSize::Count(c) => {
                return Err(Error::InvalidInput(format!(
                    "split count {c} is more than the {n} images of {}",
                    self.name
                )))
            }
        };
        let a: Vec<usize> = (0..first).collect();
        let b: Vec<usize> = (first..n).collect();
        Ok((self.subset(&a)?, self.subset(&b)?))
    }

    /// Mini-batches of indices covering the set once (one epoch); see [`Batches`].
    pub fn batches(&self, batch_size: usize, shuffle: bool, rng: &mut Rng) -> Result<Batches> {
        Batches::new(self.len(), batch_size, shuffle, rng)
    }

    /// The pixels (`len·C·H·W`, NCHW) and labels of the images at `indices`, in that order.
    pub fn to_batch(&self, indices: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
        self.check_indices(indices)?;
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        let labels = indices.iter().map(|&i| self.labels[i]).collect();
        Ok((images, labels))
    }
}

/// An iterator over one epoch of mini-batches: index vectors of `batch_size` (the last one may
/// be shorter), in order or in a random order drawn once from a [`pact::Rng`].
///
/// ```
/// use pact_models::data::Batches;
/// let mut rng = pact::Rng::seed(0);
/// let batches: Vec<Vec<usize>> = Batches::new(5, 2, false, &mut rng)?.collect();
/// assert_eq!(batches, vec![vec![0, 1], vec![2, 3], vec![4]]);
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
    position: usize,
}

impl Batches {
    /// Batches over `0..n`; `shuffle` draws a random permutation from `rng` (and nothing is
    /// drawn otherwise). A zero `batch_size` is an error.
    pub fn new(n: usize, batch_size: usize, shuffle: bool, rng: &mut Rng) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::InvalidInput("batch size must be at least 1".into()));
        }
        let order = if shuffle {
            rng.permutation(n)
        } else {
            (0..n).collect()
        };
        Ok(Batches {
            order,
            batch_size,
            position: 0,
        })
    }

    /// The number of batches in the epoch, `ceil(n / batch_size)`.
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

impl Iterator for Batches {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        if self.position >= self.order.len() {
            return None;
        }
        let end = (self.position + self.batch_size).min(self.order.len());
        let batch = self.order[self.position..end].to_vec();
        self.position = end;
        Some(batch)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.position).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ImageSet {
        // 4 images of 1x1x2, pixel values 10*i + j.
        let images = (0..4)
            .flat_map(|i| [10.0 * i as f32, 10.0 * i as f32 + 1.0])
            .collect();
        ImageSet::new("tiny", images, vec![0, 1, 2, 1], [1, 1, 2], 3).unwrap()
    }

    #[test]
    fn new_rejects_inconsistent_parts() {
        assert!(ImageSet::new("x", vec![0.0; 3], vec![0, 1], [1, 1, 2], 2).is_err());
        assert!(ImageSet::new("x", vec![0.0; 4], vec![0, 2], [1, 1, 2], 2).is_err());
        assert!(ImageSet::new("x", vec![], vec![], [0, 1, 2], 2).is_err());
        assert!(tiny().with_difficulty(vec![0, 1]).is_err());
        // A set built by hand with inconsistent fields gives errors, not panics.
        let mut broken = tiny();
        broken.images.pop();
        assert!(broken.to_batch(&[3]).is_err());
        assert!(broken.subset(&[0]).is_err());
        let mut broken = tiny();
        broken.difficulty = Some(vec![1]);
        assert!(broken.subset(&[2]).is_err());
    }

    #[test]
    fn image_subset_and_batch() {
        let s = tiny();
        assert_eq!(s.image(2), &[20.0, 21.0]);
        assert_eq!(s.get(4), None);
        let sub = s
            .clone()
            .with_difficulty(vec![5, 6, 7, 8])
            .unwrap()
            .subset(&[3, 0, 3])
            .unwrap();
        assert_eq!(sub.images, vec![30.0, 31.0, 0.0, 1.0, 30.0, 31.0]);
        assert_eq!(sub.labels, vec![1, 0, 1]);
        assert_eq!(sub.difficulty, Some(vec![8, 5, 8]));
        assert!(s.subset(&[4]).is_err());
        assert!(s.to_batch(&[0, 9]).is_err());
        assert_eq!(s.class_counts(), vec![1, 2, 1]);
    }

    #[test]
    fn split_by_fraction_and_count() {
        let s = tiny();
        let (a, b) = s.split(SplitSize::Count(1)).unwrap();
        assert_eq!((a.labels, b.labels), (vec![0], vec![1, 2, 1]));
        let (a, b) = s.split(SplitSize::Fraction(0.5)).unwrap();
        assert_eq!((a.len(), b.len()), (2, 2));
        assert!(s.split(SplitSize::Count(5)).is_err());
        assert!(s.split(SplitSize::Fraction(1.5)).is_err());
        assert!(s.split(SplitSize::Fraction(f64::NAN)).is_err());
    }

    #[test]
    fn batches_cover_every_index_once() {
        let mut rng = Rng::seed(4);
        let b = Batches::new(10, 3, true, &mut rng).unwrap();
        assert_eq!(b.num_batches(), 4);
        assert_eq!(b.len(), 4);
        let batches: Vec<_> = b.collect();
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [3, 3, 3, 1]
        );
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(Batches::new(10, 0, false, &mut rng).is_err());
        let mut again = Rng::seed(4);
        let first: Vec<_> = tiny().batches(2, true, &mut again).unwrap().collect();
        let mut again2 = Rng::seed(4);
        let second: Vec<_> = tiny().batches(2, true, &mut again2).unwrap().collect();
        assert_eq!(first, second);
    }
}
