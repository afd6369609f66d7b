//! The Leptos components and the compute-worker connection (wasm only).

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use odeon_notebook::link::{self, SharePayload};
use odeon_notebook::protocol::{FromWorker, ToWorker};
use odeon_notebook::render::{escape_html, markdown_to_html};
use odeon_notebook::{Block, Cell, Notebook, api, shipped};
use serde::Serialize;
use wasm_bindgen::prelude::*;

mod editor;
mod outputs;

use editor::{CodeEditor, focus_next_editor};
use outputs::{Output, OutputsView, Progress, ProgressBar};

use crate::route::{Route, embed_hash, notebook_hash, parse_hash};

/// Entry point: mounts the app.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

// ---------------------------------------------------------------------------
// Test hooks: `window.__odeon` mirrors what a test needs to read.

pub(crate) fn window() -> web_sys::Window {
    web_sys::window().expect("the app runs in a browser window")
}

pub(crate) fn debug_set(path: &[&str], value: JsValue) {
    let mut obj: JsValue = window().into();
    let mut keys = vec!["__odeon"];
    keys.extend_from_slice(path);
    for (i, key) in keys.iter().enumerate() {
        let key_js = JsValue::from_str(key);
        if i + 1 == keys.len() {
            let _ = js_sys::Reflect::set(&obj, &key_js, &value);
        } else {
            let next = js_sys::Reflect::get(&obj, &key_js).unwrap_or(JsValue::UNDEFINED);
            let next = if next.is_object() {
                next
            } else {
                let fresh: JsValue = js_sys::Object::new().into();
                let _ = js_sys::Reflect::set(&obj, &key_js, &fresh);
                fresh
            };
            obj = next;
        }
    }
}

fn is_isolated() -> bool {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crossOriginIsolated"))
        .map(|v| v.is_truthy())
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// The compute worker ("kernel").

#[derive(Debug, Clone, PartialEq)]
enum GpuStatus {
    Probing,
    Available(String),
    Missing(String),
}

#[derive(Clone, Copy)]
struct AppState {
    route: RwSignal<Route>,
    gpu: RwSignal<GpuStatus>,
    kernel_ready: RwSignal<bool>,
    kernel_note: RwSignal<Option<String>>,
    gpu_check: RwSignal<Option<(bool, String)>>,
    /// What the worker's `auto` policy would pick for a notebook-sized
    /// workload: `(backend id, reason)`.
    auto_backend: RwSignal<Option<(String, String)>>,
}

struct Kernel {
    worker: web_sys::Worker,
    stop_flag: Option<js_sys::Int32Array>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
    _on_error: Closure<dyn FnMut(web_sys::ErrorEvent)>,
}

type Handler = Rc<dyn Fn(&FromWorker)>;

/// Called when the compute worker dies (out of memory, a bug): the page
/// marks the run as failed, says what happened and starts a fresh worker.
type CrashHandler = Rc<dyn Fn(&str)>;

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
    static HANDLER: RefCell<Option<Handler>> = const { RefCell::new(None) };
    static CRASH_HANDLER: RefCell<Option<CrashHandler>> = const { RefCell::new(None) };
    /// Worker crashes so far (a test hook reads it).
    static CRASHES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    static STATE: RefCell<Option<AppState>> = const { RefCell::new(None) };
}

fn dispatch(message: FromWorker) {
    let state = STATE.with(|s| *s.borrow());
    if let Some(state) = state {
        match &message {
            FromWorker::Ready => {
                state.kernel_ready.set(true);
                debug_set(&["isolated"], is_isolated().into());
                let _ = js_sys::Reflect::set(&window(), &"__odeonReady".into(), &JsValue::TRUE);
            }
            FromWorker::Gpu { adapter, reason } => {
                let status = match (adapter, reason) {
                    (Some(a), _) => GpuStatus::Available(a.clone()),
                    (None, r) => GpuStatus::Missing(r.clone().unwrap_or_else(|| "unknown reason".into())),
                };
                debug_set(&["gpu"], match &status {
                    GpuStatus::Available(a) => JsValue::from_str(a),
                    _ => JsValue::NULL,
                });
                state.gpu.set(status);
            }
            FromWorker::EngineCheckResult { losses, params, samples, millis, error } => {
                debug_set(&["engineCheck", "samples"], js_sys::Float64Array::from(&samples[..]).into());
                let to_array = |v: &[f64]| js_sys::Float64Array::from(v).into();
                debug_set(&["engineCheck", "losses"], to_array(losses));
                debug_set(&["engineCheck", "params"], to_array(params));
                debug_set(&["engineCheck", "millis"], (*millis).into());
                debug_set(&["engineCheck", "error"], error.as_deref().map_or(JsValue::NULL, JsValue::from_str));
            }
            FromWorker::BackendCheckResult { backend, adapter, reason, losses, params, millis, error } => {
                let to_array = |v: &[f64]| js_sys::Float64Array::from(v).into();
                debug_set(&["backendCheck", "backend"], backend.as_str().into());
                debug_set(&["backendCheck", "adapter"], adapter.as_str().into());
                debug_set(&["backendCheck", "reason"], reason.as_str().into());
                debug_set(&["backendCheck", "losses"], to_array(losses));
                debug_set(&["backendCheck", "params"], to_array(params));
                debug_set(&["backendCheck", "millis"], (*millis).into());
                debug_set(&["backendCheck", "error"], error.as_deref().map_or(JsValue::NULL, JsValue::from_str));
                debug_set(&["backendCheck", "done"], JsValue::TRUE);
            }
            FromWorker::BackendPolicy { backend, reason } => {
                debug_set(&["backendPolicy", "backend"], backend.as_str().into());
                debug_set(&["backendPolicy", "reason"], reason.as_str().into());
                state.auto_backend.set(Some((backend.clone(), reason.clone())));
            }
            FromWorker::GpuCheckResult { ok, message, max_abs_error, .. } => {
                debug_set(&["gpuCheck", "ok"], (*ok).into());
                debug_set(&["gpuCheck", "maxAbsError"], (*max_abs_error).into());
                debug_set(&["gpuCheck", "message"], message.as_str().into());
                state.gpu_check.set(Some((*ok, message.clone())));
            }
            _ => {}
        }
    }
    let handler = HANDLER.with(|h| h.borrow().clone());
    if let Some(handler) = handler {
        handler(&message);
    }
}

