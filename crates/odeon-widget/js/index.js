// @odeon/widget: Odeon notebook cells inline in a page, computed in a Web Worker.
//
//   import init, { mount } from '@odeon/widget';
//   await init();
//   const widget = mount(element, { notebook: 'rectified-flow', cell: 'sample', profile: 'ci' });
//
// This entry re-exports the wasm-bindgen module and gives `mount` the URL of
// the package's worker script, found next to this file. Bundlers that
// understand `new URL('…', import.meta.url)` (Vite, webpack 5, Parcel, esbuild
// with the asset loader) copy worker.js along; otherwise pass `workerUrl`.
import init, { mount as mountWith, Widget } from './odeon_widget.js';

const WORKER_URL = new URL('./worker.js', import.meta.url).href;

/**
 * Renders a widget into `element`: a Run button, a progress bar and the
 * outputs of `options.cell`. Throws (and shows why in the element) when the
 * options name no known notebook, cell or profile.
 */
export function mount(element, options) {
  return mountWith(element, { workerUrl: WORKER_URL, ...options });
}

export { Widget };
export default init;
