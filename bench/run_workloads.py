#!/usr/bin/env python3
"""Runs stheno and its peers (PyTorch, libtorch, dlib, numpy) on the same workloads in one go
and prints a markdown table of medians and stheno's ratios against each peer.

  W1  the seed documents' network: 784-30-10 sigmoid, quadratic cost, SGD at 3.0, batches of 10,
      one epoch over 50,000 Fashion-MNIST images (seconds per epoch, test accuracy)
  W2  the GPU talk's network on the CPU: 784-1000-10 ReLU, softmax cross-entropy, SGD at 0.1,
      batches of 128 (training and inference samples per second)
  W3  a small CNN on Fashion-MNIST: two 5x5 conv-ReLU-maxpool stages (32, 64 channels), 3136-128-10,
      SGD with momentum, batches of 64 (training samples per second); stheno and PyTorch only
  W4  a byte-level LSTM (embedding 64, LSTM 128) on the licence texts of --text, Adam, 32
      sequences of 32 bytes (training characters per second, final loss); stheno and PyTorch only

Every program runs at 1 thread, and on 2 cores at each of its thread settings, keeping the
best: PyTorch and libtorch at (torch threads, BLAS threads) in {1, 2}², dlib and numpy at BLAS
threads in {1, 2} (their only knob), stheno at --threads 2 (one pool for its loops and BLAS).
Runs are interleaved (run 1 of every program and setting, then run 2, ...) so that load from
elsewhere on the machine falls on all of them alike.

A program that does not know a workload (an older stheno_workloads rejecting W3's name or W4's
--text) reads n/a in that workload's rows; the other workloads still run.

usage: bench/run_workloads.py [--quick] [--runs 3] [--stheno BINARY] [--out FILE.md]
                              [--data DIR] [--build DIR] [--text DIR]
Install the peers first with scripts/setup-bench.sh.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
VENV_PYTHON = ROOT / "build" / "bench-venv" / "bin" / "python"
PYTHON = "/usr/bin/python3"  # Debian's python3-torch and python3-numpy live here, not in any other python

sys.path.insert(0, str(HERE))
sys.path.insert(1, str(PEERS))
from prepare_data import DEFAULT_CACHE, prepare  # noqa: E402
from common import (DEFAULT_TEXT, W3_BATCH, W3_CLASSES, W3_CONV1, W3_CONV2, W3_HIDDEN, W3_KERNEL,  # noqa: E402
                    W3_LR, W3_MOMENTUM, W3_QUICK_STEPS, W3_STEPS, W3_WARMUP_STEPS, W4_BATCH, W4_EMBED, W4_HIDDEN,
                    W4_LOSS_STEPS, W4_LR, W4_QUICK_STEPS, W4_SEQ, W4_STEPS, W4_WARMUP_STEPS, load_text,
                    unigram_entropy, vocabulary)

W1_PARAMS = 784 * 30 + 30 * 10
W2_PARAMS = 784 * 1000 + 1000 * 10
QUICK_W1_TRAIN, FULL_W1_TRAIN = 2_000, 50_000
W3_FLAT = 7 * 7 * W3_CONV2  # each pool halves 28 x 28
# The multiply-adds of one sample's forward pass: convolutions and linear layers only.
W3_FORWARD_MACS = (28 * 28 * W3_CONV1 * W3_KERNEL ** 2 + 14 * 14 * W3_CONV2 * W3_CONV1 * W3_KERNEL ** 2
                   + W3_FLAT * W3_HIDDEN + W3_HIDDEN * W3_CLASSES)
WORKLOADS = ("W1", "W2", "W3", "W4")
FLOOR_CAVEAT = ("The training count, 3× the forward pass, includes the first layer's input gradient, which only "
                "dlib computes; the others skip it (about 4·params flops per sample), so they can beat that floor.")


@dataclass
class Program:
    name: str
    command: list
    workloads: tuple
    knobs: str  # "torch": torch and BLAS threads; "blas": BLAS threads only; "stheno", "jax": --threads only

    def settings(self, cores):
        """(program threads, BLAS threads) pairs to try on `cores` cores."""
        if cores == 1:
            return [(1, 1)]
        if self.knobs == "torch":
            return [(t, b) for t in (1, 2) for b in (1, 2)]
        if self.knobs in ("blas", "jax"):
            return [(1, 1), (2, 2)]
        return [(2, 2)]

    def describe(self, setting):
        threads, blas = setting
        if self.knobs == "torch":
            return f"torch {threads}, BLAS {blas}"
        if self.knobs == "blas":
            return f"BLAS {blas}"
        return f"{threads} thread" + ("s" if threads > 1 else "")


@dataclass
class Outcome:
    results: list = field(default_factory=list)  # the JSON objects of successful runs
    error: str = ""
    skipped: str = ""
    unsupported: str = ""  # the program does not know this workload: n/a, not a failure

    def median(self, key):
        values = [r[key] for r in self.results if r.get(key) is not None]
        return statistics.median(values) if values else None


def log(message):
    print(message, file=sys.stderr, flush=True)


def build_peers(build_dir):
    """Builds the C++ peers; a framework that is missing or fails to build leaves its peer out."""
    steps = [["cmake", "-S", str(PEERS), "-B", str(build_dir), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"],
             ["ninja", "-C", str(build_dir), "-j1", "-k", "0"]]  # -j1: libtorch's headers take GBs to compile
    for step in steps:
        log("+ " + " ".join(step))
        run = subprocess.run(step, capture_output=True, text=True)
        if run.returncode != 0:
            log(run.stdout[-3000:] + run.stderr[-3000:])
            log(f"warning: '{step[0]}' failed; the peers it did not build are reported as n/a")
            if step[0] == "cmake":
                return


def programs(args):
    build = Path(args.build)
    python_peer = [PYTHON, str(PEERS / "pytorch_workloads.py")]
    numpy_peer = [PYTHON, str(PEERS / "numpy_workloads.py")]
    stheno = [args.stheno] if args.stheno else None
    return [
        Program("stheno tape", stheno and stheno + ["--machine", "tape"], ("W1", "W2", "W3", "W4"), "stheno"),
        Program("stheno eager", stheno and stheno + ["--machine", "eager"], ("W1",), "stheno"),
        Program("PyTorch", python_peer, ("W1", "W2", "W3", "W4"), "torch"),
        Program("libtorch", [str(build / "libtorch_workloads")], ("W1", "W2"), "torch"),
        Program("dlib", [str(build / "dlib_workloads")], ("W1", "W2"), "blas"),
        Program("numpy per-sample", numpy_peer + ["--variant", "per-sample"], ("W1",), "blas"),
        Program("numpy whole-batch", numpy_peer + ["--variant", "batch"], ("W1",), "blas"),
    ] + pypi_programs()


def pypi_programs():
    """Current PyTorch (eager and torch.compile) and JAX (jax.jit), from PyPI into build/bench-venv by
    `scripts/setup-bench.sh --pypi`; left out when that environment is missing."""
    if not VENV_PYTHON.is_file():
        return []
    out = []
    torch_peer = [str(VENV_PYTHON), str(PEERS / "pytorch_workloads.py")]
    probe = subprocess.run([str(VENV_PYTHON), "-c", "import torch; print(torch.__version__)"], capture_output=True,
                           text=True)
    if probe.returncode == 0 and not probe.stdout.startswith("1."):  # 1.x is Debian's, seen through the venv
        out += [Program("PyTorch (PyPI)", torch_peer, ("W1", "W2", "W3", "W4"), "torch"),
                Program("PyTorch (PyPI) compile", torch_peer + ["--compile"], ("W1", "W2", "W3", "W4"), "torch")]
    if subprocess.run([str(VENV_PYTHON), "-c", "import jax"], capture_output=True).returncode == 0:
        out.append(Program("JAX jit", [str(VENV_PYTHON), str(PEERS / "jax_workloads.py")], ("W1", "W2"), "jax"))
    return out


def available(program):
    if not program.command:
        return False
    exe = program.command[0]
    return Path(exe).is_file() and (exe not in (PYTHON, str(VENV_PYTHON)) or Path(program.command[1]).is_file())


def run_once(command, setting, outcome):
    """Runs one program once and files its JSON (the last line of its stdout) under `outcome`."""
    threads, blas = setting
    env = dict(os.environ, OMP_NUM_THREADS=str(blas), OPENBLAS_NUM_THREADS=str(blas))
    command = command + ["--threads", str(threads)]
    log("+ " + f"OMP_NUM_THREADS={blas} OPENBLAS_NUM_THREADS={blas} " + " ".join(command))
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if run.returncode == 0 and lines else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        message = (run.stderr or run.stdout).strip()[-300:]
        # stheno_workloads' words for a workload name or flag it was built without.
        if "unknown workload" in message or "unknown argument" in message:
            outcome.unsupported = message
        else:
            outcome.error = f"exit {run.returncode}: {message}"
        log(message)
    elif "skipped" in result:
        outcome.skipped = result["skipped"]
    elif "unsupported" in result:
        outcome.unsupported = result["unsupported"]
    else:
        outcome.results.append(result)
        log("  " + json.dumps(result))


def measure(args, data):
    """{(workload, program name, setting): Outcome} and {threads: sgemm Outcome}. A setting that
    both core counts try, such as (1, 1), runs once and serves both."""
    jobs = {}
    for workload in args.workloads:
        for program in programs(args):
            if workload in program.workloads and available(program):
                for cores in args.cores:
                    for setting in program.settings(cores):
                        jobs[(workload, program.name, setting)] = program
    outcomes, sgemm = {}, {}
    for run in range(args.runs):
        log(f"--- run {run + 1} of {args.runs}")
        if args.stheno:
            for threads in args.cores:
                outcome = sgemm.setdefault(threads, Outcome())
                if not outcome.error:
                    run_once([args.stheno, "--workload", "sgemm"], (threads, threads), outcome)
        for (workload, name, setting), program in jobs.items():
            outcome = outcomes.setdefault((workload, name, setting), Outcome())
            if outcome.error or outcome.skipped or outcome.unsupported:
                continue  # a program that failed or declined once will do so again
            command = program.command + ["--workload", workload, "--data", str(data), "--seed", str(args.seed)]
            if workload == "W4":
                command += ["--text", args.text]
            run_once(command + (["--quick"] if args.quick else []), setting, outcome)
    return outcomes, sgemm


def best(outcomes, workload, cores, program, key, higher_is_better):
    """(median, setting description, Outcome) of the program's best setting for `key`, or None."""
    candidates = []
    for setting in program.settings(cores):
        outcome = outcomes.get((workload, program.name, setting))
        if outcome is None:
            continue
        value = outcome.median(key)
        candidates.append((value, program.describe(setting), outcome))
    measured = [c for c in candidates if c[0] is not None]
    if measured:
        return (max if higher_is_better else min)(measured, key=lambda c: c[0])
    return candidates[0] if candidates else None


