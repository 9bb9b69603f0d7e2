//! Line charts drawn as inline SVG, so a load report renders offline with nothing to fetch
//! (Goose's own report loads its chart library from a CDN and is blank without network).

use std::fmt::Write as _;

use crate::report::html::esc;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    /// A CSS colour.
    pub colour: &'a str,
    /// `(seconds since the start, value)`; `None` values leave a gap.
    pub points: Vec<(f64, Option<f64>)>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;

/// A chart titled `title` with `unit` on the y axis; x values are labelled with `x_unit`
/// (`s` for seconds into the run, `/s` for a rate).
pub fn line_chart(title: &str, unit: &str, x_unit: &str, series: &[Series]) -> String {
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, y)| *y));
    let y_max = nice_ceiling(values.fold(0.0, f64::max));
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|(x, _)| *x))
        .fold(0.0, f64::max)
        .max(1.0);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |v: f64| LEFT + v / x_max * plot_w;
    let y = |v: f64| TOP + plot_h - v / y_max * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure class=chart><figcaption>{}</figcaption><svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=img aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title),
        esc(title)
    );
    // Axes, four horizontal grid lines with their values, and time ticks.
    for i in 0..=4 {
        let value = y_max * i as f64 / 4.0;
        let at = y(value);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=end font-size=11>{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            at + 4.0,
            number(value)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"4\" y=\"{}\" font-size=11 transform=\"rotate(-90 10 {})\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        esc(unit)
    );
    let step = nice_ceiling(x_max / 6.0).max(1.0);
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=middle font-size=11>{}{}</text>",
            x(t),
            HEIGHT - 10.0,
            number(t),
            esc(x_unit)
        );
        t += step;
    }
    for s in series {
        for run in runs(&s.points) {
            let path: Vec<String> = run
                .iter()
                .map(|(px, py)| format!("{:.1},{:.1}", x(*px), y(*py)))
                .collect();
            if path.len() == 1 {
                let (px, py) = run[0];
                let _ = write!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{}\"/>",
                    x(px),
                    y(py),
                    s.colour
                );
            } else {
                let _ = write!(
                    svg,
                    "<polyline fill=none stroke=\"{}\" stroke-width=\"1.6\" points=\"{}\"/>",
                    s.colour,
                    path.join(" ")
                );
            }
        }
    }
    svg.push_str("</svg><div class=legend>");
    for s in series {
        let _ = write!(
            svg,
            "<span><i style=\"background:{}\"></i>{}</span>",
            s.colour,
            esc(s.name)
        );
    }
    svg.push_str("</div></figure>");
    svg
}

/// The stretches of points without a gap.
fn runs(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for (x, y) in points {
        match y {
            Some(y) => runs.last_mut().expect("never empty").push((*x, *y)),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `v` (at least 1): a round axis maximum.
fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// A short axis label: 1500 → 1.5k, 0.25 → 0.25.
fn number(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}k", trim(v / 1000.0))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(12_345.0), 20_000.0);
        assert_eq!(nice_ceiling(0.21), 0.25);
        assert_eq!(number(1500.0), "1.5k");
        assert_eq!(number(0.5), "0.5");
    }

    #[test]
    fn gaps_split_a_line_and_names_are_escaped() {
        let svg = line_chart(
            "latency <ms>",
            "ms",
            "s",
            &[Series {
                name: "p99 & more",
                colour: "#c00",
                points: vec![
                    (0.0, Some(1.0)),
                    (1.0, Some(2.0)),
                    (2.0, None),
                    (3.0, Some(4.0)),
                ],
            }],
        );
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("latency &lt;ms&gt;") && svg.contains("p99 &amp; more"));
        assert!(!svg.contains("http://") || svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
