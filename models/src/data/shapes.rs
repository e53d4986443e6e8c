//! A built-in synthetic image task whose difficulty varies per image in a known way.
//!
//! Each image shows one shape (the class) at a random position on a random background. A
//! difficulty level `0..=3` sets, together:
//!
//! | level | half-size (× side) | contrast | noise σ | distractor strokes |
//! |---|---|---|---|---|
//! | 0 | 0.40 | 1.00 | 0.00 | 0 |
//! | 1 | 0.34 | 0.75 | 0.05 | 1 |
//! | 2 | 0.29 | 0.60 | 0.10 | 2 |
//! | 3 | 0.24 | 0.45 | 0.15 | 3 |
//!
//! (noise σ is multiplied by [`ShapesConfig::noise_scale`]; half-sizes are at least 2.5 pixels).
//! Level 0 images are large, clean and high-contrast, so they are near-trivial to classify;
//! level 3 images are small, faint, noisy and cluttered with thin strokes, so telling a plus
//! from a stroke crossing or a disc from a square needs more computation: exactly what an
//! adaptive network should learn to spend. Each image's level is stored in
//! [`ImageSet::difficulty`].
//!
//! Labels and levels are balanced: example `i` of a set gets the `i`-th (class, level) pair of
//! a cyclic schedule, and the examples are then put in random order. Everything is drawn from
//! the [`pact::Rng`] passed in, so a seed fixes the set.

use crate::data::{standard_normal, ImageSet};
use crate::{Error, Result};
use pact::Rng;

/// The shapes, by class label. A set with `classes = k` uses the first `k`.
pub const CLASS_NAMES: [&str; 8] = [
    "square", "disc", "triangle", "plus", "hbar", "vbar", "x", "ring",
];
/// The number of difficulty levels (`0..=3`).
pub const LEVELS: usize = 4;

const HALF_SIZE: [f32; LEVELS] = [0.40, 0.34, 0.29, 0.24];
const CONTRAST: [f32; LEVELS] = [1.0, 0.75, 0.60, 0.45];
const NOISE: [f32; LEVELS] = [0.0, 0.05, 0.10, 0.15];
const STROKES: [usize; LEVELS] = [0, 1, 2, 3];
/// Subsamples per pixel side for anti-aliased coverage.
const SUB: usize = 3;

/// The settings of a shapes set.
///
/// ```
/// use pact_models::data::shapes::{self, ShapesConfig};
/// let config = ShapesConfig { size: 8, channels: 1, classes: 4, ..ShapesConfig::default() };
/// let set = shapes::generate(40, &config, &mut pact::Rng::seed(1))?;
/// assert_eq!((set.len(), set.shape(), set.num_classes), (40, [1, 8, 8], 4));
/// assert_eq!(set.class_counts(), vec![10, 10, 10, 10]);
/// assert!(set.difficulty.unwrap().iter().all(|&d| d <= 3));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ShapesConfig {
    /// Image side in pixels (at least 8; 8, 28 and 32 are typical).
    pub size: usize,
    /// Channels: 1 (grey) or 3 (colour; the shape gets a random tint).
    pub channels: usize,
    /// The number of classes, 2 to 8 (the first `classes` of [`CLASS_NAMES`]).
    pub classes: usize,
    /// The lowest difficulty level drawn (`0..=3`).
    pub min_difficulty: usize,
    /// The highest difficulty level drawn (`min_difficulty..=3`).
    pub max_difficulty: usize,
    /// A factor on the noise standard deviation of every level (1 = the table above).
    pub noise_scale: f32,
}

impl Default for ShapesConfig {
    /// 3×32×32 images, 6 classes, all four levels, standard noise.
    fn default() -> Self {
        ShapesConfig {
            size: 32,
            channels: 3,
            classes: 6,
            min_difficulty: 0,
            max_difficulty: LEVELS - 1,
            noise_scale: 1.0,
        }
    }
}

