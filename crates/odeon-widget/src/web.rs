//! The page side: `mount` builds the widget's DOM in the host's element and
//! drives a worker per run (see the crate docs).

use std::cell::RefCell;
use std::rc::Rc;

use odeon_notebook::protocol::{FromWorker, ToWorker};
use odeon_notebook::render::escape_html as escape;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_sys::{Element, HtmlElement, MessageEvent, Worker};

use crate::view::{self, Change, Outputs};
use crate::{Options, Plan};

const STYLE_ID: &str = "odeon-widget-style";
const STYLE: &str = "\
.odeon-widget{font:14px/1.45 system-ui,sans-serif;color:#222;background:#fff;border:1px solid #d8dbe0;border-radius:8px;padding:10px 12px;margin:1em 0}\
.odeon-widget [hidden]{display:none!important}\
.odeon-widget-bar{display:flex;flex-wrap:wrap;gap:8px;align-items:center}\
.odeon-widget-bar button{font:inherit;padding:3px 16px;border-radius:6px;border:1px solid #4c72b0;background:#4c72b0;color:#fff;cursor:pointer}\
.odeon-widget-bar .odeon-widget-stop{background:#fff;color:#4c72b0}\
.odeon-widget-bar button:disabled{opacity:.5;cursor:default}\
.odeon-widget-progress{flex:1 1 120px;min-width:80px;height:10px}\
.odeon-widget-open{margin-left:auto;font-size:13px}\
.odeon-widget-status{margin:6px 0 0;color:#555;font-size:13px}\
.odeon-widget-plots{display:flex;flex-wrap:wrap;gap:8px}\
.odeon-widget-plot{margin-top:8px;max-width:100%}\
.odeon-widget-plot svg{display:block;max-width:100%;height:auto}\
.odeon-widget table{border-collapse:collapse;margin-top:8px;font-size:13px}\
.odeon-widget th,.odeon-widget td{padding:2px 12px 2px 0;text-align:left;font-weight:normal}\
.odeon-widget thead th,.odeon-widget caption{font-weight:600;text-align:left}\
.odeon-widget td.num{text-align:right;font-variant-numeric:tabular-nums}\
.odeon-widget-criteria{margin:8px 0 0;padding-left:1.2em;font-size:13px}\
.odeon-widget .pass{color:#1a7f37}.odeon-widget .fail{color:#b00020}\
.odeon-widget-logs{margin:8px 0 0;background:#f6f7f9;padding:6px 8px;max-height:12em;overflow:auto;font-size:12px}\
.odeon-widget-error{margin:8px 0 0;color:#b00020}";

/// The widget's own elements.
struct Dom {
    root: HtmlElement,
    run: HtmlElement,
    stop: HtmlElement,
    progress: Element,
    status: Element,
    plots: Element,
    numbers: Element,
    tables: Element,
    logs: HtmlElement,
    error: HtmlElement,
    plot_nodes: Vec<Element>,
}

struct Inner {
    plan: Plan,
    dom: Dom,
    worker_url: String,
    worker: Option<Worker>,
    outputs: Outputs,
    run_id: u32,
    running: bool,
    failed: bool,
    started_at: f64,
    /// Which cell runs, and the latest progress line, for the status line.
    current: String,
    destroyed: bool,
    // Kept alive while the widget lives; dropped by `destroy` (which breaks
    // the Rc cycles they close over).
    on_run: Option<Closure<dyn FnMut()>>,
    on_stop: Option<Closure<dyn FnMut()>>,
    on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    on_error: Option<Closure<dyn FnMut(web_sys::Event)>>,
}

type Shared = Rc<RefCell<Inner>>;

/// A mounted widget, returned by `mount`.
#[wasm_bindgen]
pub struct Widget {
    shared: Shared,
}

fn js_error(err: JsValue) -> JsError {
    JsError::new(&err.as_string().or_else(|| js_sys::JSON::stringify(&err).ok().map(String::from)).unwrap_or_else(|| "a browser call failed".into()))
}

fn query(root: &Element, selector: &str) -> Result<Element, JsError> {
    root.query_selector(selector).map_err(js_error)?.ok_or_else(|| JsError::new(&format!("internal: {selector} missing")))
}

