//! Heat maps of values on a grid (e.g. ponder-cost maps), in the viridis colour scale, over
//! an optional grey image, with a labelled colour bar.

use super::{plot_err, style, Raster};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Stops of the viridis colour scale (matplotlib's default), evenly spaced from 0 to 1.
const VIRIDIS: [(u8, u8, u8); 8] = [
    (68, 1, 84),
    (70, 50, 127),
    (54, 92, 141),
    (39, 127, 143),
    (31, 162, 136),
    (74, 194, 110),
    (160, 219, 57),
    (254, 232, 37),
];

/// The viridis colour of `t ∈ [0, 1]` (clamped; linear between the stops).
///
/// ```
/// use pact_models::plot::viridis;
/// assert_eq!(viridis(0.0), [68, 1, 84]);
/// assert_eq!(viridis(1.0), [254, 232, 37]);
/// ```
pub fn viridis(t: f64) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + f * (q as f64 - p as f64)).round() as u8;
    [mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2)]
}

/// A grid of values drawn as coloured squares, scaled to fit its panel, with a colour bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Width of the grid.
    pub width: usize,
    /// Height of the grid.
    pub height: usize,
    /// `width × height` values, row-major.
    pub values: Vec<f64>,
    /// The value range of the colour scale `(low, high)`; values outside are clamped.
    pub range: (f64, f64),
    /// An image of the same size drawn in grey under the colours, if any.
    pub background: Option<Raster>,
    /// Opacity of the colours over the background (`0 … 1`; 1 hides it).
    pub opacity: f64,
    /// A caption drawn under the map.
    pub caption: String,
    /// The name of the quantity, drawn above the colour bar.
    pub scale_label: String,
}

impl Heatmap {
    /// A heat map of `values` (`height × width`, row-major) with the colour scale spanning
    /// their range (widened to at least 1 when they are all equal).
    pub fn new(
        values: Vec<f64>,
        height: usize,
        width: usize,
        caption: impl Into<String>,
    ) -> Result<Heatmap> {
        if height == 0 || width == 0 || values.len() != height * width {
            return Err(Error::InvalidInput(format!(
                "a {height}x{width} heat map needs {} values, got {}",
                height * width,
                values.len()
            )));
        }
        super::check_finite("heat map", values.iter().copied())?;
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok(Heatmap {
            width,
            height,
            values,
            range: widen(lo, hi),
            background: None,
            opacity: 1.0,
            caption: caption.into(),
            scale_label: String::new(),
        })
    }

    /// Sets the colour-scale range (widened to at least 1 when `low == high`).
    pub fn range(mut self, low: f64, high: f64) -> Self {
        self.range = widen(low.min(high), high.max(low));
        self
    }

    /// Draws the map over `image` (shown in grey) with the colours at `opacity`.
    pub fn over(mut self, image: Raster, opacity: f64) -> Self {
        self.background = Some(image);
        self.opacity = opacity.clamp(0.0, 1.0);
        self
    }

    /// Names the quantity on the colour bar.
    pub fn scale_label(mut self, label: impl Into<String>) -> Self {
        self.scale_label = label.into();
        self
    }

    /// The colour of grid cell `i`: viridis of the scaled value, blended over the background.
    fn color(&self, i: usize) -> RGBColor {
        let (lo, hi) = self.range;
        let c = viridis((self.values[i] - lo) / (hi - lo));
        let Some(bg) = &self.background else {
            return RGBColor(c[0], c[1], c[2]);
        };
        let p = bg.pixels[i];
        let grey = (0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64).round();
        let a = self.opacity;
        let blend = |v: u8| (a * v as f64 + (1.0 - a) * grey).round().clamp(0.0, 255.0) as u8;
        RGBColor(blend(c[0]), blend(c[1]), blend(c[2]))
    }
}

fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        (lo - 0.5, lo + 0.5)
    } else {
        (lo, hi)
    }
}

/// Steps of the colour bar.
const BAR_STEPS: i32 = 32;
/// Width of the colour bar and of the room for its tick labels, in pixels.
const BAR_WIDTH: i32 = 16;
const BAR_ROOM: i32 = 70;

