//! Script functions that produce outputs: plots, tables, metrics and
//! success criteria. Every one checks its input and says what is wrong in
//! words (lengths that differ, ragged grids, unknown options).

use rhai::{Array, Dynamic, Engine, Map};

use super::{Fallible, Points, check_keys, emit, points_xy, script_error};
use crate::events::{Comparison, Event, Heatmap, Plot, Series, SeriesKind, TableValue};

/// Most points one series may have (keeps pages and SVG files small).
pub(crate) const MAX_POINTS: usize = 200_000;
/// Most cells a heat map may have.
pub(crate) const MAX_HEAT_CELLS: usize = 128 * 128;

fn number(value: &Dynamic) -> Option<f64> {
    value.as_float().ok().or_else(|| value.as_int().ok().map(|i| i as f64))
}

/// An array of numbers (integers count), or a clear error naming `what`
/// and the first item that is not one: the one conversion every script
/// function that takes numbers uses.
pub(crate) fn numbers(values: &Array, what: &str) -> Fallible<Vec<f64>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| number(v).ok_or_else(|| script_error(format!("{what}: item {i} is {}, not a number", v.type_name()))))
        .collect()
}

/// [`numbers`] for a plot: at most `MAX_POINTS` of them.
fn plotted_numbers(values: &Array, what: &str) -> Fallible<Vec<f64>> {
    if values.len() > MAX_POINTS {
        return Err(script_error(format!("{what}: at most {MAX_POINTS} values can be plotted; got {}", values.len())));
    }
    numbers(values, what)
}

fn floats(values: &Array, what: &str) -> Fallible<Vec<f32>> {
    Ok(plotted_numbers(values, what)?.into_iter().map(|v| v as f32).collect())
}

fn array_field(map: &Map, key: &str, what: &str) -> Fallible<Array> {
    match map.get(key) {
        None => Err(script_error(format!("{what}: missing `{key}`"))),
        Some(v) => v.clone().try_cast::<Array>().ok_or_else(|| script_error(format!("{what}: `{key}` must be an array of numbers"))),
    }
}

fn bool_option(options: &Map, key: &str) -> Fallible<bool> {
    match options.get(key) {
        None => Ok(false),
        Some(v) => v.as_bool().map_err(|t| script_error(format!("`{key}` must be true or false, not {t}"))),
    }
}

fn text_option(options: &Map, key: &str) -> String {
    options.get(key).map(|v| v.to_string()).unwrap_or_default()
}

fn range_option(options: &Map, key: &str, default: [f32; 2]) -> Fallible<[f32; 2]> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => {
            let values = v.clone().try_cast::<Array>().map(|a| plotted_numbers(&a, key)).transpose()?;
            match values.as_deref() {
                Some([lo, hi]) if lo < hi && lo.is_finite() && hi.is_finite() => Ok([*lo as f32, *hi as f32]),
                _ => Err(script_error(format!("`{key}` must be [low, high] with low < high"))),
            }
        }
    }
}

const PLOT_OPTIONS: [&str; 5] = ["log_x", "log_y", "x_label", "y_label", "equal_axes"];

fn apply_plot_options(plot: &mut Plot, options: &Map, what: &str) -> Fallible<()> {
    check_keys(options, &PLOT_OPTIONS, what)?;
    plot.log_x = bool_option(options, "log_x")?;
    plot.log_y = bool_option(options, "log_y")?;
    plot.equal_axes = bool_option(options, "equal_axes")?;
    plot.labels = [text_option(options, "x_label"), text_option(options, "y_label")];
    Ok(())
}

/// `#{ name: #{ x: [...], y: [...] } }` as line series.
fn line_series(series: &Map, what: &str) -> Fallible<Vec<Series>> {
    let mut out = Vec::new();
    for (name, value) in series {
        let curve = value
            .clone()
            .try_cast::<Map>()
            .ok_or_else(|| script_error(format!("{what}: `{name}` must be a map #{{ x: [...], y: [...] }}")))?;
        out.push(curve_series(name, &curve, what)?);
    }
    Ok(out)
}

