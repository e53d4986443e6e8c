//! Plots: reusable charts drawn with `plotters`, saved as PNG or SVG.
//!
//! The charts are plain data ([`GroupedBarChart`], [`LineChart`], [`TradeoffChart`],
//! [`Histogram`], and [`Figure`], a grid of bar, line, image and heat-map panels); each implements [`Chart`], and [`save`] draws one to a file whose extension
//! picks the format: `.png` (a bitmap) or `.svg` (vector). Any other extension is an error.
//! [`render_svg`] draws to a string instead.
//!
//! # Writing files
//!
//! [`save`] never leaves a half-written plot behind: it draws into a temporary file in the
//! target's directory (`.<name>.<pid>.<n>.tmp.<ext>`) and renames it over the target when the
//! drawing is complete (an atomic replace on POSIX file systems). On failure the temporary file
//! is removed.
//!
//! # Text rendering
//!
//! No system font library is used (no fontconfig, no FreeType): `plotters` is built with its
//! pure-Rust `ab_glyph` text support, and this crate ships the DejaVu Sans font
//! (`models/assets/DejaVuSans.ttf`, licence beside it in `DejaVuSans-LICENSE.txt`), embedded in
//! the binary with `include_bytes!`. [`register_fonts`] (called by [`save`] and [`render_svg`];
//! call it yourself before drawing with `plotters` directly) registers it with
//! `plotters::style::register_font` under the family names `sans-serif`, `serif` and
//! `monospace`, so any of those resolves to DejaVu Sans.
//!
//! - PNG: the glyphs are rasterised by `ab_glyph` from the embedded font, so a PNG looks the same
//!   on every machine.
//! - SVG: text is written as `<text font-family="sans-serif">` elements and drawn by whatever
//!   displays the SVG, with its own sans-serif font; the embedded font is used only to measure
//!   text while laying out the chart (label areas, legend boxes).
//!
//! A known quirk of `plotters` 0.3.7's `ab_glyph` renderer: it places each glyph at the pen
//! position without its left side bearing, so in PNGs a space after a glyph that fills its
//! advance (notably `T`) looks narrow ("ACT N" reads almost as "ACTN"). Where it matters,
//! write labels that avoid a space after `T`, e.g. "ACT: N = 3". SVGs are not affected.
//!
//! # Example
//!
//! ```
//! use pact_models::plot::{save, GroupedBarChart};
//!
//! let chart = GroupedBarChart::new("Halting distributions", ["1", "2", "3"])
//!     .x_label("unit n")
//!     .y_label("probability")
//!     .series("ACT p", [0.2, 0.8, 0.0])
//!     .series("PACT q", [0.2, 0.4, 0.4])
//!     .marker_at("deterministic N = 2", 2.0);
//! let dir = tempfile::tempdir().unwrap();
//! save(&chart, dir.path().join("bars.svg"))?;
//! save(&chart, dir.path().join("bars.png"))?;
//! # Ok::<(), pact_models::Error>(())
//! ```

mod bars;
mod figure;
mod heatmap;
mod histogram;
mod line;
mod tradeoff;

pub use bars::{BarSeries, GroupedBarChart, Marker, YAxis};
pub use figure::{Figure, Panel, Raster};
pub use heatmap::{viridis, Heatmap};
pub use histogram::Histogram;
pub use line::{LineChart, LineSeries};
pub use tradeoff::{format_si, TradeoffChart, TradeoffPoint, TradeoffSeries};

use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// DejaVu Sans, embedded (see the module docs and `models/assets/DejaVuSans-LICENSE.txt`).
pub const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The default picture size in pixels (width, height).
pub const DEFAULT_SIZE: (u32, u32) = (960, 600);

/// The colours given to series in order (the "Tableau 10" palette), cycled after ten.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of series number `index` (0-based): [`PALETTE`], cycled.
pub fn series_color(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// The output format of a plot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A PNG bitmap.
    Png,
    /// An SVG vector drawing.
    Svg,
}

impl Format {
    /// The format named by `path`'s extension (`.png` or `.svg`, any case).
    ///
    /// ```
    /// use pact_models::plot::Format;
    /// assert_eq!(Format::from_path("a/b.SVG")?, Format::Svg);
    /// assert!(Format::from_path("plot.pdf").is_err());
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Format> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(Error::InvalidInput(format!(
                "{}: unsupported plot format; use a .png or .svg file name",
                path.display()
            ))),
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// A chart that can draw itself on any `plotters` backend.
///
/// Implement it to get [`save`] (PNG/SVG by extension, atomic) and [`render_svg`] for a new kind
/// of chart.
pub trait Chart {
    /// The picture size in pixels (width, height).
    fn size(&self) -> (u32, u32);

