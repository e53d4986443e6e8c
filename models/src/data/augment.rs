//! Standard image augmentation: zero-pad and random crop, random horizontal flip, and
//! per-image standardisation.
//!
//! Images are CHW `f32` slices of a given `[C, H, W]` shape. Every random choice is drawn from
//! the [`pact::Rng`] passed in, in a fixed order per image (crop row offset, crop column
//! offset, then the flip), so a seed fixes the augmentation.

use crate::{Error, Result};
use pact::Rng;

/// The augmentation to apply to each training image, in this order: pad-and-crop, flip,
/// standardise.
///
/// ```
/// use pact_models::data::augment::Augment;
/// let mut batch = vec![0.5f32; 2 * 3 * 8 * 8]; // two 3x8x8 images
/// Augment::default().apply(&mut batch, [3, 8, 8], &mut pact::Rng::seed(0))?;
/// assert_eq!(batch.len(), 2 * 3 * 8 * 8);
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Augment {
    /// Zero padding on each side before a random crop back to the original size (0: off).
    pub pad: usize,
    /// Flip horizontally with probability 1/2.
    pub flip: bool,
    /// Standardise each image to zero mean and unit standard deviation (see [`standardize`]).
    pub standardize: bool,
}

impl Default for Augment {
    /// The usual CIFAR recipe: pad 4, random crop, random flip, per-image standardisation.
    fn default() -> Self {
        Augment {
            pad: 4,
            flip: true,
            standardize: true,
        }
    }
}

impl Augment {
    /// No augmentation at all (for evaluation, apart from any standardisation you turn on).
    pub fn none() -> Self {
        Augment {
            pad: 0,
            flip: false,
            standardize: false,
        }
    }

    /// Augments every image of a batch (`N·C·H·W` values, NCHW) in place.
    ///
    /// On a generator with a [`Shard`](pact::Shard) (a replica of a data-parallel run), the
    /// batch holds the shard's images: the choices of the whole batch are drawn, in order,
    /// and each image gets the choices of its position in the whole batch, as in one process.
    ///
    /// ```
    /// use pact::{Rng, Shard};
    /// use pact_models::data::augment::Augment;
    /// let images: Vec<f32> = (0..4 * 36).map(|v| v as f32).collect(); // four 1x6x6 images
    /// let mut whole = images.clone();
    /// Augment::default().apply(&mut whole, [1, 6, 6], &mut Rng::seed(3))?;
    /// let mut last_two = images[2 * 36..].to_vec();
    /// let mut rng = Rng::seed(3);
    /// rng.set_shard(Some(Shard { start: 2, len: 2, total: 4 }));
    /// Augment::default().apply(&mut last_two, [1, 6, 6], &mut rng)?;
    /// assert_eq!(last_two, whole[2 * 36..]);
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn apply(&self, batch: &mut [f32], shape: [usize; 3], rng: &mut Rng) -> Result<()> {
        let len = image_len(shape)?;
        if batch.len() % len != 0 {
            return Err(Error::InvalidInput(format!(
                "augment: batch of {} values is not a whole number of {}x{}x{} images",
                batch.len(),
                shape[0],
                shape[1],
                shape[2]
            )));
        }
        let Some(shard) = rng.shard() else {
            for image in batch.chunks_exact_mut(len) {
                self.apply_image(image, shape, rng)?;
            }
            return Ok(());
        };
        let images = batch.len() / len;
        if images != shard.len {
            return Err(Error::InvalidInput(format!(
                "augment: {images} images for a shard of {} examples",
                shard.len
            )));
        }
        let mut chunks = batch.chunks_exact_mut(len);
        for position in 0..shard.total {
            let choice = self.choose(rng);
            if (shard.start..shard.start + shard.len).contains(&position) {
                if let Some(image) = chunks.next() {
                    self.apply_choice(image, shape, choice)?;
                }
            }
        }
        Ok(())
    }

    /// Augments one CHW image in place.
    pub fn apply_image(&self, image: &mut [f32], shape: [usize; 3], rng: &mut Rng) -> Result<()> {
        check_image(image, shape)?;
        let choice = self.choose(rng);
        self.apply_choice(image, shape, choice)
    }

