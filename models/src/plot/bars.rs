//! Grouped bar charts over categories, and the category-axis drawing shared with histograms.

use super::{builder, check_finite, plot_err, series_color, style, value_range, Chart, Labels};
use crate::{Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
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
    /// Where the line is: in category indices (category `i`, 0-based, is centred at `i`, so
    /// `1.0` marks the second category and `1.5` the boundary after it), or, if
    /// [`Marker::on_values`], on the scale of the numeric category labels.
    pub position: f64,
    /// Whether [`Marker::position`] is a value of the numeric categories
    /// ([`GroupedBarChart::marker_at`]) rather than an index.
    pub on_values: bool,
}

impl Marker {
    /// The marker's position in category indices, given the category labels.
    fn index(&self, categories: &[String]) -> Result<f64> {
        if !self.on_values {
            return Ok(self.position);
        }
        let values: Vec<f64> = categories
            .iter()
            .map(|c| c.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::InvalidInput(format!(
                    "marker '{}' is placed by value, but the categories are not all numbers",
                    self.label
                ))
            })?;
        let (first, step) = match values.as_slice() {
            [only] => (*only, 1.0),
            [a, b, ..] => (*a, b - a),
            [] => return Ok(0.0),
        };
        let even = values
            .iter()
            .enumerate()
            .all(|(i, v)| (v - (first + step * i as f64)).abs() <= 1e-9 * (1.0 + v.abs()));
        if !even || step == 0.0 {
            return Err(Error::InvalidInput(format!(
                "marker '{}' is placed by value, but the categories are not evenly spaced",
                self.label
            )));
        }
        Ok((self.position - first) / step)
    }
}

/// What the y axis of a bar chart shows, which fixes its range and its ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YAxis {
    /// From 0 (or the least value) to a little above the largest value.
    #[default]
    Values,
    /// Probabilities: exactly 0 to 1, whatever the data.
    Probability,
    /// Counts: from 0, with ticks on whole numbers only.
    Counts,
}

/// Several series of bars side by side over the same categories, with a legend and optional
/// vertical [`Marker`] lines.
///
/// Every bar is one filled rectangle in the series' colour ([`series_color`] of its index);
/// bars of zero height are drawn too (and are invisible), so an SVG holds exactly
/// `categories × series` bar rectangles plus one legend swatch per series. The legend stands
/// to the right of the plotting area, so it never covers a bar; [`YAxis`] sets the range and
/// ticks of the y axis.
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
    /// What the y axis shows.
    pub y_axis: YAxis,
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
            y_axis: YAxis::Values,
        }
    }

    /// Sets what the y axis shows: [`YAxis::Probability`] fixes it to 0–1,
    /// [`YAxis::Counts`] gives it whole-number ticks.
    pub fn y_axis(mut self, axis: YAxis) -> Self {
        self.y_axis = axis;
        self
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

    /// Adds a vertical marker line at `value` on the scale of numeric categories: with
    /// categories `"1" … "5"` (units), `marker_at("N = 2", 2.0)` marks the category "2" and
    /// `2.74` a point between "2" and "3". The categories must be evenly spaced numbers (an
    /// error when the chart is drawn otherwise); see [`GroupedBarChart::marker`] for
    /// category indices.
    ///
    /// ```
    /// use pact_models::plot::{render_svg, GroupedBarChart};
    /// let chart = GroupedBarChart::new("q(N)", ["1", "2", "3"])
    ///     .series("q", [0.2, 0.5, 0.3])
    ///     .marker_at("E[N] = 2.1", 2.1);
    /// assert!(render_svg(&chart)?.contains("E[N] = 2.1"));
    /// let words = GroupedBarChart::new("t", ["a", "b"]).series("s", [1.0, 2.0]).marker_at("m", 1.0);
    /// assert!(render_svg(&words).is_err());
    /// # Ok::<(), pact_models::Error>(())
    /// ```
    pub fn marker_at(mut self, label: impl Into<String>, value: f64) -> Self {
        self.markers.push(Marker {
            label: label.into(),
            position: value,
            on_values: true,
        });
        self
    }

    /// Adds a vertical marker line at `position` in category indices (0-based: `1.0` marks
    /// the second category, `1.5` the boundary after it). For numeric categories such as
    /// unit numbers, [`GroupedBarChart::marker_at`] takes their own values.
    pub fn marker(mut self, label: impl Into<String>, position: f64) -> Self {
        self.markers.push(Marker {
            label: label.into(),
            position,
            on_values: false,
        });
        self
    }
}

