#!/usr/bin/env python3
"""The approach a user would otherwise write: batched DeepResolve ascent in numpy
(OpenBLAS), on the same DeepSEA-shaped weights as `deepresolve-mpi bench`.

    target/release/deepresolve-mpi bench --save-model /tmp/deepsea_tail.h5 --batch 1
    OPENBLAS_NUM_THREADS=1 python jobs/bench_numpy.py /tmp/deepsea_tail.h5 [--steps 3] [--job-classes 4 --job-restarts 8 --max-steps 100] [--conv direct,auto]

Prints per-step item_steps_per_s for batches 1, 8, 32 (the same line format as
`bench`; the best of --rounds rounds), then a whole job in fixed batches of 32 (a batch runs until its
slowest item stops; stopped items keep their slot), then runs the same job with
`deepresolve-mpi run` (one rank; once per --conv path) and prints the wall-time ratio.
Needs numpy and h5py.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


def load(path):
    with h5py.File(path, "r") as f:
        g = f["layers"]
        conv, d1, d2 = g["0000"], g["0002"], g["0003"]
        return dict(
            W=conv["kernel"][:], b=conv["bias"][:],
            K1=d1["kernel"][:], b1=d1["bias"][:],
            K2=d2["kernel"][:], b2=d2["bias"][:],
            shape=tuple(int(v) for v in f.attrs["input_shape"]),
        )


class Net:
    def __init__(self, m):
        self.W2 = np.ascontiguousarray(m["W"].reshape(m["W"].shape[0], -1))  # (F, C*k), index c*k + j
        self.F, self.C, self.k = m["W"].shape
        self.b, self.K1, self.b1, self.K2, self.b2 = m["b"], m["K1"], m["b1"], m["K2"], m["b2"]

    def score_grad(self, H, classes):
        B, C, L = H.shape
        k, F = self.k, self.F
        Lo = L - k + 1
        cols = np.lib.stride_tricks.sliding_window_view(H, k, axis=2)  # (B, C, Lo, k)
        cols = cols.transpose(0, 2, 1, 3).reshape(B * Lo, C * k)
        Z = cols @ self.W2.T + self.b  # (B*Lo, F)
        A = np.maximum(Z, 0)
        X = A.reshape(B, Lo, F).transpose(0, 2, 1).reshape(B, F * Lo)  # channel-major flatten
        Y = X @ self.K1.T + self.b1
        A1 = np.maximum(Y, 0)
        w2 = self.K2[classes]
        s = (A1 * w2).sum(1) + self.b2[classes]
        dA1 = w2 * (Y > 0)
        dX = dA1 @ self.K1  # (B, F*Lo)
        dZ = dX.reshape(B, F, Lo).transpose(0, 2, 1).reshape(B * Lo, F) * (Z > 0)
        dcols = (dZ @ self.W2).reshape(B, Lo, C, k)
        dH = np.zeros_like(H)
        for j in range(k):
            dH[:, :, j:j + Lo] += dcols[:, :, :, j].transpose(0, 2, 1)
        return s, dH


def lr_at(step, lr0=0.1, decay_start=500, alpha=0.2, min_lr=1e-6):
    return lr0 if step <= decay_start else max(lr0 * (step - decay_start) ** (-alpha), min_lr)


def per_step(net, shape, steps, rounds=1, batches=(1, 8, 32)):
    flops = 2 * (2 * (shape[1] - net.k + 1) * net.F * net.C * net.k + 2 * net.K1.size) + 4 * net.K1.shape[0]
    for B in batches:
        rng = np.random.default_rng(B)
        H = rng.standard_normal((B, *shape), dtype=np.float32)
        cls = np.arange(B) % net.K2.shape[0]
        net.score_grad(H, cls)
        rate = 0.0
        for _ in range(rounds):
            t = time.perf_counter()
            for _ in range(steps):
                s, g = net.score_grad(H, cls)
                H += 0.01 * (g - 2 * H)
            rate = max(rate, B * steps / (time.perf_counter() - t))
        print(f"numpy batch={B} item_steps_per_s={rate:.2f} gflops={rate * flops / 1e9:.2f}", flush=True)


def fixed_batch_job(net, shape, classes, restarts, max_steps, patience=10, lam=1.0, batch=32):
    items = [(c, t) for c in range(classes) for t in range(restarts)]
    useful = computed = 0
    t0 = time.perf_counter()
    for i0 in range(0, len(items), batch):
        chunk = items[i0:i0 + batch]
        B = len(chunk)
        H = np.random.default_rng(i0).standard_normal((B, *shape), dtype=np.float32)
        cls = np.array([c for c, _ in chunk])
        best = np.full(B, -np.inf)
        since = np.zeros(B, int)
        active = np.ones(B, bool)
        step = 0
        while active.any():
            s, g = net.score_grad(H, cls)
            computed += B
            useful += int(active.sum())
            obj = s - lam * (H.astype(np.float64) ** 2).sum((1, 2))
            better = obj > best
            best = np.where(better & active, obj, best)
            since = np.where(better, 0, since + 1)
            active &= ~((since >= patience) | (step >= max_steps))
            step += 1
            H += lr_at(step) * (g - 2 * lam * H)
    return time.perf_counter() - t0, useful, computed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1, help="per-step rounds per batch; the best is printed")
    ap.add_argument("--batch", default="1,8,32")
    ap.add_argument("--no-job", action="store_true", help="per-step figures only")
    ap.add_argument("--job-classes", type=int, default=4)
    ap.add_argument("--job-restarts", type=int, default=8)
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--bin", default="target/release/deepresolve-mpi")
    ap.add_argument("--conv", default="auto", help="deepresolve-mpi --conv paths to run the job with, comma-separated")
    a = ap.parse_args()
    m = load(a.model)
    net = Net(m)
    shape = m["shape"]
    per_step(net, shape, a.steps, a.rounds, [int(v) for v in a.batch.split(",")])
    if a.no_job:
        return 0
    wall, useful, computed = fixed_batch_job(net, shape, a.job_classes, a.job_restarts, a.max_steps)
    print(f"numpy fixed-batch job: wall_s={wall:.1f} useful_item_steps={useful} computed_item_steps={computed} "
          f"useful_item_steps_per_s={useful / wall:.2f}", flush=True)
    for conv in a.conv.split(","):
        out = os.path.join(tempfile.mkdtemp(), "job.h5")
        cmd = [a.bin, "run", "--model", a.model, "--layer", "0", "--out", out, "--classes", f"0-{a.job_classes - 1}",
               "--restarts", str(a.job_restarts), "--max-steps", str(a.max_steps), "--conv", conv, "--quiet"]
        t = time.perf_counter()
        subprocess.run(cmd, check=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        ours = time.perf_counter() - t
        with h5py.File(out, "r") as f:
            steps = int((f["ascent/steps"][:].astype(np.int64) + 1).sum())
        print(f"deepresolve-mpi job (--conv {conv}): wall_s={ours:.1f} item_steps={steps} item_steps_per_s={steps / ours:.2f}")
        print(f"ratio numpy_wall / deepresolve_wall (--conv {conv}) = {wall / ours:.2f}", flush=True)

if __name__ == "__main__":
    sys.exit(main())
