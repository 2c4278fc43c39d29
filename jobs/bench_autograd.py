#!/usr/bin/env python3
"""The framework peers: the same per-step DeepResolve ascent as jobs/bench_numpy.py, on the same
DeepSEA-shaped weights, written with PyTorch autograd or a jitted JAX gradient, on one core.

    target/release/deepresolve-mpi bench --save-model /tmp/deepsea_tail.h5 --batch 1
    OPENBLAS_NUM_THREADS=1 python jobs/bench_autograd.py /tmp/deepsea_tail.h5 --framework torch [--steps 3]
    OPENBLAS_NUM_THREADS=1 python jobs/bench_autograd.py /tmp/deepsea_tail.h5 --framework jax

Prints one line per batch (1, 8, 32) in `bench`'s format: best of --rounds rounds of --steps steps.
A step is the score of each item's class (the last Dense row, pre-activation), its gradient with
respect to H, and the update H += 0.01 (g - 2H), as in the numpy peer. Needs h5py and the framework.
"""
import argparse
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from bench_numpy import load  # the same weights, read the same way


def torch_step(m):
    import torch
    torch.set_num_threads(1)
    W, b = torch.from_numpy(m["W"]), torch.from_numpy(m["b"])
    K1, b1 = torch.from_numpy(m["K1"]), torch.from_numpy(m["b1"])
    K2, b2 = torch.from_numpy(m["K2"]), torch.from_numpy(m["b2"])

    def step(H, cls):
        H = torch.from_numpy(H).requires_grad_(True)
        a = torch.relu(torch.nn.functional.conv1d(H, W, b))
        y = torch.relu(a.flatten(1) @ K1.T + b1)
        s = (y * K2[cls]).sum(1) + b2[cls]
        (g,) = torch.autograd.grad(s.sum(), H)
        with torch.no_grad():
            return (H + 0.01 * (g - 2 * H)).numpy()

    def prep(cls):
        return torch.from_numpy(cls)

    return step, prep, f"torch {torch.__version__}"


def jax_step(m):
    import jax
    import jax.numpy as jnp
    W, b, K1, b1, K2, b2 = (jnp.asarray(m[k]) for k in ("W", "b", "K1", "b1", "K2", "b2"))

    def score(H, cls):
        a = jax.lax.conv_general_dilated(H, W, (1,), "VALID", dimension_numbers=("NCH", "OIH", "NCH"))
        a = jax.nn.relu(a + b[None, :, None])
        y = jax.nn.relu(a.reshape(a.shape[0], -1) @ K1.T + b1)
        return ((y * K2[cls]).sum(1) + b2[cls]).sum()

    grad = jax.grad(score)

    @jax.jit
    def update(H, cls):
        return H + 0.01 * (grad(H, cls) - 2 * H)

    def step(H, cls):
        return update(H, cls).block_until_ready()

    def prep(cls):
        return jnp.asarray(cls)

    return step, prep, f"jax {jax.__version__} ({jax.default_backend()})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--framework", choices=["torch", "jax"], required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", default="1,8,32")
    a = ap.parse_args()
    m = load(a.model)
    step, prep, name = (torch_step if a.framework == "torch" else jax_step)(m)
    F, C, k = m["W"].shape
    L = m["shape"][1]
    flops = 2 * (2 * (L - k + 1) * F * C * k + 2 * m["K1"].size) + 4 * m["K1"].shape[0]
    print(f"# {name}, one thread", flush=True)
    for B in (int(v) for v in a.batch.split(",")):
        H = np.random.default_rng(B).standard_normal((B, *m["shape"]), dtype=np.float32)
        cls = prep(np.arange(B) % m["K2"].shape[0])
        H = step(H, cls)  # compile / warm up
        best = 0.0
        for _ in range(a.rounds):
            t = time.perf_counter()
            for _ in range(a.steps):
                H = step(np.asarray(H), cls)
            best = max(best, B * a.steps / (time.perf_counter() - t))
        print(f"{a.framework} batch={B} item_steps_per_s={best:.2f} gflops={best * flops / 1e9:.2f}", flush=True)


if __name__ == "__main__":
    main()
