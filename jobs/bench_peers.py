#!/usr/bin/env python3
"""The DeepSEA-tail per-step comparison in one command: `deepresolve-mpi bench`
on every kernel path this CPU has, then numpy (jobs/bench_numpy.py), PyTorch and
JAX (jobs/bench_autograd.py) on the same saved weights, one thread each, all
pinned to one core (taskset),
alternating for --rounds rounds; prints a markdown table of the best figure of
each program at each batch and ours ÷ the best peer.

    OPENBLAS_NUM_THREADS=1 python jobs/bench_peers.py [--rounds 2] [--model /tmp/deepsea_tail.h5]

A peer whose framework does not import is left out with the reason. Needs numpy
and h5py; torch and jax where they are installed.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LINE = re.compile(r"batch=(\d+) item_steps_per_s=([\d.]+)")


def cpu_paths():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        flags = ""
    return ["avx512", "avx2"] if " avx512f" in flags else ["avx2"]


def run(cmd, env, cpu):
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
    return r.stdout, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/deepresolve-mpi")
    ap.add_argument("--model", default="/tmp/deepsea_tail.h5")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--cpu", default="last",
                    help="the one core every program is pinned to (taskset): a number, `last`, or `none`")
    a = ap.parse_args()
    # One thread is not one core: XLA's runtime spreads a jitted step over
    # every core it sees whatever its flags (JAX at batch 32 here: 125
    # item-steps/s unpinned at 119% CPU, 64 pinned), so each program is pinned.
    if a.cpu == "none" or not shutil.which("taskset"):
        cpu = None
    elif a.cpu == "last":
        cpu = max(os.sched_getaffinity(0))
    else:
        cpu = int(a.cpu)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    if not os.path.exists(a.model):
        out, err = run([a.bin, "bench", "--save-model", a.model, "--batch", "1"], env, None)
        if err:
            sys.exit(f"bench_peers: could not save the model: {err}")
    paths = cpu_paths()
    best = {}  # (program, batch) -> rate

    def keep(name, b, rate):
        best[(name, b)] = max(best.get((name, b), 0.0), rate)

    skipped = {}
    for r in range(a.rounds):
        print(f"# round {r + 1} of {a.rounds}", file=sys.stderr, flush=True)
        out, err = run([a.bin, "bench", "--batch", "1,8,32", "--steps", str(a.steps), "--conv", "direct,fast",
                        "--simd", ",".join(paths)], env, cpu)
        if err:
            sys.exit(f"bench_peers: deepresolve-mpi bench failed: {err}")
        for line in out.splitlines():
            m, s = LINE.search(line), re.search(r"conv=(\w+).* simd=(\w+)", line)
            if m and s:
                keep(f"ours {s.group(2)}", int(m.group(1)), float(m.group(2)))
                keep(f"ours {s.group(2)} {s.group(1)}", int(m.group(1)), float(m.group(2)))
        peers = [("numpy", [sys.executable, os.path.join(HERE, "bench_numpy.py"), a.model, "--no-job",
                            "--rounds", "5", "--steps", str(a.steps)])]
        for fw in ("torch", "jax"):
            peers.append((fw, [sys.executable, os.path.join(HERE, "bench_autograd.py"), a.model,
                               "--framework", fw, "--steps", str(a.steps)]))
        for name, cmd in peers:
            if name in skipped:
                continue
            out, err = run(cmd, env, cpu)
            if err:
                skipped[name] = err
                continue
            for line in out.splitlines():
                m = LINE.search(line)
                if m:
                    keep(name, int(m.group(1)), float(m.group(2)))
    peers = [p for p in ("numpy", "torch", "jax") if p not in skipped]
    cols = [f"ours {p}" for p in paths] + peers
    print("| batch | " + " | ".join(cols) + " | ours ÷ best peer |")
    print("|---" * (len(cols) + 2) + "|")
    for b in (1, 8, 32):
        ours = best.get((f"ours {paths[0]}", b), 0.0)
        way = max(("direct", "fast"), key=lambda c: best.get((f"ours {paths[0]} {c}", b), 0.0))
        peer = max((best.get((p, b), 0.0) for p in peers), default=0.0)
        cells = [f"{ours:.1f} ({way})"] + [f"{best.get((c, b), 0.0):.1f}" for c in cols[1:]]
        ratio = f"{ours / peer:.2f}×" if peer else "n/a"
        print(f"| {b} | " + " | ".join(cells) + f" | {ratio} |")
    for name, why in skipped.items():
        print(f"# {name} left out: {why}")
    pin = f"pinned to CPU {cpu}" if cpu is not None else "not pinned"
    print(f"# one thread each, {pin}; best of {a.rounds} alternating rounds; kernel paths: {', '.join(paths)}")


if __name__ == "__main__":
    main()