impl ShapesConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidInput(format!("shapes: {m}")));
        if self.size < 8 {
            return bad(format!("size {} is below the minimum of 8", self.size));
        }
        if self.channels != 1 && self.channels != 3 {
            return bad(format!("channels {} is neither 1 nor 3", self.channels));
        }
        if !(2..=CLASS_NAMES.len()).contains(&self.classes) {
            return bad(format!(
                "classes {} is not in 2..={}",
                self.classes,
                CLASS_NAMES.len()
            ));
        }
        if self.min_difficulty > self.max_difficulty || self.max_difficulty >= LEVELS {
            return bad(format!(
                "difficulty range {}..={} is not within 0..={}",
                self.min_difficulty,
                self.max_difficulty,
                LEVELS - 1
            ));
        }
        if !self.noise_scale.is_finite() || self.noise_scale < 0.0 {
            return bad(format!(
                "noise_scale {} is not a finite non-negative number",
                self.noise_scale
            ));
        }
        Ok(())
    }
}

/// Generates `n` images (see the module docs), as an [`ImageSet`] named `shapes` with a
/// difficulty level per image.
pub fn generate(n: usize, config: &ShapesConfig, rng: &mut Rng) -> Result<ImageSet> {
    config.validate()?;
    let levels = config.max_difficulty - config.min_difficulty + 1;
    let order = rng.permutation(n);
    let s = config.size;
    let mut images = Vec::with_capacity(n * config.channels * s * s);
    let mut labels = Vec::with_capacity(n);
    let mut difficulty = Vec::with_capacity(n);
    for &slot in &order {
        let class = slot % config.classes;
        let level = config.min_difficulty + (slot / config.classes) % levels;
        images.extend(render(class, level, config, rng)?);
        labels.push(class);
        difficulty.push(level);
    }
    ImageSet::new(
        "shapes",
        images,
        labels,
        [config.channels, s, s],
        config.classes,
    )?
    .with_difficulty(difficulty)
}

/// Renders one image (`C·size·size` values in `[0, 1]`, CHW) of shape `class` at difficulty
/// `level`.
pub fn render(
    class: usize,
    level: usize,
    config: &ShapesConfig,
    rng: &mut Rng,
) -> Result<Vec<f32>> {
    config.validate()?;
    if class >= config.classes || level >= LEVELS {
        return Err(Error::InvalidInput(format!(
            "shapes: class {class} or level {level} out of range ({} classes, {LEVELS} levels)",
            config.classes
        )));
    }
    let s = config.size;
    let sf = s as f32;
    let r = (HALF_SIZE[level] * sf).max(2.5);
    let stroke = (sf / 16.0).max(1.0);
    // Centre, keeping the shape one pixel inside the border.
    let span = (sf - 2.0 * (r + 1.0)).max(0.0);
    let cx = r + 1.0 + span * rng.uniform() as f32;
    let cy = r + 1.0 + span * rng.uniform() as f32;
    let mut cover = vec![0f32; s * s];
    for y in 0..s {
        for x in 0..s {
            let mut hits = 0;
            for sy in 0..SUB {
                for sx in 0..SUB {
                    let px = x as f32 + (sx as f32 + 0.5) / SUB as f32;
                    let py = y as f32 + (sy as f32 + 0.5) / SUB as f32;
                    if inside(class, (px - cx) / r, (py - cy) / r, stroke / r) {
                        hits += 1;
                    }
                }
            }
            cover[y * s + x] = hits as f32 / (SUB * SUB) as f32;
        }
    }
    for _ in 0..STROKES[level] {
        let x0 = sf * rng.uniform() as f32;
        let y0 = sf * rng.uniform() as f32;
        let angle = std::f32::consts::TAU * rng.uniform() as f32;
        let len = sf * (0.3 + 0.3 * rng.uniform() as f32);
        let seg = (x0, y0, x0 + len * angle.cos(), y0 + len * angle.sin());
        draw_segment(&mut cover, s, seg, 0.5 * stroke.min(2.0) * 0.75, 0.8);
    }
    let contrast = CONTRAST[level];
    let background = (1.0 - contrast) * rng.uniform() as f32;
    let sigma = NOISE[level] * config.noise_scale;
    let mut out = Vec::with_capacity(config.channels * s * s);
    for _ in 0..config.channels {
        let tint = if config.channels == 1 {
            1.0
        } else {
            0.7 + 0.3 * rng.uniform() as f32
        };
        for &c in &cover {
            let noise = if sigma > 0.0 {
                sigma * standard_normal(rng) as f32
            } else {
                0.0
            };
            out.push((background + c * contrast * tint + noise).clamp(0.0, 1.0));
        }
    }
    Ok(out)
}

