#!/usr/bin/env python3
"""W5: inference latency at batch 1 on one thread, stheno beside onnxruntime on the same ONNX file.

    /usr/bin/python3 bench/run_latency.py [--calls 10000] [--rounds 3] [--quick]

stheno_onnx_latency writes the MLP (784-256-10) and the CLI's CNN as ONNX and times stheno's
compiled program on them (and the program it builds from its own file); then onnxruntime runs
each file (bench/peers/onnxruntime_latency.py, in build/onnx-venv, which scripts/setup.sh makes),
and libtorch runs the same networks (bench/peers/libtorch_latency.cpp, in build/bench-peers, which
bench/run_workloads.py builds; left out where it is missing).
Rounds alternate between the two, and the table shows the median round's p50 and p99, and
onnxruntime's p50 over stheno's (above 1: stheno answers sooner).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def lines(command):
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{out.stdout}{out.stderr}")
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "build" / "release"))
    parser.add_argument("--python", default=str(ROOT / "build" / "onnx-venv" / "bin" / "python"))
    parser.add_argument("--peers", default=str(ROOT / "build" / "bench-peers"), help="build directory of the C++ peers")
    parser.add_argument("--calls", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 calls, 1 round: checks that everything runs")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.rounds = 300, 1
    stheno = Path(args.build) / "bench" / "stheno_onnx_latency"
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.rounds):
            for r in lines([stheno, work, "--calls", str(args.calls)]):
                results.setdefault((r["model"], r["form"]), []).append(r)
            if os.path.exists(args.python):
                for model in ("mlp", "cnn"):
                    for r in lines([args.python, ROOT / "bench" / "peers" / "onnxruntime_latency.py", f"{work}/{model}.onnx", model,
                                    "--calls", str(args.calls)]):
                        results.setdefault((r["model"], r["form"]), []).append(r)
            libtorch = Path(args.peers) / "libtorch_latency"
            if libtorch.exists():
                for r in lines([libtorch, "--calls", str(args.calls)]):
                    results.setdefault((r["model"], r["form"]), []).append(r)
    print(f"W5, batch 1, one thread, {args.calls} calls per round, median of {args.rounds} round(s); CPU: {cpu_name()}\n")
    print("| model | runtime | p50 µs | p99 µs | p50 ÷ stheno's |")
    print("|---|---|---:|---:|---:|")
    for model in ("mlp", "cnn"):
        rows = {form: sorted(rs, key=lambda r: r["p50_us"])[len(rs) // 2] for (m, form), rs in results.items() if m == model}
        base = rows["stheno compiled"]["p50_us"]
        for form, r in rows.items():
            print(f"| {model} | {form} | {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['p50_us'] / base:.2f} |")


if __name__ == "__main__":
    main()
