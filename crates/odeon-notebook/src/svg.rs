//! Plots as standalone SVG documents and their data as CSV.
//!
//! The page, the embed widget and the native CLI (`odeon run` writes the
//! plots as `.svg` files) all draw with this one renderer, so a downloaded
//! plot looks like the one on the page. The SVG carries its own `<style>`,
//! so it renders the same outside the page (files, `<img>`, PNG export).
//!
//! Hand-rolled rather than plotters: the outputs are a handful of kinds
//! (scatter, lines, arrows, one heat map) at most a few thousand points, and
//! plotters' SVG backend would add weight to every page and widget while
//! offering neither the live-replace model nor the CSV export we need.

use std::fmt::Write;

use crate::events::{Heatmap, Plot, SeriesKind, format_number};
use crate::render::escape_html as escape;

/// Series colours, in order: ten that stay apart, so a plot of up to ten
/// series (a sweep over seven values of a setting, four pairs of paths)
/// never draws two in one colour.
pub const COLOURS: [&str; 10] = ["#4c72b0", "#e4572e", "#17bebb", "#d4a017", "#76b041", "#a54ee0", "#8c564b", "#e377c2", "#7f7f7f", "#1b3a6b"];

const STYLE: &str = "<style>.plot-title{font:600 13px system-ui,sans-serif;fill:#222}\
.plot-tick,.plot-legend,.plot-label{font:11px system-ui,sans-serif;fill:#555}\
.plot-frame{fill:none;stroke:#bbb}.plot-grid{stroke:#eee}</style>";

fn finite_range(values: impl Iterator<Item = f32>) -> Option<(f32, f32)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn pad((lo, hi): (f32, f32), fraction: f32) -> (f32, f32) {
    let span = (hi - lo).max(1e-6 * lo.abs().max(1.0));
    (lo - fraction * span, hi + fraction * span)
}

/// A tick label: four significant digits at most, very small or large
/// values in the shortest exponent form (`1e-6`, `2.5e8`) so they fit
/// beside the axis.
fn tick(value: f32) -> String {
    let v = f64::from(value);
    let rounded = if v == 0.0 || !v.is_finite() {
        v
    } else {
        let scale = 10f64.powi(3 - v.abs().log10().floor() as i32);
        (v * scale).round() / scale
    };
    if rounded != 0.0 && rounded.is_finite() && !(1e-4..1e6).contains(&rounded.abs()) {
        return format!("{rounded:e}");
    }
    format_number(rounded)
}

