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

/// The plot's own coordinates: it stretches to the figure's width (`preserveAspectRatio=none`,
/// strokes kept at their width), while the axis labels are HTML text beside it, so they stay
/// readable at a phone's width instead of shrinking with the drawing.
const SPAN: f64 = 1000.0;

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
    // As fractions of the plot: 0 at the left and the bottom.
    let x = |v: f64| v / x_max;
    let y = |v: f64| v / y_max;

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<figure class=chart><figcaption>{} <span class=unit>({})</span></figcaption><div class=plot><svg viewBox=\"0 0 {SPAN} {SPAN}\" preserveAspectRatio=none role=img aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title),
        esc(unit),
        esc(title)
    );
    // Four horizontal grid lines; their values are labels beside the plot.
    let mut labels = String::new();
    for i in 0..=4 {
        let value = y_max * i as f64 / 4.0;
        let at = (1.0 - y(value)) * SPAN;
        let _ = write!(
            svg,
            "<line x1=\"0\" x2=\"{SPAN}\" y1=\"{at:.1}\" y2=\"{at:.1}\" stroke=\"#ddd\" vector-effect=\"non-scaling-stroke\"/>"
        );
        let _ = write!(
            labels,
            "<span class=y style=\"bottom:{:.1}%\">{}</span>",
            100.0 * y(value),
            number(value)
        );
    }
    let step = nice_ceiling(x_max / 6.0).max(1.0);
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        let _ = write!(
            labels,
            "<span class=x style=\"left:{:.1}%\">{}{}</span>",
            100.0 * x(t),
            number(t),
            esc(x_unit)
        );
        t += step;
    }
    let point = |(px, py): (f64, f64)| format!("{:.1},{:.1}", x(px) * SPAN, (1.0 - y(py)) * SPAN);
    for s in series {
        for run in runs(&s.points) {
            if run.len() == 1 {
                // A lone point: a zero-length line with round caps is a dot at any stretch.
                let at = point(run[0]);
                let _ = write!(
                    svg,
                    "<polyline class=dot fill=none stroke=\"{}\" stroke-width=\"5\" stroke-linecap=round vector-effect=\"non-scaling-stroke\" points=\"{at} {at}\"/>",
                    s.colour
                );
            } else {
                let path: Vec<String> = run.iter().map(|p| point(*p)).collect();
                let _ = write!(
                    svg,
                    "<polyline fill=none stroke=\"{}\" stroke-width=\"1.6\" vector-effect=\"non-scaling-stroke\" points=\"{}\"/>",
                    s.colour,
                    path.join(" ")
                );
            }
        }
    }
    let _ = write!(svg, "</svg>{labels}</div><div class=legend>");
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

/// The charts' style: the plot a fixed height at any width, its labels in the page's type.
pub const STYLE: &str = ".chart{margin:1em 0}.chart figcaption{font-weight:600}.chart .unit{font-weight:normal;color:#555}\
.plot{position:relative;height:180px;margin:.6em 0 1.8em 3.2em;border-left:1px solid #999;border-bottom:1px solid #999}\
.plot svg{position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible}\
.plot span{position:absolute;font-size:12px;line-height:1;color:#444;white-space:nowrap}\
.plot .y{right:100%;margin-right:.4em;transform:translateY(50%)}.plot .x{top:100%;margin-top:.4em;transform:translateX(-50%)}\
.legend span{margin-right:1em;font-size:12px}.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;border-radius:2px}";

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
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<polyline class=dot").count(), 1);
        assert!(svg.contains("latency &lt;ms&gt;") && svg.contains("p99 &amp; more"));
        assert!(!svg.contains("http://") || svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }
}
