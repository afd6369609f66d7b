// Shared by the browser benchmarks: seeded data, the workload's constants,
// and the timing loop. Works in the browser and in Node.

export const SIZES = [2, 256, 256, 256, 2];
export const BATCH = 1024;
export const LR = 1e-3;
export const BETA1 = 0.9;
export const BETA2 = 0.999;
export const EPS = 1e-8;
export const MATMUL_N = 512;

/** A seeded generator of uniform [0, 1) floats (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniformArray(next, n, low, high) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = low + (high - low) * next();
  return out;
}

export function normalArray(next, n) {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - next();
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

/**
 * The benchmark data, identical for every JS implementation: PyTorch's init
 * (W [in, out] and b [out] uniform in +-1/sqrt(in)), a fixed N(0, 1) batch x
 * [BATCH, 2] and fixed N(0, 1) targets y [BATCH, 2], and two N(0, 1)
 * n x n matrices (default MATMUL_N; drawn last, so n changes nothing else).
 */
export function makeData(seed = 0, n = MATMUL_N) {
  const next = rng(seed);
  const layers = [];
  for (let i = 0; i + 1 < SIZES.length; i++) {
    const [fanIn, fanOut] = [SIZES[i], SIZES[i + 1]];
    const bound = 1 / Math.sqrt(fanIn);
    layers.push({
      shapeW: [fanIn, fanOut],
      w: uniformArray(next, fanIn * fanOut, -bound, bound),
      b: uniformArray(next, fanOut, -bound, bound),
    });
  }
  const x = normalArray(next, BATCH * SIZES[0]);
  const y = normalArray(next, BATCH * SIZES[SIZES.length - 1]);
  const a = normalArray(next, n * n);
  const b = normalArray(next, n * n);
  return { layers, x, y, a, b };
}

/** Element [0, 0] of the product of two row-major n x n matrices, in f64. */
export function corner(a, b, n) {
  let sum = 0;
  for (let k = 0; k < n; k++) sum += a[k] * b[k * n];
  return sum;
}

/**
 * Runs `f` (sync or async, returning a number) `warmup` times, then `runs`
 * timed times; returns the per-run milliseconds.
 */
export async function timeRuns(warmup, runs, f) {
  let sink = 0;
  for (let i = 0; i < warmup; i++) sink += await f();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    sink += await f();
    times.push(performance.now() - start);
  }
  globalThis.__benchSink = sink;
  return times;
}

export function median(values) {
  const s = [...values].sort((p, q) => p - q);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : 0.5 * (s[mid - 1] + s[mid]);
}
