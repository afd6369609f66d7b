// The compute worker: loads odeon-worker's wasm and hands it every message.
// Messages that arrive while the wasm loads are queued, not lost.
import init, { WorkerHandle } from './pkg/odeon_worker.js';

let handle = null;
const queue = [];

function dispatch(message) {
  if (message && message.type === 'stop_buffer') {
    handle.set_stop_buffer(message.buffer);
  } else {
    handle.on_message(message);
  }
}

self.onmessage = (event) => {
  if (handle) dispatch(event.data); else queue.push(event.data);
};

// Browsers hide the adapter's name from wgpu's view; its vendor and
// architecture (e.g. "google swiftshader") are readable here and label it.
async function adapterLabel() {
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    const info = adapter?.info;
    if (!info) return undefined;
    return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || undefined;
  } catch {
    return undefined;
  }
}

const label = await adapterLabel();
await init();
handle = new WorkerHandle(label);
for (const message of queue.splice(0)) dispatch(message);
