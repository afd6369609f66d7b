//! Typed outputs a running cell streams to the page (or the CLI).

use serde::{Deserialize, Serialize};

/// How a plot series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeriesKind {
    /// Points.
    Scatter,
    /// A polyline.
    Line,
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
    /// Log-scale y axis.
    pub log_y: bool,
    /// Equal x and y scales (for point clouds).
    pub equal_axes: bool,
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
}

impl Event {
    /// A one-line text form for the CLI.
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
                plot.series.iter().map(|s| format!("{} ({} points)", s.name, s.xs.len())).collect::<Vec<_>>().join(", ")
            ),
            Event::Metric { name, value } => format!("metric {name} = {value}"),
        }
    }
}
