//! # odeon-widget
//!
//! One Odeon notebook cell, live inside someone else's page: the npm package
//! `@odeon/widget` that documentation sites install to run a widget inline,
//! without an iframe. It is built with wasm-pack by `cargo xtask build`
//! (`xtask/src/widget.rs`), which adds the package's small JavaScript files
//! (`js/`) and copies the result to `dist/npm/odeon-widget/`.
//!
//! ```js
//! import init, { mount } from '@odeon/widget';
//! await init();
//! const widget = mount(document.querySelector('#demo'), {
//!   notebook: 'rectified-flow', // a shipped notebook id, or a notebook's Markdown text
//!   cell: 'sample',             // whose outputs to show (default: the last cell)
//!   profile: 'ci',              // ci | default | big (default: default)
//!   autorun: false,             // run at once instead of waiting for Run
//! });
//! widget.stop();    // end a run (its worker is terminated)
//! widget.destroy(); // stop, empty the element, release everything
//! ```
//!
//! `mount` renders into the element: a Run button, a progress bar, the
//! cell's plots (drawn by [`odeon_notebook::svg::plot_svg`], the renderer of
//! the app and the CLI), its metrics, criteria and tables, its printed lines,
//! and errors in words. Run executes every cell of the notebook up to and
//! including the named one, in order, in a fresh
//! `odeon_notebook::runtime::Session`.
//!
//! **Where the work happens.** Cells run in a dedicated module Web Worker
//! created from the package's own `worker.js` (located next to the package
//! entry with `new URL('./worker.js', import.meta.url)`, or given as
//! `workerUrl`), so the host page stays responsive. The worker runs this
//! same wasm: the page hands it the already compiled `WebAssembly.Module`,
//! so nothing is downloaded or compiled twice. Page and worker talk with
//! [`ToWorker`] and [`FromWorker`], the messages of the playground itself.
//! Stop terminates the worker (a documentation page is rarely
//! cross-origin isolated, so no shared stop flag); the next Run starts a
//! fresh one, and a finished run lets its worker go to free its memory.
//!
//! **For tests and hosts**, the mount element carries `data-status`
//! (`idle`, `running`, `done`, `error`) and, after a run, `odeonMetrics`:
//! an object from metric name to value.
//!
//! Native builds compile only the plain logic below (options, notebook
//! lookup, the output model), so `cargo test --workspace` needs no wasm
//! toolchain.
//!
//! [`ToWorker`]: odeon_notebook::protocol::ToWorker
//! [`FromWorker`]: odeon_notebook::protocol::FromWorker

pub mod view;

#[cfg(target_arch = "wasm32")]
mod web;
#[cfg(target_arch = "wasm32")]
mod worker;

use odeon_notebook::link::{self, SharePayload};
use odeon_notebook::{Cell, Notebook, shipped};
use serde::Deserialize;

/// The profiles a notebook knows.
pub const PROFILES: [&str; 3] = ["ci", "default", "big"];

/// The options object of `mount(element, options)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Options {
    /// A shipped notebook id (`rectified-flow`) or a notebook's Markdown text.
    pub notebook: String,
    /// The cell whose outputs are shown; default: the notebook's last cell.
    #[serde(default)]
    pub cell: Option<String>,
    /// `ci`, `default` (the default) or `big`.
    #[serde(default)]
    pub profile: Option<String>,
    /// Run at once instead of waiting for the Run button.
    #[serde(default)]
    pub autorun: bool,
    /// The URL of the package's `worker.js` (the package entry fills it in).
    #[serde(default)]
    pub worker_url: Option<String>,
    /// Base URL of an Odeon playground; adds an "Open in Odeon" link.
    #[serde(default)]
    pub app: Option<String>,
}

/// What a widget runs: the notebook, its cells up to the shown one, the
/// profile, and whether the notebook came as text (not a shipped id).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The parsed notebook.
    pub notebook: Notebook,
    /// Every cell up to and including the shown one, in order.
    pub cells: Vec<Cell>,
    /// The cell whose outputs are shown.
    pub cell: String,
    /// The run profile.
    pub profile: String,
    /// The Markdown text when it was passed in (not a shipped id).
    pub text: Option<String>,
}

/// Finds the notebook: a shipped id, or Markdown text (anything that starts
/// with front matter).
pub fn resolve_notebook(notebook: &str) -> Result<(Notebook, Option<String>), String> {
    let known = || shipped::SHIPPED.iter().map(|(id, _)| *id).collect::<Vec<_>>().join(", ");
    if let Some(text) = shipped::text(notebook.trim()) {
        return Notebook::parse(text).map(|nb| (nb, None)).map_err(|e| format!("the shipped notebook is broken: {e}"));
    }
    if notebook.trim_start().starts_with("---") {
        let text = notebook.trim_start().replace("\r\n", "\n");
        return Notebook::parse(&text).map(|nb| (nb, Some(text))).map_err(|e| format!("the notebook text could not be read: {e}"));
    }
    Err(format!(
        "there is no notebook called \"{}\"; the shipped notebooks are {}, or pass a notebook's Markdown text",
        notebook.chars().take(60).collect::<String>(),
        known()
    ))
}

