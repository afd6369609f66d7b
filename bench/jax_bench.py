"""JAX (CPU, jit) side of the Odeon benchmarks; see docs/benchmarks.md.

The same workloads as crates/odeon-bench/src/workload.rs:
  * mlp_step: one Adam training step of a 2-256-256-256-2 SiLU MLP, MSE
    against fixed N(0, 1) targets on a fixed N(0, 1) batch of 1024, f32,
    PyTorch's init (W and b uniform in +-1/sqrt(fan_in)), Adam lr 1e-3,
    betas (0.9, 0.999), eps 1e-8 with bias correction (written out as in
    odeon_nn::Adam). The whole step (forward, value_and_grad, Adam) is one
    jax.jit'd function with the parameters and moments donated.
  * matmul: a jit'd 512x512 f32 product.
Median of --steps timed runs after --warmup untimed ones (the first warm-up
call compiles), each ended with block_until_ready. Prints one JSON line per
result.

The thread count is fixed before JAX is imported: the process is pinned to
the first N CPUs and, for N = 1, XLA's multi-threaded Eigen is turned off
and intra-op parallelism set to 1.
"""

import argparse
import json
import os
import statistics
import sys
import time


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bench", choices=["all", "mlp_step", "matmul"], default="all")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--matmul-runs", type=int, default=50)
    p.add_argument("--matmul-warmup", type=int, default=5)
    return p.parse_args()


def pin_threads(n):
    cpus = sorted(os.sched_getaffinity(0))
    if n > len(cpus):
        sys.exit(f"jax_bench: asked for {n} threads but only {len(cpus)} CPUs are available")
    os.sched_setaffinity(0, set(cpus[:n]))
    flags = [f"--xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'}", f"intra_op_parallelism_threads={n}"]
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", "")] + flags).strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def main():
    args = parse()
    pin_threads(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    assert jax.default_backend() == "cpu", jax.default_backend()
    common = {"threads": args.threads, "jax": jax.__version__, "xla_flags": os.environ["XLA_FLAGS"]}

    def emit(bench, times, warmup, **extra):
        line = {"impl": "jax-cpu-jit", "bench": bench, "median_ms": round(statistics.median(times), 4),
                "min_ms": round(min(times), 4), "runs": len(times), "warmup": warmup, **common, **extra}
        print(json.dumps(line), flush=True)

    def timed(f, warmup, runs):
        for _ in range(warmup):
            jax.block_until_ready(f())
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            jax.block_until_ready(f())
            times.append((time.perf_counter() - start) * 1e3)
        return times

    rng = np.random.default_rng(0)

    if args.bench in ("all", "mlp_step"):
        sizes, batch, lr, b1, b2, eps = [2, 256, 256, 256, 2], 1024, 1e-3, 0.9, 0.999, 1e-8
        params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / np.sqrt(fan_in)
            w = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)
            b = rng.uniform(-bound, bound, (1, fan_out)).astype(np.float32)
            params.append((jnp.asarray(w), jnp.asarray(b)))
        x = jnp.asarray(rng.standard_normal((batch, sizes[0]), dtype=np.float32))
        y = jnp.asarray(rng.standard_normal((batch, sizes[-1]), dtype=np.float32))

        def loss_fn(params, x, y):
            h = x
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                if i + 1 < len(params):
                    h = jax.nn.silu(h)
            return jnp.mean((h - y) ** 2)

        def train_step(params, m, v, t, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            t = t + 1.0
            m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
            v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
            c1, c2 = 1 - b1**t, 1 - b2**t
            params = jax.tree.map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v)
            return params, m, v, t, loss

        step = jax.jit(train_step, donate_argnums=(0, 1, 2))
        state = {
            "params": params,
            "m": jax.tree.map(jnp.zeros_like, params),
            "v": jax.tree.map(jnp.zeros_like, params),
            "t": jnp.float32(0.0),
        }
        losses = []

        def one_step():
            s = state
            s["params"], s["m"], s["v"], s["t"], loss = step(s["params"], s["m"], s["v"], s["t"], x, y)
            losses.append(loss)
            return loss

        times = timed(one_step, args.warmup, args.steps)
        first, last = float(losses[0]), float(losses[-1])
        if not (np.isfinite(first) and last < first):
            sys.exit(f"jax_bench: the loss did not fall ({first} -> {last})")
        emit("mlp_step", times, args.warmup, batch=batch, loss_first=round(first, 5), loss_last=round(last, 5))

    if args.bench in ("all", "matmul"):
        n = 512
        a = jnp.asarray(rng.standard_normal((n, n), dtype=np.float32))
        b = jnp.asarray(rng.standard_normal((n, n), dtype=np.float32))
        mm = jax.jit(lambda a, b: a @ b)
        times = timed(lambda: mm(a, b), args.matmul_warmup, args.matmul_runs)
        emit("matmul", times, args.matmul_warmup, n=n)


if __name__ == "__main__":
    main()
