#!/usr/bin/env python3
"""PyTorch DDP's side of W2 and W3 on several processes: DistributedDataParallel over gloo, one
thread per process, each process training on its share of every global batch (W2: the
784-1000-10 ReLU network, softmax cross-entropy, SGD 0.1, batches of 128; W3: the small CNN of
pytorch_workloads.py, SGD 0.01 with momentum 0.9, batches of 64). Prints the global training
samples per second, timed on rank 0 between two barriers, as JSON.

usage: pytorch_ddp.py --workload W2|W3 --data DIR [--ranks 2] [--quick]
"""
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

from common import (W2_BATCH, W2_LR, W2_QUICK_STEPS, W2_SIZES, W2_STEPS, W2_WARMUP_STEPS, W3_BATCH, W3_CLASSES,
                    W3_CONV1, W3_CONV2, W3_HIDDEN, W3_KERNEL, W3_LR, W3_MOMENTUM, W3_PADDING, W3_POOL, W3_QUICK_STEPS,
                    W3_STEPS, W3_WARMUP_STEPS, emit, load_split, parse_args)


def model_and_optimizer(workload):
    """The workload's network, its optimizer's settings, batch, steps (full, quick) and warm-up."""
    if workload == "W2":
        model = nn.Sequential(nn.Linear(W2_SIZES[0], W2_SIZES[1]), nn.ReLU(), nn.Linear(W2_SIZES[1], W2_SIZES[2]))
        return model, {"lr": W2_LR}, W2_BATCH, (W2_STEPS, W2_QUICK_STEPS), W2_WARMUP_STEPS
    k, pad, pool = W3_KERNEL, W3_PADDING, W3_POOL
    side = 28 // pool // pool
    model = nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, W3_CONV1, k, padding=pad), nn.ReLU(), nn.MaxPool2d(pool),
        nn.Conv2d(W3_CONV1, W3_CONV2, k, padding=pad), nn.ReLU(), nn.MaxPool2d(pool),
        nn.Flatten(), nn.Linear(W3_CONV2 * side * side, W3_HIDDEN), nn.ReLU(), nn.Linear(W3_HIDDEN, W3_CLASSES))
    return model, {"lr": W3_LR, "momentum": W3_MOMENTUM}, W3_BATCH, (W3_STEPS, W3_QUICK_STEPS), W3_WARMUP_STEPS


def train(rank, ranks, args, port, results):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch_dist.init_process_group("gloo", rank=rank, world_size=ranks)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)  # DDP broadcasts rank 0's weights anyway
    images, labels = load_split(np, args.data, "train", None, np.float32)
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)
    model, sgd_settings, global_batch, (full_steps, quick_steps), warmup = model_and_optimizer(args.workload)
    ddp = nn.parallel.DistributedDataParallel(model)
    sgd = torch.optim.SGD(ddp.parameters(), **sgd_settings)
    share = global_batch // ranks
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(args.seed))
    steps = quick_steps if args.quick else full_steps

    def step(i):
        batch = order[(i * global_batch) % (images.shape[0] - global_batch):][:global_batch][rank * share:(rank + 1) * share]
        sgd.zero_grad(set_to_none=True)
        F.cross_entropy(ddp(images[batch]), labels[batch]).backward()
        sgd.step()

    for i in range(warmup):
        step(i)
    torch_dist.barrier()
    start = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    torch_dist.barrier()
    if rank == 0:
        results.put(steps * global_batch / (time.perf_counter() - start))
    torch_dist.destroy_process_group()


def main():
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--ranks", type=int, default=2))
    if args.workload not in ("W2", "W3"):
        sys.exit("pytorch_ddp.py runs W2 and W3")
    port = 29500 + os.getpid() % 1000
    results = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(train, args=(args.ranks, args, port, results), nprocs=args.ranks, start_method="spawn")
    emit({"train_samples_per_s": results.get(), "ranks": args.ranks, "version": f"torch {torch.__version__} DDP gloo"})


if __name__ == "__main__":
    main()