    /// Draws the random choices for one image, in a fixed order: crop row offset, crop
    /// column offset, flip.
    fn choose(&self, rng: &mut Rng) -> Choice {
        let (mut dy, mut dx) = (self.pad, self.pad);
        if self.pad > 0 {
            dy = rng.below(2 * self.pad + 1);
            dx = rng.below(2 * self.pad + 1);
        }
        let flip = self.flip && rng.uniform() < 0.5;
        Choice { dy, dx, flip }
    }

    fn apply_choice(&self, image: &mut [f32], shape: [usize; 3], choice: Choice) -> Result<()> {
        check_image(image, shape)?;
        if self.pad > 0 {
            let cropped = pad_crop(image, shape, self.pad, choice.dy, choice.dx)?;
            image.copy_from_slice(&cropped);
        }
        if choice.flip {
            hflip(image, shape)?;
        }
        if self.standardize {
            standardize(image, None);
        }
        Ok(())
    }
}

/// The random choices of one image's augmentation.
#[derive(Clone, Copy)]
struct Choice {
    dy: usize,
    dx: usize,
    flip: bool,
}

fn image_len(shape: [usize; 3]) -> Result<usize> {
    let len = shape[0] * shape[1] * shape[2];
    if len == 0 {
        return Err(Error::InvalidInput(format!(
            "augment: image shape {}x{}x{} has a zero dimension",
            shape[0], shape[1], shape[2]
        )));
    }
    Ok(len)
}

fn check_image(image: &[f32], shape: [usize; 3]) -> Result<()> {
    let len = image_len(shape)?;
    if image.len() != len {
        return Err(Error::InvalidInput(format!(
            "augment: image of {} values does not have shape {}x{}x{}",
            image.len(),
            shape[0],
            shape[1],
            shape[2]
        )));
    }
    Ok(())
}

/// Pads a CHW image with `pad` zeros on every side and crops the original size back out at
/// offset `(dy, dx)` in the padded image (`0..=2·pad` each; `(pad, pad)` is the identity).
pub fn pad_crop(
    image: &[f32],
    shape: [usize; 3],
    pad: usize,
    dy: usize,
    dx: usize,
) -> Result<Vec<f32>> {
    check_image(image, shape)?;
    if dy > 2 * pad || dx > 2 * pad {
        return Err(Error::InvalidInput(format!(
            "augment: crop offset ({dy}, {dx}) is outside 0..={} for padding {pad}",
            2 * pad
        )));
    }
    let [c, h, w] = shape;
    let mut out = vec![0.0; image.len()];
    for ch in 0..c {
        for y in 0..h {
            // Row y of the crop is row y + dy - pad of the original.
            let Some(sy) = (y + dy).checked_sub(pad).filter(|&sy| sy < h) else {
                continue;
            };
            for x in 0..w {
                if let Some(sx) = (x + dx).checked_sub(pad).filter(|&sx| sx < w) {
                    out[(ch * h + y) * w + x] = image[(ch * h + sy) * w + sx];
                }
            }
        }
    }
    Ok(out)
}

/// Mirrors a CHW image left to right, in place.
pub fn hflip(image: &mut [f32], shape: [usize; 3]) -> Result<()> {
    check_image(image, shape)?;
    for row in image.chunks_exact_mut(shape[2]) {
        row.reverse();
    }
    Ok(())
}

