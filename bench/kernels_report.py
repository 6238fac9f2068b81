#!/usr/bin/env python3
"""Runs stheno's kernel benchmarks and numpy's on the same machine in one go and prints a
markdown table of rates and stheno/numpy ratios.

usage: bench/kernels_report.py BUILD_DIR [--quick]
"""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def stheno_results(build, quick):
    cmd = [str(Path(build) / "bench" / "stheno_bench_kernels"), "--benchmark_format=json"]
    if quick:
        cmd += ["--benchmark_min_time=0.01", "--benchmark_filter=sgemm/m:10/|add_f32/n:4096/"]
    else:
        cmd += ["--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"]
    data = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    out = {}
    for b in data["benchmarks"]:
        if quick:
            if b.get("run_type") != "iteration":
                continue
        elif b.get("aggregate_name") != "median":
            continue
        name = b["run_name"]  # e.g. sgemm/m:10/k:784/n:30/threads:1/real_time
        parts = dict(p.split(":") for p in name.split("/")[1:] if ":" in p)
        kernel = name.split("/")[0]
        threads = int(parts.get("threads", 1))
        if kernel in ("sgemm", "dgemm"):
            key = f"{kernel}/{parts['m']}x{parts['k']}x{parts['n']}"
            rate = b["GFLOP/s"]
        else:
            key = f"{kernel}/{parts['n']}"
            rate = b["GB/s"]
        out[(key, threads)] = rate
    return out


def numpy_results(threads, quick):
    if quick:
        return {}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    run = subprocess.run(["/usr/bin/python3", str(HERE / "numpy_kernels.py")], check=True, capture_output=True,
                         text=True, env=env)
    return {(k, threads): v for k, v in json.loads(run.stdout).items()}


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build/release"
    quick = "--quick" in sys.argv
    ours = stheno_results(build, quick)
    theirs = {}
    for threads in (1, 2):
        theirs.update(numpy_results(threads, quick))
    np_version = subprocess.run(["/usr/bin/python3", "-c", "import numpy; print(numpy.__version__)"],
                                capture_output=True, text=True).stdout.strip()
    print(f"Machine: {cpu_model()}, {os.cpu_count()} cores; numpy {np_version or 'missing'}; "
          "medians of 3 repetitions for stheno, best of 3 for numpy.\n")
    print("| kernel | shape | threads | unit | stheno | numpy | stheno / numpy |")
    print("|---|---|---|---|---|---|---|")
    for (key, threads), rate in sorted(ours.items(), key=lambda kv: (kv[0][0].split("/")[0], kv[0][1])):
        kernel, shape = key.split("/")
        unit = "GFLOP/s" if "gemm" in kernel else "GB/s"
        other = theirs.get((key, threads))
        ratio = f"{rate / other:.2f}" if other else "n/a"
        other_s = f"{other:.1f}" if other else "n/a"
        print(f"| {kernel} | {shape} | {threads} | {unit} | {rate:.1f} | {other_s} | {ratio} |")


if __name__ == "__main__":
    main()
