//! # odeon-cli
//!
//! The native runner: `odeon run <id | file.md | share link> [--profile P]`
//! runs every cell of a notebook with the same runtime the browser worker
//! uses and prints the same events as text, ending with the metrics table
//! and the success criteria; it writes every plot as an SVG file and exits
//! with an error when a criterion fails.
//! The playground's share links open here too, so a run seen in the browser
//! can be repeated natively (and at larger sizes).

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};

use odeon_notebook::events::{Event, Plot};
use odeon_notebook::svg;
use odeon_notebook::link;
use odeon_gpu::Wgpu;
use odeon_gpu::policy::{AdapterFacts, BackendKind, Requested, WorkSize, choose};
use odeon_notebook::runtime::{Compute, Host, Job, Session, is_device_failure, run_on};
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
    /// `auto`, `cpu` or `webgpu`; `None` follows the notebook's `backend:`.
    pub backend: Option<String>,
}

/// Resolves a shipped id, a path to a `.md` file, or a share link (the whole
/// URL or just the `v2.…` part).
pub fn resolve(source: &str, profile: Option<&str>) -> Result<RunRequest> {
    let share = source.split_once("?s=").map(|(_, s)| s).or_else(|| (source.starts_with("v1.") || source.starts_with("v2.")).then_some(source));
    let (text, link_profile) = if let Some(share) = share {
        let (payload, note) = link::decode_with_note(share).map_err(|e| anyhow!("this share link could not be opened: {e}"))?;
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
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
    Ok(RunRequest { text, profile, backend: None })
}

/// A success criterion as checked in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionResult {
    /// Cell that checked it.
    pub cell: String,
    /// The criterion in words.
    pub name: String,
    /// The one-line text form (`criterion PASS: ...`).
    pub text: String,
    /// Whether it was met.
    pub passed: bool,
}

/// What a run produced besides its text lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// Metrics as `(cell, name, value)`, in order.
    pub metrics: Vec<(String, String, f64)>,
    /// Every criterion checked.
    pub criteria: Vec<CriterionResult>,
    /// The final version of every plot, as `(cell, plot)`, in order.
    pub plots: Vec<(String, Plot)>,
}

impl RunReport {
    /// The criteria that failed.
    pub fn failed(&self) -> Vec<&CriterionResult> {
        self.criteria.iter().filter(|c| !c.passed).collect()
    }

    /// The metrics as JSON, `{ cell: { metric: value } }` (the browser test
    /// compares a page's run with this).
    pub fn metrics_json(&self) -> String {
        let mut cells = serde_json::Map::new();
        for (cell, name, value) in &self.metrics {
            let entry = cells.entry(cell.clone()).or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(map) = entry {
                map.insert(name.clone(), serde_json::json!(value));
            }
        }
        serde_json::Value::Object(cells).to_string()
    }

