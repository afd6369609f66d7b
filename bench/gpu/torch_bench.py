"""PyTorch CUDA fp32 peer for `odeon-bench --bench gpu` (the WebGPU issue).

Same workloads, same JSON lines: matmul GFLOP/s for n in 128..4096 and the
benchmark MLP step (2-256-256-256-2, SiLU, MSE, Adam lr 1e-3) at batch 4096
and 65536. TF32 is switched off so fp32 means fp32. Each timed run ends with
torch.cuda.synchronize(), like Odeon's timed runs end with a read.

Run on the GPU machine with bench/gpu/device_run.sh.
"""
import json
import statistics
import sys
import time

import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
dev = torch.device("cuda")
name = torch.cuda.get_device_name(0)


def timed(f, budget_s=3.0):
    f()
    torch.cuda.synchronize()
    times, start = [], time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget_s and len(times) < 20):
        t = time.perf_counter()
        f()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), len(times)


def emit(bench, size, ms, flops, runs):
    print(json.dumps({"impl": "pytorch-cuda-fp32", "backend": "gpu", "adapter": name, "bench": bench,
                      "size": size, "median_ms": round(ms, 4), "gflops": round(flops / ms / 1e6, 2), "runs": runs}))
    sys.stdout.flush()


for n in [128, 256, 512, 1024, 2048, 4096]:
    g = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, device=dev, generator=g)
    b = torch.randn(n, n, device=dev, generator=g)
    ms, runs = timed(lambda: a @ b)
    emit("matmul", n, ms, 2.0 * n ** 3, runs)

sizes = [2, 256, 256, 256, 2]
for batch in [4096, 65536]:
    torch.manual_seed(0)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(torch.nn.SiLU())
    model = torch.nn.Sequential(*layers).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 2, device=dev)
    y = torch.randn(batch, 2, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    ms, runs = timed(step)
    flops = sum(6.0 * batch * i * o for i, o in zip(sizes[:-1], sizes[1:]))
    emit("mlp_step", batch, ms, flops, runs)