/// Draws `map` in `area`: the grid on the left, as large as fits with room for the caption,
/// and the colour bar with its low, middle and high values on the right.
pub(crate) fn draw_heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    map: &Heatmap,
) -> Result<()> {
    if map.values.len() != map.width * map.height || map.values.is_empty() {
        return Err(Error::InvalidInput(format!(
            "heat map '{}': {} values for {}x{}",
            map.caption,
            map.values.len(),
            map.width,
            map.height
        )));
    }
    if let Some(bg) = &map.background {
        if bg.width != map.width || bg.height != map.height || bg.pixels.len() != map.values.len() {
            return Err(Error::InvalidInput(format!(
                "heat map '{}': background of {}x{} for a {}x{} map",
                map.caption, bg.width, bg.height, map.width, map.height
            )));
        }
    }
    let (w, h) = area.dim_in_pixel();
    let margin = style::MARGIN as i32;
    let caption_h = 40i32;
    // Room above the grid for the colour bar's name.
    let y0 = margin + if map.scale_label.is_empty() { 0 } else { 22 };
    let room_w = (w as i32 - 2 * margin - BAR_ROOM - BAR_WIDTH).max(1);
    let room_h = (h as i32 - caption_h - y0 - margin).max(1);
    let px = (room_w / map.width as i32)
        .min(room_h / map.height as i32)
        .max(1);
    let (gw, gh) = (px * map.width as i32, px * map.height as i32);
    let x0 = margin + (room_w - gw) / 2;
    area.draw(&Rectangle::new(
        [(x0 - 1, y0 - 1), (x0 + gw, y0 + gh)],
        BLACK.stroke_width(1),
    ))
    .map_err(plot_err)?;
    for i in 0..map.values.len() {
        let (x, y) = ((i % map.width) as i32, (i / map.width) as i32);
        area.draw(&Rectangle::new(
            [
                (x0 + x * px, y0 + y * px),
                (x0 + (x + 1) * px, y0 + (y + 1) * px),
            ],
            map.color(i).filled(),
        ))
        .map_err(plot_err)?;
    }
    let font = ("sans-serif", style::TICK).into_font().color(&BLACK);
    if !map.caption.is_empty() {
        let caption = ("sans-serif", style::AXIS).into_font().color(&BLACK);
        area.draw_text(&map.caption, &caption, (x0, y0 + gh + 10))
            .map_err(plot_err)?;
    }
    // The colour bar, low at the bottom, with the scale's name above it (drawn last).
    let bx = x0 + gw + 2 * BAR_WIDTH;
    let step = (gh / BAR_STEPS).max(1);
    let bar_h = step * BAR_STEPS;
    for k in 0..BAR_STEPS {
        let t = (k as f64 + 0.5) / BAR_STEPS as f64;
        let c = viridis(t);
        let top = y0 + bar_h - (k + 1) * step;
        area.draw(&Rectangle::new(
            [(bx, top), (bx + BAR_WIDTH, top + step)],
            RGBColor(c[0], c[1], c[2]).filled(),
        ))
        .map_err(plot_err)?;
    }
    area.draw(&Rectangle::new(
        [(bx, y0), (bx + BAR_WIDTH, y0 + bar_h)],
        BLACK.stroke_width(1),
    ))
    .map_err(plot_err)?;
    let (lo, hi) = map.range;
    for (frac, value) in [(0.0, lo), (0.5, 0.5 * (lo + hi)), (1.0, hi)] {
        let y = y0 + bar_h - (frac * bar_h as f64).round() as i32;
        area.draw_text(&format!("{value:.2}"), &font, (bx + BAR_WIDTH + 4, y - 7))
            .map_err(plot_err)?;
    }
    if !map.scale_label.is_empty() {
        area.draw_text(&map.scale_label, &font, (bx - BAR_WIDTH, margin))
            .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_the_scale_and_blend_over_the_background() {
        let map = Heatmap::new(vec![0.0, 1.0, 2.0, 3.0], 2, 2, "m").unwrap();
        assert_eq!(map.range, (0.0, 3.0));
        assert_eq!(map.color(0), RGBColor(68, 1, 84));
        assert_eq!(map.color(3), RGBColor(254, 232, 37));
        // Out-of-range values clamp to the ends of the scale.
        let narrow = map.clone().range(1.0, 2.0);
        assert_eq!(narrow.color(0), narrow.color(1));
        // Fully transparent colours show the grey background.
        let bg = Raster::from_chw(&[0.0, 1.0, 0.0, 1.0], 1, 2, 2, "").unwrap();
        let over = map.over(bg, 0.0);
        assert_eq!(over.color(1), RGBColor(255, 255, 255));
        assert_eq!(over.color(2), RGBColor(0, 0, 0));
        // Constant maps get a scale of width 1.
        assert_eq!(
            Heatmap::new(vec![2.0; 4], 2, 2, "").unwrap().range,
            (1.5, 2.5)
        );
    }

    #[test]
    fn bad_sizes_and_values_are_errors() {
        assert!(Heatmap::new(vec![0.0; 3], 2, 2, "").is_err());
        assert!(Heatmap::new(vec![], 0, 2, "").is_err());
        assert!(Heatmap::new(vec![0.0, f64::NAN, 0.0, 0.0], 2, 2, "").is_err());
    }
}