/// Curves given as an array `[#{ name, x, y }, ...]`, kept in that order
/// (a map's keys come out sorted).
fn ordered_line_series(series: &Array, what: &str) -> Fallible<Vec<Series>> {
    series
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let curve = value
                .clone()
                .try_cast::<Map>()
                .ok_or_else(|| script_error(format!("{what}: curve {i} must be a map #{{ name: \"...\", x: [...], y: [...] }}")))?;
            let name = curve.get("name").map(ToString::to_string).ok_or_else(|| script_error(format!("{what}: curve {i} has no `name`")))?;
            let mut series = curve_series(&name, &curve, what)?;
            // `points: true` draws this curve's points as markers, unjoined.
            if bool_option(&curve, "points")? {
                series.kind = SeriesKind::Scatter;
            }
            Ok(series)
        })
        .collect()
}

fn curve_series(name: &str, curve: &Map, what: &str) -> Fallible<Series> {
    let label = format!("{what} `{name}`");
    let xs = floats(&array_field(curve, "x", &label)?, &format!("{label} x"))?;
    let ys = floats(&array_field(curve, "y", &label)?, &format!("{label} y"))?;
    if xs.len() != ys.len() {
        return Err(script_error(format!("{label}: {} x values but {} y values", xs.len(), ys.len())));
    }
    Ok(Series::new(name.to_string(), SeriesKind::Line, xs, ys))
}

thread_local! {
    static CLOCK_START: web_time::Instant = web_time::Instant::now();
}

/// Seconds on a monotonic clock (from the first call in this worker or
/// process), for timing a piece of a cell: `clock()` before and after.
/// Wall time differs from run to run, so it belongs in tables and plots,
/// not in metrics that a share link must reproduce.
fn clock_seconds() -> f64 {
    CLOCK_START.with(|start| start.elapsed().as_secs_f64())
}

fn loss_like_plot(title: &str, values: &[f32]) -> Plot {
    // At most ~400 points: every k-th value, averaged over its window.
    let stride = values.len().div_ceil(400).max(1);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for (i, chunk) in values.chunks(stride).enumerate() {
        xs.push((i * stride + chunk.len()) as f32);
        ys.push(chunk.iter().sum::<f32>() / chunk.len() as f32);
    }
    Plot { log_y: true, ..Plot::new(title, title, vec![Series::new(title, SeriesKind::Line, xs, ys)]) }
}

/// The live loss curve the training functions send.
pub(crate) fn loss_plot(key: &str, title: &str, losses: &[f32]) -> Event {
    let mut plot = loss_like_plot(title, losses);
    plot.key = key.into();
    plot.series[0].name = "loss".into();
    plot.labels = ["step".into(), String::new()];
    Event::Plot(plot)
}

fn heatmap_from_rows(rows: &Array, options: &Map, what: &str) -> Fallible<Heatmap> {
    check_keys(options, &["x_range", "y_range", "label"], what)?;
    let ny = rows.len();
    let mut values = Vec::new();
    let mut nx = 0;
    for (j, row) in rows.iter().enumerate() {
        let row = row
            .clone()
            .try_cast::<Array>()
            .ok_or_else(|| script_error(format!("{what}: row {j} is not an array; pass an array of rows of numbers")))?;
        if j == 0 {
            nx = row.len();
        } else if row.len() != nx {
            return Err(script_error(format!("{what}: row {j} has {} values but row 0 has {nx}; every row must be as long", row.len())));
        }
        values.extend(floats(&row, &format!("{what} row {j}"))?);
    }
    if nx == 0 || ny == 0 {
        return Err(script_error(format!("{what}: the grid is empty")));
    }
    if nx * ny > MAX_HEAT_CELLS {
        return Err(script_error(format!("{what}: at most {MAX_HEAT_CELLS} cells (e.g. 128 x 128); got {nx} x {ny}")));
    }
    Ok(Heatmap {
        label: text_option(options, "label"),
        nx,
        ny,
        x_range: range_option(options, "x_range", [0.0, nx as f32])?,
        y_range: range_option(options, "y_range", [0.0, ny as f32])?,
        values,
    })
}