def fmt(value):
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def cell(entry):
    """A table cell for a best() entry: its median, or why there is none."""
    if entry is None:
        return "n/a"
    value, _, outcome = entry
    if value is not None:
        return fmt(value)
    if outcome.skipped:
        return "skipped"
    return "failed" if outcome.error else "n/a"  # n/a also where the program does not know the workload


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return "n/a"
    return f"{numerator / denominator:.2f}"


def value_of(entry):
    return entry[0] if entry else None


def versions(outcomes):
    found = {}
    for outcome in outcomes.values():
        for result in outcome.results:
            if "version" in result:
                name, version = result["version"].split(" ", 1)
                found.setdefault(name, [])
                if version not in found[name]:
                    found[name].append(version)
    try:
        openblas = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libopenblas0-openmp"], capture_output=True,
                                  text=True).stdout.strip()
        if openblas:
            found["OpenBLAS"] = [openblas + " (OpenMP)"]
    except FileNotFoundError:
        pass
    return ", ".join(f"{name} {' and '.join(v)}" for name, v in found.items()) or "no peer ran"


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def gemm_kernels(sgemm):
    """Which kernel set stheno's GEMM ran on, as stheno_workloads reported it."""
    for outcome in sgemm.values():
        for r in outcome.results:
            if r.get("gemm_kernels"):
                kernels = r["gemm_kernels"]  # "oneMKL avx512", or an OpenBLAS kernel set's name
                library = "" if kernels.startswith("oneMKL") else "OpenBLAS's "
                return (f"its GEMM ran {library}{kernels} kernels ({r['gemm_isa']}) "
                        f"on a CPU with {r['cpu_isa']}")
    return "its GEMM kernel set was not reported"