impl Chart for GroupedBarChart {
    fn size(&self) -> (u32, u32) {
        self.labels.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_category_chart(root, self, &[], None)
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

impl GroupedBarChart {
    /// The y range the chart draws: its bars and `lines` on its [`YAxis`].
    pub(crate) fn y_range(&self, lines: &[BarSeries]) -> (f64, f64) {
        y_range(
            self.series
                .iter()
                .chain(lines)
                .flat_map(|s| s.values.iter().copied()),
            self.y_axis,
        )
    }
}

/// A y axis from `lo` to `hi` whose ticks are plotters' usual round numbers, or whole numbers
/// only.
struct ValueAxis {
    lo: f64,
    hi: f64,
    whole_numbers: bool,
}

impl Ranged for ValueAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if self.whole_numbers {
            whole_number_ticks(self.lo, self.hi, hint.max_num_points().clamp(2, 10))
        } else {
            RangedCoordf64::from(self.lo..self.hi).key_points(hint)
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// A tick label: at most three decimals, without trailing zeros (`0.2`, `1`, `12.5`).
fn tick_label(v: &f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Colours of marker lines, cycled.
const MARKER_COLORS: [RGBColor; 3] = [BLACK, RGBColor(120, 0, 120), RGBColor(0, 110, 0)];

/// The colour of overlay curve `j` over `bars` bar series: the next palette colours, or black
/// shades when the bars have taken the whole palette.
fn line_color(bars: usize, j: usize) -> RGBColor {
    if bars + j < super::PALETTE.len() {
        series_color(bars + j)
    } else {
        [BLACK, RGBColor(90, 90, 90)][j % 2]
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Swatch {
    Bar(RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
}

/// The y range of a chart of `values` on `axis`.
fn y_range(values: impl IntoIterator<Item = f64>, axis: YAxis) -> (f64, f64) {
    match axis {
        YAxis::Probability => (0.0, 1.0),
        YAxis::Values => value_range(values, 0.05),
        YAxis::Counts => {
            let (lo, hi) = value_range(values, 0.05);
            (lo.floor(), hi.ceil().max(1.0))
        }
    }
}

/// A y axis whose ticks are whole numbers (at most about `hint` of them).
fn whole_number_ticks(lo: f64, hi: f64, most: usize) -> Vec<f64> {
    let span = (hi - lo).max(1.0);
    let raw = span / most.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor()).max(1.0);
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    let first = (lo / step).ceil() * step;
    (0..)
        .map(|k| first + k as f64 * step)
        .take_while(|&v| v <= hi + 1e-9)
        .collect()
}

/// Draws bars over categories, marker lines, and overlay curves (one value per category, drawn
/// as lines with dots at the category centres), with the legend to the right of the plot.
pub(crate) fn draw_category_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &GroupedBarChart,
    lines: &[BarSeries],
    shared_y: Option<(f64, f64)>,
) -> Result<()> {
    let GroupedBarChart {
        labels,
        categories,
        series,
        markers,
        y_axis,
    } = chart;
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
    let marker_at: Vec<f64> = markers
        .iter()
        .map(|m| m.index(categories))
        .collect::<Result<_>>()?;

    root.fill(&WHITE).map_err(plot_err)?;
    let mut legend: Vec<(&str, Swatch)> = Vec::new();
    legend.extend(
        series
            .iter()
            .enumerate()
            .map(|(j, s)| (s.name.as_str(), Swatch::Bar(series_color(j)))),
    );
    legend.extend(
        lines
            .iter()
            .enumerate()
            .map(|(j, s)| (s.name.as_str(), Swatch::Line(line_color(series.len(), j)))),
    );
    legend.extend(markers.iter().enumerate().map(|(j, m)| {
        (
            m.label.as_str(),
            Swatch::Dashed(MARKER_COLORS[j % MARKER_COLORS.len()]),
        )
    }));
    let (plot_area, legend_area) = match legend_width(root, &legend)? {
        Some(width) => {
            let (w, _) = root.dim_in_pixel();
            let (a, b) = root.split_horizontally(w.saturating_sub(width));
            (a, Some(b))
        }
        None => (root.clone(), None),
    };

    let (y0, y1) = shared_y.unwrap_or(chart.y_range(lines));
    let y = ValueAxis {
        lo: y0,
        hi: y1,
        whole_numbers: *y_axis == YAxis::Counts,
    };
    let mut cc = builder(&plot_area, labels)
        .build_cartesian_2d(CategoryAxis { count: n }, y)
        .map_err(plot_err)?;
    let name_of = |x: &f64| {
        let i = x.round();
        if i >= 0.0 && (i as usize) < n {
            categories[i as usize].clone()
        } else {
            String::new()
        }
    };
    cc.configure_mesh()
        .disable_x_mesh()
        .x_labels(n.min(25))
        .y_labels(10)
        .x_desc(labels.x_label.as_str())
        .y_desc(labels.y_label.as_str())
        .x_label_formatter(&name_of)
        .y_label_formatter(&tick_label)
        .label_style(("sans-serif", style::TICK))
        .axis_desc_style(("sans-serif", style::AXIS))
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(plot_err)?;

    let group = 0.8;
    let width = group / series.len().max(1) as f64;
    for (j, s) in series.iter().enumerate() {
        let color = series_color(j);
        cc.draw_series(s.values.iter().enumerate().map(|(i, &v)| {
            let x0 = i as f64 - group / 2.0 + j as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, v)], color.filled())
        }))
        .map_err(plot_err)?;
    }

    for (j, s) in lines.iter().enumerate() {
        let color = line_color(series.len(), j);
        let points: Vec<(f64, f64)> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect();
        cc.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(3),
        ))
        .map_err(plot_err)?;
        cc.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(plot_err)?;
    }

