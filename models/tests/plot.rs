//! Tests of `pact_models::plot`: formats, atomic writes, and what the SVGs contain.

use pact_models::plot::*;
use pact_models::Error;
use std::path::Path;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 24, "{}: too short for a PNG", path.display());
    assert_eq!(bytes[..8], PNG_SIGNATURE, "{}: not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&bytes[16..20]), be(&bytes[20..24]))
}

/// The `<rect …/>` elements of an SVG whose fill is `color`.
fn rects_filled(svg: &str, color: plotters::style::RGBColor) -> usize {
    let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
    svg.split("<rect")
        .skip(1)
        .filter(|r| {
            r.split("/>")
                .next()
                .is_some_and(|attrs| attrs.contains(&fill))
        })
        .count()
}

/// The `<polyline …/>` elements of an SVG whose stroke is `color`.
fn polylines_stroked(svg: &str, color: plotters::style::RGBColor) -> usize {
    let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
    svg.split("<polyline")
        .skip(1)
        .filter(|r| {
            r.split("/>")
                .next()
                .is_some_and(|attrs| attrs.contains(&stroke))
        })
        .count()
}

/// The contents of the SVG's `<text>` elements.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = t.split_once('>')?.1;
            Some(body.split("</text>").next()?.trim().to_string())
        })
        .collect()
}

/// A well-formed-looking SVG document: root element, balanced `<text>` tags, `<svg>` closed.
fn assert_svg(svg: &str) {
    assert!(svg.trim_start().starts_with("<svg"), "no <svg> root");
    assert!(svg.trim_end().ends_with("</svg>"), "<svg> not closed");
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
}

fn bar_chart() -> GroupedBarChart {
    GroupedBarChart::new("Halting distributions", ["1", "2", "3", "4", "5"])
        .x_label("unit n")
        .y_label("probability")
        .series("ACT p", [0.01, 0.5, 0.49, 0.0, 0.0])
        .series("PACT q", [0.01, 0.495, 0.297, 0.1386, 0.0594])
        .marker("deterministic N = 2", 1.0)
}

#[test]
fn grouped_bar_chart_svg_has_bars_legend_and_labels() {
    let svg = render_svg(&bar_chart()).unwrap();
    assert_svg(&svg);
    // 5 bars per series + 1 legend swatch per series.
    assert_eq!(rects_filled(&svg, series_color(0)), 5 + 1);
    assert_eq!(rects_filled(&svg, series_color(1)), 5 + 1);
    let texts = texts(&svg);
    for want in [
        "Halting distributions",
        "unit n",
        "probability",
        "ACT p",
        "PACT q",
        "deterministic N = 2",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "no text {want:?} in {texts:?}"
        );
    }
    // Category names as tick labels.
    for c in ["1", "2", "3", "4", "5"] {
        assert!(texts.iter().any(|t| t == c), "no category label {c}");
    }
}

#[test]
fn grouped_bar_chart_many_series_and_categories() {
    let cats: Vec<String> = (0..60).map(|i| format!("c{i}")).collect();
    let mut chart = GroupedBarChart::new("Many", cats.clone()).size(1200, 500);
    for s in 0..3 {
        chart = chart.series(format!("s{s}"), (0..60).map(|i| (i * (s + 1)) as f64));
    }
    let svg = render_svg(&chart).unwrap();
    for s in 0..3 {
        assert_eq!(rects_filled(&svg, series_color(s)), 60 + 1);
    }
    // Tick labels are thinned out to at most about 25.
    let labels = texts(&svg).iter().filter(|t| t.starts_with('c')).count();
    assert!((10..=30).contains(&labels), "{labels} category labels");
    assert!(svg.contains("width=\"1200\"") && svg.contains("height=\"500\""));
}

#[test]
fn bar_chart_rejects_bad_data() {
    let wrong_len = GroupedBarChart::new("t", ["a", "b"]).series("s", [1.0]);
    assert!(
        matches!(render_svg(&wrong_len), Err(Error::InvalidInput(m)) if m.contains("'s' has 1 values for 2"))
    );
    let nan = GroupedBarChart::new("t", ["a"]).series("s", [f64::NAN]);
    assert!(matches!(render_svg(&nan), Err(Error::InvalidInput(_))));
    let empty = GroupedBarChart::new("t", Vec::<String>::new());
    assert!(matches!(render_svg(&empty), Err(Error::InvalidInput(_))));
}

