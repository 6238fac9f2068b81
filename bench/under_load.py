#!/usr/bin/env python3
"""Training throughput with one core taken by another process, against the same run idle.

Every workload runs at its default thread setting (stheno: one thread per core; PyTorch: its own
default), alternately on an idle machine and beside one busy process (a CPU-bound loop), and the
table gives the median throughput of each and the ratio. Half the machine busy should cost at
most about half the speed; a thread pool that spins or waits at barriers for a descheduled thread
loses far more.

Usage: bench/under_load.py [--build build/release] [--runs 3] [--quick] [--out FILE.md]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "bench" / "peers"))
from prepare_data import DEFAULT_CACHE, prepare  # noqa: E402
from common import DEFAULT_TEXT  # noqa: E402

PYTHON = "/usr/bin/python3"
TARGET = 0.45  # of idle throughput


def log(message):
    print(message, file=sys.stderr, flush=True)


def cases(args, data, out_dir):
    """(name, program, command, JSON key, higher is better)."""
    workloads = str(Path(args.build) / "bench" / "stheno_workloads")
    cli = str(Path(args.build) / "apps" / "stheno")
    quick = ["--quick"] if args.quick else []
    cores = str(os.cpu_count())
    out = []
    keys = {"W1": ("seconds_per_epoch", False), "W2": ("train_samples_per_s", True),
            "W3": ("train_samples_per_s", True), "W4": ("train_chars_per_s", True)}
    for w, (key, higher) in keys.items():
        out.append((w, "stheno tape", [workloads, "--workload", w, "--data", data, "--text", args.text,
                                       "--threads", cores] + quick, key, higher))
        if torch_available():
            out.append((w, "PyTorch", [PYTHON, str(ROOT / "bench/peers/pytorch_workloads.py"), "--workload", w,
                                       "--data", data, "--text", args.text, "--threads", cores] + quick, key, higher))
    limit = "2000" if args.quick else "20000"
    common = ["--epochs", "1", "--json", "--plot=false", "--out", str(out_dir), "--data", args.mnist]
    out.append(("stheno train (mlp)", "stheno CLI", [cli, "train", "--train-limit", limit] + common,
                "train_seconds_per_epoch", False))
    out.append(("stheno train --model cnn", "stheno CLI",
                [cli, "train", "--model", "cnn", "--train-limit", "256" if args.quick else "2048"] + common,
                "train_seconds_per_epoch", False))
    out.append(("stheno train --model char-lstm", "stheno CLI",
                [cli, "train", "--model", "char-lstm", "--steps", "20" if args.quick else "300", "--sample", "0",
                 "--json", "--out", str(out_dir), "--text", args.text], "chars_per_s", True))
    return out


def torch_available():
    return subprocess.run([PYTHON, "-c", "import torch"], capture_output=True).returncode == 0


def run(command, key):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr[-2000:]}")
    last = [line for line in result.stdout.splitlines() if line.startswith("{")][-1]
    return json.loads(last)[key]


class Busy:
    """One other process keeping a core busy for as long as the block runs."""

    def __enter__(self):
        self.process = subprocess.Popen([PYTHON, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "build" / "release"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny workloads, to check that everything runs")
    parser.add_argument("--data", default=str(ROOT / DEFAULT_CACHE), help="cache of decompressed IDX files")
    parser.add_argument("--mnist", default="/usr/share/datasets/fashion-mnist", help="dataset for stheno train")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--out", help="also write the table to this markdown file")
    args = parser.parse_args()
    data = str(prepare(out=Path(args.data)))
    out_dir = Path(tempfile.mkdtemp(prefix="stheno-under-load-"))
    rows = []
    try:
        for name, program, command, key, higher in cases(args, data, out_dir):
            idle, loaded = [], []
            for r in range(args.runs):  # interleaved, so drift in the machine's speed hits both alike
                log(f"+ [{name}, {program}] run {r + 1}: idle, then beside a busy process")
                idle.append(run(command, key))
                with Busy():
                    loaded.append(run(command, key))
            i, b = statistics.median(idle), statistics.median(loaded)
            kept = b / i if higher else i / b
            rows.append((name, program, key, i, b, kept))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    lines = [f"Machine: {cpu}, {os.cpu_count()} cores. Default thread settings; medians of {args.runs} "
             f"interleaved runs; busy = one other process spinning on a core.\n",
             "| workload | program | measure | idle | one core busy | kept | ≥ 45% |",
             "|---|---|---|---|---|---|---|"]
    for name, program, key, i, b, kept in rows:
        lines.append(f"| {name} | {program} | {key} | {i:,.4g} | {b:,.4g} | {100 * kept:.0f}% | "
                     f"{'yes' if kept >= TARGET else 'no'} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    failed = [r for r in rows if r[1] != "PyTorch" and r[5] < TARGET]
    return 1 if failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