fn ensure_style(document: &web_sys::Document) -> Result<(), JsValue> {
    if document.get_element_by_id(STYLE_ID).is_some() {
        return Ok(());
    }
    let style = document.create_element("style")?;
    style.set_id(STYLE_ID);
    style.set_text_content(Some(STYLE));
    match document.head() {
        Some(head) => head.append_child(&style)?,
        None => document.document_element().ok_or("no document element")?.append_child(&style)?,
    };
    Ok(())
}

fn skeleton(plan: &Plan, app: Option<&str>) -> String {
    let open = app
        .map(|app| {
            format!(
                "<a class=\"odeon-widget-open\" href=\"{}\" target=\"_blank\" rel=\"noopener\">Open in Odeon</a>",
                escape(&plan.open_link(app))
            )
        })
        .unwrap_or_default();
    format!(
        "<div class=\"odeon-widget-bar\">\
         <button type=\"button\" class=\"odeon-widget-run\">Run</button>\
         <button type=\"button\" class=\"odeon-widget-stop\" hidden>Stop</button>\
         <progress class=\"odeon-widget-progress\" max=\"1\" value=\"0\" aria-label=\"Progress\"></progress>{open}</div>\
         <p class=\"odeon-widget-status\" role=\"status\">{}</p>\
         <div class=\"odeon-widget-plots\"></div><div class=\"odeon-widget-numbers\"></div>\
         <div class=\"odeon-widget-tables\"></div><pre class=\"odeon-widget-logs\" hidden></pre>\
         <p class=\"odeon-widget-error\" role=\"alert\" hidden></p>",
        escape(&idle_text(plan))
    )
}

fn idle_text(plan: &Plan) -> String {
    format!(
        "Run computes {} of \u{201c}{}\u{201d} in your browser (profile {}).",
        plan.cell_names().join(" \u{2192} "),
        plan.notebook.meta.title,
        plan.profile
    )
}

/// Mounts a widget into `element` (see the crate docs for the options).
/// Fails, with the reason also shown in the element, when the options are
/// wrong (unknown notebook, cell or profile).
#[wasm_bindgen]
pub fn mount(element: HtmlElement, options: JsValue) -> Result<Widget, JsError> {
    console_error_panic_hook::set_once();
    let shown = |message: &str| {
        let _ = element.class_list().add_1("odeon-widget");
        let _ = element.set_attribute("data-status", "error");
        element.set_inner_html(&format!("<p class=\"odeon-widget-error\" role=\"alert\">{}</p>", escape(message)));
        JsError::new(message)
    };
    let options: Options = serde_wasm_bindgen::from_value(options).map_err(|e| shown(&format!("Odeon widget: bad options: {e}")))?;
    let plan = options.plan().map_err(|e| shown(&format!("Odeon widget: {e}")))?;
    let worker_url = options.worker_url.clone().ok_or_else(|| {
        shown("Odeon widget: no workerUrl; import `mount` from the package entry (index.js), which sets it")
    })?;
    let document = element.owner_document().ok_or_else(|| JsError::new("the element is not in a document"))?;
    ensure_style(&document).map_err(js_error)?;

    element.class_list().add_1("odeon-widget").map_err(js_error)?;
    element.set_inner_html(&skeleton(&plan, options.app.as_deref()));
    let dom = Dom {
        run: query(&element, ".odeon-widget-run")?.unchecked_into(),
        stop: query(&element, ".odeon-widget-stop")?.unchecked_into(),
        progress: query(&element, ".odeon-widget-progress")?,
        status: query(&element, ".odeon-widget-status")?,
        plots: query(&element, ".odeon-widget-plots")?,
        numbers: query(&element, ".odeon-widget-numbers")?,
        tables: query(&element, ".odeon-widget-tables")?,
        logs: query(&element, ".odeon-widget-logs")?.unchecked_into(),
        error: query(&element, ".odeon-widget-error")?.unchecked_into(),
        root: element,
        plot_nodes: Vec::new(),
    };
    set_status(&dom.root, "idle");
    set_metrics(&dom.root, &[]);
    let shared: Shared = Rc::new(RefCell::new(Inner {
        plan,
        dom,
        worker_url,
        worker: None,
        outputs: Outputs::default(),
        run_id: 0,
        running: false,
        failed: false,
        started_at: 0.0,
        current: String::new(),
        destroyed: false,
        on_run: None,
        on_stop: None,
        on_message: None,
        on_error: None,
    }));
    {
        let on_run = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut()>::new(move || start(&shared))
        };
        let on_stop = {
            let shared = Rc::clone(&shared);
            Closure::<dyn FnMut()>::new(move || stop(&shared, "Stopped."))
        };
        let mut inner = shared.borrow_mut();
        inner.dom.run.set_onclick(Some(on_run.as_ref().unchecked_ref()));
        inner.dom.stop.set_onclick(Some(on_stop.as_ref().unchecked_ref()));
        inner.on_run = Some(on_run);
        inner.on_stop = Some(on_stop);
    }
    if options.autorun {
        start(&shared);
    }
    Ok(Widget { shared })
}

