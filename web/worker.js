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

await init();
handle = new WorkerHandle();
for (const message of queue.splice(0)) dispatch(message);