fn start_kernel() -> Result<(), JsValue> {
    let options = web_sys::WorkerOptions::new();
    options.set_type(web_sys::WorkerType::Module);
    let worker = web_sys::Worker::new_with_options("./worker.js", &options)?;
    let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(|event: web_sys::MessageEvent| {
        match serde_wasm_bindgen::from_value::<FromWorker>(event.data()) {
            Ok(message) => dispatch(message),
            Err(err) => web_sys::console::error_1(&format!("odeon: unreadable worker message: {err}").into()),
        }
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let on_error = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(|event: web_sys::ErrorEvent| {
        event.prevent_default();
        worker_crashed(&event.message());
    });
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let stop_flag = if is_isolated() {
        let buffer = js_sys::SharedArrayBuffer::new(4);
        let message = js_sys::Object::new();
        js_sys::Reflect::set(&message, &"type".into(), &"stop_buffer".into())?;
        js_sys::Reflect::set(&message, &"buffer".into(), &buffer)?;
        worker.post_message(&message)?;
        Some(js_sys::Int32Array::new(&buffer))
    } else {
        None
    };
    KERNEL.with(|k| *k.borrow_mut() = Some(Kernel { worker, stop_flag, _on_message: on_message, _on_error: on_error }));
    Ok(())
}

/// The worker died: start a new one and tell the page.
fn worker_crashed(detail: &str) {
    web_sys::console::error_1(&format!("odeon: the compute worker crashed: {detail}").into());
    let old = KERNEL.with(|k| k.borrow_mut().take());
    if let Some(kernel) = old {
        kernel.worker.terminate();
    }
    let state = STATE.with(|s| *s.borrow());
    if let Some(state) = state {
        state.kernel_ready.set(false);
        let note = if detail.contains("nreachable") || detail.to_lowercase().contains("memory") {
            "The compute worker ran out of memory and stopped (a browser tab's WebAssembly gets at most 4 GB; smaller batches, fewer points or fewer kept results help). A fresh worker was started; your edits are kept. Run the cells again."
        } else {
            "The compute worker stopped unexpectedly. A fresh worker was started; your edits are kept. Run the cells again."
        };
        state.kernel_note.set(Some(format!("{note} (Details: {detail})")));
    }
    let handler = CRASH_HANDLER.with(|h| h.borrow().clone());
    if let Some(handler) = handler {
        handler(detail);
    }
    let crashes = CRASHES.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    debug_set(&["crashes"], crashes.into());
    if let Err(err) = start_kernel() {
        web_sys::console::error_1(&err);
    }
}

fn send(message: &ToWorker) {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    let Ok(value) = message.serialize(&serializer) else { return };
    KERNEL.with(|k| {
        if let Some(kernel) = k.borrow().as_ref() {
            if let Some(flag) = &kernel.stop_flag {
                let _ = js_sys::Atomics::store(flag, 0, 0);
            }
            let _ = kernel.worker.post_message(&value);
        }
    });
}

/// Stops the running cell. Returns true when the worker had to be restarted.
fn stop_kernel() -> bool {
    let stopped_in_place = KERNEL.with(|k| {
        k.borrow().as_ref().and_then(|kernel| kernel.stop_flag.as_ref().map(|flag| js_sys::Atomics::store(flag, 0, 1).is_ok()))
    });
    if stopped_in_place == Some(true) {
        return false;
    }
    KERNEL.with(|k| {
        if let Some(kernel) = k.borrow_mut().take() {
            kernel.worker.terminate();
        }
    });
    if let Err(err) = start_kernel() {
        web_sys::console::error_1(&err);
    }
    true
}

/// `window.__odeonDebug.engineCheck(steps)`: runs the reference training
/// workload in the worker; the result lands in `window.__odeon.engineCheck`.
/// For tests that compare the browser with native runs; not part of the UI.
fn install_test_hooks() {
    let hooks = js_sys::Object::new();
    let engine_check = Closure::<dyn Fn(u32)>::new(|steps: u32| {
        debug_set(&["engineCheck"], JsValue::NULL);
        send(&ToWorker::EngineCheck { steps });
    });
    let _ = js_sys::Reflect::set(&hooks, &"engineCheck".into(), engine_check.as_ref());
    engine_check.forget();
    // `window.__odeonDebug.backendCheck(backend, steps)`: trains the same
    // workload on "cpu", "webgpu" (forced) or "auto"; the result lands in
    // `window.__odeon.backendCheck` (`done` is set last).
    let backend_check = Closure::<dyn Fn(String, u32)>::new(|backend: String, steps: u32| {
        debug_set(&["backendCheck"], JsValue::NULL);
        send(&ToWorker::BackendCheck { backend, steps });
    });
    let _ = js_sys::Reflect::set(&hooks, &"backendCheck".into(), backend_check.as_ref());
    backend_check.forget();
    // Asks the worker to allocate this many bytes (an impossible size runs
    // it out of memory for real, to test the crash path).
    let allocate = Closure::<dyn Fn(f64)>::new(|bytes: f64| send(&ToWorker::Allocate { bytes }));
    let _ = js_sys::Reflect::set(&hooks, &"allocate".into(), allocate.as_ref());
    allocate.forget();
    // Destroys the worker's WebGPU device, as a driver reset would.
    let lose_device = Closure::<dyn Fn()>::new(|| send(&ToWorker::LoseDevice));
    let _ = js_sys::Reflect::set(&hooks, &"loseDevice".into(), lose_device.as_ref());
    lose_device.forget();
    let _ = js_sys::Reflect::set(&window(), &"__odeonDebug".into(), &hooks);
}

// ---------------------------------------------------------------------------
// Components.

#[component]
fn App() -> impl IntoView {
    let hash = window().location().hash().unwrap_or_default();
    let state = AppState {
        route: RwSignal::new(parse_hash(&hash)),
        gpu: RwSignal::new(GpuStatus::Probing),
        kernel_ready: RwSignal::new(false),
        kernel_note: RwSignal::new(None),
        gpu_check: RwSignal::new(None),
        auto_backend: RwSignal::new(None),
    };
    STATE.with(|s| *s.borrow_mut() = Some(state));
    provide_context(state);
    debug_set(&["metrics"], js_sys::Object::new().into());
    install_test_hooks();
    if let Err(err) = start_kernel() {
        state.kernel_note.set(Some(format!("The compute worker could not start: {err:?}")));
    }
    let handle = window_event_listener(leptos::ev::hashchange, move |_| {
        let hash = window().location().hash().unwrap_or_default();
        state.route.set(parse_hash(&hash));
    });
    on_cleanup(move || handle.remove());

    // A new build installed by the service worker: offer to switch to it.
    let update = RwSignal::new_local(None::<js_sys::Function>);
    let on_update = window_event_listener_untyped("odeon-update", move |event| {
        let apply = js_sys::Reflect::get(&event, &"detail".into())
            .and_then(|d| js_sys::Reflect::get(&d, &"apply".into()))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        update.set(apply);
    });
    on_cleanup(move || on_update.remove());
    let embedded = move || matches!(state.route.get(), Route::Embed { .. });
    view! {
        {move || (!embedded()).then(|| view! {
            <header class="topbar">
                <a class="brand" href="#/">"Odeon"</a>
                <span class="tagline">"numerical machine learning, live in the browser"</span>
                <a class="nav" href="#/api">"Script API"</a>
                <BackendBadge/>
            </header>
        })}
        {move || update.get().map(|apply| view! {
            <div class="banner info update" data-testid="update">
                "A new version of Odeon is ready. "
                <button on:click=move |_| { let _ = apply.call0(&JsValue::NULL); }>"Reload to use it"</button>
                " (your edits are kept)"
            </div>
        })}
        <main class=move || if embedded() { "embedded" } else { "" }>
            {move || match state.route.get() {
                Route::Gallery => view! { <Gallery/> }.into_any(),
                Route::Notebook { id, share } => view! { <NotebookPage id=id share=share/> }.into_any(),
                Route::Embed { id, cell, share, profile, autorun } => view! { <EmbedPage id=id cell=cell share=share profile=profile autorun=autorun/> }.into_any(),
                Route::Api => view! { <ApiPage/> }.into_any(),
                Route::NotFound(path) => view! {
                    <div class="banner error">"There is no page at " <code>{path}</code> ". " <a href="#/">"Back to the gallery"</a></div>
                }.into_any(),
            }}
        </main>
    }
}

#[component]
fn BackendBadge() -> impl IntoView {
    let state = expect_context::<AppState>();
    let check = move |_| {
        state.gpu_check.set(Some((true, "running the WebGPU self-check…".into())));
        send(&ToWorker::GpuCheck);
    };
    view! {
        <div class="backend" id="backend">
            <span class="backend-active">"Compute: CPU (wasm, always there)"</span>
            {move || match state.gpu.get() {
                GpuStatus::Probing => view! { <span class="gpu">" · probing WebGPU…"</span> }.into_any(),
                GpuStatus::Available(name) => view! {
                    <span class="gpu" data-gpu="available">" · WebGPU adapter: " {name}</span>
                    <button id="gpu-check" on:click=check>"Run WebGPU self-check"</button>
                }.into_any(),
                GpuStatus::Missing(reason) => view! {
                    <span class="gpu" data-gpu="missing">" · WebGPU unavailable: " {reason}</span>
                }.into_any(),
            }}
            {move || state.auto_backend.get().map(|(backend, reason)| {
                let label = if backend == "webgpu" { "WebGPU" } else { "CPU" };
                view! {
                    <span class="gpu" id="backend-auto" data-auto=backend.clone()>
                        " · for a notebook's training, auto picks: " {label} " — " {reason}
                    </span>
                }
            })}
            {move || state.gpu_check.get().map(|(ok, message)| view! {
                <span id="gpu-check-result" class=if ok { "ok" } else { "bad" }>{message}</span>
            })}
        </div>
    }
}

#[component]
fn Gallery() -> impl IntoView {
    let notebooks = shipped::all();
    view! {
        <section class="gallery">
            <h1>"Notebooks"</h1>
            <p class="lede">"Each notebook trains and samples a method right here. Edit any cell, run it, share the link."</p>
            {match notebooks {
                Err(err) => view! { <div class="banner error">"A shipped notebook is malformed: " {err.to_string()}</div> }.into_any(),
                Ok(list) => list.into_iter().map(|nb| {
                    let href = notebook_hash(&nb.meta.id, None);
                    view! {
                        <a class="card" href=href data-testid="gallery-card" data-id=nb.meta.id.clone()>
                            <h2>{nb.meta.title.clone()}</h2>
                            <p>{nb.meta.summary.clone()}</p>
                            <div class="tags">{nb.meta.tags.iter().map(|t| view! { <span class="tag">{t.clone()}</span> }).collect_view()}</div>
                            <div class="paper">{format!("{} ({})", nb.meta.paper, nb.meta.year)}</div>
                        </a>
                    }
                }).collect_view().into_any(),
            }}
        </section>
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Idle,
    Queued,
    Running,
    Done,
    Failed,
    Stopped,
}

#[derive(Clone, Copy)]
struct CellView {
    name: StoredValue<String>,
    /// The shipped source (for dirty markers and Reset cell).
    original: StoredValue<String>,
    source: RwSignal<String>,
    outputs: RwSignal<Vec<Output>>,
    status: RwSignal<Status>,
    progress: RwSignal<Option<Progress>>,
    message: RwSignal<Option<String>>,
}

/// Where the notebook on the page came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Shipped,
    Link,
    Restored,
}

fn local_storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// Local storage key of the user's edits of notebook `id` (stored in the
/// share-link format, so restoring them is opening a link).
fn edits_key(id: &str) -> String {
    format!("odeon.edits.{id}")
}

/// Where the user's choice of compute backend for notebook `id` is kept.
fn backend_key(id: &str) -> String {
    format!("odeon.backend.{id}")
}

/// A notebook opened from a link or from storage, with the profile and
/// the note to show (the link was made for an older notebook version).
type Opened = (Notebook, String, Option<String>);

/// Decodes a share payload into a notebook for `id`.
fn decode_notebook(id: &str, share: &str) -> Result<Opened, String> {
    link::decode_with_note(share).map_err(|e| e.to_string()).and_then(|(payload, note): (SharePayload, Option<String>)| {
        if payload.id != id {
            return Err(format!("it belongs to the notebook \"{}\", not \"{id}\"", payload.id));
        }
        let nb = Notebook::parse(&payload.text).map_err(|e| format!("the notebook inside it is malformed: {e}"))?;
        Ok((nb, payload.profile, note))
    })
}

struct OpenResult {
    notebook: Option<Notebook>,
    profile: String,
    link_error: Option<String>,
    link_note: Option<String>,
    origin: Origin,
}

/// Opens the notebook `id`: the shared version when a link is given, else
/// the user's saved edits (unless `use_saved` is false), else the shipped
/// version. A link that cannot be used leaves saved edits alone.
fn open_notebook(id: &str, share: Option<&str>, use_saved: bool) -> OpenResult {
    let shipped = shipped::text(id).and_then(|t| Notebook::parse(t).ok());
    let Some(share) = share else {
        let saved = use_saved.then(|| local_storage().and_then(|s| s.get_item(&edits_key(id)).ok().flatten())).flatten();
        if let Some(Ok((nb, profile, _))) = saved.map(|text| decode_notebook(id, &text)) {
            return OpenResult { notebook: Some(nb), profile, link_error: None, link_note: None, origin: Origin::Restored };
        }
        return OpenResult { notebook: shipped, profile: "default".into(), link_error: None, link_note: None, origin: Origin::Shipped };
    };
    match decode_notebook(id, share) {
        Ok((nb, profile, note)) => OpenResult { notebook: Some(nb), profile, link_error: None, link_note: note, origin: Origin::Link },
        Err(message) => OpenResult { notebook: shipped, profile: "default".into(), link_error: Some(message), link_note: None, origin: Origin::Shipped },
    }
}

/// Which cells a run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RunScope {
    /// Every cell, in a fresh scope.
    All,
    /// One cell, in the current scope.
    One(String),
    /// Every cell up to and including this one, in a fresh scope (embeds).
    UpTo(String),
}

/// Everything a notebook view (full page or embed) shares.
#[derive(Clone, Copy)]
struct NotebookState {
    id: StoredValue<String>,
    title: StoredValue<String>,
    cells: StoredValue<Vec<CellView>>,
    profile: RwSignal<String>,
    /// `auto`, `cpu` or `webgpu`: the user's choice, else the notebook's.
    backend: RwSignal<String>,
    running: RwSignal<Option<u32>>,
    next_run: StoredValue<u32>,
    seed: u64,
    base_nb: StoredValue<Notebook>,
    shipped_text: StoredValue<String>,
}

impl NotebookState {
    fn new(notebook: &Notebook, shipped_nb: &Notebook, profile: String) -> NotebookState {
        let cells: Vec<CellView> = notebook
            .cells()
            .map(|c| CellView {
                name: StoredValue::new(c.name.clone()),
                original: StoredValue::new(shipped_nb.cells().find(|s| s.name == c.name).map(|s| s.source.clone()).unwrap_or_default()),
                source: RwSignal::new(c.source.clone()),
                outputs: RwSignal::new(Vec::new()),
                status: RwSignal::new(Status::Idle),
                progress: RwSignal::new(None),
                message: RwSignal::new(None),
            })
            .collect();
        NotebookState {
            id: StoredValue::new(notebook.meta.id.clone()),
            title: StoredValue::new(notebook.meta.title.clone()),
            cells: StoredValue::new(cells),
            profile: RwSignal::new(profile),
            backend: RwSignal::new(
                local_storage()
                    .and_then(|s| s.get_item(&backend_key(&notebook.meta.id)).ok().flatten())
                    .filter(|b| ["auto", "cpu", "webgpu"].contains(&b.as_str()))
                    .unwrap_or_else(|| notebook.meta.backend.clone()),
            ),
            running: RwSignal::new(None),
            next_run: StoredValue::new(0),
            seed: notebook.meta.seed,
            base_nb: StoredValue::new(notebook.clone()),
            shipped_text: StoredValue::new(shipped_nb.to_markdown()),
        }
    }

    fn find(&self, name: &str) -> Option<CellView> {
        self.cells.with_value(|cs| cs.iter().find(|c| c.name.get_value() == name).copied())
    }

    /// Routes worker messages of the current run to the cells.
    fn install_handler(self) {
        let handler: Handler = Rc::new(move |message: &FromWorker| {
            let current = self.running.get_untracked();
            match message {
                FromWorker::CellStarted { run_id, cell } if Some(*run_id) == current => {
                    if let Some(c) = self.find(cell) {
                        c.status.set(Status::Running);
                    }
                }
                FromWorker::Output { run_id, cell, event } if Some(*run_id) == current => {
                    if let Some(c) = self.find(cell) {
                        outputs::apply(cell, c.outputs, c.progress, event);
                    }
                }
                FromWorker::CellFinished { run_id, cell, error, stopped, millis } if Some(*run_id) == current => {
                    if let Some(c) = self.find(cell) {
                        c.status.set(if *stopped { Status::Stopped } else if error.is_some() { Status::Failed } else { Status::Done });
                        c.message.set(Some(match error {
                            Some(e) => e.clone(),
                            None => format!("finished in {:.1} s", millis / 1000.0),
                        }));
                    }
                }
                FromWorker::RunFinished { run_id } if Some(*run_id) == current => {
                    self.cells.with_value(|cs| cs.iter().filter(|c| c.status.get_untracked() == Status::Queued).for_each(|c| c.status.set(Status::Idle)));
                    self.running.set(None);
                    debug_set(&["lastRun", "done"], JsValue::TRUE);
                }
                _ => {}
            }
        });
        HANDLER.with(|h| *h.borrow_mut() = Some(handler));
        let crash: CrashHandler = Rc::new(move |_detail: &str| {
            if self.running.get_untracked().is_none() {
                return;
            }
            self.cells.with_value(|cs| {
                for c in cs.iter().filter(|c| matches!(c.status.get_untracked(), Status::Running | Status::Queued)) {
                    c.status.set(Status::Failed);
                    c.message.set(Some("the compute worker crashed while running this cell (see the note above)".into()));
                }
            });
            self.running.set(None);
            debug_set(&["lastRun", "done"], JsValue::TRUE);
        });
        CRASH_HANDLER.with(|h| *h.borrow_mut() = Some(crash));
        on_cleanup(|| {
            HANDLER.with(|h| *h.borrow_mut() = None);
            CRASH_HANDLER.with(|h| *h.borrow_mut() = None);
        });
    }

    fn run(self, scope: RunScope) {
        if self.running.get_untracked().is_some() {
            return;
        }
        let run_id = self.next_run.get_value() + 1;
        self.next_run.set_value(run_id);
        let chosen: Vec<CellView> = self.cells.with_value(|cs| match &scope {
            RunScope::All => cs.clone(),
            RunScope::One(name) => cs.iter().filter(|c| c.name.get_value() == *name).copied().collect(),
            RunScope::UpTo(name) => {
                let end = cs.iter().position(|c| c.name.get_value() == *name).map_or(cs.len(), |i| i + 1);
                cs[..end].to_vec()
            }
        });
        for c in &chosen {
            c.outputs.set(Vec::new());
            c.progress.set(None);
            c.message.set(None);
            c.status.set(Status::Queued);
        }
        let fresh = !matches!(scope, RunScope::One(_));
        if fresh {
            debug_set(&["metrics"], js_sys::Object::new().into());
            debug_set(&["criteria"], js_sys::Object::new().into());
        }
        debug_set(&["lastRun", "id"], run_id.into());
        debug_set(&["lastRun", "done"], JsValue::FALSE);
        self.running.set(Some(run_id));
        if let Some(state) = STATE.with(|s| *s.borrow()) {
            state.kernel_note.set(None);
        }
        send(&ToWorker::Run {
            run_id,
            cells: chosen.iter().map(|c| Cell { name: c.name.get_value(), source: c.source.get_untracked() }).collect(),
            seed: self.seed,
            profile: self.profile.get_untracked(),
            fresh,
            backend: self.backend.get_untracked(),
        });
    }

    fn stop(self) {
        if self.running.get_untracked().is_none() {
            return;
        }
        if stop_kernel() {
            self.cells.with_value(|cs| {
                for c in cs.iter().filter(|c| matches!(c.status.get_untracked(), Status::Running | Status::Queued)) {
                    c.status.set(Status::Stopped);
                    c.message.set(Some("stopped".into()));
                }
            });
            self.running.set(None);
            debug_set(&["lastRun", "done"], JsValue::TRUE);
            if let Some(state) = STATE.with(|s| *s.borrow()) {
                state.kernel_note.set(Some(
                    "Stopped by restarting the compute worker (this page is not cross-origin isolated, so a running cell cannot be interrupted in place). Earlier results are gone: run the cells again.".into(),
                ));
            }
        }
    }

    /// The notebook as edited on the page, as a share payload.
    fn payload(self) -> SharePayload {
        let mut nb = self.base_nb.get_value();
        self.cells.with_value(|cs| {
            for c in cs {
                nb.set_cell_source(&c.name.get_value(), &c.source.get_untracked());
            }
        });
        SharePayload { id: nb.meta.id.clone(), text: nb.to_markdown(), profile: self.profile.get_untracked() }
    }

    /// Keeps every edit in local storage (removed again when the notebook is
    /// back to the shipped version), so a reload or a bad link loses nothing.
    fn save_edits(self) {
        let payload = self.payload();
        let Some(storage) = local_storage() else { return };
        let key = edits_key(&payload.id);
        if payload.text == self.shipped_text.get_value() && payload.profile == "default" {
            let _ = storage.remove_item(&key);
        } else {
            let _ = storage.set_item(&key, &link::encode(&payload));
        }
    }

    fn share_link(self) -> String {
        format!("{}{}", page_base(), notebook_hash(&self.id.get_value(), Some(&link::encode(&self.payload()))))
    }
}

/// The page's address without the fragment (origin and path).
fn page_base() -> String {
    let location = window().location();
    format!("{}{}", location.origin().unwrap_or_default(), location.pathname().unwrap_or_default())
}

fn copy_to_clipboard(text: &str) {
    let _ = window().navigator().clipboard().write_text(text);
}

/// Shows `message` in `signal` for two seconds.
fn flash(signal: RwSignal<Option<String>>, message: String) {
    signal.set(Some(message));
    let clear = Closure::once_into_js(move || signal.set(None));
    let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(clear.unchecked_ref(), 2500);
}

#[component]
fn NotebookPage(id: String, share: Option<String>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let opened = open_notebook(&id, share.as_deref(), true);
    let has_saved_edits = local_storage().and_then(|s| s.get_item(&edits_key(&id)).ok().flatten()).is_some();
    let Some(notebook) = opened.notebook else {
        return view! {
            <div class="banner error" data-testid="unknown-notebook">"There is no notebook called \"" {id} "\". " <a href="#/">"Back to the gallery"</a></div>
        }.into_any();
    };
    let shipped_nb = shipped::text(&id).and_then(|t| Notebook::parse(t).ok()).unwrap_or_else(|| notebook.clone());
    let nb = NotebookState::new(&notebook, &shipped_nb, opened.profile);
    debug_set(&["notebook"], notebook.meta.id.as_str().into());
    debug_set(&["metrics"], js_sys::Object::new().into());
    debug_set(&["criteria"], js_sys::Object::new().into());
    nb.install_handler();

    let share_url = RwSignal::new(None::<String>);
    let copied = RwSignal::new(None::<String>);
    let embed_code = RwSignal::new(None::<(String, String)>);
    let make_share = move |_| {
        let url = nb.share_link();
        copy_to_clipboard(&url);
        debug_set(&["shareUrl"], url.as_str().into());
        flash(copied, format!("Link copied ({} characters)", url.len()));
        share_url.set(Some(url));
    };
    let reset_id = id.clone();
    let reset = move |_| {
        nb.cells.with_value(|cs| cs.iter().for_each(|c| c.source.set(c.original.get_value())));
        nb.profile.set("default".into());
        nb.save_edits();
        let _ = window().location().set_hash(&notebook_hash(&reset_id, None));
    };
    let on_embed = move |cell: String| {
        let share = nb.payload();
        let link_part = (share.text != nb.shipped_text.get_value()).then(|| link::encode(&share));
        let src = format!("{}{}", page_base(), embed_hash(&nb.id.get_value(), Some(&cell), link_part.as_deref()));
        let iframe = format!(
            "<iframe src=\"{src}\" title=\"{} ({cell}) on Odeon\" style=\"width:100%;height:520px;border:0\" loading=\"lazy\"></iframe>",
            escape_html(&nb.title.get_value())
        );
        let widget = match &link_part {
            None => format!(
                "<script type=\"module\" src=\"{}widget.js\"></script>\n<odeon-widget notebook=\"{}\" cell=\"{cell}\"></odeon-widget>",
                page_base().trim_end_matches("index.html"),
                nb.id.get_value()
            ),
            Some(_) => String::from("(edited notebooks embed with the iframe code above)"),
        };
        copy_to_clipboard(&iframe);
        debug_set(&["embedCode"], iframe.as_str().into());
        flash(copied, format!("Embed code for \"{cell}\" copied"));
        embed_code.set(Some((iframe, widget)));
    };

    let blocks = notebook.blocks.clone();
    let mut cell_index = 0;
    let body = blocks
        .into_iter()
        .map(|block| match block {
            Block::Prose(md) => view! { <div class="prose" inner_html=markdown_to_html(&md)></div> }.into_any(),
            Block::Cell(_) => {
                let cell = nb.cells.with_value(|cs| cs[cell_index]);
                cell_index += 1;
                view! { <CellView cell=cell nb=nb on_embed=on_embed/> }.into_any()
            }
        })
        .collect_view();
    let running = nb.running;
    let profile = nb.profile;
    let backend = nb.backend;
    let backend_id = id.clone();

    view! {
        <article class="notebook" data-notebook=id.clone()>
            {opened.link_error.map(|e| view! {
                <div class="banner error" data-testid="link-error">
                    <strong>"This share link could not be opened: "</strong> {e}
                    ". You are looking at the shipped notebook, unchanged."
                    {has_saved_edits.then(|| view! {
                        " Your own edits are kept in this browser: " <a href=notebook_hash(&id, None)>"open your version"</a> "."
                    })}
                </div>
            })}
            {opened.link_note.map(|note| view! { <div class="banner warn" data-testid="link-note">"Note: " {note} "."</div> })}
            {(opened.origin == Origin::Restored).then(|| view! {
                <div class="banner info" data-testid="restored-edits">"Your edits from your last visit are restored. Reset returns to the shipped version."</div>
            })}
            {(opened.origin == Origin::Link).then(|| view! {
                <div class="banner info" data-testid="from-link">"You opened a shared version of this notebook. Run all reproduces its numbers; Reset returns to the shipped version."</div>
            })}
            <div class="toolbar">
                <button id="run-all" on:click=move |_| nb.run(RunScope::All) disabled=move || running.get().is_some() || !state.kernel_ready.get()>"Run all"</button>
                <button id="stop" on:click=move |_| nb.stop() disabled=move || running.get().is_none()>"Stop"</button>
                <label>"Profile "
                    <select id="profile" prop:value=move || profile.get() on:change=move |ev| { profile.set(event_target_value(&ev)); nb.save_edits(); }>
                        <option value="ci">"ci (seconds)"</option>
                        <option value="default">"default"</option>
                        <option value="big">"big"</option>
                    </select>
                </label>
                <label title="where training runs: auto picks WebGPU when the adapter is a real GPU and the work is large enough to pay">"Compute "
                    <select id="compute" prop:value=move || backend.get() on:change=move |ev| {
                        let choice = event_target_value(&ev);
                        if let Some(storage) = local_storage() {
                            let _ = storage.set_item(&backend_key(&backend_id), &choice);
                        }
                        backend.set(choice);
                    }>
                        <option value="auto">"auto"</option>
                        <option value="cpu">"CPU"</option>
                        <option value="webgpu">"WebGPU"</option>
                    </select>
                </label>
                <button id="share" on:click=make_share title="copy a link that reproduces this notebook and its run">"Copy link"</button>
                <button id="reset" on:click=reset title="return every cell to the shipped version">"Reset all"</button>
                {move || copied.get().map(|m| view! { <span class="flash" role="status" data-testid="copied">{m}</span> })}
            </div>
            {move || share_url.get().map(|url| view! {
                <div class="share">"Link to this exact notebook: "
                    <input id="share-url" readonly=true prop:value=url/>
                </div>
            })}
            {move || embed_code.get().map(|(iframe, widget)| view! {
                <div class="share embed-code" data-testid="embed-code">
                    "Embed with an iframe (copied):" <textarea readonly=true rows="3">{iframe}</textarea>
                    "or with the widget script:" <textarea readonly=true rows="2">{widget}</textarea>
                    <button on:click=move |_| embed_code.set(None)>"Close"</button>
                </div>
            })}
            {move || state.kernel_note.get().map(|note| view! { <div class="banner warn" data-testid="kernel-note">{note}</div> })}
            {body}
        </article>
    }
    .into_any()
}

#[component]
fn CellView(cell: CellView, nb: NotebookState, on_embed: impl Fn(String) + Copy + 'static) -> impl IntoView {
    let name = cell.name.get_value();
    let running = nb.running;
    let status_text = move || match cell.status.get() {
        Status::Idle => "",
        Status::Queued => "queued",
        Status::Running => "running…",
        Status::Done => "done",
        Status::Failed => "error",
        Status::Stopped => "stopped",
    };
    let dirty = move || cell.source.with(|s| *s != cell.original.get_value());
    let (run_name, embed_name) = (name.clone(), name.clone());
    let key_name = cell.name;
    let on_run = move |advance: bool| {
        if running.get_untracked().is_none() {
            nb.run(RunScope::One(key_name.get_value()));
        }
        if advance {
            focus_next_editor(&key_name.get_value());
        }
    };
    let on_change = move || nb.save_edits();
    // Test hook: the current text of every cell.
    Effect::new(move |_| cell.source.with(|s| debug_set(&["sources", &cell.name.get_value()], s.as_str().into())));
    view! {
        <section class="cell" data-cell=name.clone() data-dirty=move || dirty().to_string()
            data-status=move || format!("{:?}", cell.status.get()).to_lowercase()>
            <div class="cell-head">
                <span class="cell-name">{name.clone()}</span>
                {move || dirty().then(|| view! { <span class="dirty-marker" title="edited: differs from the shipped notebook">"● edited"</span> })}
                <button class="run-cell" on:click=move |_| nb.run(RunScope::One(run_name.clone())) disabled=move || running.get().is_some()
                    title="run this cell (Ctrl/Cmd+Enter; Shift+Enter runs and moves on)">"Run"</button>
                {move || dirty().then(|| view! {
                    <button class="reset-cell" on:click=move |_| { cell.source.set(cell.original.get_value()); nb.save_edits(); }
                        title="return this cell to the shipped version">"Reset cell"</button>
                })}
                <button class="embed-cell" on:click=move |_| on_embed(embed_name.clone()) title="copy code that embeds this cell's output in another page">"Embed"</button>
                <span class="cell-status">{status_text}</span>
            </div>
            <CodeEditor label=format!("Cell {name}") source=cell.source on_change=on_change on_run=on_run/>
            <ProgressBar progress=cell.progress/>
            {move || cell.message.get().map(|m| view! {
                <div class=move || if matches!(cell.status.get(), Status::Failed) { "cell-message error" } else { "cell-message" }>{m}</div>
            })}
            <OutputsView cell=name.clone() outputs=cell.outputs/>
        </section>
    }
}

// ---------------------------------------------------------------------------
// Embed view: one cell's outputs (or the whole notebook) with minimal chrome.

/// Tells the embedding page how tall this document is.
fn post_size() {
    // The content's own height (the document's would never shrink below the
    // iframe's current height).
    let Some(main) = window().document().and_then(|d| d.query_selector("main").ok().flatten()).and_then(|m| m.dyn_into::<web_sys::HtmlElement>().ok()) else { return };
    let height = main.offset_height();
    let message = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&message, &"type".into(), &"odeon:size".into());
    let _ = js_sys::Reflect::set(&message, &"height".into(), &height.into());
    if let Ok(Some(parent)) = window().parent()
        && parent != window()
    {
        let _ = parent.post_message(&message, "*");
    }
    debug_set(&["embedHeight"], height.into());
}

