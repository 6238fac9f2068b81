#!/usr/bin/env python3
"""Which GEMM library and kernel set is fastest on this CPU, at 1 thread, beside the one stheno runs.

Runs build/release/bench/stheno_gemm_choice once per candidate: OpenBLAS (the OpenMP build stheno
loads, at one thread) as it detects the CPU and with each kernel set the CPU can run (OPENBLAS_CORETYPE), BLIS and
oneDNN's sgemm where installed; and stheno's own matmul (build/release/bench/stheno_gemm_shapes),
which runs its register-blocked kernel or the library it chose (oneMKL, or OpenBLAS with the kernel set it chose); and
Intel's oneMKL (sequential) where scripts/setup.sh installed it into build/mkl. Prints a markdown table; GFLOP/s,
the best of 5 timings in each of --rounds rounds, the candidates taking turns within each round, so that a slow
minute of a shared machine does not fall on one column only.

Usage: bench/gemm_choice.py [--build build/release] [--rounds 5] [--out FILE.md]
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIB = Path("/usr/lib/x86_64-linux-gnu")
OPENBLAS = LIB / "openblas-openmp" / "libopenblas.so.0"
BLIS = LIB / "blis-openmp" / "libblis.so.4"
ONEDNN = LIB / "libdnnl.so.2"
MKL_DIR = ROOT / "build" / "mkl" / "lib"  # scripts/setup.sh installs PyPI's mkl wheel here
MKL = MKL_DIR / "libmkl_rt.so.3"
KERNEL_SETS = {"avx512": ["SkylakeX", "Cooperlake", "Haswell", "Zen"], "avx2": ["Haswell", "Zen"]}


def cpu_isa():
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    flags = set(flags.split())
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"} <= flags:
        return "avx512"
    return "avx2" if {"avx2", "fma"} <= flags else "older"


def cpu_model():
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "unknown CPU")


def measure(program, library, env_extra):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env.update(OMP_NUM_THREADS="1", **env_extra)
    result = subprocess.run([program] + ([str(library)] if library else []), capture_output=True, text=True, env=env)
    if result.returncode != 0:
        print(f"gemm_choice: {library} {env_extra}: {result.stderr.strip()}", file=sys.stderr)
        return None
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "build" / "release"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    program = str(Path(args.build) / "bench" / "stheno_gemm_choice")
    workloads = str(Path(args.build) / "bench" / "stheno_workloads")

    stheno = json.loads(subprocess.run([workloads, "--workload", "sgemm", "--threads", "1"], capture_output=True,
                                       text=True, check=True).stdout.splitlines()[-1])
    chosen = stheno["gemm_kernels"]
    candidates = [("OpenBLAS as detected", program, OPENBLAS, {})]
    candidates += [(f"OpenBLAS {k}", program, OPENBLAS, {"OPENBLAS_CORETYPE": k}) for k in KERNEL_SETS.get(cpu_isa(), [])]
    candidates += [(name, program, lib, {}) for name, lib in (("BLIS 0.9", BLIS), ("oneDNN sgemm", ONEDNN)) if lib.exists()]
    if MKL.exists():
        candidates.append(("oneMKL", program, MKL, {"MKL_THREADING_LAYER": "SEQUENTIAL", "LD_LIBRARY_PATH": str(MKL_DIR)}))
    candidates.append(("stheno matmul", str(Path(args.build) / "bench" / "stheno_gemm_shapes"), None, {}))
    columns = {}
    for _ in range(args.rounds):
        for name, prog, library, env in candidates:
            rows = measure(prog, library, env)
            if not rows:
                continue
            if name == "OpenBLAS as detected":
                name = f"{name} ({rows[0]['kernels']})"
            best = columns.setdefault(name, rows)
            for kept, row in zip(best, rows):
                kept["gflops"] = max(kept["gflops"], row["gflops"])
    stheno_column = "stheno matmul"
    runs = chosen if chosen.startswith("oneMKL") else f"OpenBLAS's {chosen}"
    names = list(columns)
    lines = [f"Machine: {cpu_model()} ({cpu_isa()}). One thread, GFLOP/s, best of {args.rounds} rounds of 5. stheno runs "
             f"{runs} kernels; its own matmul at 1024³: {stheno['gflops']:.1f} GFLOP/s.\n",
             "| m×k×n | " + " | ".join(names) + " | stheno ÷ best |",
             "|---" * (len(names) + 2) + "|"]
    for i, row in enumerate(columns[names[0]]):
        rates = {n: columns[n][i]["gflops"] for n in names}
        best = max(v for n, v in rates.items() if n != stheno_column)
        mine = rates.get(stheno_column)
        lines.append(f"| {row['shape']} | " + " | ".join(f"{rates[n]:.1f}" for n in names) +
                     f" | {f'{mine / best:.2f}' if mine else 'n/a'} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()