/// Standardises an image in place: subtracts the mean of all its values and divides by their
/// standard deviation, floored at `floor` (default `1/√(number of values)`, as in
/// TensorFlow's `per_image_standardization`, so a constant image becomes all zeros).
pub fn standardize(image: &mut [f32], floor: Option<f32>) {
    if image.is_empty() {
        return;
    }
    let n = image.len() as f64;
    let mean = image.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = image
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let floor = floor.map_or(1.0 / n.sqrt(), f64::from);
    let scale = var.sqrt().max(floor);
    for v in image.iter_mut() {
        *v = ((f64::from(*v) - mean) / scale) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x2x3 image with pixel (y, x) = 10y + x + 1.
    fn tiny() -> Vec<f32> {
        vec![1.0, 2.0, 3.0, 11.0, 12.0, 13.0]
    }

    #[test]
    fn flip_mirrors_each_row_of_each_channel() {
        let mut img: Vec<f32> = (0..12).map(|v| v as f32).collect(); // 2x2x3
        hflip(&mut img, [2, 2, 3]).unwrap();
        assert_eq!(img, vec![2., 1., 0., 5., 4., 3., 8., 7., 6., 11., 10., 9.]);
        assert!(hflip(&mut img, [1, 2, 3]).is_err());
    }

    #[test]
    fn crop_shifts_in_zeros() {
        let s = [1, 2, 3];
        assert_eq!(pad_crop(&tiny(), s, 1, 1, 1).unwrap(), tiny()); // identity
                                                                    // Offset (0, 0): the image moves down-right by one, zeros enter top and left.
        assert_eq!(
            pad_crop(&tiny(), s, 1, 0, 0).unwrap(),
            vec![0.0, 0.0, 0.0, 0.0, 1.0, 2.0]
        );
        // Offset (2, 2): up-left by one.
        assert_eq!(
            pad_crop(&tiny(), s, 1, 2, 2).unwrap(),
            vec![12.0, 13.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(
            pad_crop(&tiny(), s, 1, 1, 2).unwrap(),
            vec![2.0, 3.0, 0.0, 12.0, 13.0, 0.0]
        );
        // A pad larger than the image can crop out nothing but zeros.
        assert_eq!(pad_crop(&tiny(), s, 4, 0, 0).unwrap(), vec![0.0; 6]);
        assert!(pad_crop(&tiny(), s, 1, 3, 0).is_err());
    }

    #[test]
    fn standardize_gives_zero_mean_unit_std_and_floors() {
        let mut img = tiny();
        standardize(&mut img, None);
        let mean: f32 = img.iter().sum::<f32>() / 6.0;
        let var: f32 = img.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 6.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
        let mut flat = vec![3.0; 4];
        standardize(&mut flat, None);
        assert_eq!(flat, vec![0.0; 4]);
        let mut small = vec![0.0, 0.2];
        standardize(&mut small, Some(1.0)); // std 0.1 floored at 1
        assert!((small[0] + 0.1).abs() < 1e-7 && (small[1] - 0.1).abs() < 1e-7);
    }

    #[test]
    fn augment_preserves_shape_and_is_seeded() {
        let shape = [3, 5, 4];
        let base: Vec<f32> = (0..3 * 60).map(|v| v as f32).collect();
        let (mut a, mut b) = (base.clone(), base.clone());
        let aug = Augment::default();
        aug.apply(&mut a, shape, &mut Rng::seed(1)).unwrap();
        aug.apply(&mut b, shape, &mut Rng::seed(1)).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), base.len());
        let mut none = base.clone();
        Augment::none()
            .apply(&mut none, shape, &mut Rng::seed(1))
            .unwrap();
        assert_eq!(none, base);
        assert!(aug.apply(&mut [0.0; 7], shape, &mut Rng::seed(1)).is_err());
    }

    #[test]
    fn flips_half_the_time_and_crops_within_range() {
        let shape = [1, 1, 2];
        let aug = Augment {
            pad: 0,
            flip: true,
            standardize: false,
        };
        let mut rng = Rng::seed(2);
        let mut flipped = 0;
        for _ in 0..400 {
            let mut img = vec![1.0, 2.0];
            aug.apply_image(&mut img, shape, &mut rng).unwrap();
            assert!(img == [1.0, 2.0] || img == [2.0, 1.0]);
            flipped += usize::from(img == [2.0, 1.0]);
        }
        assert!((150..250).contains(&flipped), "{flipped}");
        // Pad 1 on a 1x1x1 image: the pixel survives only when the crop is centred.
        let crop = Augment {
            pad: 1,
            flip: false,
            standardize: false,
        };
        let mut kept = 0;
        for _ in 0..900 {
            let mut img = vec![5.0];
            crop.apply_image(&mut img, [1, 1, 1], &mut rng).unwrap();
            assert!(img == [5.0] || img == [0.0]);
            kept += usize::from(img == [5.0]);
        }
        assert!((60..140).contains(&kept), "{kept}"); // 1/9 of 900 = 100
    }
}
