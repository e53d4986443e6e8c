//! Histograms of counts per category, with an optional reference curve.

use super::bars::{draw_category_chart, BarSeries, GroupedBarChart, YAxis};
use super::{Chart, Labels};
use crate::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Counts per category as bars, optionally with a reference curve (e.g. the counts a model
/// predicts) drawn as a line with dots over the category centres.
///
/// The bars use [`series_color`](super::series_color)`(0)`, the curve `series_color(1)`; the
/// y axis has whole-number ticks ([`YAxis::Counts`]).
///
/// ```
/// use pact_models::plot::{render_svg, Histogram};
///
/// let hist = Histogram::new("Units executed", ["1", "2", "3"], [5, 12, 3])
///     .x_label("N")
///     .y_label("examples")
///     .reference("expected under q", [4.0, 11.5, 4.5]);
/// assert!(render_svg(&hist)?.contains("expected under q"));
/// # Ok::<(), pact_models::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Title, axis labels and size.
    pub labels: Labels,
    /// The category names along the x axis.
    pub categories: Vec<String>,
    /// One count per category.
    pub counts: Vec<u64>,
    /// The legend name of the bars.
    pub count_label: String,
    /// An optional reference curve: its legend name and one value per category.
    pub reference: Option<(String, Vec<f64>)>,
}

impl Histogram {
    /// A histogram with a title, category names and one count per category.
    pub fn new<S: Into<String>>(
        title: impl Into<String>,
        categories: impl IntoIterator<Item = S>,
        counts: impl IntoIterator<Item = u64>,
    ) -> Self {
        Histogram {
            labels: Labels::titled(title),
            categories: categories.into_iter().map(Into::into).collect(),
            counts: counts.into_iter().collect(),
            count_label: "count".into(),
            reference: None,
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

    /// Sets the legend name of the bars (default "count").
    pub fn count_label(mut self, label: impl Into<String>) -> Self {
        self.count_label = label.into();
        self
    }

    /// Adds a reference curve, one value per category.
    pub fn reference(
        mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = f64>,
    ) -> Self {
        self.reference = Some((name.into(), values.into_iter().collect()));
        self
    }
}

impl Chart for Histogram {
    fn size(&self) -> (u32, u32) {
        self.labels.size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let bars = GroupedBarChart {
            labels: self.labels.clone(),
            categories: self.categories.clone(),
            series: vec![BarSeries {
                name: self.count_label.clone(),
                values: self.counts.iter().map(|&c| c as f64).collect(),
            }],
            markers: Vec::new(),
            y_axis: YAxis::Counts,
        };
        let lines: Vec<BarSeries> = self
            .reference
            .iter()
            .map(|(name, values)| BarSeries {
                name: name.clone(),
                values: values.clone(),
            })
            .collect();
        draw_category_chart(root, &bars, &lines, None)
    }
}
