//! Grouped bar charts over categories, and the category-axis drawing shared with histograms.

use super::{
    builder, check_finite, draw_legend, plot_err, series_color, style, value_range, Chart, Labels,
    LegendPosition,
};
use crate::{Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One series of bars: one value per category.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    /// The name shown in the legend.
    pub name: String,
    /// One value per category, in category order.
    pub values: Vec<f64>,
}

/// A labelled vertical dashed line, e.g. "deterministic N = 2".
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The text shown in the legend.
    pub label: String,
    /// Where the line is, in category coordinates: category `i` (0-based) is centred at `i`, so
    /// `1.0` marks the second category and `1.5` the boundary after it.
    pub position: f64,
}

/// Several series of bars side by side over the same categories, with a legend and optional
/// vertical [`Marker`] lines.
///
/// Every bar is one filled rectangle in the series' colour ([`series_color`] of its index);
/// bars of zero height are drawn too (and are invisible), so an SVG holds exactly
/// `categories × series` bar rectangles plus one legend swatch per series.
///
/// ```
/// use pact_models::plot::{render_svg, GroupedBarChart};
///
/// let chart = GroupedBarChart::new("Accuracy by depth", ["18", "34", "50"])
///     .x_label("layers")
///     .y_label("top-1 accuracy")
///     .series("ACT", [0.70, 0.73, 0.76])
///     .series("PACT", [0.71, 0.73, 0.77]);
/// assert!(render_svg(&chart)?.contains("PACT"));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedBarChart {
    /// Title, axis labels and size.
    pub labels: Labels,
    /// The category names along the x axis.
    pub categories: Vec<String>,
    /// The bar series, drawn side by side within each category.
    pub series: Vec<BarSeries>,
    /// Vertical marker lines.
    pub markers: Vec<Marker>,
}

impl GroupedBarChart {
    /// A chart with a title and categories, and no series yet.
    pub fn new<S: Into<String>>(
        title: impl Into<String>,
        categories: impl IntoIterator<Item = S>,
    ) -> Self {
        GroupedBarChart {
            labels: Labels::titled(title),
            categories: categories.into_iter().map(Into::into).collect(),
            series: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// Sets the x-axis description.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.labels.x_label = label.into();
        self
    }

    /// Sets the y-axis description.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.labels.y_label = label.into();
        self
    }

    /// Sets the picture size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.labels.size = (width, height);
        self
    }

    /// Adds a series of bars, one value per category.
    pub fn series(
        mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = f64>,
    ) -> Self {
        self.series.push(BarSeries {
            name: name.into(),
            values: values.into_iter().collect(),
        });
        self
    }

    /// Adds a vertical marker line at `position` (category coordinates, see [`Marker`]).
    pub fn marker(mut self, label: impl Into<String>, position: f64) -> Self {
        self.markers.push(Marker {
            label: label.into(),
            position,
        });
        self
    }
}

impl Chart for GroupedBarChart {
    fn size(&self) -> (u32, u32) {
        self.labels.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_category_chart(
            root,
            &self.labels,
            &self.categories,
            &self.series,
            &self.markers,
            &[],
            None,
        )
    }
}

/// An x axis of `count` categories: category `i` is centred at `i`, the axis spans
/// `−0.5 … count − 0.5`, and ticks sit at category centres (at most about 25 of them).
struct CategoryAxis {
    count: usize,
}

impl Ranged for CategoryAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value + 0.5) / self.count as f64;
        let length = f64::from(limit.1 - limit.0);
        limit.0 + (length * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let most = hint.max_num_points().clamp(1, 25);
        let step = self.count.div_ceil(most).max(1);
        (0..self.count).step_by(step).map(|i| i as f64).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..self.count as f64 - 0.5
    }
}

/// Colours of marker lines, cycled.
const MARKER_COLORS: [RGBColor; 3] = [BLACK, RGBColor(120, 0, 120), RGBColor(0, 110, 0)];

/// Draws bars over categories, marker lines, and overlay curves (one value per category, drawn
/// as lines with dots at the category centres). The y axis reaches at least `y_top`, if given
/// (room above the bars for the legend).
pub(crate) fn draw_category_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    labels: &Labels,
    categories: &[String],
    series: &[BarSeries],
    markers: &[Marker],
    lines: &[BarSeries],
    y_top: Option<f64>,
) -> Result<()> {
    let n = categories.len();
    if n == 0 {
        return Err(Error::InvalidInput(format!(
            "chart '{}': no categories to draw",
            labels.title
        )));
    }
    for s in series.iter().chain(lines) {
        if s.values.len() != n {
            return Err(Error::InvalidInput(format!(
                "chart '{}': series '{}' has {} values for {n} categories",
                labels.title,
                s.name,
                s.values.len()
            )));
        }
        check_finite(&s.name, s.values.iter().copied())?;
    }
    check_finite("marker position", markers.iter().map(|m| m.position))?;

    root.fill(&WHITE).map_err(plot_err)?;
    let (y0, mut y1) = value_range(
        series
            .iter()
            .chain(lines)
            .flat_map(|s| s.values.iter().copied()),
        0.3,
    );
    if let Some(top) = y_top.filter(|t| t.is_finite()) {
        y1 = y1.max(top);
    }
    let mut chart = builder(root, labels)
        .build_cartesian_2d(CategoryAxis { count: n }, y0..y1)
        .map_err(plot_err)?;
    let name_of = |x: &f64| {
        let i = x.round();
        if i >= 0.0 && (i as usize) < n {
            categories[i as usize].clone()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(25))
        .x_desc(labels.x_label.as_str())
        .y_desc(labels.y_label.as_str())
        .x_label_formatter(&name_of)
        .label_style(("sans-serif", style::TICK))
        .axis_desc_style(("sans-serif", style::AXIS))
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(plot_err)?;

    let group = 0.8;
    let width = group / series.len().max(1) as f64;
    for (j, s) in series.iter().enumerate() {
        let color = series_color(j);
        chart
            .draw_series(s.values.iter().enumerate().map(|(i, &v)| {
                let x0 = i as f64 - group / 2.0 + j as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width, v)], color.filled())
            }))
            .map_err(plot_err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 7), (x + 18, y + 7)], color.filled()));
    }

    for (j, s) in lines.iter().enumerate() {
        let color = series_color(series.len() + j);
        let points: Vec<(f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(3),
            ))
            .map_err(plot_err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(plot_err)?;
    }

    for (j, m) in markers.iter().enumerate() {
        let color = MARKER_COLORS[j % MARKER_COLORS.len()];
        let line = color.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(m.position, y0), (m.position, y1)],
                10,
                6,
                line,
            ))
            .map_err(plot_err)?
            .label(m.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], line));
    }

    if !(series.is_empty() && lines.is_empty() && markers.is_empty()) {
        draw_legend(&mut chart, LegendPosition::UpperRight)?;
    }
    Ok(())
}