#[wasm_bindgen]
impl Widget {
    /// Runs the cells (what the Run button does); ignored while running.
    pub fn run(&self) {
        start(&self.shared);
    }

    /// Ends a run: its worker is terminated (the next run starts a new one).
    pub fn stop(&self) {
        stop(&self.shared, "Stopped.");
    }

    /// Stops, empties the element and releases the widget's resources.
    pub fn destroy(&self) {
        let mut inner = self.shared.borrow_mut();
        if inner.destroyed {
            return;
        }
        inner.destroyed = true;
        if let Some(worker) = inner.worker.take() {
            worker.terminate();
        }
        let root = inner.dom.root.clone();
        inner.dom.run.set_onclick(None);
        inner.dom.stop.set_onclick(None);
        inner.dom.plot_nodes.clear();
        root.set_inner_html("");
        let _ = root.class_list().remove_1("odeon-widget");
        let _ = root.remove_attribute("data-status");
        let _ = root.remove_attribute("aria-busy");
        let _ = js_sys::Reflect::delete_property(&root, &"odeonMetrics".into());
        // Dropping the closures breaks the cycles through `shared`.
        let closures = (inner.on_run.take(), inner.on_stop.take(), inner.on_message.take(), inner.on_error.take());
        drop(inner);
        drop(closures);
    }

    /// `idle`, `running`, `done` or `error` (also the element's `data-status`).
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> String {
        self.shared.borrow().dom.root.get_attribute("data-status").unwrap_or_else(|| "idle".into())
    }
}

fn set_status(root: &HtmlElement, status: &str) {
    let _ = root.set_attribute("data-status", status);
    if status == "running" {
        let _ = root.set_attribute("aria-busy", "true");
    } else {
        let _ = root.remove_attribute("aria-busy");
    }
}

fn set_metrics(root: &HtmlElement, metrics: &[(String, f64)]) {
    let object = js_sys::Object::new();
    for (name, value) in metrics {
        let _ = js_sys::Reflect::set(&object, &name.into(), &(*value).into());
    }
    let _ = js_sys::Reflect::set(root, &"odeonMetrics".into(), &object);
}

fn show(element: &HtmlElement, text: Option<&str>) {
    element.set_text_content(text);
    element.set_hidden(text.is_none());
}

/// A worker for `url`; a cross-origin script (a CDN) is loaded through a
/// same-origin blob module that imports it, since workers must be same-origin.
fn new_worker(url: &str) -> Result<Worker, JsValue> {
    let options = web_sys::WorkerOptions::new();
    options.set_type(web_sys::WorkerType::Module);
    match Worker::new_with_options(url, &options) {
        Ok(worker) => Ok(worker),
        Err(_) => {
            let source = js_sys::Array::of1(&format!("import {};", js_sys::JSON::stringify(&url.into())?.as_string().unwrap_or_default()).into());
            let bag = web_sys::BlobPropertyBag::new();
            bag.set_type("text/javascript");
            let blob = web_sys::Blob::new_with_str_sequence_and_options(&source, &bag)?;
            let blob_url = web_sys::Url::create_object_url_with_blob(&blob)?;
            Worker::new_with_options(&blob_url, &options)
        }
    }
}

