//! The worker side: `js/worker.js` loads this same wasm in a dedicated
//! worker and hands every message to a [`WidgetWorker`], which runs the
//! cells in a fresh `Session` and posts [`FromWorker`] messages back.

use odeon_notebook::protocol::{FromWorker, ToWorker};
use odeon_notebook::runtime::{Host, Session};
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn post(message: &FromWorker) {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    if let Ok(value) = message.serialize(&serializer) {
        let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.post_message(&value);
    }
}

/// Internal: the widget's worker, driven by the package's `worker.js`.
#[wasm_bindgen]
pub struct WidgetWorker {
    _private: (),
}

#[wasm_bindgen]
impl WidgetWorker {
    /// Starts the worker side and says so.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> WidgetWorker {
        console_error_panic_hook::set_once();
        post(&FromWorker::Ready);
        WidgetWorker { _private: () }
    }

    /// Handles one message from the page (a `ToWorker`).
    pub fn on_message(&mut self, message: JsValue) -> Result<(), JsError> {
        let message: ToWorker =
            serde_wasm_bindgen::from_value(message).map_err(|e| JsError::new(&format!("unreadable message: {e}")))?;
        let ToWorker::Run { run_id, cells, seed, profile, .. } = message else {
            return Err(JsError::new("the widget's worker only runs cells"));
        };
        // Every run starts from scratch: the widget runs all cells up to the shown one.
        let mut session = Session::new(seed, &profile);
        for cell in cells {
            post(&FromWorker::CellStarted { run_id, cell: cell.name.clone() });
            let start = js_sys::Date::now();
            let name = cell.name.clone();
            let host = Host {
                emit: Box::new(move |event| post(&FromWorker::Output { run_id, cell: name.clone(), event })),
                // Stop terminates this worker, so nothing is polled.
                should_stop: Box::new(|| false),
            };
            let result = session.run_cell(&cell.source, host);
            let error = result.as_ref().err().map(ToString::to_string);
            let failed = error.is_some();
            post(&FromWorker::CellFinished { run_id, cell: cell.name, error, stopped: false, millis: js_sys::Date::now() - start });
            if failed {
                break;
            }
        }
        post(&FromWorker::RunFinished { run_id });
        Ok(())
    }
}
