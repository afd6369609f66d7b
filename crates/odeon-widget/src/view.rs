//! The outputs of the shown cell, and their HTML.
//!
//! Plain data and strings, so it is tested natively; `web.rs` puts the
//! strings into the page, touching only the part an event changed (a live
//! loss curve redraws one plot, a progress step redraws nothing here).

use odeon_notebook::events::{Comparison, Event, Plot, TableValue, format_number};
use odeon_notebook::render::escape_html as escape;
use odeon_notebook::svg::plot_svg;

/// Printed lines kept (the oldest go first).
pub const MAX_LOG_LINES: usize = 200;

/// A checked success criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// What is checked.
    pub name: String,
    /// Measured value.
    pub value: f64,
    /// Comparison.
    pub op: Comparison,
    /// Bound.
    pub bound: f64,
    /// Whether it held.
    pub passed: bool,
}

/// A table output.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Identity within the cell.
    pub key: String,
    /// Title.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<TableValue>>,
}

/// Which part of the view an event changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Plot number `index` changed; `added` when it is new.
    Plot {
        /// Position among the plots.
        index: usize,
        /// True for a new plot, false for a replaced one.
        added: bool,
    },
    /// Metrics or criteria.
    Numbers,
    /// Tables.
    Tables,
    /// Printed lines.
    Logs,
    /// A loop's progress (shown by the progress bar).
    Progress {
        /// What runs.
        label: String,
        /// Steps done.
        done: u64,
        /// Steps in all.
        total: u64,
        /// Latest loss.
        loss: Option<f32>,
    },
}

/// Everything the shown cell has output so far in this run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    /// Plots in order of first appearance.
    pub plots: Vec<Plot>,
    /// Metrics in order of first appearance (a repeated name replaces).
    pub metrics: Vec<(String, f64)>,
    /// Criteria in order (a repeated name replaces).
    pub criteria: Vec<Criterion>,
    /// Tables in order (a repeated key replaces).
    pub tables: Vec<Table>,
    /// Printed lines.
    pub logs: Vec<String>,
}

fn upsert<T>(items: &mut Vec<T>, same: impl Fn(&T) -> bool, item: T) -> (usize, bool) {
    match items.iter().position(same) {
        Some(i) => {
            items[i] = item;
            (i, false)
        }
        None => {
            items.push(item);
            (items.len() - 1, true)
        }
    }
}

impl Outputs {
    /// Records an event of the shown cell and says what changed.
    pub fn apply(&mut self, event: Event) -> Change {
        match event {
            Event::Progress { label, done, total, loss } => Change::Progress { label, done, total, loss },
            Event::Plot(plot) => {
                let key = plot.key.clone();
                let (index, added) = upsert(&mut self.plots, |p| p.key == key, plot);
                Change::Plot { index, added }
            }
            Event::Metric { name, value } => {
                let key = name.clone();
                upsert(&mut self.metrics, |(n, _)| *n == key, (name, value));
                Change::Numbers
            }
            Event::Criterion { name, value, op, bound, passed } => {
                let key = name.clone();
                upsert(&mut self.criteria, |c| c.name == key, Criterion { name, value, op, bound, passed });
                Change::Numbers
            }
            Event::Table { key, title, columns, rows } => {
                let id = key.clone();
                upsert(&mut self.tables, |t| t.key == id, Table { key, title, columns, rows });
                Change::Tables
            }
            Event::Log { text } => {
                self.logs.extend(text.lines().map(str::to_string));
                let extra = self.logs.len().saturating_sub(MAX_LOG_LINES);
                self.logs.drain(..extra);
                Change::Logs
            }
        }
    }

    /// Plot number `index` as SVG (empty when there is none).
    pub fn plot_html(&self, index: usize) -> String {
        self.plots.get(index).map(plot_svg).unwrap_or_default()
    }

    /// Criteria as a list and metrics as a two-column table.
    pub fn numbers_html(&self) -> String {
        let mut html = String::new();
        if !self.criteria.is_empty() {
            html.push_str("<ul class=\"odeon-widget-criteria\">");
            for c in &self.criteria {
                let (class, mark) = if c.passed { ("pass", "passed") } else { ("fail", "failed") };
                html.push_str(&format!(
                    "<li class=\"{class}\" data-criterion=\"{}\">{}: {} {} {} ({mark})</li>",
                    escape(&c.name),
                    escape(&c.name),
                    format_number(c.value),
                    escape(c.op.symbol()),
                    format_number(c.bound)
                ));
            }
            html.push_str("</ul>");
        }
        if !self.metrics.is_empty() {
            html.push_str("<table class=\"odeon-widget-metric-table\"><tbody>");
            for (name, value) in &self.metrics {
                html.push_str(&format!(
                    "<tr data-metric=\"{}\"><th scope=\"row\">{}</th><td class=\"num\">{}</td></tr>",
                    escape(name),
                    escape(name),
                    format_number(*value)
                ));
            }
            html.push_str("</tbody></table>");
        }
        html
    }