impl Options {
    /// Checks the options and works out what to run.
    pub fn plan(&self) -> Result<Plan, String> {
        let (notebook, text) = resolve_notebook(&self.notebook)?;
        let profile = self.profile.clone().unwrap_or_else(|| "default".into());
        if !PROFILES.contains(&profile.as_str()) {
            return Err(format!("the profile must be one of {}; got \"{profile}\"", PROFILES.join(", ")));
        }
        let names: Vec<&str> = notebook.cells().map(|c| c.name.as_str()).collect();
        let cell = match &self.cell {
            Some(cell) => cell.clone(),
            None => names.last().map(|n| (*n).to_string()).ok_or("the notebook has no cells")?,
        };
        let Some(index) = names.iter().position(|n| *n == cell) else {
            return Err(format!("the notebook has no cell named \"{cell}\"; its cells are {}", names.join(", ")));
        };
        let cells = notebook.cells().take(index + 1).cloned().collect();
        Ok(Plan { notebook, cells, cell, profile, text })
    }
}

impl Plan {
    /// The playground link for this notebook under `app` (a base URL): the
    /// notebook itself when shipped, else a share link carrying the text.
    pub fn open_link(&self, app: &str) -> String {
        let base = app.split('#').next().unwrap_or(app);
        let id = &self.notebook.meta.id;
        match &self.text {
            None if self.profile == "default" => format!("{base}#/nb/{id}"),
            text => {
                let text = text.clone().unwrap_or_else(|| self.notebook.to_markdown());
                let payload = SharePayload { id: id.clone(), text, profile: self.profile.clone() };
                format!("{base}#/nb/{id}?s={}", link::encode(&payload))
            }
        }
    }

    /// The cell names in run order, for the status line.
    pub fn cell_names(&self) -> Vec<&str> {
        self.cells.iter().map(|c| c.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(notebook: &str, cell: Option<&str>) -> Options {
        Options {
            notebook: notebook.into(),
            cell: cell.map(Into::into),
            profile: Some("ci".into()),
            autorun: false,
            worker_url: None,
            app: None,
        }
    }

    #[test]
    fn a_shipped_notebook_runs_its_cells_up_to_the_named_one() {
        let plan = options("rectified-flow", Some("sample")).plan().expect("plans");
        let all: Vec<&str> = plan.notebook.cells().map(|c| c.name.as_str()).collect();
        let upto = all.iter().position(|n| *n == "sample").expect("a sample cell") + 1;
        assert_eq!(plan.cell_names(), all[..upto]);
        assert!(upto < all.len(), "later cells do not run");
        assert_eq!(plan.profile, "ci");
        assert!(plan.text.is_none());
        let last = options("rectified-flow", None).plan().expect("plans");
        assert_eq!(last.cell, last.cells.last().expect("cells").name);
    }

    #[test]
    fn markdown_text_is_a_notebook_too() {
        let text = "---\nid: tiny\ntitle: Tiny\nsummary: s\ntags: t\npaper: p\nyear: 2024\nseed: 3\n---\n# Tiny\n\n```rhai name=one\nmetric(\"x\", 1);\n```\n";
        let plan = options(text, Some("one")).plan().expect("plans");
        assert_eq!(plan.notebook.meta.id, "tiny");
        assert_eq!(plan.cell_names(), ["one"]);
        let link = plan.open_link("https://odeon.example/app/");
        let prefix = format!("https://odeon.example/app/#/nb/tiny?s=v{}.", link::LINK_VERSION);
        assert!(link.starts_with(&prefix), "{link}");
        let payload = link::decode(link.split("?s=").nth(1).expect("payload")).expect("decodes");
        assert_eq!(payload.text, text);
        assert_eq!(payload.profile, "ci");
    }

    #[test]
    fn mistakes_are_explained() {
        let unknown = options("no-such-notebook", None).plan().expect_err("unknown id");
        assert!(unknown.contains("rectified-flow"), "{unknown}");
        let cell = options("rectified-flow", Some("nope")).plan().expect_err("unknown cell");
        assert!(cell.contains("its cells are data, train,"), "{cell}");
        let mut bad = options("rectified-flow", None);
        bad.profile = Some("huge".into());
        assert!(bad.plan().expect_err("bad profile").contains("ci, default, big"));
        let typo = serde_json::from_str::<Options>(r#"{"notebook":"x","autoRun":true}"#).expect_err("unknown field");
        assert!(typo.to_string().contains("autoRun"), "{typo}");
    }

    #[test]
    fn shipped_links_are_plain_unless_the_profile_differs() {
        let mut opts = options("rectified-flow", Some("train"));
        opts.profile = None;
        assert_eq!(opts.plan().expect("plans").open_link("/odeon/#/x"), "/odeon/#/nb/rectified-flow");
        let ci = options("rectified-flow", Some("train")).plan().expect("plans").open_link("/odeon/");
        assert!(ci.starts_with(&format!("/odeon/#/nb/rectified-flow?s=v{}.", link::LINK_VERSION)), "{ci}");
    }
}