fn watch_size() {
    post_size();
    let Some(body) = window().document().and_then(|d| d.body()) else { return };
    let callback = Closure::<dyn Fn()>::new(post_size);
    if let Ok(observer) = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()) {
        observer.observe(&body);
        // The observer lives as long as the page.
        std::mem::forget(observer);
    }
    callback.forget();
}

#[component]
fn EmbedPage(id: String, cell: Option<String>, share: Option<String>, profile: Option<String>, autorun: bool) -> impl IntoView {
    let state = expect_context::<AppState>();
    let opened = open_notebook(&id, share.as_deref(), false);
    let Some(notebook) = opened.notebook else {
        return view! { <div class="banner error" data-testid="unknown-notebook">"There is no notebook called \"" {id} "\"."</div> }.into_any();
    };
    if let Some(name) = &cell
        && !notebook.cells().any(|c| c.name == *name)
    {
        let names: Vec<String> = notebook.cells().map(|c| c.name.clone()).collect();
        return view! {
            <div class="banner error" data-testid="unknown-cell">
                "The notebook \"" {notebook.meta.title.clone()} "\" has no cell called \"" {name.clone()} "\"; its cells are " {names.join(", ")} "."
            </div>
        }.into_any();
    }
    let shipped_nb = shipped::text(&id).and_then(|t| Notebook::parse(t).ok()).unwrap_or_else(|| notebook.clone());
    let profile = profile.filter(|p| ["ci", "default", "big"].contains(&p.as_str())).unwrap_or(opened.profile);
    let nb = NotebookState::new(&notebook, &shipped_nb, profile);
    debug_set(&["notebook"], notebook.meta.id.as_str().into());
    debug_set(&["metrics"], js_sys::Object::new().into());
    nb.install_handler();
    let scope = match &cell {
        Some(name) => RunScope::UpTo(name.clone()),
        None => RunScope::All,
    };
    let run_scope = scope.clone();
    let run = move || nb.run(run_scope.clone());
    if autorun {
        let run = run.clone();
        Effect::new(move |done: Option<bool>| {
            if done == Some(true) || !state.kernel_ready.get() {
                return done.unwrap_or(false);
            }
            run();
            true
        });
    }
    let open_href = format!("{}{}", page_base(), notebook_hash(&id, share.as_deref()));
    let shown: Vec<CellView> = nb.cells.with_value(|cs| match &cell {
        Some(name) => cs.iter().filter(|c| c.name.get_value() == *name).copied().collect(),
        None => cs.clone(),
    });
    // What is running now (earlier cells of an embed run are not shown).
    let activity = move || {
        nb.cells.with_value(|cs| {
            cs.iter().find(|c| c.status.get() == Status::Running).map(|c| {
                let p = c.progress.get().map(|p| format!(" {}/{}", p.done, p.total)).unwrap_or_default();
                format!("running {}…{p}", c.name.get_value())
            })
        })
    };
    let failure = move || nb.cells.with_value(|cs| cs.iter().find(|c| c.status.get() == Status::Failed).and_then(|c| c.message.get().map(|m| (c.name.get_value(), m))));
    let running = nb.running;
    let title = match &cell {
        Some(name) => format!("{} · {name}", notebook.meta.title),
        None => notebook.meta.title.clone(),
    };
    request_animation_frame(watch_size);
    view! {
        <div class="embed" data-notebook=id.clone() data-cell=cell.clone().unwrap_or_default()>
            <div class="embed-head">
                <strong class="embed-title">{title}</strong>
                <button id="embed-run" on:click=move |_| run() disabled=move || running.get().is_some() || !state.kernel_ready.get()>"Run"</button>
                <button id="embed-stop" on:click=move |_| nb.stop() disabled=move || running.get().is_none()>"Stop"</button>
                <span class="cell-status">{activity}</span>
                <a class="open-in-odeon" href=open_href target="_blank" rel="noopener">"Open in Odeon ↗"</a>
            </div>
            {move || failure().map(|(name, message)| view! { <div class="cell-message error">"Cell " {name} ": " {message}</div> })}
            {move || state.kernel_note.get().map(|note| view! { <div class="banner warn">{note}</div> })}
            {shown.into_iter().map(|c| view! {
                <div class="embed-cell" data-cell=c.name.get_value()>
                    <ProgressBar progress=c.progress/>
                    <OutputsView cell=c.name.get_value() outputs=c.outputs/>
                </div>
            }).collect_view()}
        </div>
    }
    .into_any()
}