fn arrows(field: &Map, what: &str) -> Fallible<Series> {
    let get = |key: &str| -> Fallible<Vec<f32>> { floats(&array_field(field, key, what)?, &format!("{what} `{key}`")) };
    let (xs, ys, us, vs) = (get("x")?, get("y")?, get("u")?, get("v")?);
    if [ys.len(), us.len(), vs.len()].iter().any(|&n| n != xs.len()) {
        return Err(script_error(format!(
            "{what}: x, y, u and v must be equally long; got {}, {}, {} and {}",
            xs.len(),
            ys.len(),
            us.len(),
            vs.len()
        )));
    }
    // Scale arrows so the longest is about one grid spacing.
    let longest = us.iter().zip(&vs).map(|(u, v)| (u * u + v * v).sqrt()).filter(|l| l.is_finite()).fold(0.0f32, f32::max);
    let span = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max) - xs.iter().copied().fold(f32::INFINITY, f32::min);
    let spacing = if xs.len() > 1 { span / (xs.len() as f32).sqrt().max(1.0) } else { 1.0 };
    let scale = if longest > 0.0 && spacing > 0.0 { 0.9 * spacing / longest } else { 1.0 };
    Ok(Series {
        us: us.iter().map(|u| u * scale).collect(),
        vs: vs.iter().map(|v| v * scale).collect(),
        ..Series::new("field", SeriesKind::Arrows, xs, ys)
    })
}

fn table_value(value: &Dynamic) -> TableValue {
    match number(value) {
        Some(v) => TableValue::Number(v),
        None => TableValue::Text(value.to_string()),
    }
}

