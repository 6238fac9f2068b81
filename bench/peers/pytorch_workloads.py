#!/usr/bin/env python3
"""PyTorch's side of W1 and W2: eager mode, float32, on the CPU.

Plain parameter tensors, autograd and an in-place update: on W1's tiny steps this measured about
30% faster than nn.Sequential with torch.optim.SGD (foreach or not), whose per-step Python
overhead is most of the step, so it is the version to compare against.
"""
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import (W1_BATCH, W1_LR, W1_QUICK_TEST, W1_QUICK_TRAIN, W1_SIZES, W1_TEST, W1_TRAIN, W2_BATCH,
                    W2_EVAL_BATCH, W2_LR, W2_QUICK_STEPS, W2_SIZES, W2_STEPS, W2_WARMUP_EVAL_BATCHES,
                    W2_WARMUP_STEPS, emit, load_split, parse_args)


def load(data, split, limit):
    images, labels = load_split(np, data, split, limit, np.float32)
    return torch.from_numpy(images), torch.from_numpy(labels)


def trainable(*tensors):
    return [t.requires_grad_() for t in tensors]


def sgd_step(params, loss, lr):
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for p, g in zip(params, grads):
            p.sub_(g, alpha=lr)


def run_w1(args):
    n_train, n_test = (W1_QUICK_TRAIN, W1_QUICK_TEST) if args.quick else (W1_TRAIN, W1_TEST)
    images, labels = load(args.data, "train", n_train)
    test_images, test_labels = load(args.data, "t10k", n_test)
    targets = F.one_hot(labels, 10).float()

    n_in, n_hidden, n_out = W1_SIZES
    # Nielsen: weights and biases N(0, 1).
    params = trainable(torch.randn(n_in, n_hidden), torch.randn(n_hidden), torch.randn(n_hidden, n_out), torch.randn(n_out))
    w1, b1, w2, b2 = params

    def net(x):
        return torch.sigmoid(torch.addmm(b2, torch.sigmoid(torch.addmm(b1, x, w1)), w2))

    start = time.perf_counter()
    order = torch.randperm(n_train)
    for k in range(0, n_train, W1_BATCH):
        batch = order[k:k + W1_BATCH]
        x, y = images[batch], targets[batch]
        # C = mean over the batch of ½‖a − y‖²: a summed squared error scaled by 1/(2m).
        sgd_step(params, F.mse_loss(net(x), y, reduction="sum") * (0.5 / len(x)), W1_LR)
    seconds = time.perf_counter() - start

    with torch.inference_mode():
        correct = (net(test_images).argmax(1) == test_labels).sum().item()
    emit({"seconds_per_epoch": seconds, "test_accuracy": correct / n_test, "version": f"torch {torch.__version__}"})


def run_w2(args):
    steps = W2_QUICK_STEPS if args.quick else W2_STEPS
    images, labels = load(args.data, "train", 60_000)
    test_images, test_labels = load(args.data, "t10k", 10_000)

    n_in, n_hidden, n_out = W2_SIZES
    # He initialisation, zero biases.
    params = trainable(torch.randn(n_in, n_hidden) * (2 / n_in) ** 0.5, torch.zeros(n_hidden),
                       torch.randn(n_hidden, n_out) * (2 / n_hidden) ** 0.5, torch.zeros(n_out))
    w1, b1, w2, b2 = params

    def net(x):
        return torch.addmm(b2, torch.relu(torch.addmm(b1, x, w1)), w2)

    order = torch.randperm(len(images))

    def train_step(i):
        batch = order[i * W2_BATCH:(i + 1) * W2_BATCH]
        sgd_step(params, F.cross_entropy(net(images[batch]), labels[batch]), W2_LR)

    for i in range(W2_WARMUP_STEPS):
        train_step(i)
    start = time.perf_counter()
    for i in range(W2_WARMUP_STEPS, W2_WARMUP_STEPS + steps):
        train_step(i)
    train_seconds = time.perf_counter() - start

    batches = test_images.split(W2_EVAL_BATCH)
    with torch.inference_mode():
        for x in batches[:W2_WARMUP_EVAL_BATCHES]:
            net(x)
        start = time.perf_counter()
        predicted = [net(x).argmax(1) for x in batches]
        infer_seconds = time.perf_counter() - start
    correct = (torch.cat(predicted) == test_labels).sum().item()
    emit({"train_samples_per_s": steps * W2_BATCH / train_seconds,
          "inference_samples_per_s": len(test_images) / infer_seconds,
          "test_accuracy": correct / len(test_images), "version": f"torch {torch.__version__}"})


def main():
    args = parse_args(__doc__.splitlines()[0])
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    run_w1(args) if args.workload == "W1" else run_w2(args)


if __name__ == "__main__":
    main()
