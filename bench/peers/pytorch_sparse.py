"""PyTorch's side of bench/run_sparse.py: one CSR × dense product (torch.sparse.mm on a
torch.sparse_csr_tensor) and the dense product of the same matrices, for a random matrix of a
given size and density. Prints one JSON object, as bench/sparse_products.cpp does.
"""
import argparse
import json
import statistics
import time

import torch


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=4096)
    p.add_argument("--cols", type=int, default=16384)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--density", type=float, default=0.04)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dense", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(a.seed)
    mask = torch.rand(a.rows, a.cols, generator=g) < a.density
    dense_a = torch.where(mask, torch.rand(a.rows, a.cols, generator=g) * 2 - 1, torch.zeros(()))
    csr = dense_a.to_sparse_csr()
    b = torch.rand(a.cols, a.n, generator=g) * 2 - 1
    with torch.no_grad():
        sparse_ms = median_ms(lambda: torch.sparse.mm(csr, b), a.reps)
        dense_ms = median_ms(lambda: torch.mm(dense_a, b), max(3, a.reps // 2)) if a.dense else 0.0
    print(json.dumps({"rows": a.rows, "cols": a.cols, "n": a.n, "density": float(mask.float().mean()),
                      "nnz": int(csr.values().numel()), "sparse_ms": sparse_ms, "dense_ms": dense_ms,
                      "threads": a.threads, "version": f"torch {torch.__version__}"}))


if __name__ == "__main__":
    main()
