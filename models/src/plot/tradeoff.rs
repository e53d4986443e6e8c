//! Speed/accuracy trade-off charts: accuracy against FLOPs, one series per method.

use super::line::{draw_lines, ErrorBar, LineSeries, Marks, PointLabel};
use super::{Chart, Labels, LegendPosition};
use crate::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

/// One operating point of a method: its cost, its accuracy and an optional label (e.g. `τ`).
#[derive(Debug, Clone, PartialEq)]
pub struct TradeoffPoint {
    /// Cost, e.g. FLOPs per example.
    pub flops: f64,
    /// Accuracy (any scale, e.g. a fraction or a percentage).
    pub accuracy: f64,
    /// Text drawn next to the point, if any.
    pub label: Option<String>,
    /// The half-length of the horizontal error bar (e.g. the standard deviation of the cost
    /// over seeds); 0 draws none.
    pub flops_err: f64,
    /// The half-length of the vertical error bar (e.g. the standard deviation of the accuracy
    /// over seeds); 0 draws none.
    pub accuracy_err: f64,
}

impl TradeoffPoint {
    /// A point without a label or error bars.
    pub fn new(flops: f64, accuracy: f64) -> Self {
        TradeoffPoint {
            flops,
            accuracy,
            label: None,
            flops_err: 0.0,
            accuracy_err: 0.0,
        }
    }

    /// Sets the label drawn next to the point.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the error bars: `± flops_err` horizontally and `± accuracy_err` vertically.
    pub fn errors(mut self, flops_err: f64, accuracy_err: f64) -> Self {
        self.flops_err = flops_err;
        self.accuracy_err = accuracy_err;
        self
    }
}

/// One method's operating points.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeoffSeries {
    /// The method's name, shown in the legend.
    pub name: String,
    /// Its operating points; they are joined in order of increasing FLOPs.
    pub points: Vec<TradeoffPoint>,
}

/// A trade-off chart: x = FLOPs (tick labels in SI units, e.g. `1.5G`), y = accuracy; each
/// method is a line through its operating points with a dot at each, and error bars where a
/// point has them (mean ± standard deviation over seeds, say).
///
/// ```
/// use pact_models::plot::{render_svg, TradeoffChart, TradeoffPoint};
///
/// let chart = TradeoffChart::new("CIFAR-10")
///     .series("ACT", [(0.8e9, 0.91), (1.1e9, 0.93)])
///     .labelled_series("PACT", [(0.7e9, 0.91, "τ=0.01"), (1.0e9, 0.93, "τ=0.001")])
///     .points("ResNet", [TradeoffPoint::new(1.2e9, 0.935).errors(0.0, 0.002)]);
/// assert!(render_svg(&chart)?.contains("τ=0.01"));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TradeoffChart {
    /// Title, axis labels (default "FLOPs" and "accuracy") and size.
    pub labels: Labels,
    /// One series per method.
    pub series: Vec<TradeoffSeries>,
    /// Where the legend goes (default lower right, usually empty on such charts).
    pub legend: LegendPosition,
}

impl TradeoffChart {
    /// A chart with a title, axes "FLOPs" and "accuracy", and no series yet.
    pub fn new(title: impl Into<String>) -> Self {
        let mut labels = Labels::titled(title);
        labels.x_label = "FLOPs".into();
        labels.y_label = "accuracy".into();
        TradeoffChart {
            labels,
            series: Vec::new(),
            legend: LegendPosition::LowerRight,
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

    /// Sets where the legend goes.
    pub fn legend(mut self, position: LegendPosition) -> Self {
        self.legend = position;
        self
    }

    /// Adds a method's `(flops, accuracy)` points.
    pub fn series(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.series.push(TradeoffSeries {
            name: name.into(),
            points: points
                .into_iter()
                .map(|(flops, accuracy)| TradeoffPoint::new(flops, accuracy))
                .collect(),
        });
        self
    }

    /// Adds a method's `(flops, accuracy, label)` points; the labels are drawn by the points.
    pub fn labelled_series<S: Into<String>>(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64, S)>,
    ) -> Self {
        self.series.push(TradeoffSeries {
            name: name.into(),
            points: points
                .into_iter()
                .map(|(flops, accuracy, label)| TradeoffPoint::new(flops, accuracy).label(label))
                .collect(),
        });
        self
    }

    /// Adds a method's points as they are (labels and error bars included).
    pub fn points(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = TradeoffPoint>,
    ) -> Self {
        self.series.push(TradeoffSeries {
            name: name.into(),
            points: points.into_iter().collect(),
        });
        self
    }
}

impl Chart for TradeoffChart {
    fn size(&self) -> (u32, u32) {
        self.labels.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let curves: Vec<LineSeries> = self
            .series
            .iter()
            .map(|s| {
                let mut points: Vec<(f64, f64)> =
                    s.points.iter().map(|p| (p.flops, p.accuracy)).collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                LineSeries {
                    name: s.name.clone(),
                    points,
                    dots: true,
                }
            })
            .collect();
        let labels: Vec<PointLabel> = self
            .series
            .iter()
            .enumerate()
            .flat_map(|(series, s)| s.points.iter().map(move |p| (series, p)))
            .filter_map(|(series, p)| {
                p.label.clone().map(|text| PointLabel {
                    series,
                    at: (p.flops, p.accuracy),
                    text,
                })
            })
            .collect();
        let error_bars: Vec<ErrorBar> = self
            .series
            .iter()
            .enumerate()
            .flat_map(|(j, s)| {
                s.points
                    .iter()
                    .filter(|p| p.flops_err > 0.0 || p.accuracy_err > 0.0)
                    .map(move |p| ErrorBar {
                        series: j,
                        center: (p.flops, p.accuracy),
                        x_err: p.flops_err,
                        y_err: p.accuracy_err,
                    })
            })
            .collect();
        draw_lines(
            root,
            &self.labels,
            &curves,
            None,
            None,
            self.legend,
            Some(&|x| format_si(*x)),
            &Marks {
                point_labels: &labels,
                error_bars: &error_bars,
            },
        )
    }
}

/// Formats a magnitude with an SI suffix and at most three decimals:
/// `1.5e9 → "1.5G"`, `2.25e6 → "2.25M"`, `1200 → "1.2k"`, `0.5 → "0.5"`.
///
/// ```
/// use pact_models::plot::format_si;
/// assert_eq!(format_si(1.5e9), "1.5G");
/// assert_eq!(format_si(2.0e12), "2T");
/// assert_eq!(format_si(999.0), "999");
/// ```
pub fn format_si(x: f64) -> String {
    let suffixes = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    let (scaled, suffix) = suffixes
        .iter()
        .find(|(scale, _)| x.abs() >= *scale)
        .map_or((x, ""), |&(scale, s)| (x / scale, s));
    let text = format!("{scaled:.3}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    let text = if text == "-0" { "0" } else { text };
    format!("{text}{suffix}")
}