#[test]
fn png_and_svg_files_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("bars.png");
    save(&bar_chart(), &png).unwrap();
    assert_eq!(png_size(&png), DEFAULT_SIZE);

    let png = dir.path().join("small.PNG");
    save(&bar_chart().size(400, 300), &png).unwrap();
    assert_eq!(png_size(&png), (400, 300));

    let svg_path = dir.path().join("bars.svg");
    save(&bar_chart(), &svg_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_svg(&svg);
    assert_eq!(rects_filled(&svg, series_color(0)), 6);

    // No temporary files are left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["bars.png", "bars.svg", "small.PNG"]);
}

#[test]
fn unsupported_extension_and_missing_directory_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["plot.pdf", "plot", "plot.png.txt"] {
        let err = save(&bar_chart(), dir.path().join(name)).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(m) if m.contains(".png or .svg")),
            "{err}"
        );
    }
    for name in ["nope/plot.png", "nope/plot.svg"] {
        let err = save(&bar_chart(), dir.path().join(name)).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn save_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.svg");
    std::fs::write(&path, "old").unwrap();
    save(&bar_chart(), &path).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
}

#[test]
fn line_chart_series_breaks_and_legend() {
    let chart = LineChart::new("Ponder cost")
        .x_label("h_2")
        .y_label("units")
        .series(
            "ACT",
            [
                (0.1, 3.4),
                (0.2, 3.3),
                (0.3, f64::NAN),
                (0.3, 2.5),
                (0.4, 2.5),
            ],
        )
        .series_with_dots("PACT", [(0.1, 2.45), (0.2, 2.4), (0.3, 2.35), (0.4, 2.3)]);
    let svg = render_svg(&chart).unwrap();
    assert_svg(&svg);
    // ACT: two pieces (broken at the NaN) + legend line; PACT: one piece + legend line.
    assert_eq!(polylines_stroked(&svg, series_color(0)), 2 + 1);
    assert_eq!(polylines_stroked(&svg, series_color(1)), 1 + 1);
    assert_eq!(svg.matches("<circle").count(), 4);
    let texts = texts(&svg);
    for want in ["Ponder cost", "h_2", "units", "ACT", "PACT"] {
        assert!(texts.iter().any(|t| t == want), "no text {want:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("line.png");
    save(&chart.clone().size(640, 480), &png).unwrap();
    assert_eq!(png_size(&png), (640, 480));
}

#[test]
fn line_chart_rejects_bad_ranges_and_empty_data() {
    let empty = LineChart::new("t").series("s", []);
    assert!(matches!(render_svg(&empty), Err(Error::InvalidInput(_))));
    let bad = LineChart::new("t")
        .series("s", [(0.0, 1.0)])
        .x_range(1.0, 1.0);
    assert!(matches!(render_svg(&bad), Err(Error::InvalidInput(_))));
    let inf = LineChart::new("t").series("s", [(0.0, f64::INFINITY), (1.0, 1.0)]);
    assert!(matches!(render_svg(&inf), Err(Error::InvalidInput(_))));
}

#[test]
fn tradeoff_chart_has_one_series_per_method() {
    let chart = TradeoffChart::new("Speed/accuracy")
        .series("ACT", [(1.2e9, 0.92), (0.8e9, 0.90), (1.6e9, 0.93)])
        .labelled_series("PACT", [(0.7e9, 0.90, "λ=0.1"), (1.1e9, 0.92, "λ=0.01")]);
    let svg = render_svg(&chart).unwrap();
    assert_svg(&svg);
    assert_eq!(polylines_stroked(&svg, series_color(0)), 2);
    assert_eq!(polylines_stroked(&svg, series_color(1)), 2);
    assert_eq!(svg.matches("<circle").count(), 5);
    let texts = texts(&svg);
    for want in [
        "Speed/accuracy",
        "FLOPs",
        "accuracy",
        "ACT",
        "PACT",
        "λ=0.1",
        "λ=0.01",
    ] {
        assert!(
            texts.iter().any(|t| t == want),
            "no text {want:?} in {texts:?}"
        );
    }
    // FLOPs tick labels in SI units.
    assert!(texts.iter().any(|t| t.ends_with('G')), "{texts:?}");
}

/// The attributes of the `<text>` element whose content is `content`.
fn text_attributes<'a>(svg: &'a str, content: &str) -> &'a str {
    svg.split("<text")
        .skip(1)
        .find_map(|t| {
            let (attrs, body) = t.split_once('>')?;
            (body.split("</text>").next()?.trim() == content).then_some(attrs)
        })
        .unwrap_or_else(|| panic!("no text {content:?}"))
}