fn start(shared: &Shared) {
    let mut inner = shared.borrow_mut();
    if inner.running || inner.destroyed {
        return;
    }
    inner.run_id = inner.run_id.wrapping_add(1);
    inner.outputs = Outputs::default();
    inner.failed = false;
    inner.current.clear();
    inner.dom.plot_nodes.clear();
    for section in [&inner.dom.plots, &inner.dom.numbers, &inner.dom.tables] {
        section.set_inner_html("");
    }
    show(&inner.dom.logs, None);
    show(&inner.dom.error, None);
    set_metrics(&inner.dom.root, &[]);

    let worker = match new_worker(&inner.worker_url) {
        Ok(worker) => worker,
        Err(err) => {
            drop(inner);
            return fail(shared, &format!("The widget's worker could not start: {}", js_error_text(&err)));
        }
    };
    let on_message = {
        let shared = Rc::clone(shared);
        Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| on_message(&shared, event.data()))
    };
    let on_error = {
        let shared = Rc::clone(shared);
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            event.prevent_default();
            let detail = event.dyn_ref::<web_sys::ErrorEvent>().map(|e| e.message()).filter(|m| !m.is_empty());
            let url = shared.borrow().worker_url.clone();
            fail(
                &shared,
                &format!(
                    "The widget's worker failed ({}). Is {url} served, next to the package's other files?",
                    detail.as_deref().unwrap_or("its script did not load")
                ),
            );
        })
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // Old closures are dropped here, outside their own calls.
    inner.on_message = Some(on_message);
    inner.on_error = Some(on_error);

    let init = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&init, &"type".into(), &"init".into());
    let _ = js_sys::Reflect::set(&init, &"module".into(), &wasm_bindgen::module());
    let run = ToWorker::Run {
        run_id: inner.run_id,
        cells: inner.plan.cells.clone(),
        seed: inner.plan.notebook.meta.seed,
        profile: inner.plan.profile.clone(),
        fresh: true,
        // The inline widget's worker computes on the CPU (see worker.rs).
        backend: "cpu".into(),
    };
    let sent = run
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsValue::from(e.to_string()))
        .and_then(|message| {
            worker.post_message(&init)?;
            worker.post_message(&message)
        });
    inner.worker = Some(worker);
    if let Err(err) = sent {
        drop(inner);
        return fail(shared, &format!("The widget could not start its run: {}", js_error_text(&err)));
    }
    inner.running = true;
    inner.started_at = js_sys::Date::now();
    set_status(&inner.dom.root, "running");
    inner.dom.run.set_attribute("disabled", "").ok();
    inner.dom.stop.set_hidden(false);
    let _ = inner.dom.progress.remove_attribute("value");
    inner.dom.status.set_text_content(Some("Starting\u{2026}"));
}

fn js_error_text(err: &JsValue) -> String {
    if let Some(error) = err.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    err.as_string().unwrap_or_else(|| "unknown error".into())
}

/// Ends the run (if any) without a result; `message` goes on the status line.
fn stop(shared: &Shared, message: &str) {
    let mut inner = shared.borrow_mut();
    if let Some(worker) = inner.worker.take() {
        worker.terminate();
    }
    if !inner.running {
        return;
    }
    inner.running = false;
    set_status(&inner.dom.root, "idle");
    finish_controls(&inner);
    let _ = inner.dom.progress.set_attribute("value", "0");
    inner.dom.status.set_text_content(Some(message));
}

fn finish_controls(inner: &Inner) {
    let _ = inner.dom.run.remove_attribute("disabled");
    inner.dom.run.set_text_content(Some("Run again"));
    inner.dom.stop.set_hidden(true);
}

/// Ends the run with an error shown in words.
fn fail(shared: &Shared, message: &str) {
    let mut inner = shared.borrow_mut();
    if inner.destroyed {
        return;
    }
    if let Some(worker) = inner.worker.take() {
        worker.terminate();
    }
    inner.running = false;
    inner.failed = true;
    set_status(&inner.dom.root, "error");
    finish_controls(&inner);
    show(&inner.dom.error, Some(message));
    inner.dom.status.set_text_content(Some("The run failed."));
    let _ = inner.dom.progress.set_attribute("value", "0");
}

