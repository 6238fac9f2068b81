"""One line of scripts/gpu-check.sh's table: a workload's stheno_workloads JSON (stdin) on a
CUDA device, as samples/s, launches and host synchronisations per step, and the fractions of the
GPU's peak float32 FLOP/s and memory bandwidth it reaches.

FLOPs per training sample are three times the forward pass's multiply-adds × 2 (forward, and the
two products of backward). Bytes per step are a traffic model, not a measurement: every
parameter is read or written six times a step (forward, backward's input gradient, the weight
gradient's write, and the update's reads and write), every activation three times per sample
(written forward, read and its gradient written backward), four bytes each.

Peaks come from the datasheet of the GPU nvidia-smi names, or GPU_PEAK_TFLOPS and GPU_PEAK_GBPS.
Usage: stheno_workloads --workload W2 --device cuda | python3 bench/gpu_report.py W2
"""
import json
import os
import subprocess
import sys

# name fragment: (float32 TFLOP/s without tensor cores, memory GB/s), from NVIDIA's datasheets.
PEAKS = {
    "H200": (66.9, 4800.0),
    "H100 PCIe": (51.2, 2000.0),
    "H100": (66.9, 3350.0),
    "A100-SXM4-80GB": (19.5, 2039.0),
    "A100": (19.5, 1555.0),
    "L40S": (91.6, 864.0),
    "L4": (30.3, 300.0),
    "RTX 4090": (82.6, 1008.0),
}

# workload: (samples per step, forward FLOPs per sample, parameters, activations per sample)
WORKLOADS = {
    "W1": (10, 2 * (784 * 30 + 30 * 10), 784 * 30 + 30 + 30 * 10 + 10, 784 + 2 * 30 + 10),
    "W2": (128, 2 * (784 * 1000 + 1000 * 10), 784 * 1000 + 1000 + 1000 * 10 + 10, 784 + 2 * 1000 + 10),
    "W3": (64,
           2 * (28 * 28 * 32 * 25 + 14 * 14 * 64 * 32 * 25 + 3136 * 128 + 128 * 10),
           32 * 25 + 32 + 64 * 800 + 64 + 3136 * 128 + 128 + 128 * 10 + 10,
           784 + 2 * 25088 + 6272 + 2 * 12544 + 3136 + 2 * 128 + 10),
}


def peaks():
    if os.environ.get("GPU_PEAK_TFLOPS") and os.environ.get("GPU_PEAK_GBPS"):
        return "the GPU (peaks given)", float(os.environ["GPU_PEAK_TFLOPS"]), float(os.environ["GPU_PEAK_GBPS"])
    try:
        name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, check=True).stdout.splitlines()[0].strip()
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown GPU", None, None
    for fragment, (tflops, gbps) in PEAKS.items():
        if fragment in name:
            return name, tflops, gbps
    return name, None, None


def main():
    workload = sys.argv[1]
    report = json.load(sys.stdin)
    batch, forward_flops, params, activations = WORKLOADS[workload]
    if "train_samples_per_s" in report:
        rate = report["train_samples_per_s"]
    else:  # W1 reports seconds per epoch of 60,000 images
        rate = 60000 / report["seconds_per_epoch"]
    flops = rate * 3 * forward_flops
    bytes_per_s = rate / batch * 4 * (6 * params + 3 * activations * batch)
    name, tflops, gbps = peaks()
    line = (f"{workload}: {rate:,.0f} samples/s, {report.get('launches_per_step', float('nan')):.1f} launches/step, "
            f"{report.get('synchronizations_per_step', float('nan')):.2f} host synchronisations/step, "
            f"{flops / 1e12:.3f} TFLOP/s, ~{bytes_per_s / 1e9:.1f} GB/s")
    if tflops:
        line += (f" = {100 * flops / (tflops * 1e12):.2f}% of the FP32 peak of {name}, "
                 f"~{100 * bytes_per_s / (gbps * 1e9):.2f}% of its bandwidth")
    else:
        line += f" ({name}: no datasheet peak known; set GPU_PEAK_TFLOPS and GPU_PEAK_GBPS)"
    print(line)


if __name__ == "__main__":
    main()