/// Two methods' labels at nearby points print on opposite sides of their points, each in its
/// method's colour, and the x axis leaves room for them on both sides.
#[test]
fn tradeoff_labels_of_two_methods_do_not_share_a_side() {
    let chart = TradeoffChart::new("t")
        .labelled_series("ACT", [(1.0e9, 0.90, "τ=0.1"), (2.0e9, 0.92, "τ=0.01")])
        .labelled_series("PACT", [(1.0e9, 0.90, "λ=0.1"), (2.0e9, 0.92, "λ=0.01")]);
    let svg = render_svg(&chart).unwrap();
    let fill = |c: plotters::style::RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
    for (label, series, anchor) in [("τ=0.1", 0, "end"), ("λ=0.1", 1, "start")] {
        let attrs = text_attributes(&svg, label);
        assert!(
            attrs.contains(&fill(series_color(series))),
            "{label}: {attrs}"
        );
        assert!(
            attrs.contains(&format!("text-anchor=\"{anchor}\"")),
            "{label}: {attrs}"
        );
    }
    // Room for the first point's left-hand label: the x axis starts further left of it than
    // on the same chart without labels, so the "1G" tick sits further right.
    let unlabelled = TradeoffChart::new("t")
        .series("ACT", [(1.0e9, 0.90), (2.0e9, 0.92)])
        .series("PACT", [(1.0e9, 0.90), (2.0e9, 0.92)]);
    let tick_x = |svg: &str| -> f64 {
        let attrs = text_attributes(svg, "1G");
        let x = attrs.split("x=\"").nth(1).and_then(|r| r.split('"').next());
        x.and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("no x in {attrs}"))
    };
    let plain = render_svg(&unlabelled).unwrap();
    assert!(tick_x(&svg) > tick_x(&plain) + 10.0);
}

#[test]
fn histogram_with_reference_curve() {
    let hist = Histogram::new("Units executed", ["1", "2", "3", "4"], [3, 10, 6, 1])
        .x_label("N")
        .y_label("examples")
        .count_label("observed")
        .reference("expected", [4.0, 9.0, 5.5, 1.5]);
    let svg = render_svg(&hist).unwrap();
    assert_svg(&svg);
    assert_eq!(rects_filled(&svg, series_color(0)), 4 + 1);
    assert_eq!(polylines_stroked(&svg, series_color(1)), 1 + 1);
    assert_eq!(svg.matches("<circle").count(), 4);
    let texts = texts(&svg);
    for want in ["Units executed", "N", "examples", "observed", "expected"] {
        assert!(texts.iter().any(|t| t == want), "no text {want:?}");
    }
    let bad = Histogram::new("t", ["a", "b"], [1, 2]).reference("r", [1.0]);
    assert!(matches!(render_svg(&bad), Err(Error::InvalidInput(_))));
}

#[test]
fn si_formatting() {
    assert_eq!(format_si(0.0), "0");
    assert_eq!(format_si(0.25), "0.25");
    assert_eq!(format_si(1500.0), "1.5k");
    assert_eq!(format_si(2.5e6), "2.5M");
    assert_eq!(format_si(1.234e9), "1.234G");
    assert_eq!(format_si(3e12), "3T");
}

#[test]
fn fonts_register_and_format_from_path() {
    register_fonts().unwrap();
    register_fonts().unwrap();
    assert_eq!(Format::from_path("x.png").unwrap(), Format::Png);
    assert_eq!(Format::from_path("dir.d/x.Svg").unwrap(), Format::Svg);
    assert!(Format::from_path("x.jpeg").is_err());
    assert!(FONT_BYTES.len() > 100_000);
}

