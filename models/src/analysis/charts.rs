//! The charts of the analytic comparison and of a block's halting distribution, as library
//! functions: the pictures `pact compare --plot` and `pact plot halting` draw, for users who
//! build their own figures. Unit axes count from 1 (`N` = number of units executed), markers
//! sit at unit values, and the probability axis runs from 0 to 1 so that panels compare.

use super::{Comparison, SweepPoint};
use crate::plot::{GroupedBarChart, LegendPosition, LineChart, YAxis};

/// ACT's halting weights `p_n` and PACT's `q(N = n)` as grouped bars over the units
/// `1 … L` of [`compare`](super::compare)'s block, with markers at ACT's `N`, PACT's
/// deterministic `N` and `E_q[N]`.
///
/// ```
/// use pact_models::analysis::{compare, comparison_chart};
/// use pact_models::plot::render_svg;
/// let halting = [0.01, 0.5, 0.6, 0.7];
/// let c = compare(&halting, 0.01, 0.01)?;
/// let svg = render_svg(&comparison_chart(&halting, &c))?;
/// assert!(svg.contains("PACT: q(N = n)"));
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn comparison_chart(halting: &[f64], c: &Comparison) -> GroupedBarChart {
    let units = halting.len() + 1;
    // Coinciding markers are pulled slightly apart so that both stay visible.
    let (act_n, det_n) = (c.act.n as f64, c.pact.deterministic_n as f64);
    let nudge = if c.act.n == c.pact.deterministic_n {
        0.04
    } else {
        0.0
    };
    GroupedBarChart::new(
        format!("Halting distributions for h = {}", list(halting)),
        (1..=units).map(|n| n.to_string()),
    )
    .x_label("unit n (N = number of units executed)")
    .y_label("probability of halting at unit n")
    .y_axis(YAxis::Probability)
    .series("ACT: halting weights p_n", c.act.weights.iter().copied())
    .series("PACT: q(N = n)", c.pact.q.iter().copied())
    .marker_at(format!("ACT: N = {}", c.act.n), act_n - nudge)
    .marker_at(
        format!("PACT: deterministic N = {}", c.pact.deterministic_n),
        det_n + nudge,
    )
    .marker_at(
        format!("PACT: E_q[N] = {:.3}", c.pact.expected_n),
        c.pact.expected_n,
    )
}

/// ACT's ponder cost `N + R` (broken at its jumps), PACT's `E_q[N]` and its deterministic `N`
/// against the halting probability of unit `unit` (1-based), from [`sweep`](super::sweep)'s
/// points over the same `halting`.
///
/// ```
/// use pact_models::analysis::{sweep, sweep_chart};
/// use pact_models::plot::render_svg;
/// let halting = [0.01, 0.5, 0.6, 0.7];
/// let points = sweep(&halting, 2, 101, 0.01, 0.01)?;
/// let svg = render_svg(&sweep_chart(&halting, 2, &points))?;
/// assert!(svg.contains("PACT: E_q[N]"));
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn sweep_chart(halting: &[f64], unit: usize, points: &[SweepPoint]) -> LineChart {
    let act = broken_at_jumps(points, |p| p.act_n, |p| p.act_ponder);
    let det = broken_at_jumps(points, |p| p.deterministic_n, |p| p.deterministic_n as f64);
    let mut shown = halting.to_vec();
    if let Some(h) = unit.checked_sub(1).and_then(|i| shown.get_mut(i)) {
        *h = f64::NAN;
    }
    let title_h = list(&shown).replace("NaN", &format!("h_{unit}"));
    LineChart::new(format!(
        "Ponder cost (ACT) and E_q[N] (PACT) for h = {title_h}"
    ))
    .x_label(format!("h_{unit} (halting probability of unit {unit})"))
    .y_label("units (expected) / ponder cost")
    .series("ACT: ponder cost ρ = N + R", act)
    .series("PACT: E_q[N]", points.iter().map(|p| (p.h, p.expected_n)))
    .series("PACT: deterministic N", det)
    .x_range(0.0, 1.0)
    .legend(LegendPosition::UpperRight)
}

/// One block's posterior halting distribution for one input: PACT's `q(N = n | x)` and ACT's
/// weights from the same halting heads as grouped bars over `n = 1 … L` (`q.len()`), with
/// markers at PACT's deterministic `N` and ACT's `N` (both 1-based unit counts).
///
/// ```
/// use pact_models::analysis::halting_chart;
/// use pact_models::plot::render_svg;
/// let chart = halting_chart("block 1", &[0.1, 0.6, 0.3], &[0.05, 0.95, 0.0], 2, 2);
/// assert!(render_svg(&chart)?.contains("deterministic N = 2"));
/// # Ok::<(), pact_models::Error>(())
/// ```
pub fn halting_chart(
    title: impl Into<String>,
    q: &[f64],
    act_weights: &[f64],
    act_n: usize,
    deterministic_n: usize,
) -> GroupedBarChart {
    GroupedBarChart::new(title, (1..=q.len()).map(|n| n.to_string()))
        .x_label("units N")
        .y_label("probability")
        .y_axis(YAxis::Probability)
        .series("PACT q(N|x)", q.iter().copied())
        .series("ACT weights", act_weights.iter().copied())
        .marker_at(
            format!("deterministic N = {deterministic_n}"),
            deterministic_n as f64,
        )
        // Beside the other marker where they coincide.
        .marker_at(format!("ACT: N = {act_n}"), act_n as f64 + 0.1)
}

/// `(h, y)` points with a break (a NaN point) wherever `step` changes, so that a jump is not
/// drawn as a steep segment.
fn broken_at_jumps(
    points: &[SweepPoint],
    step: impl Fn(&SweepPoint) -> usize,
    y: impl Fn(&SweepPoint) -> f64,
) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() + 8);
    for (i, p) in points.iter().enumerate() {
        if i > 0 && step(&points[i - 1]) != step(p) {
            out.push((p.h, f64::NAN));
        }
        out.push((p.h, y(p)));
    }
    out
}

/// A number for humans: at most 10 decimals, trailing zeros dropped (`0.5`, not
/// `0.5000000000`), as the charts' titles and `pact compare`'s tables print it.
///
/// ```
/// assert_eq!(pact_models::analysis::short(0.25), "0.25");
/// ```
pub fn short(x: f64) -> String {
    let text = format!("{x:.10}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// Halting probabilities as `(0.01, 0.5, …)` for titles, shortened after eight values.
///
/// ```
/// assert_eq!(pact_models::analysis::list(&[0.01, 0.5]), "(0.01, 0.5)");
/// ```
pub fn list(halting: &[f64]) -> String {
    let mut items: Vec<String> = halting.iter().take(8).map(|&h| short(h)).collect();
    if halting.len() > 8 {
        items.push("…".into());
    }
    format!("({})", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_show_short_numbers() {
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(-0.0), "0");
        assert_eq!(list(&[0.01, 0.5]), "(0.01, 0.5)");
        assert_eq!(list(&[0.1; 9]).matches('…').count(), 1);
    }
}