    /// Draws the chart on `root`, which covers the whole picture.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Registers the embedded DejaVu Sans with `plotters` as `sans-serif`, `serif` and `monospace`.
///
/// Idempotent and cheap after the first call. Needed before any text is drawn.
///
/// ```
/// pact_models::plot::register_fonts()?;
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        ["sans-serif", "serif", "monospace"].iter().all(|family| {
            plotters::style::register_font(family, FontStyle::Normal, FONT_BYTES).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Plot("the embedded font could not be loaded".into()))
    }
}

/// Draws `chart` to `path`, as PNG or SVG according to the extension, atomically (see the
/// module docs).
///
/// Errors: an unsupported extension or empty chart data ([`Error::InvalidInput`]), a file-system
/// failure ([`Error::Io`]) or a drawing failure ([`Error::Plot`]).
pub fn save<C: Chart>(chart: &C, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let format = Format::from_path(path)?;
    register_fonts()?;
    let tmp = temp_path(path, format)?;
    let result = write_to(chart, format, &tmp, path)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Draws `chart` as an SVG document in memory.
///
/// ```
/// use pact_models::plot::{render_svg, LineChart};
///
/// let chart = LineChart::new("y = x²").series("x²", (0..5).map(|i| (i as f64, (i * i) as f64)));
/// let svg = render_svg(&chart)?;
/// assert!(svg.starts_with("<svg") && svg.contains("x²"));
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn render_svg<C: Chart>(chart: &C) -> Result<String> {
    register_fonts()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, chart.size()).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

fn write_to<C: Chart>(chart: &C, format: Format, tmp: &Path, target: &Path) -> Result<()> {
    match format {
        Format::Svg => {
            let svg = render_svg(chart)?;
            std::fs::write(tmp, svg).map_err(|e| Error::io(target, e))
        }
        Format::Png => {
            // Create the file first so that an unwritable directory is reported as an I/O error
            // on the path the user gave, not as an image-encoder error.
            std::fs::File::create(tmp).map_err(|e| Error::io(target, e))?;
            let root = BitMapBackend::new(tmp, chart.size()).into_drawing_area();
            chart.draw(&root)?;
            root.present().map_err(plot_err)
        }
    }
}

fn temp_path(path: &Path, format: Format) -> Result<PathBuf> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::InvalidInput(format!("{}: not a file name", path.display())))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(dir.join(format!(
        ".{name}.{}.{n}.tmp.{}",
        std::process::id(),
        format.extension()
    )))
}

/// Turns a `plotters` drawing error into [`Error::Plot`].
pub(crate) fn plot_err<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Error {
    Error::Plot(e.to_string())
}

/// Title, axis labels and picture size shared by all charts.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// The title above the chart.
    pub title: String,
    /// The x-axis description.
    pub x_label: String,
    /// The y-axis description.
    pub y_label: String,
    /// The picture size in pixels (width, height).
    pub size: (u32, u32),
}

impl Labels {
    pub(crate) fn titled(title: impl Into<String>) -> Self {
        Labels {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            size: DEFAULT_SIZE,
        }
    }
}

/// Where a chart's legend goes, inside the plotting area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegendPosition {
    /// Top left corner.
    UpperLeft,
    /// Top right corner (the default).
    #[default]
    UpperRight,
    /// Bottom left corner.
    LowerLeft,
    /// Bottom right corner.
    LowerRight,
}

impl LegendPosition {
    pub(crate) fn to_plotters(self) -> SeriesLabelPosition {
        match self {
            LegendPosition::UpperLeft => SeriesLabelPosition::UpperLeft,
            LegendPosition::UpperRight => SeriesLabelPosition::UpperRight,
            LegendPosition::LowerLeft => SeriesLabelPosition::LowerLeft,
            LegendPosition::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

/// Font sizes and margins common to the charts.
pub(crate) mod style {
    /// Title font size.
    pub const TITLE: u32 = 26;
    /// Axis description font size.
    pub const AXIS: u32 = 18;
    /// Tick label font size.
    pub const TICK: u32 = 15;
    /// Legend font size.
    pub const LEGEND: u32 = 16;
    /// Margin around the chart.
    pub const MARGIN: u32 = 16;
}

/// Checks that every value is finite.
pub(crate) fn check_finite(what: &str, values: impl IntoIterator<Item = f64>) -> Result<()> {
    for (i, v) in values.into_iter().enumerate() {
        if !v.is_finite() {
            return Err(Error::InvalidInput(format!(
                "{what}: value {} is {v}, not a finite number",
                i + 1
            )));
        }
    }
    Ok(())
}

/// A y range covering `values` and 0, with headroom `top` (a fraction) for the legend.
pub(crate) fn value_range(values: impl IntoIterator<Item = f64>, top: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi - lo <= 0.0 {
        hi = lo + 1.0;
    }
    (lo, hi + (hi - lo) * top)
}

/// A range covering `values` with a margin of `pad` (a fraction) at both ends.
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) };
    (lo - span * pad, hi + span * pad)
}

/// Sets the title, sizes and margins of a chart builder.
pub(crate) fn builder<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    labels: &Labels,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.margin(style::MARGIN)
        .x_label_area_size(60)
        .y_label_area_size(80);
    if !labels.title.is_empty() {
        b.caption(&labels.title, ("sans-serif", style::TITLE));
    }
    b
}

/// Draws the legend of a chart, if it has labelled series.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: LegendPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position.to_plotters())
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .label_font(("sans-serif", style::LEGEND))
        .margin(12)
        .draw()
        .map_err(plot_err)
}