#[test]
fn figure_grid_of_image_bar_and_line_panels() {
    // A 2×2 image: red, green / blue, white after min-max scaling of CHW floats.
    let chw = [
        1.0, 0.0, 0.0, 1.0, // R
        0.0, 1.0, 0.0, 1.0, // G
        0.0, 0.0, 1.0, 1.0, // B
    ];
    let raster = Raster::from_chw(&chw, 3, 2, 2, "input #7").unwrap();
    assert_eq!(
        raster.pixels,
        vec![[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]
    );
    let bars = GroupedBarChart::new("block 1", ["1", "2", "3"])
        .series("q", [0.2, 0.5, 0.3])
        .series("p", [0.1, 0.9, 0.0])
        .marker("N = 2", 1.0);
    let fig = Figure::new("Grid", 3)
        .cell(300, 240)
        .panel(Panel::Image(raster))
        .panel(Panel::Bars {
            chart: bars,
            lines: vec![BarSeries {
                name: "prior".into(),
                values: vec![0.4, 0.3, 0.3],
            }],
        })
        .panel(Panel::Lines(
            LineChart::new("loss").series("loss", [(0.0, 1.0), (1.0, 0.4)]),
        ))
        .panel(Panel::Empty);
    assert_eq!(fig.size(), (900, 2 * 240 + 50));
    let svg = render_svg(&fig).unwrap();
    assert_svg(&svg);
    // Bars: 3 per series + a legend swatch; the overlay takes colour 2 (line + legend).
    assert_eq!(rects_filled(&svg, series_color(0)), 3 + 1);
    assert_eq!(rects_filled(&svg, series_color(1)), 3 + 1);
    assert_eq!(polylines_stroked(&svg, series_color(2)), 1 + 1);
    // The line panel's series and legend.
    assert_eq!(polylines_stroked(&svg, series_color(0)), 1 + 1);
    // One square per image pixel.
    assert_eq!(rects_filled(&svg, plotters::style::RGBColor(255, 0, 0)), 1);
    assert_eq!(rects_filled(&svg, plotters::style::RGBColor(0, 0, 255)), 1);
    let texts = texts(&svg);
    for want in ["Grid", "input #7", "block 1", "N = 2", "prior", "loss"] {
        assert!(texts.iter().any(|t| t == want), "no text {want:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("grid.png");
    save(&fig, &png).unwrap();
    assert_eq!(png_size(&png), (900, 530));
}

#[test]
fn figure_and_raster_reject_bad_input() {
    assert!(matches!(
        render_svg(&Figure::new("empty", 2)),
        Err(Error::InvalidInput(_))
    ));
    assert!(Raster::from_chw(&[0.0; 5], 1, 2, 2, "").is_err());
    assert!(Raster::from_chw(&[], 0, 0, 0, "").is_err());
    // Constant and grey images scale without dividing by zero.
    let flat = Raster::from_chw(&[3.0; 4], 1, 2, 2, "").unwrap();
    assert!(flat.pixels.iter().all(|p| p == &[0, 0, 0]));
    let bad_bars = Figure::new("bad", 1).panel(Panel::Bars {
        chart: GroupedBarChart::new("b", ["1", "2"]).series("s", [1.0]),
        lines: vec![],
    });
    assert!(matches!(render_svg(&bad_bars), Err(Error::InvalidInput(_))));
}

#[test]
fn bar_panels_can_share_one_y_scale() {
    let panel = |top: f64| Panel::Bars {
        chart: GroupedBarChart::new("p", ["1", "2"])
            .series("s", [1.0, top])
            .y_axis(pact_models::plot::YAxis::Counts),
        lines: vec![],
    };
    let count = |svg: &str, label: &str| texts(svg).iter().filter(|t| *t == label).count();
    let separate = render_svg(&Figure::new("f", 2).panel(panel(40.0)).panel(panel(2.0))).unwrap();
    let shared = render_svg(
        &Figure::new("f", 2)
            .panel(panel(40.0))
            .panel(panel(2.0))
            .share_y(),
    )
    .unwrap();
    // The tick "40" appears on the tall panel only, unless the scale is shared.
    assert_eq!(count(&separate, "40"), 1);
    assert_eq!(count(&shared, "40"), 2);
}