// ---------------------------------------------------------------------------
// The script API reference, generated from `odeon_notebook::api`.

#[component]
fn ApiPage() -> impl IntoView {
    view! {
        <article class="api-reference">
            <h1>"Script API"</h1>
            <p class="lede">"Notebook cells are " <a href="https://rhai.rs" target="_blank" rel="noopener">"Rhai"</a>
                " scripts. These are the functions they can call; the list is generated from the runtime's own table, which a test keeps equal to what the engine registers."</p>
            {api::SECTIONS.iter().map(|(section, intro)| view! {
                <section class="api-section">
                    <h2>{*section}</h2>
                    <p>{*intro}</p>
                    {api::API.iter().filter(|e| e.section == *section).map(|e| view! {
                        <div class="api-entry" id=format!("fn-{}", e.name)>
                            <h3><code>{e.name}</code></h3>
                            {e.signatures.iter().map(|s| view! { <pre class="signature">{*s}</pre> }).collect_view()}
                            <p>{e.doc}</p>
                            <pre class="example">{e.example}</pre>
                        </div>
                    }).collect_view()}
                </section>
            }).collect_view()}
            <h2>"Limits"</h2>
            <table class="metrics"><tbody>
                {api::LIMITS.iter().map(|(what, value)| view! { <tr><td>{*what}</td><td>{*value}</td></tr> }).collect_view()}
            </tbody></table>
        </article>
    }
}
