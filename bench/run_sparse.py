#!/usr/bin/env python3
"""Sparse benchmarks, stheno beside PyTorch (Debian's python3-torch and, where
scripts/setup-bench.sh --pypi made build/bench-venv, current PyTorch from PyPI) and beside the
dense product of the same matrices (stheno's matmul on OpenBLAS), in one run. Prints markdown
tables: S1, two products at density 0.04; a density sweep that shows where the sparse product
stops beating the dense one (milliseconds per product, medians); and S2, training steps per
second of a bag-of-words classifier (50,000 features, 0.4% stored, batch 128, 128 hidden units,
20 classes) with row-sparse and dense table gradients, beside PyTorch's nn.EmbeddingBag with
sparse gradients and its dense nn.Linear.

Usage: bench/run_sparse.py [--build build/release] [--threads 1] [--runs 3] [--quick] [--out FILE.md]
(--quick: small products, to check that everything runs)
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from gemm_choice import cpu_model  # bench/ is on the path: it is this script's directory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PYTHON = ROOT / "build" / "bench-venv" / "bin" / "python"
S1 = [(4096, 16384, 64), (1000, 50000, 128)]
S2 = {"features": 50000, "density": 0.004, "batch": 128, "hidden": 128, "classes": 20, "steps": 200}
SWEEP_SHAPE = (4096, 16384, 64)
SWEEP_DENSITIES = (0.001, 0.004, 0.01, 0.04, 0.1, 0.2, 0.3, 0.5)


def run(command, shape, density, threads, dense=False):
    rows, cols, n = shape
    args = command + ["--rows", str(rows), "--cols", str(cols), "--n", str(n), "--density", str(density),
                      "--threads", str(threads)] + (["--dense"] if dense else [])
    env = {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        print(f"run_sparse: {' '.join(args)}: {result.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def median_of(command, shape, density, threads, runs, dense=False):
    results = [r for r in (run(command, shape, density, threads, dense) for _ in range(runs)) if r]
    if not results:
        return None
    out = dict(results[0])
    for key in ("sparse_ms", "dense_ms"):
        out[key] = statistics.median(r[key] for r in results)
    return out


def training_run(command, threads, extra):
    args = command + [a for key, value in S2.items() for a in (f"--{key}", str(value))]
    args += ["--threads", str(threads)] + extra
    env = {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        print(f"run_sparse: {' '.join(args)}: {result.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def best_of(command, threads, runs, extra):
    """The fastest of `runs` processes: steps per second is a throughput, and a slower run is noise."""
    results = [r for r in (training_run(command, threads, extra) for _ in range(runs)) if r]
    return max(results, key=lambda r: r["steps_per_s"]) if results else None


def s2_table(args):
    stheno = [str(Path(args.build) / "bench" / "stheno_sparse_training")]
    script = str(HERE / "peers" / "pytorch_sparse_training.py")
    peers = {"PyTorch 1.13 (Debian)": ["/usr/bin/python3", script]}
    if VENV_PYTHON.exists():
        peers["PyTorch (PyPI)"] = [str(VENV_PYTHON), script]
    s2 = S2
    lines = ["", f"S2: training steps per second ({s2['features']:,} features, {100 * s2['density']:g}% stored, "
             f"batch {s2['batch']}, {s2['hidden']} hidden, {s2['classes']} classes, SGD; best of {args.runs} "
             f"processes of {s2['steps']} steps):", "",
             "| model | steps/s | allocations per step | stheno (row-sparse) ÷ this |", "|---|---|---|---|"]
    runs = [("stheno, EmbeddingBag, row-sparse gradient", stheno, ["--gradient", "rows"]),
            ("stheno, EmbeddingBag, dense gradient", stheno, ["--gradient", "dense"])]
    for name, command in peers.items():
        runs += [(f"{name}, EmbeddingBag(sparse=True)", command, ["--form", "embedding_bag"]),
                 (f"{name}, dense Linear", command, ["--form", "dense"])]
    results = [(name, best_of(command, args.threads, args.runs, extra)) for name, command, extra in runs]
    mine = results[0][1]
    for name, r in results:
        if not r:
            lines.append(f"| {name} | n/a | | |")
            continue
        allocations = r.get("allocations_per_step")
        cell = "" if "allocations_per_step" not in r else ("not counted" if allocations is None else f"{allocations:g}")
        ratio = f"{mine['steps_per_s'] / r['steps_per_s']:.2f}" if mine else "n/a"
        lines.append(f"| {name} | {r['steps_per_s']:.1f} | {cell} | {ratio} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "build" / "release"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    global S1, S2, SWEEP_SHAPE, SWEEP_DENSITIES
    if args.quick:
        S1, SWEEP_SHAPE, SWEEP_DENSITIES = [(64, 512, 16), (32, 1000, 8)], (64, 512, 16), (0.01, 0.2)
        S2 = dict(S2, features=2000, batch=16, hidden=16, steps=20)
    stheno = [str(Path(args.build) / "bench" / "stheno_sparse_products")]
    peers = {"PyTorch 1.13 (Debian)": ["/usr/bin/python3", str(HERE / "peers" / "pytorch_sparse.py")]}
    if VENV_PYTHON.exists():
        peers["PyTorch (PyPI)"] = [str(VENV_PYTHON), str(HERE / "peers" / "pytorch_sparse.py")]
    lines = [f"Machine: {cpu_model()}, {args.threads} thread(s), float32, milliseconds per product "
             f"(median of {args.runs} processes, each the median of 7 products).", ""]
    lines += ["| product | stheno CSR | stheno dense (OpenBLAS) | " + " | ".join(f"{p} CSR" for p in peers) +
              " | stheno ÷ best peer |", "|---" * (3 + len(peers)) + "|---|"]
    for shape in S1:
        mine = median_of(stheno, shape, 0.04, args.threads, args.runs, dense=True)
        theirs = {name: median_of(cmd, shape, 0.04, args.threads, args.runs) for name, cmd in peers.items()}
        best = min((r["sparse_ms"] for r in theirs.values() if r), default=None)
        cells = [f"{theirs[p]['sparse_ms']:.1f}" if theirs[p] else "n/a" for p in peers]
        speedup = f"{best / mine['sparse_ms']:.2f}× faster" if mine and best else "n/a"
        lines.append(f"| {shape[0]}×{shape[1]} · {shape[1]}×{shape[2]}, 4% | {mine['sparse_ms']:.1f} | "
                     f"{mine['dense_ms']:.1f} | " + " | ".join(cells) + f" | {speedup} |")
    rows, cols, n = SWEEP_SHAPE
    lines += ["", f"Density sweep, {rows}×{cols} · {cols}×{n}:", "",
              "| density | stored entries | stheno CSR | stheno dense | dense ÷ CSR |", "|---|---|---|---|---|"]
    dense_ms = None
    for density in SWEEP_DENSITIES:
        r = median_of(stheno, SWEEP_SHAPE, density, args.threads, 1, dense=dense_ms is None)
        if not r:
            continue
        dense_ms = dense_ms or r["dense_ms"]
        lines.append(f"| {100 * density:g}% | {r['nnz']:,} | {r['sparse_ms']:.1f} | {dense_ms:.1f} | "
                     f"{dense_ms / r['sparse_ms']:.2f} |")
    lines += s2_table(args)
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
