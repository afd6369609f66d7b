//! Typed outputs a running cell streams to the page (or the CLI).
//!
//! Events are plain data (serde), so the worker, the page, the embed widget
//! and the native CLI all agree on them by construction. Rendering lives in
//! [`crate::svg`] (plots as SVG and CSV) and in the hosts.

use serde::{Deserialize, Serialize};

/// How a plot series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeriesKind {
    /// Points.
    Scatter,
    /// A polyline.
    Line,
    /// Arrows from `(xs[i], ys[i])` along `(us[i], vs[i])` (vector fields).
    Arrows,
}

/// One series of a plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Drawing style.
    pub kind: SeriesKind,
    /// X coordinates.
    pub xs: Vec<f32>,
    /// Y coordinates.
    pub ys: Vec<f32>,
    /// Arrow x components ([`SeriesKind::Arrows`] only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub us: Vec<f32>,
    /// Arrow y components ([`SeriesKind::Arrows`] only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vs: Vec<f32>,
}

impl Series {
    /// A scatter or line series.
    pub fn new(name: impl Into<String>, kind: SeriesKind, xs: Vec<f32>, ys: Vec<f32>) -> Series {
        Series { name: name.into(), kind, xs, ys, us: Vec::new(), vs: Vec::new() }
    }
}

/// A scalar field on a regular grid, drawn as coloured cells under the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    /// What the colour means (shown on the colour bar).
    pub label: String,
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// `[x_min, x_max]` covered by the grid.
    pub x_range: [f32; 2],
    /// `[y_min, y_max]` covered by the grid.
    pub y_range: [f32; 2],
    /// `ny` rows of `nx` values; row 0 is at `y_min`.
    pub values: Vec<f32>,
}

/// A plot. A later plot with the same `key` in the same cell replaces it
/// (live loss curves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plot {
    /// Identity within the cell.
    pub key: String,
    /// Title.
    pub title: String,
    /// Series.
    pub series: Vec<Series>,
    /// Log-scale x axis.
    #[serde(default)]
    pub log_x: bool,
    /// Log-scale y axis.
    pub log_y: bool,
    /// Equal x and y scales (for point clouds).
    pub equal_axes: bool,
    /// Axis labels `[x, y]` (empty: none).
    #[serde(default)]
    pub labels: [String; 2],
    /// A field drawn under the series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heatmap: Option<Heatmap>,
}

impl Plot {
    /// A plot with linear axes, no labels and no heat map.
    pub fn new(key: impl Into<String>, title: impl Into<String>, series: Vec<Series>) -> Plot {
        Plot {
            key: key.into(),
            title: title.into(),
            series,
            log_x: false,
            log_y: false,
            equal_axes: false,
            labels: [String::new(), String::new()],
            heatmap: None,
        }
    }
}

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TableValue {
    /// A number (shown with significant digits).
    Number(f64),
    /// Text.
    Text(String),
}

impl TableValue {
    /// The value as the page and the CLI show it.
    pub fn display(&self) -> String {
        match self {
            TableValue::Number(v) => format_number(*v),
            TableValue::Text(t) => t.clone(),
        }
    }
}

/// A number with about six significant digits, as tables and metrics show it.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let magnitude = v.abs();
    if !(1e-4..1e6).contains(&magnitude) {
        return format!("{v:.4e}");
    }
    let decimals = (5 - magnitude.log10().floor() as i32).clamp(0, 9) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// How a criterion compares its value with its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// value <= bound.
    #[serde(rename = "<=")]
    AtMost,
    /// value >= bound.
    #[serde(rename = ">=")]
    AtLeast,
    /// value < bound.
    #[serde(rename = "<")]
    Below,
    /// value > bound.
    #[serde(rename = ">")]
    Above,
}

impl Comparison {
    /// Parses `<=`, `>=`, `<`, `>`.
    pub fn parse(op: &str) -> Option<Comparison> {
        match op.trim() {
            "<=" | "≤" => Some(Comparison::AtMost),
            ">=" | "≥" => Some(Comparison::AtLeast),
            "<" => Some(Comparison::Below),
            ">" => Some(Comparison::Above),
            _ => None,
        }
    }

    /// The operator as text.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::AtMost => "<=",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::Above => ">",
        }
    }

    /// Whether `value` passes (NaN never does).
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Comparison::AtMost => value <= bound,
            Comparison::AtLeast => value >= bound,
            Comparison::Below => value < bound,
            Comparison::Above => value > bound,
        }
    }
}