fn on_message(shared: &Shared, data: JsValue) {
    let kind = js_sys::Reflect::get(&data, &"type".into()).ok().and_then(|t| t.as_string());
    if kind.as_deref() == Some("widget_error") {
        let detail = js_sys::Reflect::get(&data, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default();
        return fail(shared, &format!("The widget's worker failed: {detail}"));
    }
    let message = match serde_wasm_bindgen::from_value::<FromWorker>(data) {
        Ok(message) => message,
        Err(err) => {
            web_sys::console::error_1(&format!("odeon widget: unreadable worker message: {err}").into());
            return;
        }
    };
    let mut inner = shared.borrow_mut();
    let inner = &mut *inner;
    if !inner.running {
        return;
    }
    match message {
        FromWorker::CellStarted { run_id, cell } if run_id == inner.run_id => {
            let names = inner.plan.cell_names();
            let position = names.iter().position(|n| *n == cell).map_or(0, |i| i + 1);
            inner.current = format!("Running \u{201c}{cell}\u{201d} ({position} of {})", names.len());
            inner.dom.status.set_text_content(Some(&format!("{}\u{2026}", inner.current)));
            let _ = inner.dom.progress.remove_attribute("value");
        }
        FromWorker::Output { run_id, cell, event } if run_id == inner.run_id => {
            let is_shown = cell == inner.plan.cell;
            let change = if is_shown || matches!(event, odeon_notebook::events::Event::Progress { .. }) {
                inner.outputs.apply(event)
            } else {
                return;
            };
            render(inner, change);
        }
        FromWorker::CellFinished { run_id, cell, error: Some(error), .. } if run_id == inner.run_id => {
            inner.failed = true;
            show(&inner.dom.error, Some(&view::failure_text(&cell, &error)));
        }
        FromWorker::RunFinished { run_id } if run_id == inner.run_id => {
            if let Some(worker) = inner.worker.take() {
                worker.terminate(); // frees its memory; the next run starts afresh
            }
            inner.running = false;
            let took = view::duration_text(js_sys::Date::now() - inner.started_at);
            set_metrics(&inner.dom.root, &inner.outputs.metrics);
            finish_controls(inner);
            if inner.failed {
                set_status(&inner.dom.root, "error");
                inner.dom.status.set_text_content(Some("The run failed."));
                let _ = inner.dom.progress.set_attribute("value", "0");
            } else {
                set_status(&inner.dom.root, "done");
                inner.dom.status.set_text_content(Some(&format!("Done in {took}.")));
                let _ = inner.dom.progress.set_attribute("max", "1");
                let _ = inner.dom.progress.set_attribute("value", "1");
            }
        }
        _ => {}
    }
}

fn render(inner: &mut Inner, change: Change) {
    let dom = &mut inner.dom;
    match change {
        Change::Progress { label, done, total, loss } => {
            let _ = dom.progress.set_attribute("max", &total.max(1).to_string());
            let _ = dom.progress.set_attribute("value", &done.min(total).to_string());
            let line = view::progress_text(&label, done, total, loss);
            dom.status.set_text_content(Some(&format!("{} \u{b7} {line}", inner.current)));
        }
        Change::Plot { index, added } => {
            if added {
                let Some(document) = dom.root.owner_document() else { return };
                let Ok(node) = document.create_element("div") else { return };
                node.set_class_name("odeon-widget-plot");
                if let Some(plot) = inner.outputs.plots.get(index) {
                    let _ = node.set_attribute("data-key", &plot.key);
                }
                let _ = dom.plots.append_child(&node);
                dom.plot_nodes.push(node);
            }
            if let Some(node) = dom.plot_nodes.get(index) {
                node.set_inner_html(&inner.outputs.plot_html(index));
            }
        }
        Change::Numbers => dom.numbers.set_inner_html(&inner.outputs.numbers_html()),
        Change::Tables => dom.tables.set_inner_html(&inner.outputs.tables_html()),
        Change::Logs => show(&dom.logs, Some(&inner.outputs.logs_text())),
    }
}
