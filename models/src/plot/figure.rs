//! Figures of several panels in a grid: bar charts (with overlay curves), line charts, small
//! raster images and heat maps, under one title.

use super::bars::{draw_category_chart, BarSeries};
use super::heatmap::{draw_heatmap, Heatmap};
use super::{plot_err, style, Chart, GroupedBarChart, LineChart};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

/// A small RGB image, drawn as one filled square per pixel, scaled to fit its panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Raster {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width × height` RGB pixels, row-major.
    pub pixels: Vec<[u8; 3]>,
    /// A caption drawn under the image.
    pub caption: String,
}

impl Raster {
    /// A raster from one image's `C × H × W` floats (CHW row-major), min-max scaled to
    /// `0 … 255`: one channel is grey, three are RGB, any other count shows the first channel
    /// in grey.
    ///
    /// ```
    /// use pact_models::plot::Raster;
    /// let r = Raster::from_chw(&[0.0, 1.0, 2.0, 3.0], 1, 2, 2, "x")?;
    /// assert_eq!(r.pixels[0], [0, 0, 0]);
    /// assert_eq!(r.pixels[3], [255, 255, 255]);
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn from_chw(
        values: &[f32],
        channels: usize,
        height: usize,
        width: usize,
        caption: impl Into<String>,
    ) -> Result<Raster> {
        if channels == 0 || height == 0 || width == 0 || values.len() != channels * height * width {
            return Err(Error::InvalidInput(format!(
                "an image of {channels}x{height}x{width} needs {} values, got {}",
                channels * height * width,
                values.len()
            )));
        }
        let shown = if channels == 3 { 3 } else { 1 };
        let used = &values[..shown * height * width];
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in used.iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let span = if hi > lo { hi - lo } else { 1.0 };
        let scale = |v: f32| {
            if v.is_finite() && lo.is_finite() {
                (((v - lo) / span) * 255.0).round().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        };
        let plane = height * width;
        let pixels = (0..plane)
            .map(|i| {
                if shown == 3 {
                    [
                        scale(used[i]),
                        scale(used[plane + i]),
                        scale(used[2 * plane + i]),
                    ]
                } else {
                    let g = scale(used[i]);
                    [g, g, g]
                }
            })
            .collect();
        Ok(Raster {
            width,
            height,
            pixels,
            caption: caption.into(),
        })
    }
}

/// One panel of a [`Figure`].
#[derive(Debug, Clone, PartialEq)]
pub enum Panel {
    /// Grouped bars, with curves (one value per category) drawn over them.
    Bars {
        /// The bars, their markers, titles and axis labels.
        chart: GroupedBarChart,
        /// Overlay curves, e.g. a prior scaled to counts.
        lines: Vec<BarSeries>,
    },
    /// A line chart.
    Lines(LineChart),
    /// An image.
    Image(Raster),
    /// A heat map with its colour bar (e.g. a ponder-cost map over its input image).
    Heatmap(Heatmap),
    /// Nothing (a blank cell).
    Empty,
}

/// Panels in a grid of `columns` columns (filled row by row) under one title; each panel's own
/// size setting is ignored, every cell is `cell` pixels.
///
/// ```
/// use pact_models::plot::{render_svg, Figure, GroupedBarChart, LineChart, Panel};
///
/// let fig = Figure::new("Two panels", 2)
///     .panel(Panel::Lines(LineChart::new("loss").series("loss", [(0.0, 1.0), (1.0, 0.5)])))
///     .panel(Panel::Bars {
///         chart: GroupedBarChart::new("units", ["1", "2"]).series("count", [3.0, 4.0]),
///         lines: vec![],
///     });
/// assert!(render_svg(&fig)?.contains("Two panels"));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The title above all panels.
    pub title: String,
    /// Panels per row.
    pub columns: usize,
    /// The panels, row by row.
    pub panels: Vec<Panel>,
    /// The size of one cell in pixels (width, height).
    pub cell: (u32, u32),
    /// Whether the bar panels share one y scale (the widest of theirs), so that their bars
    /// compare across panels.
    pub share_y: bool,
}

impl Figure {
    /// An empty figure with a title and a number of columns (at least 1).
    pub fn new(title: impl Into<String>, columns: usize) -> Self {
        Figure {
            title: title.into(),
            columns: columns.max(1),
            panels: Vec::new(),
            cell: (480, 340),
            share_y: false,
        }
    }

