#!/usr/bin/env python3
"""onnxruntime's side of W5: batch-1 latency of an ONNX file on one thread, timed like stheno's
(bench/onnx_latency.cpp): a new image every call, p50 and p99 of N calls after a warm-up.

    onnxruntime_latency.py FILE MODEL [--calls N]

Prints two JSON lines like stheno_onnx_latency's: each call's time through the Python API
(which adds the binding's overhead), and the time onnxruntime itself reports for the same calls
in its profile ("model_run" events, timed inside its C++ session), which leaves that overhead out.
"""
import argparse
import glob
import json
import os
import tempfile
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("model")
    parser.add_argument("--calls", type=int, default=10000)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    profile_dir = tempfile.mkdtemp()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(profile_dir, "w5")
    session = ort.InferenceSession(args.file, options, providers=["CPUExecutionProvider"])
    name, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    images = np.random.default_rng(11).random((64, 1, 784), dtype=np.float32)
    checksum = 0.0
    for i in range(min(args.calls // 10 + 10, 500)):
        checksum += session.run([output], {name: images[i % 64]})[0][0, 0]
    us = []
    for i in range(args.calls):
        t0 = time.perf_counter()
        checksum += session.run([output], {name: images[i % 64]})[0][0, 0]
        us.append((time.perf_counter() - t0) * 1e6)
    profile = session.end_profiling()
    with open(profile) as f:
        runs = [e["dur"] for e in json.load(f) if e.get("name") == "model_run"]
    for path in glob.glob(os.path.join(profile_dir, "*")):
        os.remove(path)
    os.rmdir(profile_dir)
    timed = sorted(runs[-args.calls:])
    for form, values in ((f"onnxruntime {ort.__version__}, Python API", sorted(us)), (f"onnxruntime {ort.__version__}, own profile", timed)):
        pct = lambda p: values[int(p * (len(values) - 1))]
        print(json.dumps({"model": args.model, "form": form, "p50_us": round(pct(0.5), 2), "p99_us": round(pct(0.99), 2),
                          "calls": len(values)}))


if __name__ == "__main__":
    main()