pub(crate) fn register(engine: &mut Engine) {
    let scatter_series = |name: &str, value: Dynamic| -> Fallible<Series> {
        let points = value.try_cast::<Points>().ok_or_else(|| script_error(format!("scatter: `{name}` is not a set of points")))?;
        let (xs, ys) = points_xy(points.tensor());
        Ok(Series::new(name.to_string(), SeriesKind::Scatter, xs, ys))
    };
    engine.register_fn("scatter", move |title: &str, layers: Map| -> Fallible<()> {
        let series = layers.into_iter().map(|(name, value)| scatter_series(&name, value)).collect::<Fallible<Vec<_>>>()?;
        emit(Event::Plot(Plot { equal_axes: true, ..Plot::new(title, title, series) }));
        Ok(())
    });
    // `[#{ name, points }, ...]`: drawn (and listed) in the array's order,
    // so a reference set can go underneath the samples.
    engine.register_fn("scatter", move |title: &str, layers: Array| -> Fallible<()> {
        let series = layers
            .into_iter()
            .enumerate()
            .map(|(i, layer)| {
                let mut layer = layer.try_cast::<Map>().ok_or_else(|| script_error(format!("scatter: layer {i} must be a map #{{ name: \"...\", points: ... }}")))?;
                let name = layer.get("name").map(ToString::to_string).ok_or_else(|| script_error(format!("scatter: layer {i} has no `name`")))?;
                let points = layer.remove("points").ok_or_else(|| script_error(format!("scatter: layer {i} (`{name}`) has no `points`")))?;
                scatter_series(&name, points)
            })
            .collect::<Fallible<Vec<_>>>()?;
        emit(Event::Plot(Plot { equal_axes: true, ..Plot::new(title, title, series) }));
        Ok(())
    });
    engine.register_fn("line_plot", |title: &str, values: Array| -> Fallible<()> {
        emit(Event::Plot(loss_like_plot(title, &floats(&values, "line_plot")?)));
        Ok(())
    });
    engine.register_fn("line_plot_xy", |title: &str, xs: Array, ys: Array| -> Fallible<()> {
        let (xs, ys) = (floats(&xs, "line_plot_xy x values")?, floats(&ys, "line_plot_xy y values")?);
        if xs.len() != ys.len() {
            return Err(script_error(format!("line_plot_xy: {} x values but {} y values", xs.len(), ys.len())));
        }
        emit(Event::Plot(Plot::new(title, title, vec![Series::new(title, SeriesKind::Line, xs, ys)])));
        Ok(())
    });
    let lines = |title: &str, series: Map, options: Map| -> Fallible<()> {
        let mut plot = Plot::new(title, title, line_series(&series, "lines")?);
        apply_plot_options(&mut plot, &options, "lines")?;
        emit(Event::Plot(plot));
        Ok(())
    };
    engine.register_fn("lines", lines);
    engine.register_fn("lines", move |title: &str, series: Map| lines(title, series, Map::new()));
    let ordered_lines = |title: &str, series: Array, options: Map| -> Fallible<()> {
        let mut plot = Plot::new(title, title, ordered_line_series(&series, "lines")?);
        apply_plot_options(&mut plot, &options, "lines")?;
        emit(Event::Plot(plot));
        Ok(())
    };
    engine.register_fn("lines", ordered_lines);
    engine.register_fn("lines", move |title: &str, series: Array| ordered_lines(title, series, Map::new()));
    let heatmap = |title: &str, rows: Array, options: Map| -> Fallible<()> {
        let heat = heatmap_from_rows(&rows, &options, "heatmap")?;
        emit(Event::Plot(Plot { heatmap: Some(heat), equal_axes: true, ..Plot::new(title, title, Vec::new()) }));
        Ok(())
    };
    engine.register_fn("heatmap", heatmap);
    engine.register_fn("heatmap", move |title: &str, rows: Array| heatmap(title, rows, Map::new()));
    engine.register_fn("vector_field", |title: &str, field: Map| -> Fallible<()> {
        let series = arrows(&field, "vector_field")?;
        emit(Event::Plot(Plot { equal_axes: true, ..Plot::new(title, title, vec![series]) }));
        Ok(())
    });
    engine.register_fn("vector_field", |title: &str, field: Map, background: Array, options: Map| -> Fallible<()> {
        let series = arrows(&field, "vector_field")?;
        let heat = heatmap_from_rows(&background, &options, "vector_field background")?;
        emit(Event::Plot(Plot { equal_axes: true, heatmap: Some(heat), ..Plot::new(title, title, vec![series]) }));
        Ok(())
    });
    engine.register_fn("table", |title: &str, columns: Array, rows: Array| -> Fallible<()> {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        if columns.is_empty() {
            return Err(script_error("table: give at least one column heading"));
        }
        let rows = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let row = row.clone().try_cast::<Array>().ok_or_else(|| script_error(format!("table: row {i} is not an array")))?;
                if row.len() != columns.len() {
                    return Err(script_error(format!("table: row {i} has {} values but there are {} columns", row.len(), columns.len())));
                }
                Ok(row.iter().map(table_value).collect())
            })
            .collect::<Fallible<Vec<Vec<TableValue>>>>()?;
        emit(Event::Table { key: title.into(), title: title.into(), columns, rows });
        Ok(())
    });
    engine.register_fn("clock", clock_seconds);
    engine.register_fn("metric", |name: &str, value: f64| emit(Event::Metric { name: name.into(), value }));
    engine.register_fn("metric", |name: &str, value: i64| emit(Event::Metric { name: name.into(), value: value as f64 }));
    let criterion = |name: &str, value: f64, op: &str, bound: f64| -> Fallible<bool> {
        let op = Comparison::parse(op).ok_or_else(|| script_error(format!("criterion: the comparison must be \"<=\", \">=\", \"<\" or \">\"; got \"{op}\"")))?;
        let passed = op.holds(value, bound);
        emit(Event::Criterion { name: name.into(), value, op, bound, passed });
        Ok(passed)
    };
    engine.register_fn("criterion", criterion);
    engine.register_fn("criterion", move |name: &str, value: i64, op: &str, bound: f64| criterion(name, value as f64, op, bound));
    engine.register_fn("criterion", move |name: &str, value: f64, op: &str, bound: i64| criterion(name, value, op, bound as f64));
    engine.register_fn("criterion", move |name: &str, value: i64, op: &str, bound: i64| criterion(name, value as f64, op, bound as f64));
}