/// An output event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A long loop's progress.
    Progress {
        /// What is running.
        label: String,
        /// Steps done.
        done: u64,
        /// Steps in all.
        total: u64,
        /// Latest loss, when there is one.
        loss: Option<f32>,
    },
    /// Text from `print`.
    Log {
        /// The text.
        text: String,
    },
    /// A plot.
    Plot(Plot),
    /// A named number for the metrics table.
    Metric {
        /// Name.
        name: String,
        /// Value.
        value: f64,
    },
    /// A table. A later table with the same `key` in the same cell replaces it.
    Table {
        /// Identity within the cell.
        key: String,
        /// Title.
        title: String,
        /// Column headings.
        columns: Vec<String>,
        /// Rows, each as long as `columns`.
        rows: Vec<Vec<TableValue>>,
    },
    /// A success criterion of the notebook (from METHODS.md), checked on this run.
    Criterion {
        /// What is checked, in words.
        name: String,
        /// The measured value.
        value: f64,
        /// How it is compared.
        op: Comparison,
        /// The bound it must meet.
        bound: f64,
        /// Whether it was met.
        passed: bool,
    },
}

impl Event {
    /// A one-line (tables: several lines) text form for the CLI.
    pub fn to_text(&self) -> String {
        match self {
            Event::Progress { label, done, total, loss } => match loss {
                Some(loss) => format!("[{label}] {done}/{total} loss {loss:.5}"),
                None => format!("[{label}] {done}/{total}"),
            },
            Event::Log { text } => text.clone(),
            Event::Plot(plot) => format!(
                "plot \"{}\": {}",
                plot.title,
                plot.series
                    .iter()
                    .map(|s| format!("{} ({} points)", s.name, s.xs.len()))
                    .chain(plot.heatmap.iter().map(|h| format!("{} ({}x{} field)", h.label, h.nx, h.ny)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Event::Metric { name, value } => format!("metric {name} = {}", format_number(*value)),
            Event::Table { title, columns, rows, .. } => text_table(title, columns, rows),
            Event::Criterion { name, value, op, bound, passed } => format!(
                "criterion {}: {name}: {} {} {}",
                if *passed { "PASS" } else { "FAIL" },
                format_number(*value),
                op.symbol(),
                format_number(*bound)
            ),
        }
    }
}

fn text_table(title: &str, columns: &[String], rows: &[Vec<TableValue>]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(TableValue::display).collect()).collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|j| {
            cells.iter().filter_map(|r| r.get(j)).map(|c| c.chars().count()).chain([columns[j].chars().count()]).max().unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| -> String {
        values.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    let mut out = vec![format!("table \"{title}\""), line(columns)];
    out.push(widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
    out.extend(cells.iter().map(|r| line(r)));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(0.0712345678), "0.0712346");
        assert_eq!(format_number(123.456789), "123.457");
        assert_eq!(format_number(1.5e-7), "1.5000e-7");
        assert_eq!(format_number(f64::NAN), "NaN");
    }

    #[test]
    fn criteria_never_pass_on_nan() {
        for op in ["<=", ">=", "<", ">"] {
            assert!(!Comparison::parse(op).expect("known").holds(f64::NAN, 1.0));
        }
        assert!(Comparison::parse("<=").expect("known").holds(1.0, 1.0));
        assert!(!Comparison::parse("<").expect("known").holds(1.0, 1.0));
        assert_eq!(Comparison::parse("=="), None);
    }

    #[test]
    fn events_round_trip_through_json() {
        let events = vec![
            Event::Table {
                key: "t".into(),
                title: "T".into(),
                columns: vec!["a".into(), "b".into()],
                rows: vec![vec![TableValue::Number(1.5), TableValue::Text("x".into())]],
            },
            Event::Criterion { name: "w2".into(), value: 0.1, op: Comparison::AtMost, bound: 0.2, passed: true },
            Event::Plot(Plot {
                heatmap: Some(Heatmap {
                    label: "p".into(),
                    nx: 2,
                    ny: 1,
                    x_range: [0.0, 1.0],
                    y_range: [0.0, 1.0],
                    values: vec![0.0, 1.0],
                }),
                ..Plot::new("k", "K", vec![Series::new("s", SeriesKind::Line, vec![0.0], vec![1.0])])
            }),
        ];
        for event in events {
            let json = serde_json::to_string(&event).expect("serialises");
            assert_eq!(serde_json::from_str::<Event>(&json).expect("parses"), event, "{json}");
        }
    }

    #[test]
    fn tables_print_aligned() {
        let text = Event::Table {
            key: "t".into(),
            title: "Results".into(),
            columns: vec!["steps".into(), "W2".into()],
            rows: vec![vec![TableValue::Number(1.0), TableValue::Number(0.25)], vec![TableValue::Number(100.0), TableValue::Number(0.0125)]],
        }
        .to_text();
        assert_eq!(text, "table \"Results\"\nsteps  W2\n-----  ------\n1      0.25\n100    0.0125");
    }
}
