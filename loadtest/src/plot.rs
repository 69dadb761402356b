//! Line charts as SVG, with `plotters`' SVG backend only (no font or bitmap libraries: text
//! goes into the SVG as `<text>` and the viewer draws it).

use std::path::Path;

use plotters::prelude::*;

/// Size of the chart, in pixels: readable in a Markdown viewer without scaling.
const SIZE: (u32, u32) = (960, 560);

/// Room around the data, as a share of its range, so end points are not on the frame.
const MARGIN: f64 = 0.05;

/// Smallest value on a log axis: a latency under 10 µs is under the generator's resolution.
const LOG_FLOOR: f64 = 0.01;

/// How a line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    /// A solid line with a dot at each point.
    Solid,
    /// A dashed line with a dot at each point (a second series of the same measure).
    Dashed,
    /// A dotted line, no dots (a limit).
    Dotted,
}

/// One line of the chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text.
    pub label: String,
    /// `(x, y)` points, in order of x.
    pub points: Vec<(f64, f64)>,
    /// Colour, as RGB.
    pub color: (u8, u8, u8),
    /// How it is drawn.
    pub stroke: Stroke,
}

/// Axis texts.
#[derive(Debug, Clone, Copy)]
pub struct Axes<'a> {
    /// Title above the chart.
    pub title: &'a str,
    /// X axis description.
    pub x: &'a str,
    /// Y axis description.
    pub y: &'a str,
    /// Log scale on y (latencies spanning orders of magnitude).
    pub log_y: bool,
}

/// Draws `lines` into an SVG file at `path`.
pub fn line_chart(path: &Path, axes: Axes<'_>, lines: &[Line]) -> Result<(), String> {
    let all = || lines.iter().flat_map(|line| line.points.iter().copied());
    let (x_lo, x_hi) = span(all().map(|(x, _)| x));
    let (y_lo, y_hi) = span(all().map(|(_, y)| if axes.log_y { y.max(LOG_FLOOR) } else { y }));
    let x_pad = ((x_hi - x_lo) * MARGIN).max(x_hi.abs() * MARGIN).max(1.0);
    let x_range = (x_lo - x_pad)..(x_hi + x_pad);

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut builder = ChartBuilder::on(&root);
    builder.caption(axes.title, ("sans-serif", 22)).margin(16).x_label_area_size(48).y_label_area_size(64);
    if axes.log_y {
        let y_range = (y_lo / 1.5).max(LOG_FLOOR)..(y_hi * 1.5);
        let mut chart = builder.build_cartesian_2d(x_range, y_range.log_scale()).map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(axes.x)
            .y_desc(axes.y)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| if *y >= 10.0 { format!("{y:.0}") } else { format!("{y}") })
            .draw()
            .map_err(|e| e.to_string())?;
        draw_lines(&mut chart, lines)?;
        legend(&mut chart)?;
    } else {
        let y_pad = ((y_hi - y_lo) * MARGIN).max(1.0);
        let mut chart =
            builder.build_cartesian_2d(x_range, (y_lo - y_pad).min(0.0)..(y_hi + y_pad)).map_err(|e| e.to_string())?;
        chart.configure_mesh().x_desc(axes.x).y_desc(axes.y).draw().map_err(|e| e.to_string())?;
        draw_lines(&mut chart, lines)?;
        legend(&mut chart)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Lowest and highest of `values` (0..1 when there are none).
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo <= hi { (lo, hi) } else { (0.0, 1.0) }
}

type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

fn draw_lines<'a, 'b: 'a, Y>(chart: &mut Chart<'a, 'b, Y>, lines: &[Line]) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    for line in lines {
        let (r, g, b) = line.color;
        let color = RGBColor(r, g, b);
        let style = color.stroke_width(2);
        let points = line.points.clone();
        let drawn = match line.stroke {
            Stroke::Solid => chart.draw_series(LineSeries::new(points, style)),
            Stroke::Dashed => chart.draw_series(DashedLineSeries::new(points, 8, 5, style)),
            Stroke::Dotted => {
                chart.draw_series(DottedLineSeries::new(points, 0, 6, move |c| Circle::new(c, 1, color.filled())))
            }
        }
        .map_err(|e| e.to_string())?;
        let legend = drawn.label(line.label.as_str());
        match line.stroke {
            Stroke::Solid => legend.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)),
            Stroke::Dashed => legend.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (7, 0)], style)
                    + PathElement::new(vec![(13, 0), (20, 0)], style)
            }),
            Stroke::Dotted => {
                legend.legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1)))
            }
        };
        if line.stroke != Stroke::Dotted {
            chart
                .draw_series(line.points.iter().map(|&(x, y)| Circle::new((x, y), 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn legend<'a, 'b: 'a, Y>(chart: &mut Chart<'a, 'b, Y>) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_svg_file_with_its_labels() {
        let path = std::env::temp_dir().join(format!("loadtest-plot-{}.svg", std::process::id()));
        let lines = [
            Line {
                label: "engine p99".into(),
                points: vec![(100.0, 20.0), (200.0, 35.0)],
                color: (200, 80, 0),
                stroke: Stroke::Solid,
            },
            Line {
                label: "baseline p99".into(),
                points: vec![(100.0, 18.0), (200.0, 22.0)],
                color: (200, 80, 0),
                stroke: Stroke::Dashed,
            },
            Line {
                label: "SLO".into(),
                points: vec![(100.0, 150.0), (200.0, 150.0)],
                color: (90, 90, 90),
                stroke: Stroke::Dotted,
            },
        ];
        let axes = Axes { title: "latency", x: "rate", y: "ms", log_y: true };
        line_chart(&path, axes, &lines).expect("drawn");
        let svg = std::fs::read_to_string(&path).expect("written");
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("engine p99") && svg.contains("baseline p99"), "legend");
        let _ = std::fs::remove_file(&path);
    }
}