/// Perceptually ordered colour ramp (dark blue to yellow) for `t` in [0, 1].
pub fn ramp(t: f32) -> (u8, u8, u8) {
    const STOPS: [(f32, f32, f32); 5] =
        [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f32, y: f32| (x + (y - x) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Renders a plot to a standalone `<svg>` document.
pub fn plot_svg(plot: &Plot) -> String {
    let (width, height) = if plot.equal_axes { (440.0f32, 420.0f32) } else { (540.0, 280.0) };
    let right = if plot.heatmap.is_some() { 78.0 } else { 12.0 };
    let (left, top, bottom) = (58.0f32, 28.0f32, if plot.labels[0].is_empty() { 30.0 } else { 42.0 });
    let tx = |x: f32| if plot.log_x { if x > 0.0 { x.log10() } else { f32::NAN } } else { x };
    let ty = |y: f32| if plot.log_y { if y > 0.0 { y.log10() } else { f32::NAN } } else { y };
    let heat_x = plot.heatmap.iter().flat_map(|h| h.x_range);
    let heat_y = plot.heatmap.iter().flat_map(|h| h.y_range);
    let arrow_tips_x = plot.series.iter().filter(|s| s.kind == SeriesKind::Arrows).flat_map(|s| s.xs.iter().zip(&s.us).map(|(x, u)| x + u));
    let arrow_tips_y = plot.series.iter().filter(|s| s.kind == SeriesKind::Arrows).flat_map(|s| s.ys.iter().zip(&s.vs).map(|(y, v)| y + v));
    let xr = finite_range(plot.series.iter().flat_map(|s| s.xs.iter().copied()).chain(heat_x).chain(arrow_tips_x).map(tx));
    let yr = finite_range(plot.series.iter().flat_map(|s| s.ys.iter().copied()).chain(heat_y).chain(arrow_tips_y).map(ty));
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot-svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">{STYLE}<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>",
        escape(&plot.title)
    );
    let _ = write!(svg, "<text x=\"{left}\" y=\"18\" class=\"plot-title\">{}</text>", escape(&plot.title));
    let (Some(xr), Some(yr)) = (xr, yr) else {
        svg.push_str("<text x=\"60\" y=\"80\" class=\"plot-label\">no data</text></svg>");
        return svg;
    };
    let frac = if plot.heatmap.is_some() { 0.0 } else { 0.05 };
    let (mut xr, mut yr) = (pad(xr, frac), pad(yr, frac));
    let (pw, ph) = (width - left - right, height - top - bottom);
    if plot.equal_axes {
        let span = (xr.1 - xr.0).max(yr.1 - yr.0);
        let (cx, cy) = ((xr.0 + xr.1) / 2.0, (yr.0 + yr.1) / 2.0);
        xr = (cx - span / 2.0, cx + span / 2.0);
        yr = (cy - span / 2.0, cy + span / 2.0);
    }
    // Screen coordinates of data (already log-transformed where asked).
    let px = |x: f32| left + (x - xr.0) / (xr.1 - xr.0) * pw;
    let py = |y: f32| top + ph - (y - yr.0) / (yr.1 - yr.0) * ph;
    let sx = |x: f32| px(tx(x));
    let sy = |y: f32| py(ty(y));
    let _ = write!(svg, "<svg x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" viewBox=\"{left} {top} {pw} {ph}\" overflow=\"hidden\">");
    if let Some(heat) = &plot.heatmap {
        heatmap_cells(&mut svg, heat, &sx, &sy);
    }
    // Over a heat map, series start at the second colour (orange reads on
    // both ends of the colour ramp).
    let first_colour = usize::from(plot.heatmap.is_some());
    for (i, series) in plot.series.iter().enumerate() {
        let colour = COLOURS[(i + first_colour) % COLOURS.len()];
        let name = escape(&series.name);
        match series.kind {
            SeriesKind::Scatter => {
                let _ = write!(svg, "<g fill=\"{colour}\" fill-opacity=\"0.55\" data-series=\"{name}\">");
                for (&x, &y) in series.xs.iter().zip(&series.ys) {
                    let (x, y) = (sx(x), sy(y));
                    if x.is_finite() && y.is_finite() {
                        let _ = write!(svg, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"1.6\"/>");
                    }
                }
                svg.push_str("</g>");
            }
            SeriesKind::Line => {
                let mut d = String::new();
                let mut pen_down = false;
                for (&x, &y) in series.xs.iter().zip(&series.ys) {
                    let (x, y) = (sx(x), sy(y));
                    if x.is_finite() && y.is_finite() {
                        let _ = write!(d, "{}{x:.1},{y:.1}", if pen_down { " L" } else { " M" });
                        pen_down = true;
                    } else {
                        pen_down = false; // a gap, not a jump, at missing values
                    }
                }
                let _ = write!(svg, "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" data-series=\"{name}\"/>", d.trim_start());
            }
            SeriesKind::Arrows => {
                let _ = write!(svg, "<g stroke=\"{colour}\" fill=\"{colour}\" stroke-width=\"1.1\" data-series=\"{name}\">");
                for (((&x, &y), &u), &v) in series.xs.iter().zip(&series.ys).zip(&series.us).zip(&series.vs) {
                    let (x0, y0, x1, y1) = (sx(x), sy(y), sx(x + u), sy(y + v));
                    if ![x0, y0, x1, y1].iter().all(|c| c.is_finite()) {
                        continue;
                    }
                    let (dx, dy) = (x1 - x0, y1 - y0);
                    let len = (dx * dx + dy * dy).sqrt();
                    if len < 0.5 {
                        let _ = write!(svg, "<circle cx=\"{x0:.1}\" cy=\"{y0:.1}\" r=\"0.8\"/>");
                        continue;
                    }
                    let head = len.min(8.0) * 0.35;
                    let (ux, uy) = (dx / len, dy / len);
                    let (bx, by) = (x1 - ux * head, y1 - uy * head);
                    let _ = write!(
                        svg,
                        "<line x1=\"{x0:.1}\" y1=\"{y0:.1}\" x2=\"{bx:.1}\" y2=\"{by:.1}\"/><path d=\"M{x1:.1},{y1:.1} L{:.1},{:.1} L{:.1},{:.1} Z\" stroke=\"none\"/>",
                        bx - uy * head * 0.6, by + ux * head * 0.6, bx + uy * head * 0.6, by - ux * head * 0.6
                    );
                }
                svg.push_str("</g>");
            }
        }
    }
    svg.push_str("</svg>");
    let _ = write!(svg, "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" class=\"plot-frame\"/>");
    let label = |v: f32, log: bool| if log { tick(10f32.powf(v)) } else { tick(v) };
    let grid_class = if plot.heatmap.is_some() { "plot-frame" } else { "plot-grid" };
    let grid_end = if plot.heatmap.is_some() { left } else { left + pw };
    for v in axis_ticks(yr, plot.log_y) {
        let y = py(v);
        let _ = write!(
            svg,
            "<line x1=\"{}\" x2=\"{grid_end}\" y1=\"{y:.1}\" y2=\"{y:.1}\" class=\"{grid_class}\"/><text x=\"{}\" y=\"{:.1}\" class=\"plot-tick\" text-anchor=\"end\">{}</text>",
            left - 3.0, left - 4.0, y + 3.5, label(v, plot.log_y)
        );
    }
    for v in axis_ticks(xr, plot.log_x) {
        let x = px(v);
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\" class=\"plot-frame\"/><text x=\"{x:.1}\" y=\"{}\" class=\"plot-tick\" text-anchor=\"middle\">{}</text>",
            top + ph, top + ph + 4.0, top + ph + 15.0, label(v, plot.log_x)
        );
    }
    let scale_note = |log: bool| if log { " (log)" } else { "" };
    if !plot.labels[0].is_empty() || plot.log_x {
        let _ = write!(svg, "<text x=\"{}\" y=\"{}\" class=\"plot-label\" text-anchor=\"middle\">{}{}</text>", left + pw / 2.0, top + ph + 28.0, escape(&plot.labels[0]), scale_note(plot.log_x));
    }
    if !plot.labels[1].is_empty() || plot.log_y {
        let (lx, ly) = (14.0, top + ph / 2.0);
        let _ = write!(svg, "<text x=\"{lx}\" y=\"{ly}\" class=\"plot-label\" text-anchor=\"middle\" transform=\"rotate(-90 {lx} {ly})\">{}{}</text>", escape(&plot.labels[1]), scale_note(plot.log_y));
    }
    if let Some(heat) = &plot.heatmap {
        colour_bar(&mut svg, heat, left + pw + 10.0, top, ph);
    }
    let named = plot.series.len() >= 2;
    let legend_x = legend_left(plot.series.iter().map(|s| s.name.as_str()), left, left + pw);
    if named {
        // A light panel under the legend, so curves and points behind it
        // do not run through the names.
        let _ = write!(
            svg,
            "<rect class=\"plot-legend-panel\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#fff\" fill-opacity=\"0.8\"/>",
            legend_x - 4.0,
            top + 2.0,
            left + pw - legend_x + 2.0,
            14.0 * plot.series.len() as f32 + 4.0
        );
    }
    for (i, series) in plot.series.iter().enumerate().filter(|_| named) {
        // The same colour as the series itself (shifted over a heat map).
        let colour = COLOURS[(i + first_colour) % COLOURS.len()];
        let ly = top + 14.0 + 14.0 * i as f32;
        let _ = write!(
            svg,
            "<rect x=\"{legend_x:.1}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{}\" class=\"plot-legend\">{}</text>",
            ly - 9.0, legend_x + 14.0, ly, escape(&series.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Width of one legend character at 11 px (a generous average for
/// system-ui; the SVG cannot measure text itself).
const LEGEND_CHAR: f32 = 6.5;

/// Where the legend's swatches start so that its longest name ends inside
/// the plot frame (`left..right`): 110 px from the right for short names,
/// further left for long ones, never left of the frame.
fn legend_left<'a>(names: impl Iterator<Item = &'a str>, left: f32, right: f32) -> f32 {
    let longest = names.map(|n| n.chars().count()).max().unwrap_or(0) as f32;
    (right - (18.0 + LEGEND_CHAR * longest).max(110.0)).max(left + 4.0)
}

/// Tick positions (in the axis' own, possibly log10, units) inside `range`:
/// whole decades on log axes spanning at least one, else 1-2-5 steps.
fn axis_ticks((lo, hi): (f32, f32), log: bool) -> Vec<f32> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Vec::new();
    }
    if log && hi - lo >= 1.0 {
        let stride = ((hi - lo) / 6.0).ceil().max(1.0);
        let first = (lo / stride).ceil() as i32;
        let last = (hi / stride).floor() as i32;
        return (first..=last).map(|k| k as f32 * stride).collect();
    }
    if log {
        // Less than a decade: 1-2-5 values inside the range, if there are two.
        let ticks: Vec<f32> = ((lo.floor() as i32 - 1)..=(hi.ceil() as i32))
            .flat_map(|k| [1.0f32, 2.0, 5.0].map(|m| (m * 10f32.powi(k)).log10()))
            .filter(|v| (lo..=hi).contains(v))
            .collect();
        if ticks.len() >= 2 {
            return ticks;
        }
        let ticks: Vec<f32> = ((lo.floor() as i32 - 1)..=(hi.ceil() as i32))
            .flat_map(|k| (1..10).map(move |m| (m as f32 * 10f32.powi(k)).log10()))
            .filter(|v| (lo..=hi).contains(v))
            .collect();
        if ticks.len() >= 2 {
            return ticks;
        }
    }
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f32.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).take(12).map(|k| if k == 0 { 0.0 } else { k as f32 * step }).collect()
}

fn value_range(heat: &Heatmap) -> (f32, f32) {
    let (lo, hi) = finite_range(heat.values.iter().copied()).unwrap_or((0.0, 1.0));
    (lo, if hi > lo { hi } else { lo + 1.0 })
}

/// The grid as rectangles, runs of equal (quantised) colour merged per row.
fn heatmap_cells(svg: &mut String, heat: &Heatmap, sx: &dyn Fn(f32) -> f32, sy: &dyn Fn(f32) -> f32) {
    if heat.nx == 0 || heat.ny == 0 || heat.values.len() != heat.nx * heat.ny {
        return;
    }
    let (lo, hi) = value_range(heat);
    let cw = (heat.x_range[1] - heat.x_range[0]) / heat.nx as f32;
    let ch = (heat.y_range[1] - heat.y_range[0]) / heat.ny as f32;
    svg.push_str("<g shape-rendering=\"crispEdges\" class=\"heatmap\">");
    for j in 0..heat.ny {
        let row = &heat.values[j * heat.nx..(j + 1) * heat.nx];
        let level = |v: f32| if v.is_finite() { ((v - lo) / (hi - lo) * 63.0).round() as i32 } else { -1 };
        let mut i = 0;
        while i < heat.nx {
            let l = level(row[i]);
            let mut k = i + 1;
            while k < heat.nx && level(row[k]) == l {
                k += 1;
            }
            let (x0, x1) = (sx(heat.x_range[0] + cw * i as f32), sx(heat.x_range[0] + cw * k as f32));
            let (y0, y1) = (sy(heat.y_range[0] + ch * (j + 1) as f32), sy(heat.y_range[0] + ch * j as f32));
            let fill = if l < 0 {
                "#ddd".to_string()
            } else {
                let (r, g, b) = ramp(l as f32 / 63.0);
                format!("#{r:02x}{g:02x}{b:02x}")
            };
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>",
                x0.min(x1), y0.min(y1), (x1 - x0).abs() + 0.3, (y1 - y0).abs() + 0.3
            );
            i = k;
        }
    }
    svg.push_str("</g>");
}

fn colour_bar(svg: &mut String, heat: &Heatmap, x: f32, top: f32, height: f32) {
    let (lo, hi) = value_range(heat);
    let steps = 32;
    for s in 0..steps {
        let (r, g, b) = ramp(1.0 - (s as f32 + 0.5) / steps as f32);
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"12\" height=\"{:.1}\" fill=\"#{r:02x}{g:02x}{b:02x}\"/>",
            top + height * s as f32 / steps as f32,
            height / steps as f32 + 0.3
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" class=\"plot-tick\">{}</text><text x=\"{}\" y=\"{}\" class=\"plot-tick\">{}</text>",
        x + 15.0, top + 9.0, tick(hi), x + 15.0, top + height, tick(lo)
    );
    let (lx, ly) = (x + 60.0, top + height / 2.0);
    let _ = write!(
        svg,
        "<text x=\"{lx}\" y=\"{ly}\" class=\"plot-label\" text-anchor=\"middle\" transform=\"rotate(-90 {lx} {ly})\">{}</text>",
        escape(&heat.label)
    );
}

/// The plot's data as CSV: one row per point (`series,x,y` plus `u,v` for
/// arrows), then the heat map as `field,x,y,value` at cell centres.
pub fn plot_csv(plot: &Plot) -> String {
    let arrows = plot.series.iter().any(|s| s.kind == SeriesKind::Arrows);
    let mut csv = String::from(if arrows { "series,x,y,u,v\n" } else { "series,x,y\n" });
    let quote = |name: &str| {
        if name.contains([',', '"', '\n']) { format!("\"{}\"", name.replace('"', "\"\"")) } else { name.to_string() }
    };
    for series in &plot.series {
        let name = quote(&series.name);
        for (i, (x, y)) in series.xs.iter().zip(&series.ys).enumerate() {
            let _ = write!(csv, "{name},{x},{y}");
            if arrows {
                let _ = write!(csv, ",{},{}", series.us.get(i).map_or(String::new(), f32::to_string), series.vs.get(i).map_or(String::new(), f32::to_string));
            }
            csv.push('\n');
        }
    }
    if let Some(heat) = &plot.heatmap
        && heat.values.len() == heat.nx * heat.ny
    {
        let _ = writeln!(csv, "field,x,y,{}", quote(&heat.label));
        let cw = (heat.x_range[1] - heat.x_range[0]) / heat.nx.max(1) as f32;
        let ch = (heat.y_range[1] - heat.y_range[0]) / heat.ny.max(1) as f32;
        for j in 0..heat.ny {
            for i in 0..heat.nx {
                let (x, y) = (heat.x_range[0] + cw * (i as f32 + 0.5), heat.y_range[0] + ch * (j as f32 + 0.5));
                let _ = writeln!(csv, "{},{x},{y},{}", quote(&heat.label), heat.values[j * heat.nx + i]);
            }
        }
    }
    csv
}

/// A file name made from a plot title: lowercase letters, digits and dashes.
pub fn file_stem(title: &str) -> String {
    let mut stem = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            stem.push(c.to_ascii_lowercase());
        } else if !stem.ends_with('-') && !stem.is_empty() {
            stem.push('-');
        }
    }
    let stem = stem.trim_end_matches('-').chars().take(60).collect::<String>();
    if stem.is_empty() { "plot".into() } else { stem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Series;

    fn scatter_and_line() -> Plot {
        Plot {
            equal_axes: true,
            ..Plot::new(
                "k",
                "A <title>",
                vec![
                    Series::new("pts", SeriesKind::Scatter, vec![0.0, 1.0, f32::NAN], vec![0.0, 2.0, 1.0]),
                    Series::new("curve", SeriesKind::Line, vec![0.0, 1.0], vec![1.0, 0.5]),
                ],
            )
        }
    }

    #[test]
    fn long_legend_names_stay_inside_the_plot() {
        assert_eq!(legend_left(["a", "target"].into_iter(), 58.0, 428.0), 318.0, "short names keep the usual place");
        let long = "optimised embedding";
        let x = legend_left(["target", long].into_iter(), 58.0, 428.0);
        assert!(x + 14.0 + LEGEND_CHAR * long.chars().count() as f32 <= 428.0, "{x}");
        assert_eq!(legend_left([long.repeat(10).as_str()].into_iter(), 58.0, 428.0), 62.0, "never left of the frame");
    }

    #[test]
    fn scatter_and_line_render() {
        let plot = scatter_and_line();
        let svg = plot_svg(&plot);
        assert_eq!(svg.matches("<circle").count(), 2, "NaN points are skipped");
        assert!(svg.contains("<path d=\"M"));
        assert!(svg.contains("A &lt;title&gt;"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "standalone document");
        assert!(svg.contains("<style>"), "styles travel with the file");
        let empty = Plot { series: vec![], ..plot };
        assert!(plot_svg(&empty).contains("no data"));
    }

    #[test]
    fn log_axes_skip_non_positive_values_and_break_lines() {
        let plot = Plot {
            log_x: true,
            log_y: true,
            ..Plot::new("c", "convergence", vec![Series::new("err", SeriesKind::Line, vec![1.0, 2.0, 4.0, 8.0], vec![1.0, 0.0, 0.25, 0.125])])
        };
        let svg = plot_svg(&plot);
        let d = svg.split("<path d=\"").nth(1).expect("a path").split('"').next().expect("closed");
        assert_eq!(d.matches('M').count(), 2, "the zero breaks the line: {d}");
        assert!(svg.contains("(log)"), "log axes are labelled");
        assert!(svg.contains(">1<") && svg.contains(">0.5<") && svg.contains(">5<"), "1-2-5 ticks in data units: {svg}");
    }

    #[test]
    fn legend_colours_match_their_series_and_ten_stay_apart() {
        let lines = |n: usize, heat: bool| Plot {
            heatmap: heat.then(|| Heatmap { label: "h".into(), nx: 1, ny: 1, x_range: [0.0, 1.0], y_range: [0.0, 1.0], values: vec![0.0] }),
            ..Plot::new("t", "t", (0..n).map(|i| Series::new(format!("s{i}"), SeriesKind::Line, vec![0.0, 1.0], vec![0.0, i as f32])).collect())
        };
        for heat in [false, true] {
            let svg = plot_svg(&lines(10, heat));
            let mut seen = Vec::new();
            for i in 0..10 {
                let stroke = svg.split(&format!("data-series=\"s{i}\"")).next().expect("series").rsplit("stroke=\"").next().expect("stroke");
                let colour = &stroke[..7];
                let legend = svg.split(&format!(">s{i}</text>")).next().expect("legend");
                let fill = legend.rsplit("fill=\"").next().expect("fill");
                assert_eq!(&fill[..7], colour, "series {i}, heat map {heat}");
                seen.push(colour.to_string());
            }
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 10, "ten series, ten colours");
            assert_eq!(svg.matches("plot-legend-panel").count(), 1, "one panel under the legend");
        }
    }

    #[test]
    fn heat_maps_and_vector_fields_render() {
        let plot = Plot {
            heatmap: Some(Heatmap {
                label: "u(x, y)".into(),
                nx: 3,
                ny: 2,
                x_range: [0.0, 3.0],
                y_range: [0.0, 2.0],
                values: vec![0.0, 0.0, 1.0, 2.0, f32::NAN, 2.0],
            }),
            ..Plot::new(
                "f",
                "field",
                vec![Series {
                    us: vec![0.5, 0.0],
                    vs: vec![0.0, 0.5],
                    ..Series::new("v", SeriesKind::Arrows, vec![1.0, 2.0], vec![1.0, 1.0])
                }],
            )
        };
        let svg = plot_svg(&plot);
        let heat = svg.split("class=\"heatmap\">").nth(1).expect("heat map").split("</g>").next().expect("closed");
        assert_eq!(heat.matches("<rect").count(), 5, "equal neighbours merge; NaN gets its own grey cell: {heat}");
        assert!(heat.contains("#ddd"));
        let arrows = svg.split("data-series=\"v\">").nth(1).expect("arrows").split("</g>").next().expect("closed");
        assert_eq!(arrows.matches("<line").count(), 2, "one shaft per arrow");
        assert!(svg.contains("u(x, y)"), "colour bar label");
        let csv = plot_csv(&plot);
        assert!(csv.starts_with("series,x,y,u,v\nv,1,1,0.5,0\n"), "{csv}");
        assert!(csv.contains("field,x,y,\"u(x, y)\"\n\"u(x, y)\",0.5,0.5,0\n"), "{csv}");
        assert_eq!(csv.lines().count(), 1 + 2 + 1 + 6);
    }

    #[test]
    fn csv_quotes_names_and_lists_every_point() {
        let mut plot = scatter_and_line();
        plot.series[0].name = "a, \"b\"".into();
        let csv = plot_csv(&plot);
        assert!(csv.starts_with("series,x,y\n\"a, \"\"b\"\"\",0,0\n"), "{csv}");
        assert_eq!(csv.lines().count(), 1 + 3 + 2);
    }

    #[test]
    fn ticks_are_round_numbers() {
        assert_eq!(axis_ticks((0.0, 1.0), false), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(axis_ticks((-3.3, 4.1), false), vec![-2.0, 0.0, 2.0, 4.0]);
        assert_eq!(axis_ticks((-3.5, 0.2), true), vec![-3.0, -2.0, -1.0, 0.0]);
        assert!(axis_ticks((1.0, 1.0), false).is_empty());
        assert_eq!([tick(1e-6), tick(2.5e-7), tick(3e8), tick(0.001), tick(1500.0)], ["1e-6", "2.5e-7", "3e8", "0.001", "1500"]);
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("Samples over the target"), "samples-over-the-target");
        assert_eq!(file_stem("  ../../etc"), "etc");
        assert_eq!(file_stem("∑"), "plot");
    }

    #[test]
    fn ramp_runs_dark_to_light() {
        let lum = |(r, g, b): (u8, u8, u8)| 0.3 * f32::from(r) + 0.59 * f32::from(g) + 0.11 * f32::from(b);
        let values: Vec<f32> = (0..=10).map(|i| lum(ramp(i as f32 / 10.0))).collect();
        assert!(values.windows(2).all(|w| w[1] > w[0]), "{values:?}");
    }
}
