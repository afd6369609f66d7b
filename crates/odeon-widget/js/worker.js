// @odeon/widget's compute worker: loads the package's wasm (the page sends
// its compiled WebAssembly.Module first) and hands every later message to a
// WidgetWorker, which runs the cells and posts outputs back. Messages that
// arrive while the wasm loads are queued.
import init, { WidgetWorker } from './odeon_widget.js';

let handle = null;
let loading = null;
const queue = [];

function fail(err) {
  self.postMessage({ type: 'widget_error', message: String(err?.message ?? err) });
}

function dispatch(message) {
  try {
    handle.on_message(message);
  } catch (err) {
    fail(err);
  }
}

async function load(module) {
  try {
    await init(module ? { module_or_path: module } : undefined);
    handle = new WidgetWorker();
    for (const message of queue.splice(0)) dispatch(message);
  } catch (err) {
    fail(err);
  }
}

self.onmessage = ({ data }) => {
  if (data && data.type === 'init') {
    loading ??= load(data.module);
  } else if (handle) {
    dispatch(data);
  } else {
    queue.push(data);
  }
};
