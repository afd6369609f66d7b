// Types of @odeon/widget's entry (index.js).
import init, { Widget } from './odeon_widget.js';

/** Options of {@link mount}. */
export interface MountOptions {
  /** A shipped notebook id (e.g. "rectified-flow") or a notebook's Markdown text. */
  notebook: string;
  /** The cell whose outputs are shown; every cell up to it runs. Default: the last cell. */
  cell?: string;
  /** "ci" (small, fast), "default" or "big". Default: "default". */
  profile?: 'ci' | 'default' | 'big';
  /** Run at once instead of waiting for the Run button. */
  autorun?: boolean;
  /** URL of the package's worker.js; set by default to the one next to this file. */
  workerUrl?: string;
  /** Base URL of an Odeon playground: adds an "Open in Odeon" link. */
  app?: string;
}

/** Renders a widget into `element`; throws when the options are wrong. */
export function mount(element: HTMLElement, options: MountOptions): Widget;

export { Widget };
export default init;