    /// Every table, with its title as caption.
    pub fn tables_html(&self) -> String {
        let mut html = String::new();
        for table in &self.tables {
            html.push_str(&format!("<table data-key=\"{}\"><caption>{}</caption><thead><tr>", escape(&table.key), escape(&table.title)));
            for column in &table.columns {
                html.push_str(&format!("<th scope=\"col\">{}</th>", escape(column)));
            }
            html.push_str("</tr></thead><tbody>");
            for row in &table.rows {
                html.push_str("<tr>");
                for value in row {
                    let class = if matches!(value, TableValue::Number(_)) { " class=\"num\"" } else { "" };
                    html.push_str(&format!("<td{class}>{}</td>", escape(&value.display())));
                }
                html.push_str("</tr>");
            }
            html.push_str("</tbody></table>");
        }
        html
    }

    /// Printed lines as text (for `textContent`, so no escaping).
    pub fn logs_text(&self) -> String {
        self.logs.join("\n")
    }
}

/// The progress line under the bar, e.g. `training 80/150 · loss 0.912`.
pub fn progress_text(label: &str, done: u64, total: u64, loss: Option<f32>) -> String {
    match loss {
        Some(loss) => format!("{label} {done}/{total} · loss {}", format_number(f64::from(loss))),
        None => format!("{label} {done}/{total}"),
    }
}

/// The sentence for a cell that failed.
pub fn failure_text(cell: &str, error: &str) -> String {
    format!("The cell \"{cell}\" failed: {error}")
}

/// A duration for people: `850 ms`, `3.4 s`, `1 min 12 s`.
pub fn duration_text(millis: f64) -> String {
    if !millis.is_finite() || millis < 0.0 {
        return String::new();
    }
    if millis < 1000.0 {
        format!("{} ms", millis.round())
    } else if millis < 60_000.0 {
        format!("{:.1} s", millis / 1000.0)
    } else {
        let secs = (millis / 1000.0).round() as u64;
        format!("{} min {} s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odeon_notebook::events::{Series, SeriesKind};

    fn line(key: &str, n: usize) -> Event {
        let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
        Event::Plot(Plot::new(key, key, vec![Series::new("loss", SeriesKind::Line, xs.clone(), xs)]))
    }

    #[test]
    fn later_plots_with_a_key_replace_earlier_ones() {
        let mut out = Outputs::default();
        assert_eq!(out.apply(line("loss", 2)), Change::Plot { index: 0, added: true });
        assert_eq!(out.apply(line("other", 2)), Change::Plot { index: 1, added: true });
        assert_eq!(out.apply(line("loss", 5)), Change::Plot { index: 0, added: false });
        assert_eq!(out.plots.len(), 2);
        assert_eq!(out.plots[0].series[0].xs.len(), 5);
        assert!(out.plot_html(0).starts_with("<svg"));
        assert_eq!(out.plot_html(7), "");
    }

    #[test]
    fn numbers_and_tables_are_escaped_html() {
        let mut out = Outputs::default();
        out.apply(Event::Metric { name: "W2 <samples>".into(), value: 0.125 });
        out.apply(Event::Metric { name: "W2 <samples>".into(), value: 0.5 });
        out.apply(Event::Criterion { name: "close".into(), value: 0.5, op: Comparison::AtMost, bound: 1.0, passed: true });
        assert_eq!(out.metrics, vec![("W2 <samples>".to_string(), 0.5)]);
        let html = out.numbers_html();
        assert!(html.contains("W2 &lt;samples&gt;</th><td class=\"num\">0.5</td>"), "{html}");
        assert!(html.contains("class=\"pass\"") && html.contains("0.5 &lt;= 1 (passed)"), "{html}");
        out.apply(Event::Table {
            key: "t".into(),
            title: "Steps & W2".into(),
            columns: vec!["steps".into(), "note".into()],
            rows: vec![vec![TableValue::Number(10.0), TableValue::Text("<b>".into())]],
        });
        let tables = out.tables_html();
        assert!(tables.contains("<caption>Steps &amp; W2</caption>"), "{tables}");
        assert!(tables.contains("<td class=\"num\">10</td><td>&lt;b&gt;</td>"), "{tables}");
    }

    #[test]
    fn logs_are_capped_and_progress_reads_well() {
        let mut out = Outputs::default();
        for i in 0..(MAX_LOG_LINES + 5) {
            assert_eq!(out.apply(Event::Log { text: format!("line {i}") }), Change::Logs);
        }
        assert_eq!(out.logs.len(), MAX_LOG_LINES);
        assert_eq!(out.logs[0], "line 5");
        assert_eq!(progress_text("training", 80, 150, Some(0.5)), "training 80/150 · loss 0.5");
        assert_eq!(duration_text(850.2), "850 ms");
        assert_eq!(duration_text(3420.0), "3.4 s");
        assert_eq!(duration_text(72_400.0), "1 min 12 s");
    }
}
