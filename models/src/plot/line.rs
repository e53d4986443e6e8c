//! Line charts: several series of (x, y) points with a legend.

use super::{
    builder, check_finite, draw_legend, padded_range, plot_err, series_color, style, Chart, Labels,
    LegendPosition,
};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One line of a [`LineChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct LineSeries {
    /// The name shown in the legend.
    pub name: String,
    /// The points, joined in order. A point whose `y` is not finite (e.g. `f64::NAN`) is not
    /// drawn and breaks the line there: use it to show a jump without a vertical segment.
    pub points: Vec<(f64, f64)>,
    /// Whether to draw a dot at every point as well.
    pub dots: bool,
}

/// Several lines on common axes, with a legend.
///
/// Each drawn piece of a line is one `<polyline>` in an SVG, in the series' colour
/// ([`series_color`] of its index).
///
/// ```
/// use pact_models::plot::{render_svg, LineChart};
///
/// let chart = LineChart::new("Training loss")
///     .x_label("step")
///     .y_label("loss")
///     .series("ACT", [(0.0, 2.3), (1.0, 1.1), (2.0, 0.7)])
///     .series("PACT", [(0.0, 2.3), (1.0, 1.0), (2.0, 0.6)]);
/// let svg = render_svg(&chart)?;
/// assert!(svg.contains("Training loss") && svg.contains("PACT"));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title, axis labels and size.
    pub labels: Labels,
    /// The lines.
    pub series: Vec<LineSeries>,
    /// The x range; by default the data's, padded by 2%.
    pub x_range: Option<(f64, f64)>,
    /// The y range; by default the data's, padded by 5%.
    pub y_range: Option<(f64, f64)>,
    /// Where the legend goes.
    pub legend: LegendPosition,
}