    for (j, &x) in marker_at.iter().enumerate() {
        let color = MARKER_COLORS[j % MARKER_COLORS.len()];
        cc.draw_series(DashedLineSeries::new(
            vec![(x, y0), (x, y1)],
            10,
            6,
            color.stroke_width(2),
        ))
        .map_err(plot_err)?;
    }

    if let Some(area) = legend_area {
        draw_side_legend(&area, &legend)?;
    }
    Ok(())
}

/// Room for the swatch and the gaps around a legend entry's text, in pixels.
const LEGEND_SWATCH: u32 = 22;
const LEGEND_PAD: u32 = 10;
const LEGEND_ROW: i32 = 24;
/// The top of the legend: about where the plotting area starts, below the title.
const LEGEND_TOP: i32 = 56;

/// The width of the legend column for `entries`, or `None` when there are none. At most
/// half the picture, so a long label is cut rather than squeezing the plot away.
fn legend_width<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[(&str, Swatch)],
) -> Result<Option<u32>> {
    if entries.is_empty() {
        return Ok(None);
    }
    let font = ("sans-serif", style::LEGEND).into_text_style(root);
    let mut widest = 0u32;
    for (label, _) in entries {
        let (w, _) = root.estimate_text_size(label, &font).map_err(plot_err)?;
        widest = widest.max(w);
    }
    let (total, _) = root.dim_in_pixel();
    Ok(Some(
        (widest + LEGEND_SWATCH + 3 * LEGEND_PAD).min(total / 2),
    ))
}

/// Draws the legend entries one per row in `area`, a framed box at its top.
fn draw_side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, Swatch)],
) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let left = 0i32;
    let right = w as i32 - LEGEND_PAD as i32;
    let bottom = LEGEND_TOP + LEGEND_ROW * entries.len() as i32 + LEGEND_PAD as i32;
    area.draw(&Rectangle::new(
        [(left, LEGEND_TOP - LEGEND_PAD as i32), (right, bottom)],
        BLACK.mix(0.5).stroke_width(1),
    ))
    .map_err(plot_err)?;
    let font = ("sans-serif", style::LEGEND).into_font().color(&BLACK);
    for (k, (label, swatch)) in entries.iter().enumerate() {
        let y = LEGEND_TOP + LEGEND_ROW * k as i32 + LEGEND_ROW / 2;
        let x = left + LEGEND_PAD as i32;
        match *swatch {
            Swatch::Bar(c) => area.draw(&Rectangle::new([(x, y - 7), (x + 18, y + 7)], c.filled())),
            Swatch::Line(c) => area.draw(&PathElement::new(
                vec![(x, y), (x + 18, y)],
                c.stroke_width(3),
            )),
            Swatch::Dashed(c) => area.draw(&PathElement::new(
                vec![(x, y), (x + 7, y)],
                c.stroke_width(2),
            )),
        }
        .map_err(plot_err)?;
        if let Swatch::Dashed(c) = swatch {
            area.draw(&PathElement::new(
                vec![(x + 11, y), (x + 18, y)],
                c.stroke_width(2),
            ))
            .map_err(plot_err)?;
        }
        area.draw_text(
            label,
            &font.clone().pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            )),
            (x + LEGEND_SWATCH as i32 + 4, y),
        )
        .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_axes_tick_on_whole_numbers() {
        assert_eq!(whole_number_ticks(0.0, 3.15, 8), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            whole_number_ticks(0.0, 52.5, 8),
            vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
        );
        assert!(whole_number_ticks(0.0, 1234.0, 8)
            .iter()
            .all(|t| t.fract() == 0.0));
        assert_eq!(y_range([0.2, 0.9], YAxis::Probability), (0.0, 1.0));
        assert_eq!(y_range([3.0, 7.0], YAxis::Counts), (0.0, 8.0));
        assert_eq!(tick_label(&0.30000000000000004), "0.3");
        assert_eq!(tick_label(&2.0), "2");
    }
}