    /// Gives every bar panel the same y scale (see [`Figure::share_y`]).
    pub fn share_y(mut self) -> Self {
        self.share_y = true;
        self
    }

    /// Adds a panel (the next cell, row by row).
    pub fn panel(mut self, panel: Panel) -> Self {
        self.panels.push(panel);
        self
    }

    /// Sets the cell size in pixels.
    pub fn cell(mut self, width: u32, height: u32) -> Self {
        self.cell = (width, height);
        self
    }

    fn rows(&self) -> usize {
        self.panels.len().div_ceil(self.columns).max(1)
    }
}

/// Height of the figure's title strip.
const TITLE_HEIGHT: u32 = 50;

impl Chart for Figure {
    fn size(&self) -> (u32, u32) {
        let rows = self.rows() as u32;
        (
            self.cell.0 * self.columns as u32,
            self.cell.1 * rows + TITLE_HEIGHT,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        if self.panels.is_empty() {
            return Err(Error::InvalidInput(format!(
                "figure '{}': no panels to draw",
                self.title
            )));
        }
        root.fill(&WHITE).map_err(plot_err)?;
        let (title_area, body) = root.split_vertically(TITLE_HEIGHT);
        title_area
            .draw_text(
                &self.title,
                &("sans-serif", style::TITLE).into_font().color(&BLACK),
                (style::MARGIN as i32, 12),
            )
            .map_err(plot_err)?;
        let cells = body.split_evenly((self.rows(), self.columns));
        let shared = self
            .share_y
            .then(|| {
                self.panels
                    .iter()
                    .filter_map(|p| match p {
                        Panel::Bars { chart, lines } => Some(chart.y_range(lines)),
                        _ => None,
                    })
                    .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
            })
            .flatten();
        for (panel, area) in self.panels.iter().zip(cells.iter()) {
            match panel {
                Panel::Bars { chart, lines } => draw_category_chart(area, chart, lines, shared)?,
                Panel::Lines(chart) => chart.draw(area)?,
                Panel::Image(raster) => draw_raster(area, raster)?,
                Panel::Heatmap(map) => draw_heatmap(area, map)?,
                Panel::Empty => {}
            }
        }
        Ok(())
    }
}

/// Draws `raster` centred in `area`, as large as fits with room for its caption.
fn draw_raster<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, raster: &Raster) -> Result<()> {
    if raster.pixels.len() != raster.width * raster.height || raster.pixels.is_empty() {
        return Err(Error::InvalidInput(format!(
            "image '{}': {} pixels for {}x{}",
            raster.caption,
            raster.pixels.len(),
            raster.width,
            raster.height
        )));
    }
    let (w, h) = area.dim_in_pixel();
    let caption_h = 40i32;
    let room_w = (w as i32 - 2 * style::MARGIN as i32).max(1);
    let room_h = (h as i32 - caption_h - 2 * style::MARGIN as i32).max(1);
    let px = (room_w / raster.width as i32)
        .min(room_h / raster.height as i32)
        .max(1);
    let x0 = (w as i32 - px * raster.width as i32) / 2;
    let y0 = style::MARGIN as i32;
    area.draw(&Rectangle::new(
        [
            (x0 - 1, y0 - 1),
            (
                x0 + px * raster.width as i32,
                y0 + px * raster.height as i32,
            ),
        ],
        BLACK.stroke_width(1),
    ))
    .map_err(plot_err)?;
    for (i, p) in raster.pixels.iter().enumerate() {
        let (x, y) = ((i % raster.width) as i32, (i / raster.width) as i32);
        let color = RGBColor(p[0], p[1], p[2]);
        area.draw(&Rectangle::new(
            [
                (x0 + x * px, y0 + y * px),
                (x0 + (x + 1) * px, y0 + (y + 1) * px),
            ],
            color.filled(),
        ))
        .map_err(plot_err)?;
    }
    if !raster.caption.is_empty() {
        let font = ("sans-serif", style::AXIS).into_font().color(&BLACK);
        let ty = y0 + px * raster.height as i32 + 10;
        area.draw_text(&raster.caption, &font, (x0, ty))
            .map_err(plot_err)?;
    }
    Ok(())
}
