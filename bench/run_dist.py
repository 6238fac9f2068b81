#!/usr/bin/env python3
"""W2 and W3 data-parallel on two ranks, side by side in one run: stheno under mpirun (2 ranks ×
1 thread), stheno in one process (× 2 threads and × 1 thread), and PyTorch DDP over gloo (2
processes × 1 thread) with Debian's PyTorch and with PyPI's. The same global batch everywhere
(W2 128, W3 64). Rounds alternate the runs, so that a slow minute of the machine falls on all of
them; prints a Markdown table of training samples per second (global) and each round's figures.

usage: run_dist.py [--rounds 3] [--quick] [--data build/bench-data] [--stheno build/release/bench/stheno_workloads]
                   [--venv build/bench-venv]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def last_json(output):
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in:\n" + output)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default=str(ROOT / "build/bench-data"))
    parser.add_argument("--stheno", default=str(ROOT / "build/release/bench/stheno_workloads"))
    parser.add_argument("--venv", default=str(ROOT / "build/bench-venv"))
    parser.add_argument("--workloads", default="W2,W3")
    args = parser.parse_args()
    mpirun = shutil.which("mpirun")
    if not mpirun:
        sys.exit("run_dist.py: mpirun is missing (apt install openmpi-bin)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    quick = ["--quick"] if args.quick else []
    peers = ROOT / "bench/peers"
    pythons = [("PyTorch (Debian) DDP, 2 × 1", "/usr/bin/python3")]
    if Path(args.venv, "bin/python").exists():
        pythons.append(("PyTorch (PyPI) DDP, 2 × 1", str(Path(args.venv, "bin/python"))))

    def runs(workload):
        stheno = [args.stheno, "--workload", workload, "--data", args.data, *quick]
        out = [("stheno, 2 ranks × 1 thread", [mpirun, "-np", "2", *stheno, "--threads", "1"], None),
               ("stheno, 1 process × 2 threads", [*stheno, "--threads", "2"], None),
               ("stheno, 1 process × 1 thread", [*stheno, "--threads", "1"], None)]
        for name, python in pythons:
            out.append((name, [python, "pytorch_ddp.py", "--workload", workload, "--data", str(Path(args.data).resolve()),
                               *quick], peers))
        return out

    for workload in args.workloads.split(","):
        table = {}
        versions = {}
        for _ in range(args.rounds):
            for name, command, cwd in runs(workload):
                result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
                if result.returncode != 0:
                    sys.exit(f"run_dist.py: {name} failed:\n{result.stdout}\n{result.stderr}")
                report = last_json(result.stdout)
                table.setdefault(name, []).append(report["train_samples_per_s"])
                if "version" in report:
                    versions[name] = report["version"]
        print(f"\n{workload}, training samples per second (global), {args.rounds} alternating rounds\n")
        print("| run | " + " | ".join(f"round {i + 1}" for i in range(args.rounds)) + " | median |")
        print("|---|" + "---|" * (args.rounds + 1))
        medians = {name: statistics.median(values) for name, values in table.items()}
        for name, values in table.items():
            print(f"| {name} | " + " | ".join(f"{v:,.0f}" for v in values) + f" | {medians[name]:,.0f} |")
        ddp = {name: m for name, m in medians.items() if "DDP" in name}
        ours = medians["stheno, 2 ranks × 1 thread"]
        print()
        for name, m in ddp.items():
            print(f"- stheno 2 ranks ÷ {name} ({versions.get(name, '?')}): {ours / m:.2f}×")
        print(f"- stheno 2 ranks ÷ stheno 1 process × 2 threads: {ours / medians['stheno, 1 process × 2 threads']:.2f}×")


if __name__ == "__main__":
    main()
