//! Plots as SVG markup. Hand-rolled because the outputs are simple (scatter
//! and line plots of at most a few thousand points) and plotters' SVG backend
//! would add weight to the page for no gain.

use std::fmt::Write;

use odeon_notebook::events::{Plot, SeriesKind};
use odeon_notebook::render::escape_html as escape;

const COLOURS: [&str; 6] = ["#8aa4c8", "#e4572e", "#17bebb", "#ffc914", "#76b041", "#a54ee0"];

fn finite_range(values: impl Iterator<Item = f32>) -> Option<(f32, f32)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn pad((lo, hi): (f32, f32)) -> (f32, f32) {
    let span = (hi - lo).max(1e-6);
    (lo - 0.05 * span, hi + 0.05 * span)
}

fn tick(value: f32) -> String {
    if value != 0.0 && (value.abs() < 1e-2 || value.abs() >= 1e4) { format!("{value:.1e}") } else { format!("{value:.2}") }
}

/// Renders a plot to a standalone `<svg>` element.
pub fn plot_svg(plot: &Plot) -> String {
    let (width, height) = if plot.equal_axes { (420.0f32, 420.0f32) } else { (520.0, 260.0) };
    let (left, right, top, bottom) = (56.0f32, 12.0f32, 28.0f32, 30.0f32);
    let transform_y = |y: f32| if plot.log_y { y.max(1e-12).log10() } else { y };
    let xr = finite_range(plot.series.iter().flat_map(|s| s.xs.iter().copied()));
    let yr = finite_range(plot.series.iter().flat_map(|s| s.ys.iter().map(|&y| transform_y(y))));
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"plot-svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        escape(&plot.title)
    );
    let _ = write!(svg, "<text x=\"{left}\" y=\"18\" class=\"plot-title\">{}</text>", escape(&plot.title));
    let (Some(xr), Some(yr)) = (xr, yr) else {
        svg.push_str("<text x=\"60\" y=\"80\">no data</text></svg>");
        return svg;
    };
    let (mut xr, mut yr) = (pad(xr), pad(yr));
    let (pw, ph) = (width - left - right, height - top - bottom);
    if plot.equal_axes {
        let span = (xr.1 - xr.0).max(yr.1 - yr.0);
        let (cx, cy) = ((xr.0 + xr.1) / 2.0, (yr.0 + yr.1) / 2.0);
        xr = (cx - span / 2.0, cx + span / 2.0);
        yr = (cy - span / 2.0, cy + span / 2.0);
    }
    let sx = |x: f32| left + (x - xr.0) / (xr.1 - xr.0) * pw;
    let sy = |y: f32| top + ph - (transform_y(y) - yr.0) / (yr.1 - yr.0) * ph;
    let _ = write!(svg, "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" class=\"plot-frame\"/>");
    let label_y = |v: f32| if plot.log_y { tick(10f32.powf(v)) } else { tick(v) };
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" class=\"plot-tick\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" class=\"plot-tick\" text-anchor=\"end\">{}</text>",
        left - 4.0, top + 10.0, label_y(yr.1), left - 4.0, top + ph, label_y(yr.0)
    );
    let _ = write!(
        svg,
        "<text x=\"{left}\" y=\"{}\" class=\"plot-tick\">{}</text><text x=\"{}\" y=\"{}\" class=\"plot-tick\" text-anchor=\"end\">{}</text>",
        top + ph + 16.0, tick(xr.0), left + pw, top + ph + 16.0, tick(xr.1)
    );
    for (i, series) in plot.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        match series.kind {
            SeriesKind::Scatter => {
                let _ = write!(svg, "<g fill=\"{colour}\" fill-opacity=\"0.55\" data-series=\"{}\">", escape(&series.name));
                for (&x, &y) in series.xs.iter().zip(&series.ys) {
                    if x.is_finite() && y.is_finite() {
                        let _ = write!(svg, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\"/>", sx(x), sy(y));
                    }
                }
                svg.push_str("</g>");
            }
            SeriesKind::Line => {
                let mut d = String::new();
                for (&x, &y) in series.xs.iter().zip(&series.ys) {
                    if x.is_finite() && y.is_finite() {
                        let _ = write!(d, "{}{:.1},{:.1}", if d.is_empty() { "M" } else { " L" }, sx(x), sy(y));
                    }
                }
                let _ = write!(svg, "<path d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" data-series=\"{}\"/>", escape(&series.name));
            }
        }
        if plot.series.len() < 2 {
            continue; // one series: the title says what it is
        }
        let ly = top + 14.0 + 14.0 * i as f32;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\" class=\"plot-legend\">{}</text>",
            left + pw - 110.0, ly - 9.0, left + pw - 96.0, ly, escape(&series.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use odeon_notebook::events::Series;

    #[test]
    fn scatter_and_line_render() {
        let plot = Plot {
            key: "k".into(),
            title: "A <title>".into(),
            series: vec![
                Series { name: "pts".into(), kind: SeriesKind::Scatter, xs: vec![0.0, 1.0, f32::NAN], ys: vec![0.0, 2.0, 1.0] },
                Series { name: "curve".into(), kind: SeriesKind::Line, xs: vec![0.0, 1.0], ys: vec![1.0, 0.5] },
            ],
            log_y: false,
            equal_axes: true,
        };
        let svg = plot_svg(&plot);
        assert_eq!(svg.matches("<circle").count(), 2, "NaN points are skipped");
        assert!(svg.contains("<path d=\"M"));
        assert!(svg.contains("A &lt;title&gt;"));
        let empty = Plot { series: vec![], ..plot };
        assert!(plot_svg(&empty).contains("no data"));
    }
}
