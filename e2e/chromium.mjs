// How Odeon's browser tests and the load benchmark start Chromium: Debian's
// /usr/bin/chromium (override with ODEON_CHROMIUM), WebGPU enabled, and the
// browser's own network traffic off so timings and byte counts are ours.
// Dependency-free, so scripts outside e2e/ (bench/load_bench.mjs) can import
// it without e2e's node_modules.

/** Path of the Chromium binary (override with ODEON_CHROMIUM). */
export const CHROMIUM = process.env.ODEON_CHROMIUM || '/usr/bin/chromium';

/** Command-line flags of every launch. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
