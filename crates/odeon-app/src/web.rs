//! The Leptos components and the compute-worker connection (wasm only).

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use odeon_notebook::events::Event;
use odeon_notebook::link::{self, SharePayload};
use odeon_notebook::protocol::{FromWorker, ToWorker};
use odeon_notebook::render::markdown_to_html;
use odeon_notebook::{Block, Cell, Notebook, shipped};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use odeon_notebook::svg::plot_svg;
use crate::route::{Route, notebook_hash, parse_hash};

/// Entry point: mounts the app.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

// ---------------------------------------------------------------------------
// Test hooks: `window.__odeon` mirrors what a test needs to read.

fn window() -> web_sys::Window {
    web_sys::window().expect("the app runs in a browser window")
}

fn debug_set(path: &[&str], value: JsValue) {
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
}

struct Kernel {
    worker: web_sys::Worker,
    stop_flag: Option<js_sys::Int32Array>,
    _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

type Handler = Rc<dyn Fn(&FromWorker)>;

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
    static HANDLER: RefCell<Option<Handler>> = const { RefCell::new(None) };
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
    KERNEL.with(|k| *k.borrow_mut() = Some(Kernel { worker, stop_flag, _on_message: on_message }));
    Ok(())
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

    view! {
        <header class="topbar">
            <a class="brand" href="#/">"Odeon"</a>
            <span class="tagline">"numerical machine learning, live in the browser"</span>
            <BackendBadge/>
        </header>
        <main>
            {move || match state.route.get() {
                Route::Gallery => view! { <Gallery/> }.into_any(),
                Route::Notebook { id, share } => view! { <NotebookPage id=id share=share/> }.into_any(),
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
            <span class="backend-active">"Backend: CPU (wasm)"</span>
            {move || match state.gpu.get() {
                GpuStatus::Probing => view! { <span class="gpu">" · probing WebGPU…"</span> }.into_any(),
                GpuStatus::Available(name) => view! {
                    <span class="gpu" data-gpu="available">" · WebGPU adapter: " {name} " (used by the self-check; GPU training comes with the WebGPU backend)"</span>
                    <button id="gpu-check" on:click=check>"Run WebGPU self-check"</button>
                }.into_any(),
                GpuStatus::Missing(reason) => view! {
                    <span class="gpu" data-gpu="missing">" · WebGPU unavailable: " {reason}</span>
                }.into_any(),
            }}
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

#[derive(Debug, Clone, PartialEq)]
enum Output {
    Log(String),
    Plot { key: String, svg: String },
    Metric { name: String, value: f64 },
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
    source: RwSignal<String>,
    outputs: RwSignal<Vec<Output>>,
    status: RwSignal<Status>,
    progress: RwSignal<Option<(u64, u64, Option<f32>)>>,
    message: RwSignal<Option<String>>,
}

fn apply_event(cell: &CellView, event: &Event) {
    match event {
        Event::Progress { done, total, loss, .. } => cell.progress.set(Some((*done, *total, *loss))),
        Event::Log { text } => cell.outputs.update(|o| o.push(Output::Log(text.clone()))),
        Event::Plot(plot) => {
            let svg = plot_svg(plot);
            let key = plot.key.clone();
            cell.outputs.update(|o| match o.iter_mut().find(|x| matches!(x, Output::Plot { key: k, .. } if *k == key)) {
                Some(existing) => *existing = Output::Plot { key, svg },
                None => o.push(Output::Plot { key, svg }),
            });
        }
        Event::Metric { name, value } => {
            debug_set(&["metrics", &cell.name.get_value(), name], (*value).into());
            cell.outputs.update(|o| o.push(Output::Metric { name: name.clone(), value: *value }));
        }
        Event::Table { .. } | Event::Criterion { .. } => {}
    }
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

/// Decodes a share payload into a notebook for `id`.
fn decode_notebook(id: &str, share: &str) -> Result<(Notebook, String), String> {
    link::decode(share).map_err(|e| e.to_string()).and_then(|payload: SharePayload| {
        if payload.id != id {
            return Err(format!("it belongs to the notebook \"{}\", not \"{id}\"", payload.id));
        }
        let nb = Notebook::parse(&payload.text).map_err(|e| format!("the notebook inside it is malformed: {e}"))?;
        Ok((nb, payload.profile))
    })
}

/// Opens the notebook `id`: the shared version when a link is given, else
/// the user's saved edits, else the shipped version. The error says why a
/// share link could not be used (the shipped notebook is shown then, and
/// saved edits are left alone).
fn open_notebook(id: &str, share: Option<&str>) -> (Option<Notebook>, String, Option<String>, Origin) {
    let shipped = shipped::text(id).and_then(|t| Notebook::parse(t).ok());
    let Some(share) = share else {
        let saved = local_storage().and_then(|s| s.get_item(&edits_key(id)).ok().flatten());
        if let Some(Ok((nb, profile))) = saved.map(|text| decode_notebook(id, &text)) {
            return (Some(nb), profile, None, Origin::Restored);
        }
        return (shipped, "default".into(), None, Origin::Shipped);
    };
    match decode_notebook(id, share) {
        Ok((nb, profile)) => (Some(nb), profile, None, Origin::Link),
        Err(message) => (shipped, "default".into(), Some(message), Origin::Shipped),
    }
}

#[component]
fn NotebookPage(id: String, share: Option<String>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let (notebook, profile, link_error, origin) = open_notebook(&id, share.as_deref());
    let has_saved_edits = local_storage().and_then(|s| s.get_item(&edits_key(&id)).ok().flatten()).is_some();
    let Some(notebook) = notebook else {
        return view! {
            <div class="banner error" data-testid="unknown-notebook">"There is no notebook called \"" {id} "\". " <a href="#/">"Back to the gallery"</a></div>
        }.into_any();
    };
    let shipped_nb = shipped::text(&id).and_then(|t| Notebook::parse(t).ok()).unwrap_or_else(|| notebook.clone());
    let profile = RwSignal::new(profile);
    let running = RwSignal::new(None::<u32>);
    let share_url = RwSignal::new(None::<String>);
    let next_run = StoredValue::new(0u32);
    let cells: Vec<CellView> = notebook
        .cells()
        .map(|c| CellView {
            name: StoredValue::new(c.name.clone()),
            source: RwSignal::new(c.source.clone()),
            outputs: RwSignal::new(Vec::new()),
            status: RwSignal::new(Status::Idle),
            progress: RwSignal::new(None),
            message: RwSignal::new(None),
        })
        .collect();
    let cells = StoredValue::new(cells);
    let seed = notebook.meta.seed;
    debug_set(&["notebook"], notebook.meta.id.as_str().into());
    debug_set(&["metrics"], js_sys::Object::new().into());

    let handler: Handler = Rc::new(move |message: &FromWorker| {
        let find = |name: &str| cells.with_value(|cs| cs.iter().find(|c| c.name.get_value() == name).copied());
        match message {
            FromWorker::CellStarted { run_id, cell } if Some(*run_id) == running.get_untracked() => {
                if let Some(c) = find(cell) {
                    c.status.set(Status::Running);
                }
            }
            FromWorker::Output { run_id, cell, event } if Some(*run_id) == running.get_untracked() => {
                if let Some(c) = find(cell) {
                    apply_event(&c, event);
                }
            }
            FromWorker::CellFinished { run_id, cell, error, stopped, millis } if Some(*run_id) == running.get_untracked() => {
                if let Some(c) = find(cell) {
                    c.status.set(if *stopped { Status::Stopped } else if error.is_some() { Status::Failed } else { Status::Done });
                    c.message.set(Some(match error {
                        Some(e) => e.clone(),
                        None => format!("finished in {:.1} s", millis / 1000.0),
                    }));
                }
            }
            FromWorker::RunFinished { run_id } if Some(*run_id) == running.get_untracked() => {
                cells.with_value(|cs| cs.iter().filter(|c| c.status.get_untracked() == Status::Queued).for_each(|c| c.status.set(Status::Idle)));
                running.set(None);
                debug_set(&["lastRun", "done"], JsValue::TRUE);
            }
            _ => {}
        }
    });
    HANDLER.with(|h| *h.borrow_mut() = Some(handler));
    on_cleanup(|| HANDLER.with(|h| *h.borrow_mut() = None));

    let run = move |only: Option<String>| {
        if running.get_untracked().is_some() {
            return;
        }
        let run_id = next_run.get_value() + 1;
        next_run.set_value(run_id);
        let chosen: Vec<CellView> = cells.with_value(|cs| {
            cs.iter().filter(|c| only.as_ref().is_none_or(|n| c.name.get_value() == *n)).copied().collect()
        });
        for c in &chosen {
            c.outputs.set(Vec::new());
            c.progress.set(None);
            c.message.set(None);
            c.status.set(Status::Queued);
        }
        if only.is_none() {
            debug_set(&["metrics"], js_sys::Object::new().into());
        }
        debug_set(&["lastRun", "id"], run_id.into());
        debug_set(&["lastRun", "done"], JsValue::FALSE);
        running.set(Some(run_id));
        state.kernel_note.set(None);
        send(&ToWorker::Run {
            run_id,
            cells: chosen.iter().map(|c| Cell { name: c.name.get_value(), source: c.source.get_untracked() }).collect(),
            seed,
            profile: profile.get_untracked(),
            fresh: only.is_none(),
        });
    };
    let stop = move |_| {
        if running.get_untracked().is_none() {
            return;
        }
        if stop_kernel() {
            cells.with_value(|cs| {
                for c in cs.iter().filter(|c| matches!(c.status.get_untracked(), Status::Running | Status::Queued)) {
                    c.status.set(Status::Stopped);
                    c.message.set(Some("stopped".into()));
                }
            });
            running.set(None);
            debug_set(&["lastRun", "done"], JsValue::TRUE);
            state.kernel_note.set(Some(
                "Stopped by restarting the compute worker (this page is not cross-origin isolated, so a running cell cannot be interrupted in place). Earlier results are gone: run the cells again.".into(),
            ));
        }
    };
    let base_nb = StoredValue::new(notebook.clone());
    let shipped_text = StoredValue::new(shipped_nb.to_markdown());
    // The notebook as edited on the page, as a share payload.
    let current_payload = move || {
        let mut nb = base_nb.get_value();
        cells.with_value(|cs| {
            for c in cs {
                nb.set_cell_source(&c.name.get_value(), &c.source.get_untracked());
            }
        });
        SharePayload { id: nb.meta.id.clone(), text: nb.to_markdown(), profile: profile.get_untracked() }
    };
    // Every edit is kept in local storage (removed again when the notebook
    // is back to the shipped version), so a reload or a bad link loses nothing.
    let save_edits = move || {
        let payload = current_payload();
        let Some(storage) = local_storage() else { return };
        let key = edits_key(&payload.id);
        if payload.text == shipped_text.get_value() && payload.profile == "default" {
            let _ = storage.remove_item(&key);
        } else {
            let _ = storage.set_item(&key, &link::encode(&payload));
        }
    };
    let make_share = move |_| {
        let payload = current_payload();
        let nb_id = payload.id.clone();
        let location = window().location();
        let base = format!("{}{}", location.origin().unwrap_or_default(), location.pathname().unwrap_or_default());
        let url = format!("{base}{}", notebook_hash(&nb_id, Some(&link::encode(&payload))));
        let _ = window().navigator().clipboard().write_text(&url);
        debug_set(&["shareUrl"], url.as_str().into());
        share_url.set(Some(url));
    };
    let reset_id = id.clone();
    let reset = move |_| {
        cells.with_value(|cs| {
            for (c, original) in cs.iter().zip(shipped_nb.cells()) {
                c.source.set(original.source.clone());
            }
        });
        profile.set("default".into());
        save_edits();
        let _ = window().location().set_hash(&notebook_hash(&reset_id, None));
    };

    let blocks = notebook.blocks.clone();
    let mut cell_index = 0;
    let body = blocks
        .into_iter()
        .map(|block| match block {
            Block::Prose(md) => view! { <div class="prose" inner_html=markdown_to_html(&md)></div> }.into_any(),
            Block::Cell(_) => {
                let cell = cells.with_value(|cs| cs[cell_index]);
                cell_index += 1;
                view! { <CellEditor cell=cell running=running on_run=run on_edit=save_edits/> }.into_any()
            }
        })
        .collect_view();

    view! {
        <article class="notebook" data-notebook=id.clone()>
            {link_error.map(|e| view! {
                <div class="banner error" data-testid="link-error">
                    <strong>"This share link could not be opened: "</strong> {e}
                    ". You are looking at the shipped notebook, unchanged."
                    {has_saved_edits.then(|| view! {
                        " Your own edits are kept in this browser: " <a href=notebook_hash(&id, None)>"open your version"</a> "."
                    })}
                </div>
            })}
            {(origin == Origin::Restored).then(|| view! {
                <div class="banner info" data-testid="restored-edits">"Your edits from your last visit are restored. Reset returns to the shipped version."</div>
            })}
            {(origin == Origin::Link).then(|| view! {
                <div class="banner info" data-testid="from-link">"You opened a shared version of this notebook. Run all reproduces its numbers; Reset returns to the shipped version."</div>
            })}
            <div class="toolbar">
                <button id="run-all" on:click=move |_| run(None) disabled=move || running.get().is_some() || !state.kernel_ready.get()>"Run all"</button>
                <button id="stop" on:click=stop disabled=move || running.get().is_none()>"Stop"</button>
                <label>"Profile "
                    <select id="profile" prop:value=move || profile.get() on:change=move |ev| { profile.set(event_target_value(&ev)); save_edits(); }>
                        <option value="ci">"ci (seconds)"</option>
                        <option value="default">"default"</option>
                        <option value="big">"big"</option>
                    </select>
                </label>
                <button id="share" on:click=make_share>"Share link"</button>
                <button id="reset" on:click=reset>"Reset"</button>
            </div>
            {move || share_url.get().map(|url| view! {
                <div class="share">"Link to this exact notebook (copied if the browser allows): "
                    <input id="share-url" readonly=true prop:value=url/>
                </div>
            })}
            {move || state.kernel_note.get().map(|note| view! { <div class="banner warn" data-testid="kernel-note">{note}</div> })}
            {body}
        </article>
    }
    .into_any()
}

/// Moves the keyboard focus to the editor of the cell after `name`.
fn focus_next_editor(name: &str) {
    let Some(document) = window().document() else { return };
    let Ok(editors) = document.query_selector_all(".cell-editor") else { return };
    let mut found = false;
    for i in 0..editors.length() {
        let Some(node) = editors.item(i) else { continue };
        let Ok(element) = node.dyn_into::<web_sys::HtmlElement>() else { continue };
        if found {
            let _ = element.focus();
            return;
        }
        found = element.closest(".cell").ok().flatten().and_then(|c| c.get_attribute("data-cell")).as_deref() == Some(name);
    }
}

#[component]
fn CellEditor(
    cell: CellView,
    running: RwSignal<Option<u32>>,
    on_run: impl Fn(Option<String>) + Copy + 'static,
    on_edit: impl Fn() + Copy + 'static,
) -> impl IntoView {
    let name = cell.name.get_value();
    let rows = move || cell.source.with(|s| s.lines().count().max(1) + 1);
    let status_text = move || match cell.status.get() {
        Status::Idle => "",
        Status::Queued => "queued",
        Status::Running => "running…",
        Status::Done => "done",
        Status::Failed => "error",
        Status::Stopped => "stopped",
    };
    let run_name = name.clone();
    view! {
        <section class="cell" data-cell=name.clone() data-status=move || format!("{:?}", cell.status.get()).to_lowercase()>
            <div class="cell-head">
                <span class="cell-name">{name.clone()}</span>
                <button class="run-cell" on:click=move |_| on_run(Some(run_name.clone())) disabled=move || running.get().is_some()>"Run"</button>
                <span class="cell-status">{status_text}</span>
            </div>
            <textarea class="cell-editor" spellcheck="false" rows=rows
                prop:value=move || cell.source.get()
                on:input=move |ev| { cell.source.set(event_target_value(&ev)); on_edit(); }
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    // Ctrl/Cmd+Enter runs the cell; Shift+Enter runs it and moves on.
                    if ev.key() != "Enter" || !(ev.ctrl_key() || ev.meta_key() || ev.shift_key()) {
                        return;
                    }
                    ev.prevent_default();
                    let name = cell.name.get_value();
                    if running.get_untracked().is_none() {
                        on_run(Some(name.clone()));
                    }
                    if ev.shift_key() {
                        focus_next_editor(&name);
                    }
                }></textarea>
            {move || cell.progress.get().map(|(done, total, loss)| view! {
                <div class="progress-row">
                    <progress class="progress" max=total value=done></progress>
                    <span class="progress-text">{format!("{done}/{total}")}{loss.map(|l| format!(" · loss {l:.4}"))}</span>
                </div>
            })}
            {move || cell.message.get().map(|m| view! {
                <div class=move || if matches!(cell.status.get(), Status::Failed) { "cell-message error" } else { "cell-message" }>{m}</div>
            })}
            <div class="outputs">
                {move || {
                    let outputs = cell.outputs.get();
                    let logs: Vec<String> = outputs.iter().filter_map(|o| match o { Output::Log(t) => Some(t.clone()), _ => None }).collect();
                    let metrics: Vec<(String, f64)> = outputs.iter().filter_map(|o| match o { Output::Metric { name, value } => Some((name.clone(), *value)), _ => None }).collect();
                    let plots: Vec<(String, String)> = outputs.iter().filter_map(|o| match o { Output::Plot { key, svg } => Some((key.clone(), svg.clone())), _ => None }).collect();
                    view! {
                        {(!logs.is_empty()).then(|| view! { <pre class="log">{logs.join("\n")}</pre> })}
                        <div class="plots">{plots.into_iter().map(|(key, svg)| view! { <div class="plot" data-key=key inner_html=svg></div> }).collect_view()}</div>
                        {(!metrics.is_empty()).then(|| view! {
                            <table class="metrics"><tbody>
                                {metrics.into_iter().map(|(n, v)| view! { <tr><td>{n}</td><td class="num">{format!("{v:.6}")}</td></tr> }).collect_view()}
                            </tbody></table>
                        })}
                    }
                }}
            </div>
        </section>
    }
}
