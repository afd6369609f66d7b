//! # odeon-cli
//!
//! The native runner: `odeon run <id | file.md | share link> [--profile P]`
//! runs every cell of a notebook with the same runtime the browser worker
//! uses and prints the same events as text, ending with the metrics table.
//! The playground's share links open here too, so a run seen in the browser
//! can be repeated natively (and at larger sizes).

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::{Context, Result, anyhow, bail};
use odeon_notebook::events::Event;
use odeon_notebook::link;
use odeon_notebook::runtime::{Host, Session};
use odeon_notebook::{Notebook, shipped};

/// One line per shipped notebook: id, title and summary.
pub fn list() -> Result<Vec<String>> {
    let notebooks = shipped::all().context("a shipped notebook is malformed")?;
    Ok(notebooks.iter().map(|nb| format!("{:<20} {} — {}", nb.meta.id, nb.meta.title, nb.meta.summary)).collect())
}

/// A notebook to run and how.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The notebook text.
    pub text: String,
    /// The profile.
    pub profile: String,
}

/// Resolves a shipped id, a path to a `.md` file, or a share link (the whole
/// URL or just the `v1.…` part).
pub fn resolve(source: &str, profile: Option<&str>) -> Result<RunRequest> {
    let share = source.split_once("?s=").map(|(_, s)| s).or_else(|| source.starts_with("v1.").then_some(source));
    let (text, link_profile) = if let Some(share) = share {
        let payload = link::decode(share).map_err(|e| anyhow!("this share link could not be opened: {e}"))?;
        (payload.text, Some(payload.profile))
    } else if let Some(text) = shipped::text(source) {
        (text.to_string(), None)
    } else if source.ends_with(".md") {
        (std::fs::read_to_string(source).with_context(|| format!("cannot read {source}"))?, None)
    } else {
        let ids: Vec<&str> = shipped::SHIPPED.iter().map(|(id, _)| *id).collect();
        bail!("\"{source}\" is not a shipped notebook ({}), a .md file or a share link", ids.join(", "));
    };
    let profile = profile.map(str::to_string).or(link_profile).unwrap_or_else(|| "default".into());
    if !["ci", "default", "big"].contains(&profile.as_str()) {
        bail!("unknown profile \"{profile}\"; choose ci, default or big");
    }
    Ok(RunRequest { text, profile })
}

/// Runs every cell in order; `out` receives each event's text line.
/// Returns the metrics as `(cell, name, value)`.
pub fn run(request: &RunRequest, out: &mut dyn FnMut(&str)) -> Result<Vec<(String, String, f64)>> {
    let notebook = Notebook::parse(&request.text).context("the notebook is malformed")?;
    let mut session = Session::new(notebook.meta.seed, &request.profile);
    let metrics = Rc::new(RefCell::new(Vec::new()));
    for cell in notebook.cells() {
        out(&format!("== cell {}", cell.name));
        let lines = Rc::new(RefCell::new(Vec::new()));
        let (sink, metric_sink, name) = (Rc::clone(&lines), Rc::clone(&metrics), cell.name.clone());
        let host = Host {
            emit: Box::new(move |event: Event| {
                if let Event::Metric { name: metric, value } = &event {
                    metric_sink.borrow_mut().push((name.clone(), metric.clone(), *value));
                }
                // Progress is printed every 10%, not every step.
                let keep = match &event {
                    Event::Progress { done, total, .. } => (done * 10 / total.max(&1)) != ((done - 1) * 10 / total.max(&1)),
                    Event::Plot(p) => p.key != "loss",
                    _ => true,
                };
                if keep {
                    sink.borrow_mut().push(event.to_text());
                }
            }),
            should_stop: Box::new(|| false),
        };
        let result = session.run_cell(&cell.source, host);
        lines.borrow().iter().for_each(|l| out(l));
        result.map_err(|e| anyhow!("cell \"{}\" failed: {e}", cell.name))?;
    }
    Ok(metrics.take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_shipped_notebook_and_a_share_link_identically() {
        let request = resolve("rectified-flow", Some("ci")).expect("shipped");
        let mut lines = Vec::new();
        let metrics = run(&request, &mut |l| lines.push(l.to_string())).expect("runs");
        let names: Vec<&str> = metrics.iter().map(|(_, n, _)| n.as_str()).collect();
        assert!(names.contains(&"sliced W2 (samples)"), "{names:?}");
        assert!(metrics.iter().all(|(_, _, v)| v.is_finite()));
        assert!(lines.iter().any(|l| l.starts_with("[training] 150/150")), "{lines:?}");

        let share = link::encode(&link::SharePayload { id: "rectified-flow".into(), text: request.text.clone(), profile: "ci".into() });
        let again = run(&resolve(&format!("http://x/#/nb/rectified-flow?s={share}"), None).expect("link"), &mut |_| {}).expect("runs");
        assert_eq!(metrics, again);
    }

    /// The shipped notebook at its defaults meets its success criterion:
    /// samples at the level of a fresh target draw (sliced W2 at most 1.5x).
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criterion: run with --release")]
    fn shipped_defaults_meet_the_criterion() {
        let metrics = run(&resolve("rectified-flow", None).expect("shipped"), &mut |_| {}).expect("runs");
        let get = |name: &str| metrics.iter().find(|(_, n, _)| n == name).map(|(_, _, v)| *v).expect(name);
        let (model, fresh) = (get("sliced W2 (samples)"), get("sliced W2 (fresh target draw)"));
        assert!(model <= 1.5 * fresh, "sliced W2 {model} vs fresh draw {fresh}");
    }

    #[test]
    fn list_names_every_shipped_notebook() {
        let lines = list().expect("shipped notebooks parse");
        assert_eq!(lines.len(), shipped::SHIPPED.len());
        assert!(lines[0].starts_with("rectified-flow"));
    }

    #[test]
    fn bad_sources_say_what_is_wrong() {
        assert!(resolve("nope", None).expect_err("bad source").to_string().contains("not a shipped notebook"));
        assert!(resolve("v1.@@", None).expect_err("bad source").to_string().contains("could not be opened"));
        assert!(resolve("rectified-flow", Some("huge")).expect_err("bad source").to_string().contains("unknown profile"));
    }
}