impl LineChart {
    /// A chart with a title and no series yet.
    pub fn new(title: impl Into<String>) -> Self {
        LineChart {
            labels: Labels::titled(title),
            series: Vec::new(),
            x_range: None,
            y_range: None,
            legend: LegendPosition::default(),
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

    /// Adds a line through `points` (no dots).
    pub fn series(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.series.push(LineSeries {
            name: name.into(),
            points: points.into_iter().collect(),
            dots: false,
        });
        self
    }

    /// Adds a line through `points` with a dot at each point.
    pub fn series_with_dots(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self = self.series(name, points);
        if let Some(last) = self.series.last_mut() {
            last.dots = true;
        }
        self
    }

    /// Fixes the x range.
    pub fn x_range(mut self, lo: f64, hi: f64) -> Self {
        self.x_range = Some((lo, hi));
        self
    }

    /// Fixes the y range.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Sets where the legend goes.
    pub fn legend(mut self, position: LegendPosition) -> Self {
        self.legend = position;
        self
    }
}

impl Chart for LineChart {
    fn size(&self) -> (u32, u32) {
        self.labels.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        draw_lines(
            root,
            &self.labels,
            &self.series,
            self.x_range,
            self.y_range,
            self.legend,
            None,
            &Marks::default(),
        )
    }
}

/// A text label placed next to a data point of curve `series`: in its colour, above and to
/// the left of the point for even-numbered curves and below and to the right for odd ones, so
/// that two methods' labels at nearby points do not print over each other.
pub(crate) struct PointLabel {
    pub series: usize,
    pub at: (f64, f64),
    pub text: String,
}

/// Error bars around a point, in the colour of curve `series`.
pub(crate) struct ErrorBar {
    pub series: usize,
    pub center: (f64, f64),
    pub x_err: f64,
    pub y_err: f64,
}

/// What is drawn at the points besides the curves: text labels and error bars.
#[derive(Default)]
pub(crate) struct Marks<'a> {
    pub point_labels: &'a [PointLabel],
    pub error_bars: &'a [ErrorBar],
}

/// Draws lines with breaks at non-finite y, and optional point labels and error bars.
#[allow(clippy::too_many_arguments)]
pub(crate) fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    labels: &Labels,
    curves: &[LineSeries],
    x_range: Option<(f64, f64)>,
    y_range: Option<(f64, f64)>,
    legend: LegendPosition,
    x_format: Option<&dyn Fn(&f64) -> String>,
    marks: &Marks,
) -> Result<()> {
    let Marks {
        point_labels,
        error_bars,
    } = *marks;
    check_finite(
        "error bar",
        error_bars
            .iter()
            .flat_map(|e| [e.center.0, e.center.1, e.x_err, e.y_err]),
    )?;
    if curves
        .iter()
        .all(|c| c.points.iter().all(|q| !q.1.is_finite()))
    {
        return Err(Error::InvalidInput(format!(
            "chart '{}': no points to draw",
            labels.title
        )));
    }
    for LineSeries { name, points, .. } in curves {
        check_finite(name, points.iter().map(|p| p.0))?;
        if points.iter().any(|p| p.1.is_infinite()) {
            return Err(Error::InvalidInput(format!(
                "chart '{}': series '{name}' has an infinite value",
                labels.title
            )));
        }
    }
    for (range, what) in [(x_range, "x"), (y_range, "y")] {
        if let Some((lo, hi)) = range {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(Error::InvalidInput(format!(
                    "chart '{}': {what} range {lo}..{hi} is empty or not finite",
                    labels.title
                )));
            }
        }
    }
    let finite = || {
        curves
            .iter()
            .flat_map(|c| c.points.iter().copied())
            .filter(|p| p.1.is_finite())
    };
    let bar_ends = || {
        error_bars.iter().flat_map(|e| {
            [
                (e.center.0 - e.x_err, e.center.1 - e.y_err),
                (e.center.0 + e.x_err, e.center.1 + e.y_err),
            ]
        })
    };
    let (x0, x1) = x_range.unwrap_or_else(|| {
        let (lo, hi) = padded_range(finite().chain(bar_ends()).map(|p| p.0), 0.02);
        // Point labels are written beside their points (left of even-numbered curves' points,
        // right of odd ones'): leave room for the longest on each side it is used, estimated
        // from its length (characters about 0.55 of the font size wide) against the width of
        // the plotting area (about 0.8 of the picture's).
        let width = |odd: bool| {
            point_labels
                .iter()
                .filter(|l| (l.series % 2 == 1) == odd)
                .map(|l| l.text.chars().count() as f64 * 0.55 * f64::from(style::TICK) + 10.0)
                .fold(0.0, f64::max)
        };
        let (left, right) = (width(false), width(true));
        let area = (0.8 * f64::from(labels.size.0) - left - right).max(1.0);
        let room = |odd: bool| if odd { right / area } else { left / area };
        (lo - (hi - lo) * room(false), hi + (hi - lo) * room(true))
    });
    let (y0, y1) =
        y_range.unwrap_or_else(|| padded_range(finite().chain(bar_ends()).map(|p| p.1), 0.05));

    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = builder(root, labels)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    let mut mesh = chart.configure_mesh();
    if let Some(format) = x_format {
        mesh.x_label_formatter(format);
    }
    mesh.x_desc(labels.x_label.as_str())
        .y_desc(labels.y_label.as_str())
        .label_style(("sans-serif", style::TICK))
        .axis_desc_style(("sans-serif", style::AXIS))
        .light_line_style(BLACK.mix(0.05))
        .draw()
        .map_err(plot_err)?;

    for (j, LineSeries { name, points, dots }) in curves.iter().enumerate() {
        let color = series_color(j);
        let line = color.stroke_width(3);
        let mut labelled = false;
        for piece in points.split(|p| !p.1.is_finite()) {
            if piece.is_empty() {
                continue;
            }
            let anno = chart
                .draw_series(plotters::series::LineSeries::new(
                    piece.iter().copied(),
                    line,
                ))
                .map_err(plot_err)?;
            if !labelled {
                anno.label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], line));
                labelled = true;
            }
        }
        if *dots {
            chart
                .draw_series(
                    points
                        .iter()
                        .filter(|p| p.1.is_finite())
                        .map(|&p| Circle::new(p, 4, color.filled())),
                )
                .map_err(plot_err)?;
        }
    }
    for e in error_bars {
        let color = series_color(e.series).stroke_width(2);
        let (x, y) = e.center;
        // A bar in data coordinates with caps of a fixed size in pixels at both ends.
        let mut bar = |from: (f64, f64), to: (f64, f64), cap: [(i32, i32); 2]| {
            chart
                .draw_series(std::iter::once(PathElement::new(vec![from, to], color)))
                .map_err(plot_err)?;
            chart
                .draw_series(
                    [from, to]
                        .map(|end| EmptyElement::at(end) + PathElement::new(cap.to_vec(), color)),
                )
                .map_err(plot_err)
                .map(|_| ())
        };
        if e.y_err > 0.0 {
            bar((x, y - e.y_err), (x, y + e.y_err), [(-5, 0), (5, 0)])?;
        }
        if e.x_err > 0.0 {
            bar((x - e.x_err, y), (x + e.x_err, y), [(0, -5), (0, 5)])?;
        }
    }
    chart
        .draw_series(point_labels.iter().map(|label| {
            let (offset, anchor) = if label.series % 2 == 0 {
                ((-6, -4), Pos::new(HPos::Right, VPos::Bottom))
            } else {
                ((6, 4), Pos::new(HPos::Left, VPos::Top))
            };
            let font = ("sans-serif", style::TICK)
                .into_font()
                .color(&series_color(label.series).mix(0.9))
                .pos(anchor);
            EmptyElement::at(label.at) + Text::new(label.text.clone(), offset, font)
        }))
        .map_err(plot_err)?;

    draw_legend(&mut chart, legend)
}