    /// Writes every plot as `<dir>/<cell>-<title>.svg`; returns the paths.
    pub fn write_plots(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut paths = Vec::new();
        for (cell, plot) in &self.plots {
            let path = dir.join(format!("{}-{}.svg", svg::file_stem(cell), svg::file_stem(&plot.title)));
            std::fs::write(&path, svg::plot_svg(plot)).with_context(|| format!("cannot write {}", path.display()))?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Where training jobs run for `requested`: the CPU, or a runner that asks
/// the `auto` policy per job and uses the native GPU (Vulkan, Metal, DX12
/// through wgpu) when it says so. Lines for the user go to `notes`; a GPU
/// that fails mid-run (device lost, out of memory) is reported there and the
/// job runs again on the CPU.
fn compute_for(requested: Requested, notes: &Rc<RefCell<Vec<String>>>) -> Compute {
    if requested == Requested::Cpu {
        notes.borrow_mut().push("backend: cpu (asked for)".into());
        return Compute::Cpu;
    }
    let gpu = pollster::block_on(Wgpu::request()).map_err(|e| e.to_string()).map(|wgpu| {
        let facts = AdapterFacts::from_context(wgpu.context(), None);
        (wgpu, facts)
    });
    match &gpu {
        Ok((wgpu, _)) => notes.borrow_mut().push(format!("GPU adapter: {}", wgpu.context().adapter_summary())),
        Err(why) => notes.borrow_mut().push(format!("no GPU adapter: {why}")),
    }
    let notes = Rc::clone(notes);
    Compute::Sync(Rc::new(move |job: &Job, monitor| {
        let (sizes, batch) = job.mlp_work();
        let work = WorkSize::mlp_step(&sizes, batch);
        let choice = match &gpu {
            Ok((_, facts)) => choose(requested, Ok(facts), work),
            Err(why) => choose(requested, Err(why), work),
        };
        notes.borrow_mut().push(format!("training on {}: {}", choice.backend.label(), choice.reason));
        match (&gpu, choice.backend) {
            (Ok((wgpu, _)), BackendKind::WebGpu) => match run_on(wgpu, job, monitor) {
                Err(err) if is_device_failure(&err) => {
                    notes.borrow_mut().push(format!("the GPU failed ({err}); this training ran again on the CPU"));
                    run_on(&odeon_tensor::Cpu, job, monitor)
                }
                other => other,
            },
            _ => run_on(&odeon_tensor::Cpu, job, monitor),
        }
    }))
}

/// Runs every cell in order; `out` receives each event's text line.
pub fn run(request: &RunRequest, out: &mut dyn FnMut(&str)) -> Result<RunReport> {
    let notebook = Notebook::parse(&request.text).context("the notebook is malformed")?;
    let mut session = Session::new(notebook.meta.seed, &request.profile);
    let requested = Requested::parse(request.backend.as_deref().unwrap_or(&notebook.meta.backend)).map_err(|e| anyhow!(e))?;
    let notes = Rc::new(RefCell::new(Vec::new()));
    session.set_compute(compute_for(requested, &notes));
    let report = Rc::new(RefCell::new(RunReport::default()));
    for cell in notebook.cells() {
        out(&format!("== cell {}", cell.name));
        let lines = Rc::new(RefCell::new(Vec::new()));
        let (sink, report_sink, name) = (Rc::clone(&lines), Rc::clone(&report), cell.name.clone());
        let host = Host {
            emit: Box::new(move |event: Event| {
                let mut report = report_sink.borrow_mut();
                match &event {
                    Event::Metric { name: metric, value } => report.metrics.push((name.clone(), metric.clone(), *value)),
                    Event::Criterion { name: criterion, passed, .. } => report.criteria.push(CriterionResult {
                        cell: name.clone(),
                        name: criterion.clone(),
                        text: event.to_text(),
                        passed: *passed,
                    }),
                    Event::Plot(plot) => {
                        let same = report.plots.iter_mut().find(|(c, p)| *c == name && p.key == plot.key);
                        match same {
                            Some(existing) => existing.1 = plot.clone(),
                            None => report.plots.push((name.clone(), plot.clone())),
                        }
                    }
                    _ => {}
                }
                // Progress is printed every 10%, not every step; live loss
                // curves only once (the final one).
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
        notes.borrow_mut().drain(..).for_each(|l| out(&l));
        lines.borrow().iter().for_each(|l| out(l));
        result.map_err(|e| anyhow!("cell \"{}\" failed: {e}", cell.name))?;
    }
    Ok(report.take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_shipped_notebook_and_a_share_link_identically() {
        let request = resolve("rectified-flow", Some("ci")).expect("shipped");
        let mut lines = Vec::new();
        let report = run(&request, &mut |l| lines.push(l.to_string())).expect("runs");
        let metrics = report.metrics.clone();
        let names: Vec<&str> = metrics.iter().map(|(_, n, _)| n.as_str()).collect();
        assert!(names.contains(&"sliced W2 (samples)"), "{names:?}");
        assert!(metrics.iter().all(|(_, _, v)| v.is_finite()));
        assert!(lines.iter().any(|l| l.starts_with("[training] 150/150")), "{lines:?}");

        let share = link::encode(&link::SharePayload { id: "rectified-flow".into(), text: request.text.clone(), profile: "ci".into() });
        let again = run(&resolve(&format!("http://x/#/nb/rectified-flow?s={share}"), None).expect("link"), &mut |_| {}).expect("runs");
        assert_eq!(report, again);

        let dir = std::env::temp_dir().join(format!("odeon-cli-test-{}", std::process::id()));
        let paths = report.write_plots(&dir).expect("writes");
        assert!(paths.iter().any(|p| p.ends_with("train-training-loss.svg")), "{paths:?}");
        assert!(std::fs::read_to_string(&paths[0]).expect("svg").starts_with("<svg xmlns"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The WebGPU issue's criterion, natively: the rectified-flow notebook
    /// at `ci` trains on the GPU backend (lavapipe in CI) to the CPU's final
    /// loss within 1e-4 relative. Skips without an adapter unless
    /// `ODEON_REQUIRE_GPU=1` (as `cargo xtask test` sets).
    #[test]
    #[cfg_attr(debug_assertions, ignore = "150 training steps on a software GPU: run with --release")]
    fn rectified_flow_trains_alike_on_the_gpu_and_the_cpu() {
        let run_on = |backend: &str| {
            let request = RunRequest { backend: Some(backend.into()), ..resolve("rectified-flow", Some("ci")).expect("shipped") };
            let mut lines = Vec::new();
            let report = run(&request, &mut |l| lines.push(l.to_string())).expect("runs");
            (report, lines)
        };
        let (gpu, lines) = run_on("webgpu");
        if !lines.iter().any(|l| l.starts_with("training on WebGPU")) {
            assert!(std::env::var("ODEON_REQUIRE_GPU").as_deref() != Ok("1"), "ODEON_REQUIRE_GPU=1 but training did not run on the GPU: {lines:?}");
            eprintln!("skipped: no GPU adapter ({lines:?})");
            return;
        }
        let (cpu, lines) = run_on("cpu");
        assert!(lines.iter().any(|l| l == "backend: cpu (asked for)"), "{lines:?}");
        let metric = |report: &RunReport, name: &str| {
            report.metrics.iter().find(|(_, n, _)| n == name).map(|m| m.2).unwrap_or(f64::NAN)
        };
        let curve = |report: &RunReport| -> Vec<f64> {
            report.plots.iter().find(|(_, p)| p.key == "loss").map(|(_, p)| p.series[0].ys.iter().map(|&v| f64::from(v)).collect()).unwrap_or_default()
        };
        let (gc, cc) = (curve(&gpu), curve(&cpu));
        let differing = gc.iter().zip(&cc).filter(|(a, b)| a != b).count();
        let worst = gc.iter().zip(&cc).map(|(a, b)| (a - b).abs() / b.abs()).fold(0.0, f64::max);
        // Measured on lavapipe: 123 of 150 losses differ in the last bits, by at most 5.7e-7.
        eprintln!("loss curves: {} steps, {differing} differ; largest relative difference {worst:.2e}", cc.len());
        assert!(gc.len() == 150 && cc.len() == 150 && worst <= 1e-4, "loss curves differ by {worst:.2e} relative");
        let (g, c) = (metric(&gpu, "final loss"), metric(&cpu, "final loss"));
        eprintln!("final loss: GPU {g}, CPU {c}, relative difference {:.2e}", (g - c).abs() / c.abs());
        assert!((g - c).abs() <= 1e-4 * c.abs(), "final loss: GPU {g} vs CPU {c}");
        let (g, c) = (metric(&gpu, "sliced W2 (samples)"), metric(&cpu, "sliced W2 (samples)"));
        assert!((g - c).abs() <= 1e-3 * c.abs(), "sliced W2 of the samples: GPU {g} vs CPU {c}");
    }

    /// The diffusion-principles notebook meets every criterion at its
    /// defaults on two more notebook seeds (seed 0 is checked with every
    /// shipped notebook below): trained models, samplers and likelihoods all
    /// follow the seed.
    /// Runs a shipped notebook (seed 0 in its front matter) at its defaults
    /// on the CPU with other seeds, and checks it states `criteria`
    /// success criteria and meets them all.
    fn meets_its_criteria_on_seeds(id: &str, criteria: usize, seeds: &[u64]) {
        let text = shipped::text(id).expect("shipped");
        assert!(text.contains("\nseed: 0\n"));
        for seed in seeds {
            let request = RunRequest { text: text.replace("\nseed: 0\n", &format!("\nseed: {seed}\n")), profile: "default".into(), backend: Some("cpu".into()) };
            let report = run(&request, &mut |_| {}).expect("runs");
            assert_eq!(report.criteria.len(), criteria, "{id} seed {seed}: {:?}", report.criteria);
            assert!(report.failed().is_empty(), "{id} seed {seed}: {:?}", report.failed());
        }
    }

    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn diffusion_principles_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("diffusion-principles", 5, &[1, 2]);
    }

    /// Rectified flow's criteria: 1-RF samples at the level of a fresh
    /// draw; one-step exact W2 ordered 2-RF++ < 2-RF < 1-RF; both reflows
    /// straighter than 1-RF.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn rectified_flow_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("rectified-flow", 5, &[1, 2]);
    }

    /// Stochastic interpolants' criteria: learned velocity and score within
    /// 20% of the exact fields; ODE and SDE (eps 0.5, 1) samples at the
    /// level of a fresh target draw.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn stochastic_interpolants_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("stochastic-interpolants", 6, &[1, 2]);
    }

    /// AdjointDPM's criteria: adjoint gradients match backprop (cosine
    /// above 0.999) with a tape that does not grow with the steps; the
    /// optimised embedding puts more than 90% of samples in the target mode.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn adjoint_dpm_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("adjoint-dpm", 3, &[1, 2]);
    }

    /// PFGM++'s criteria: the sampled radii pass the KS test against the
    /// analytic law; the sample-by-sample gap to EDM falls from D = 128 to
    /// 2048 to 1e5 and ends within 1% of the data scale; with noise
    /// injected into the sampler, moderate D degrades less than large D.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn pfgm_pp_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("pfgm-pp", 5, &[1, 2]);
    }

    /// Gauge freedom's criteria: the gauged field's samples match the
    /// plain field's in law (|MMD²| within 3 noise levels) and in
    /// likelihood (max |dNLL| < 0.01); the conservative score model reads
    /// the circle's dimension on at least 90% of points, more often and
    /// with a wider gap than the free one.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn gauge_freedom_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("gauge-freedom", 5, &[1, 2]);
    }

    /// Solver regularisation's criteria: vanilla trained (98%); the global
    /// error regulariser at most 0.7x vanilla's test NFE and within one
    /// point of its accuracy; the stiffness one no costlier and as accurate.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn solver_regularization_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("solver-regularization", 5, &[1, 2]);
    }

    /// Local regularisation's criteria: vanilla trained (98%); both local
    /// samplers at most 0.65x vanilla's test NFE, their mean within 10% of
    /// the global regulariser's, no more training evaluations than vanilla
    /// and within one point of its accuracy.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn local_regularization_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("local-regularization", 6, &[1, 2]);
    }

    /// Neural differential equations' criteria: both adjoints' gradients
    /// match backprop (relative difference below 1e-6 at tol 1e-9); the
    /// adjoints' tape is flat in the steps while backprop's grows; training
    /// by backprop and by the adjoint each cuts the fit error tenfold; the
    /// neural CDE reaches 95% test accuracy with 30% of points dropped;
    /// reversible Heun reconstructs the start to 1e-12 with one drift
    /// evaluation a step; Brownian queries
    /// are bit-identical in every order and the bridge variance is within 4
    /// standard errors.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn neural_de_meets_its_criteria_on_more_seeds() {
        meets_its_criteria_on_seeds("neural-de", 10, &[1, 2]);
    }

    /// Every shipped notebook states at least one success criterion and
    /// meets all of them at its default settings (what `odeon run <id>`
    /// checks); for rectified flow: samples at the level of a fresh target
    /// draw (sliced W2 at most 1.5x).
    #[test]
    #[cfg_attr(debug_assertions, ignore = "numerical criteria: run with --release")]
    fn every_shipped_notebook_meets_its_criteria_at_defaults() {
        for (id, _) in shipped::SHIPPED {
            let report = run(&resolve(id, None).expect("shipped"), &mut |_| {}).expect("runs");
            assert!(!report.criteria.is_empty(), "{id} states no success criterion");
            assert!(report.failed().is_empty(), "{id}: {:?}", report.failed());
            if *id == "rectified-flow" {
                let get = |name: &str| report.metrics.iter().find(|(_, n, _)| n == name).map(|(_, _, v)| *v).expect(name);
                let (model, fresh) = (get("sliced W2 (samples)"), get("sliced W2 (fresh target draw)"));
                assert!(model <= 1.5 * fresh, "sliced W2 {model} vs fresh draw {fresh}");
            }
        }
    }

    #[test]
    fn failed_criteria_are_reported() {
        let text = "---\nid: t\ntitle: T\nsummary: s\ntags: x\npaper: p\nyear: 2024\nseed: 0\n---\n# T\n\n```rhai name=check\ncriterion(\"one is below zero\", 1.0, \"<\", 0.0);\ncriterion(\"one is positive\", 1.0, \">\", 0.0);\n```\n";
        let report = run(&RunRequest { text: text.into(), profile: "ci".into(), backend: None }, &mut |_| {}).expect("runs");
        assert_eq!(report.criteria.len(), 2);
        let failed = report.failed();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].text, "criterion FAIL: one is below zero: 1 < 0");
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