def report(args, outcomes, sgemm):
    progs = programs(args)
    peak = {cores: sgemm[cores].median("gflops") if cores in sgemm else None for cores in (1, 2)}
    n_train = QUICK_W1_TRAIN if args.quick else FULL_W1_TRAIN
    out = []
    out.append("# stheno and its peers on the same workloads\n")
    out.append(f"Machine: {cpu_model()}, {os.cpu_count()} cores; {versions(outcomes)}.  ")
    out.append(f"stheno's measured sgemm peak (for the FLOP floors): {fmt(peak[1])} GFLOP/s at 1 thread, "
               f"{fmt(peak[2])} at 2; {gemm_kernels(sgemm)}.  ")
    out.append(f"Medians of {args.runs} run(s) per program and setting; on 2 cores each peer at its best thread "
               "setting (named).  ")
    out.append("stheno × = how many times faster stheno is than that row (peer's time ÷ stheno's, or stheno's rate "
               "÷ peer's); n/a where stheno was not run.")
    if args.quick:
        out.append("\n**--quick**: W1 trains on 2,000 images and tests on 1,000, W2 times 10 steps; a smoke test, "
                   "not a measurement.")
    notes = []

    if "W1" in args.workloads:
        w1_section(args, out, notes, outcomes, progs, peak, n_train)
    if "W2" in args.workloads:
        w2_section(args, out, notes, outcomes, progs, peak)
    if "W3" in args.workloads:
        w3_section(args, out, notes, outcomes, progs, peak)
    if "W4" in args.workloads:
        w4_section(args, out, notes, outcomes, progs, peak)
    if notes:
        out.append("\nNotes:\n")
        out.extend(f"- {note}" for note in dict.fromkeys(notes))
    return "\n".join(out) + "\n"


