#!/usr/bin/env python3
"""numpy's side of the kernel benchmarks: the same shapes as bench_kernels.cpp.

Prints one JSON object {name: rate}. numpy's BLAS threads follow OMP_NUM_THREADS, which
kernels_report.py sets for each run.
"""
import json
import sys
import time

import numpy as np


def best_seconds(fn, min_time=0.3, repeats=3):
    """Best of `repeats` timings, each averaging enough calls to take about min_time."""
    fn()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time / 4:
            break
        calls *= 4
    best = elapsed / calls
    for _ in range(repeats - 1):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main():
    rng = np.random.default_rng(1)
    results = {}
    for m, k, n in [(10, 784, 30), (10, 30, 10), (128, 784, 1000), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024)]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        t = best_seconds(lambda: np.matmul(a, b, out=c))
        results[f"sgemm/{m}x{k}x{n}"] = 2.0 * m * n * k / t * 1e-9
    for n in [1 << 12, 1 << 16, 1 << 20, 1 << 24]:
        a = rng.standard_normal(n, dtype=np.float32)
        b = rng.standard_normal(n, dtype=np.float32)
        out = np.empty(n, dtype=np.float32)
        results[f"add_f32/{n}"] = 12.0 * n / best_seconds(lambda: np.add(a, b, out=out)) * 1e-9

        def numpy_sigmoid():
            np.negative(a, out=out)
            np.exp(out, out=out)
            np.add(out, 1.0, out=out)
            np.reciprocal(out, out=out)

        results[f"sigmoid_f32/{n}"] = 8.0 * n / best_seconds(numpy_sigmoid) * 1e-9
        results[f"sum_f32/{n}"] = 4.0 * n / best_seconds(lambda: a.sum()) * 1e-9
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
