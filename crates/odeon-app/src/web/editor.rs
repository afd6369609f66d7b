//! The code editor of a cell: CodeMirror 6 (bundled from `editor/` into
//! `dist/editor.js`, which sets `window.OdeonEditor`) with a plain textarea
//! as the fallback when the bundle did not load. Both give the same keys:
//! Ctrl/Cmd+Enter runs the cell, Shift+Enter runs it and moves on.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

use super::window;

fn editor_factory() -> Option<js_sys::Function> {
    let api = js_sys::Reflect::get(&window(), &"OdeonEditor".into()).ok().filter(|v| v.is_object())?;
    js_sys::Reflect::get(&api, &"create".into()).ok()?.dyn_into::<js_sys::Function>().ok()
}

fn call_method(handle: &JsValue, name: &str, args: &[JsValue]) {
    if let Ok(f) = js_sys::Reflect::get(handle, &name.into()).and_then(|f| f.dyn_into::<js_sys::Function>()) {
        let _ = match args {
            [] => f.call0(handle),
            [a] => f.call1(handle, a),
            _ => Ok(JsValue::UNDEFINED),
        };
    }
}

/// Moves the keyboard focus to the editor of the cell after `name`.
pub(crate) fn focus_next_editor(name: &str) {
    let Some(document) = window().document() else { return };
    let Ok(cells) = document.query_selector_all(".notebook .cell") else { return };
    let mut found = false;
    for i in 0..cells.length() {
        let Some(cell) = cells.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) else { continue };
        if found {
            let target = cell.query_selector(".cm-content").ok().flatten().or_else(|| cell.query_selector("textarea.cell-editor").ok().flatten());
            if let Some(element) = target.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                let _ = element.focus();
            }
            return;
        }
        found = cell.get_attribute("data-cell").as_deref() == Some(name);
    }
}

/// An editor bound to `source`. `on_change` runs after every user edit;
/// `on_run(advance)` on Ctrl/Cmd+Enter (false) and Shift+Enter (true).
#[component]
pub(crate) fn CodeEditor(
    /// Accessible name of the text box, e.g. "Cell train".
    label: String,
    source: RwSignal<String>,
    on_change: impl Fn() + Copy + 'static,
    on_run: impl Fn(bool) + Copy + 'static,
) -> impl IntoView {
    let Some(create) = editor_factory() else {
        return textarea_editor(label, source, on_change, on_run).into_any();
    };
    let host = NodeRef::<html::Div>::new();
    let handle = StoredValue::new_local(None::<JsValue>);
    Effect::new(move |_| {
        let Some(parent) = host.get() else { return };
        if handle.with_value(Option::is_some) {
            return;
        }
        let callbacks = js_sys::Object::new();
        let changed = Closure::<dyn Fn(String)>::new(move |text: String| {
            source.set(text);
            on_change();
        });
        let run = Closure::<dyn Fn()>::new(move || on_run(false));
        let advance = Closure::<dyn Fn()>::new(move || on_run(true));
        let _ = js_sys::Reflect::set(&callbacks, &"onChange".into(), changed.as_ref());
        let _ = js_sys::Reflect::set(&callbacks, &"onRun".into(), run.as_ref());
        let _ = js_sys::Reflect::set(&callbacks, &"onRunAdvance".into(), advance.as_ref());
        let _ = js_sys::Reflect::set(&callbacks, &"ariaLabel".into(), &JsValue::from_str(&label));
        // The closures live as long as the page: editors are few and small.
        changed.forget();
        run.forget();
        advance.forget();
        match create.call3(&JsValue::NULL, &parent, &JsValue::from_str(&source.get_untracked()), &callbacks) {
            Ok(h) => handle.set_value(Some(h)),
            Err(err) => web_sys::console::error_2(&"odeon: the code editor failed to start".into(), &err),
        }
    });
    // Changes from outside (Reset) reach the editor; its own edits are no-ops.
    Effect::new(move |_| {
        let text = source.get();
        handle.with_value(|h| {
            if let Some(h) = h {
                call_method(h, "setDoc", &[JsValue::from_str(&text)]);
            }
        });
    });
    on_cleanup(move || {
        handle.with_value(|h| {
            if let Some(h) = h {
                call_method(h, "destroy", &[]);
            }
        })
    });
    view! { <div class="editor-host" node_ref=host></div> }.into_any()
}

fn textarea_editor(
    label: String,
    source: RwSignal<String>,
    on_change: impl Fn() + Copy + 'static,
    on_run: impl Fn(bool) + Copy + 'static,
) -> impl IntoView {
    let rows = move || source.with(|s| s.lines().count().max(1) + 1);
    view! {
        <textarea class="cell-editor" spellcheck="false" rows=rows aria-label=label
            prop:value=move || source.get()
            on:input=move |ev| { source.set(event_target_value(&ev)); on_change(); }
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                if ev.key() != "Enter" || !(ev.ctrl_key() || ev.meta_key() || ev.shift_key()) {
                    return;
                }
                ev.prevent_default();
                on_run(ev.shift_key());
            }></textarea>
    }
}
