#!/usr/bin/env python3
"""bpnet-lite's BPNet: PyTorch autograd against `deepresolve-mpi bench --model`, one command.

Builds bpnet-lite's `BPNet` at its default published size (64 filters, 8 dilated residual
layers, 2 profile strands, one-hot 4 x 2114 in; no control tracks, the ChromBPNet/accessibility
form, so the ONNX file has the one input `run` feeds) with seeded random weights, writes it as
ONNX, and times the same batched ascent step both ways on one thread:

    H = relu(iconv(x)), the first convolution's output (64 x 2114), requires grad;
    s_i = the chosen output of item i: `counts` (default), or `profile` strand i % 2 reduced
          over positions by --reduce;
    g = d(sum_i s_i)/dH (one backward); H += 0.01 (g - 2H)   -- `bench`'s step exactly.

Each batch is timed PyTorch, ours, PyTorch, ours, ... (--repeat pairs) so both see the same
load, and each figure is a best of 5 rounds of --steps steps, as `bench` reports. Needs
bpnet-lite (`pip install bpnet-lite --no-deps`, plus tangermeme, h5py, tqdm), torch, onnx.

    OPENBLAS_NUM_THREADS=1 /work/venv-torch/bin/python jobs/bench_bpnet.py /tmp/bpnet.onnx
    OPENBLAS_NUM_THREADS=1 /work/venv-torch/bin/python jobs/bench_bpnet.py /tmp/bpnet.onnx --output profile --reduce sum

Our side alone: `deepresolve-mpi bench --model /tmp/bpnet.onnx --layer /irelu/Relu_output_0
--output counts --batch 1,8,32` (the script prints the command it runs).
"""
import argparse
import os
import re
import subprocess
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

import torch  # noqa: E402

ROUNDS = 5  # as `bench`: the best of five rounds per figure


def build(length, filters, layers, seed):
    from bpnetlite import BPNet

    torch.manual_seed(seed)
    m = BPNet(n_filters=filters, n_layers=layers, n_outputs=2, n_control_tracks=0, verbose=False)
    m.eval()
    trim = m.trimming
    if length - 2 * trim <= 0:
        sys.exit(f"--length {length} leaves no profile positions after trimming {trim} each side")
    return m


def tail(m, h):
    """BPNet.forward from H = irelu(iconv(x)) on, as bpnet-lite writes it."""
    x = h
    for i in range(m.n_layers):
        x = torch.add(x, m.rrelus[i](m.rconvs[i](x)))
    start, end = m.trimming, h.shape[2] - m.trimming
    profile = m.fconv(x)[:, :, start:end]
    counts = m.linear(torch.mean(x[:, :, max(start - 37, 0):end + 37], dim=2)).reshape(x.shape[0], 1)
    return profile, counts


def torch_rate(m, h0, output, reduce, steps):
    b = h0.shape[0]
    h = h0.clone().requires_grad_(True)
    cls = torch.arange(b) % 2

    def step():
        profile, counts = tail(m, h)
        if output == "counts":
            s = counts[:, 0]
        else:
            p = profile[torch.arange(b), cls]
            s = {"sum": p.sum(1), "mean": p.mean(1), "max": p.max(1).values}[reduce]
        (g,) = torch.autograd.grad(s.sum(), h)
        with torch.no_grad():
            h.add_(0.01 * (g - 2.0 * h))

    step()  # warm-up
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - t0)
    return b * steps / best


def ours_rate(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr.strip()}")
    rates = re.findall(r"item_steps_per_s=([0-9.]+)", r.stdout)
    if not rates:
        sys.exit(f"no item_steps_per_s in the output of {' '.join(cmd)}:\n{r.stdout}")
    simd = re.findall(r"simd=(\S+)", r.stdout)
    return float(rates[-1]), (simd[-1] if simd else "?")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="where to write the ONNX file")
    p.add_argument("--bin", default="target/release/deepresolve-mpi")
    p.add_argument("--length", type=int, default=2114)
    p.add_argument("--filters", type=int, default=64)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--output", choices=["counts", "profile"], default="counts")
    p.add_argument("--reduce", choices=["sum", "mean", "max"], default="sum",
                   help="with --output profile: the reduction over its positions")
    p.add_argument("--batch", default="1,8,32")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeat", type=int, default=2, help="PyTorch/ours pairs per batch")
    p.add_argument("--conv", default="auto", help="ours: `bench --conv` (direct, fast, auto; auto is `run`'s default)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(1)
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        print("# note: OPENBLAS_NUM_THREADS is not 1; ours may use several threads", file=sys.stderr)

    m = build(a.length, a.filters, a.layers, a.seed)
    torch.onnx.export(
        m, torch.zeros(1, 4, a.length), a.out, input_names=["input"],
        output_names=["profile", "counts"], dynamic_axes={"input": {0: "N"}},
        opset_version=17, dynamo=False,
    )
    batches = [int(v) for v in a.batch.split(",")]
    print(f"# bpnet-lite BPNet({a.filters} filters, {a.layers} layers, 2 strands, no control) "
          f"in 4 x {a.length}, seed {a.seed}, written to {a.out}")
    print(f"# H = /irelu/Relu_output_0 ({a.filters} x {a.length}), output {a.output}"
          + (f", reduce {a.reduce}" if a.output == "profile" else "")
          + f"; best of {ROUNDS} rounds of {a.steps} steps; torch {torch.__version__}, 1 thread")
    cmd = [a.bin, "bench", "--model", a.out, "--layer", "/irelu/Relu_output_0", "--output", a.output,
           "--steps", str(a.steps), "--conv", a.conv]
    if a.output == "profile":
        cmd += ["--reduce", a.reduce]
    print("# ours: " + " ".join(cmd) + " --batch B")

    with torch.no_grad():
        g = torch.Generator().manual_seed(a.seed + 1)
        x = torch.zeros(max(batches), 4, a.length)
        x.scatter_(1, torch.randint(0, 4, (max(batches), 1, a.length), generator=g), 1.0)
        h_all = m.irelu(m.iconv(x))
    for b in batches:
        pt, us = [], []
        for _ in range(a.repeat):
            pt.append(torch_rate(m, h_all[:b], a.output, a.reduce, a.steps))
            r, simd = ours_rate(cmd + ["--batch", str(b)])
            us.append(r)
        best_pt, best_us = max(pt), max(us)
        print(f"batch={b} torch_item_steps_per_s={best_pt:.2f} ours_item_steps_per_s={best_us:.2f} "
              f"ratio={best_us / best_pt:.2f} simd={simd} "
              f"(each pair: {', '.join(f'{u:.1f}/{t:.1f}' for u, t in zip(us, pt))})")


if __name__ == "__main__":
    main()