/// Whether the point `(u, v)` (shape coordinates, the shape spans `[-1, 1]²`) is inside shape
/// `class`; `t` is the stroke width of outlines in the same units.
fn inside(class: usize, u: f32, v: f32, t: f32) -> bool {
    let (au, av) = (u.abs(), v.abs());
    let arm = (0.5 * t).max(0.18);
    match class {
        0 => au.max(av) <= 1.0 && au.max(av) >= 1.0 - t, // square outline
        1 => u * u + v * v <= 1.0,                       // disc
        2 => (-1.0..=1.0).contains(&v) && au <= 0.5 * (v + 1.0), // triangle, apex up
        3 => (au <= arm && av <= 1.0) || (av <= arm && au <= 1.0), // plus
        4 => av <= 0.3 && au <= 1.0,                     // horizontal bar
        5 => au <= 0.3 && av <= 1.0,                     // vertical bar
        6 => au.max(av) <= 1.0 && (au - av).abs() <= 1.4 * arm, // diagonal cross
        _ => {
            let d = (u * u + v * v).sqrt();
            d <= 1.0 && d >= 1.0 - t // ring
        }
    }
}

/// Adds a line segment of half-width `hw` at intensity `level` (max-composited).
fn draw_segment(
    cover: &mut [f32],
    s: usize,
    (x0, y0, x1, y1): (f32, f32, f32, f32),
    hw: f32,
    level: f32,
) {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len2 = (dx * dx + dy * dy).max(1e-6);
    for y in 0..s {
        for x in 0..s {
            let mut hits = 0;
            for sy in 0..SUB {
                for sx in 0..SUB {
                    let px = x as f32 + (sx as f32 + 0.5) / SUB as f32;
                    let py = y as f32 + (sy as f32 + 0.5) / SUB as f32;
                    let t = (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0);
                    let (ex, ey) = (px - x0 - t * dx, py - y0 - t * dy);
                    if ex * ex + ey * ey <= hw * hw {
                        hits += 1;
                    }
                }
            }
            let c = level * hits as f32 / (SUB * SUB) as f32;
            let p = &mut cover[y * s + x];
            *p = p.max(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(classes: usize) -> ShapesConfig {
        ShapesConfig {
            size: 8,
            channels: 1,
            classes,
            ..ShapesConfig::default()
        }
    }

    #[test]
    fn same_seed_same_set_other_seed_other_set() {
        let c = ShapesConfig {
            size: 16,
            ..ShapesConfig::default()
        };
        let a = generate(24, &c, &mut Rng::seed(5)).unwrap();
        let b = generate(24, &c, &mut Rng::seed(5)).unwrap();
        let d = generate(24, &c, &mut Rng::seed(6)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.images, d.images);
        assert_eq!(a.shape(), [3, 16, 16]);
        assert!(a.images.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn classes_and_levels_are_balanced() {
        let set = generate(101, &small(4), &mut Rng::seed(2)).unwrap();
        let counts = set.class_counts();
        assert!(counts.iter().all(|&c| c == 25 || c == 26), "{counts:?}");
        let d = set.difficulty.as_ref().unwrap();
        for class in 0..4 {
            let mut per_level = [0; LEVELS];
            for i in (0..set.len()).filter(|&i| set.labels[i] == class) {
                per_level[d[i]] += 1;
            }
            assert!(
                per_level.iter().all(|&n| (6..=7).contains(&n)),
                "{per_level:?}"
            );
        }
        // Not in schedule order: the labels are shuffled.
        assert_ne!(set.labels[..8], [0, 1, 2, 3, 0, 1, 2, 3]);
    }

    #[test]
    fn difficulty_range_is_respected() {
        let c = ShapesConfig {
            min_difficulty: 2,
            max_difficulty: 3,
            ..small(3)
        };
        let set = generate(30, &c, &mut Rng::seed(0)).unwrap();
        let d = set.difficulty.unwrap();
        assert!(d.iter().all(|&l| l == 2 || l == 3));
        assert_eq!(d.iter().filter(|&&l| l == 2).count(), 15);
    }

    #[test]
    fn easy_images_are_clean_and_hard_ones_noisy() {
        let c = ShapesConfig {
            size: 28,
            channels: 1,
            classes: 8,
            ..ShapesConfig::default()
        };
        let mut rng = Rng::seed(3);
        for class in 0..8 {
            let easy = render(class, 0, &c, &mut rng).unwrap();
            let bg = easy[0];
            // Level 0: full contrast (shape at bg + 1 ⇒ bg = 0), no noise: most pixels are
            // exactly the background, and the shape covers a good part of the image.
            assert_eq!(bg, 0.0);
            let on = easy.iter().filter(|&&p| p > 0.5).count();
            assert!(
                on > 28 && on < 28 * 28 * 6 / 10,
                "class {class}: {on} pixels on"
            );
            assert!(easy.iter().filter(|&&p| p == bg).count() > 28 * 28 / 3);
            let hard = render(class, 3, &c, &mut rng).unwrap();
            let distinct = {
                let mut v: Vec<u32> = hard.iter().map(|p| p.to_bits()).collect();
                v.sort_unstable();
                v.dedup();
                v.len()
            };
            assert!(distinct > 28 * 28 / 2, "level 3 should be noisy");
        }
    }

    #[test]
    fn easy_classes_differ_in_simple_statistics() {
        // The area covered by a clean shape already separates most classes: a sign that the
        // easy level is near-trivial to learn.
        let c = ShapesConfig {
            size: 32,
            channels: 1,
            classes: 4,
            ..ShapesConfig::default()
        };
        let mut rng = Rng::seed(9);
        let area: Vec<f32> = (0..4)
            .map(|class| render(class, 0, &c, &mut rng).unwrap().iter().sum())
            .collect();
        // square outline < plus < triangle < disc
        assert!(
            area[0] < area[3] && area[3] < area[2] && area[2] < area[1],
            "{area:?}"
        );
    }

    #[test]
    fn bad_configs_are_rejected() {
        let base = ShapesConfig::default();
        for c in [
            ShapesConfig {
                size: 4,
                ..base.clone()
            },
            ShapesConfig {
                channels: 2,
                ..base.clone()
            },
            ShapesConfig {
                classes: 1,
                ..base.clone()
            },
            ShapesConfig {
                classes: 9,
                ..base.clone()
            },
            ShapesConfig {
                max_difficulty: 4,
                ..base.clone()
            },
            ShapesConfig {
                min_difficulty: 3,
                max_difficulty: 2,
                ..base.clone()
            },
            ShapesConfig {
                noise_scale: f32::NAN,
                ..base.clone()
            },
        ] {
            assert!(generate(4, &c, &mut Rng::seed(0)).is_err(), "{c:?}");
        }
        assert!(render(6, 0, &base, &mut Rng::seed(0)).is_err());
    }
}