def w1_section(args, out, notes, outcomes, progs, peak, n_train):
    out.append(f"\n## W1: 784-30-10 sigmoid, quadratic cost, SGD η = 3.0, batch 10, one epoch of {n_train:,} "
               "images\n")
    out.append("Seconds per epoch: the shuffle and the training loop, no loading or evaluation. FLOP floor: "
               f"6·{W1_PARAMS:,} flops per sample at stheno's sgemm peak. {FLOOR_CAVEAT}\n")
    out.append("| cores | program | setting | s/epoch | test accuracy | allocations/step | FLOP floor (s) "
               "| stheno tape × | stheno eager × |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for cores in args.cores:
        floor = n_train * 6 * W1_PARAMS / (peak[cores] * 1e9) if peak[cores] else None
        rows = {p.name: best(outcomes, "W1", cores, p, "seconds_per_epoch", False) for p in progs if "W1" in p.workloads}
        tape, eager = value_of(rows.get("stheno tape")), value_of(rows.get("stheno eager"))
        for name, entry in rows.items():
            outcome = entry[2] if entry else None
            setting = entry[1] if entry and entry[0] is not None else "—"
            accuracy = outcome.median("test_accuracy") if outcome else None
            allocations = outcome.median("allocations_per_step") if outcome else None
            seconds = value_of(entry)
            out.append(f"| {cores} | {name} | {setting} | {cell(entry)} | {fmt(accuracy)} | {fmt(allocations)} "
                       f"| {fmt(floor)} | {ratio(seconds, tape)} | {ratio(seconds, eager)} |")
            collect_note(notes, "W1", cores, name, outcome)



def w2_section(args, out, notes, outcomes, progs, peak):
    out.append("\n## W2: 784-1000-10 ReLU, softmax cross-entropy, SGD 0.1, batch 128, float32\n")
    steps = 10 if args.quick else 200
    out.append(f"Training: {steps} steps after 3 warm-up steps. Inference: batches of 1,000 over the 10,000 test "
               f"images after 2 warm-up batches. FLOP floors: 6·{W2_PARAMS:,} (training) and 2·{W2_PARAMS:,} "
               f"(inference) flops per sample at stheno's sgemm peak. {FLOOR_CAVEAT} Test accuracy is after the timed "
               "steps, a sanity value.\n")
    out.append("| cores | program | train samples/s | setting | FLOP floor | stheno × | inference samples/s | setting "
               "| FLOP floor | stheno × | test accuracy |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for cores in args.cores:
        train_floor = peak[cores] * 1e9 / (6 * W2_PARAMS) if peak[cores] else None
        infer_floor = peak[cores] * 1e9 / (2 * W2_PARAMS) if peak[cores] else None
        w2 = [p for p in progs if "W2" in p.workloads]
        train = {p.name: best(outcomes, "W2", cores, p, "train_samples_per_s", True) for p in w2}
        infer = {p.name: best(outcomes, "W2", cores, p, "inference_samples_per_s", True) for p in w2}
        ours_train, ours_infer = value_of(train.get("stheno tape")), value_of(infer.get("stheno tape"))
        for p in w2:
            t, i = train[p.name], infer[p.name]
            outcome = t[2] if t else None
            t_setting = t[1] if t and t[0] is not None else "—"
            i_setting = i[1] if i and i[0] is not None else "—"
            accuracy = outcome.median("test_accuracy") if outcome else None
            out.append(f"| {cores} | {p.name} | {cell(t)} | {t_setting} | {fmt(train_floor)} "
                       f"| {ratio(ours_train, value_of(t))} | {cell(i)} | {i_setting} | {fmt(infer_floor)} "
                       f"| {ratio(ours_infer, value_of(i))} | {fmt(accuracy)} |")
            collect_note(notes, "W2", cores, p.name, outcome)



def w3_section(args, out, notes, outcomes, progs, peak):
    w3_steps = W3_QUICK_STEPS if args.quick else W3_STEPS
    rate_section(out, notes, outcomes, progs, "W3", "train samples/s", "train_samples_per_s",
                 [peak[c] * 1e9 / (6 * W3_FORWARD_MACS) if peak[c] else None for c in (1, 2)],
                 f"\n## W3: CNN, conv 5×5 1→{W3_CONV1} ReLU max-pool 2, conv 5×5 {W3_CONV1}→{W3_CONV2} ReLU "
                 f"max-pool 2, {W3_FLAT}-{W3_HIDDEN} ReLU-{W3_CLASSES}, softmax cross-entropy, SGD {W3_LR} "
                 f"momentum {W3_MOMENTUM}, batch {W3_BATCH}, float32\n",
                 f"Training: {w3_steps} steps after {W3_WARMUP_STEPS} warm-up steps on shuffled training images. "
                 f"FLOP floor: 6·{W3_FORWARD_MACS:,} flops per sample (3× the multiply-adds of the convolutions and "
                 "linear layers) at stheno's sgemm peak; it counts the first convolution's input gradient, which no "
                 "program computes (about 2% of it), and a direct sum's multiply-adds: stheno's second convolution "
                 "runs by Winograd's algorithm (README, Choices), which needs 2.8× fewer, so stheno can pass the "
                 "floor.\n", None, args.cores)



def w4_section(args, out, notes, outcomes, progs, peak):
    text = args.text_stats
    w4_macs = 4 * W4_HIDDEN * (W4_EMBED + W4_HIDDEN) + W4_HIDDEN * text["vocab"] if text else None
    w4_steps = W4_QUICK_STEPS if args.quick else W4_STEPS
    baseline = f"{text['entropy']:.3f}" if text else "n/a"
    described = (f"the {text['bytes']:,} bytes of the regular files in {args.text} ({text['vocab']} distinct "
                 "byte values)" if text else f"{args.text}, which could not be read")
    rate_section(out, notes, outcomes, progs, "W4", "train characters/s", "train_chars_per_s",
                 [peak[c] * 1e9 / (6 * w4_macs) if peak[c] and w4_macs else None for c in (1, 2)],
                 f"\n## W4: byte-level LSTM, embedding {W4_EMBED}, LSTM {W4_EMBED}→{W4_HIDDEN}, linear to the "
                 f"vocabulary, cross-entropy, Adam {W4_LR}, {W4_BATCH} sequences of {W4_SEQ} bytes, float32\n",
                 f"Text: {described}. Training: {w4_steps} steps after {W4_WARMUP_STEPS} warm-up steps, each on "
                 f"{W4_BATCH} windows at random offsets; a step predicts {W4_BATCH}·{W4_SEQ} characters. "
                 f"FLOP floor: 6·{w4_macs or 0:,} flops per character (3× the multiply-adds of the LSTM and the "
                 "output layer) at stheno's sgemm peak; stheno projects the embedding table rather than "
                 f"each character's row (docs/architecture.md), {text['vocab'] if text else 'vocabulary'} rows "
                 f"instead of {W4_BATCH * W4_SEQ} a step, which needs fewer multiply-adds, so it can pass the "
                 "floor. Loss: mean cross-entropy in nats over the last "
                 f"{min(W4_LOSS_STEPS, w4_steps)} timed steps, a sanity value next to the unigram baseline, "
                 f"{baseline} nats: the entropy of the text's byte frequencies, the loss of a model that ignores "
                 "context.\n",
                 ("loss", f"loss (unigram {baseline})"), args.cores)


def rate_section(out, notes, outcomes, progs, workload, unit, key, floors, title, description, extra, core_counts):
    """A section of one training rate per program and core count, with stheno's ratio against each;
    `extra` = (result key, column title) adds the median of a sanity value from the best setting."""
    out.append(title)
    out.append(description)
    extra_title = f" {extra[1]} |" if extra else ""
    out.append(f"| cores | program | {unit} | setting | FLOP floor | stheno × |{extra_title}")
    out.append("|---|---|---|---|---|---|" + ("---|" if extra else ""))
    for cores in core_counts:
        rows = {p.name: best(outcomes, workload, cores, p, key, True) for p in progs if workload in p.workloads}
        ours = value_of(rows.get("stheno tape"))
        for name, entry in rows.items():
            outcome = entry[2] if entry else None
            setting = entry[1] if entry and entry[0] is not None else "—"
            line = (f"| {cores} | {name} | {cell(entry)} | {setting} | {fmt(floors[cores - 1])} "
                    f"| {ratio(ours, value_of(entry))} |")
            if extra:
                line += f" {fmt(outcome.median(extra[0]) if outcome else None)} |"
            out.append(line)
            collect_note(notes, workload, cores, name, outcome)


def text_stats(directory):
    """Size, vocabulary and unigram entropy of W4's text, or None where it cannot be read."""
    try:
        text = load_text(directory)
    except (OSError, SystemExit) as e:
        log(f"warning: W4's text: {e}")
        return None
    return {"bytes": len(text), "vocab": len(vocabulary(text)), "entropy": unigram_entropy(text)}


def collect_note(notes, workload, cores, name, outcome):
    if outcome is None:
        reason = "no stheno binary (pass --stheno)" if name.startswith("stheno") else "not built or not installed"
        notes.append(f"{name}: n/a ({reason})")
    elif outcome.skipped:
        notes.append(f"{name}, {workload}: skipped: {outcome.skipped}")
    elif outcome.unsupported:
        notes.append(f"{name}, {workload}: n/a (this build does not run it: {outcome.unsupported})")
    elif outcome.error and not outcome.results:
        notes.append(f"{name}, {workload} on {cores} core(s): failed: {outcome.error}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny workloads, to check that everything runs")
    parser.add_argument("--runs", type=int, default=3, help="runs per program and setting (median)")
    parser.add_argument("--stheno", help="stheno's workload program; skipped (n/a) when missing")
    parser.add_argument("--out", help="also write the table to this markdown file")
    parser.add_argument("--data", default=str(ROOT / DEFAULT_CACHE), help="cache of decompressed IDX files")
    parser.add_argument("--build", default=str(ROOT / "build" / "bench-peers"), help="build directory of the C++ peers")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="W4's text: a directory of plain-text files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="which workloads, e.g. W1,W4")
    parser.add_argument("--cores", default="1,2", help="core counts to measure: 1, 2 or 1,2")
    args = parser.parse_args()
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    if not args.workloads or any(w not in WORKLOADS for w in args.workloads):
        parser.error(f"--workloads takes names from {', '.join(WORKLOADS)}")
    try:
        args.cores = sorted({int(c) for c in args.cores.split(",")})
    except ValueError:
        args.cores = []
    if not args.cores or any(c not in (1, 2) for c in args.cores):
        parser.error("--cores takes 1, 2 or 1,2")
    args.text = str(Path(args.text).resolve())
    args.text_stats = text_stats(args.text)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.stheno:
        if Path(args.stheno).is_file():
            args.stheno = str(Path(args.stheno).resolve())
        else:
            log(f"warning: {args.stheno} does not exist; stheno's rows will read n/a")
            args.stheno = None

    data = prepare(out=args.data)
    build_peers(Path(args.build))
    outcomes, sgemm = measure(args, data)
    table = report(args, outcomes, sgemm)
    print(table, end="")
    if args.out:
        Path(args.out).write_text(table)


if __name__ == "__main__":
    main()
