#!/usr/bin/env python3
"""PyTorch DDP's side of W2 on several processes: DistributedDataParallel over gloo, one thread
per process, each process training on its share of every global batch of 128 (the
784-1000-10 ReLU network, softmax cross-entropy, SGD 0.1). Prints the global training samples
per second, timed on rank 0 between two barriers, as JSON.

usage: pytorch_ddp.py --workload W2 --data DIR [--ranks 2] [--quick]
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

from common import W2_BATCH, W2_LR, W2_QUICK_STEPS, W2_SIZES, W2_STEPS, W2_WARMUP_STEPS, emit, load_split, parse_args


def train(rank, ranks, args, port, results):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch_dist.init_process_group("gloo", rank=rank, world_size=ranks)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)  # DDP broadcasts rank 0's weights anyway
    images, labels = load_split(np, args.data, "train", None, np.float32)
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)
    model = nn.Sequential(nn.Linear(W2_SIZES[0], W2_SIZES[1]), nn.ReLU(), nn.Linear(W2_SIZES[1], W2_SIZES[2]))
    ddp = nn.parallel.DistributedDataParallel(model)
    sgd = torch.optim.SGD(ddp.parameters(), lr=W2_LR)
    share = W2_BATCH // ranks
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(args.seed))
    steps = W2_QUICK_STEPS if args.quick else W2_STEPS

    def step(i):
        batch = order[(i * W2_BATCH) % (images.shape[0] - W2_BATCH):][:W2_BATCH][rank * share:(rank + 1) * share]
        sgd.zero_grad(set_to_none=True)
        F.cross_entropy(ddp(images[batch]), labels[batch]).backward()
        sgd.step()

    for i in range(W2_WARMUP_STEPS):
        step(i)
    torch_dist.barrier()
    start = time.perf_counter()
    for i in range(steps):
        step(W2_WARMUP_STEPS + i)
    torch_dist.barrier()
    if rank == 0:
        results.put(steps * W2_BATCH / (time.perf_counter() - start))
    torch_dist.destroy_process_group()


def main():
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument("--ranks", type=int, default=2))
    if args.workload != "W2":
        sys.exit("pytorch_ddp.py runs W2 only")
    port = 29500 + os.getpid() % 1000
    results = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(train, args=(args.ranks, args, port, results), nprocs=args.ranks, start_method="spawn")
    emit({"train_samples_per_s": results.get(), "ranks": args.ranks, "version": f"torch {torch.__version__} DDP gloo"})


if __name__ == "__main__":
    main()
