#!/usr/bin/env python3
"""PyTorch's side of W1 to W4: eager mode (or torch.compile with --compile), float32, on the CPU.

W1 and W2: plain parameter tensors, autograd and an in-place update: on W1's tiny steps this
measured about 30% faster than nn.Sequential with torch.optim.SGD (foreach or not), whose per-step
Python overhead is most of the step, so it is the version to compare against.

W3 and W4 steps are long enough (tens of milliseconds) that Python's overhead does not matter, so
they use the idiomatic nn modules and torch.optim. W3 keeps the model and each batch in
channels_last: oneDNN's convolutions then skip reordering to and from its blocked layout, which
measured about 20% faster than the default layout at 1 and at 2 threads (im2col without oneDNN
was 2.2x slower at 1 thread). W4 uses nn.LSTM's fused path in its native (sequence, batch)
layout: batch_first measured no faster, only adding transposes, and foreach Adam was within noise
of the default.
All modules keep PyTorch's default initialisation: weights and biases of the convolutions and
linear layers uniform in ±1/sqrt(fan_in), every LSTM weight and both its bias vectors uniform in
±1/sqrt(hidden), the embedding N(0, 1).
"""
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import (W1_BATCH, W1_LR, W1_QUICK_TEST, W1_QUICK_TRAIN, W1_SIZES, W1_TEST, W1_TRAIN, W2_BATCH,
                    W2_EVAL_BATCH, W2_LR, W2_QUICK_STEPS, W2_SIZES, W2_STEPS, W2_WARMUP_EVAL_BATCHES,
                    W2_WARMUP_STEPS, W3_BATCH, W3_CLASSES, W3_CONV1, W3_CONV2, W3_HIDDEN, W3_KERNEL, W3_LR,
                    W3_MOMENTUM, W3_PADDING, W3_POOL, W3_QUICK_STEPS, W3_STEPS, W3_WARMUP_STEPS, W4_BATCH,
                    W4_EMBED, W4_HIDDEN, W4_LOSS_STEPS, W4_LR, W4_QUICK_STEPS, W4_SEQ, W4_STEPS, W4_WARMUP_STEPS,
                    emit, load_split, load_text, parse_args, vocabulary)


def load(data, split, limit):
    images, labels = load_split(np, data, split, limit, np.float32)
    return torch.from_numpy(images), torch.from_numpy(labels)


def compiled(fn, args):
    """fn under torch.compile with --compile (PyTorch 2.x, from PyPI); fn itself otherwise."""
    return torch.compile(fn) if args.compile else fn


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

    net = compiled(net, args)
    if args.compile:  # compile forward and backward outside the clock, on a batch of zeros
        sgd_step(params, F.mse_loss(net(torch.zeros(W1_BATCH, n_in)), targets[:W1_BATCH], reduction="sum"), 0.0)
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

    net = compiled(net, args)
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


def run_w3(args):
    steps = W3_QUICK_STEPS if args.quick else W3_STEPS
    images, labels = load(args.data, "train", 60_000)
    images = images.reshape(-1, 1, 28, 28)

    k, pad, pool = W3_KERNEL, W3_PADDING, W3_POOL
    side = 28 // pool // pool
    net = nn.Sequential(
        nn.Conv2d(1, W3_CONV1, k, padding=pad), nn.ReLU(), nn.MaxPool2d(pool),
        nn.Conv2d(W3_CONV1, W3_CONV2, k, padding=pad), nn.ReLU(), nn.MaxPool2d(pool),
        nn.Flatten(), nn.Linear(W3_CONV2 * side * side, W3_HIDDEN), nn.ReLU(), nn.Linear(W3_HIDDEN, W3_CLASSES),
    ).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=W3_LR, momentum=W3_MOMENTUM)
    net = compiled(net, args)
    order = torch.randperm(len(images))

    def train_step(i):
        batch = order[i * W3_BATCH:(i + 1) * W3_BATCH]
        x = images[batch].contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(net(x), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for i in range(W3_WARMUP_STEPS):
        train_step(i)
    start = time.perf_counter()
    for i in range(W3_WARMUP_STEPS, W3_WARMUP_STEPS + steps):
        train_step(i)
    seconds = time.perf_counter() - start
    emit({"train_samples_per_s": steps * W3_BATCH / seconds, "version": f"torch {torch.__version__}"})


class CharLSTM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embed = nn.Embedding(vocab, W4_EMBED)
        self.lstm = nn.LSTM(W4_EMBED, W4_HIDDEN)
        self.out = nn.Linear(W4_HIDDEN, vocab)

    def forward(self, x):
        """(seq, batch) tokens to (seq, batch, vocab) logits, from a zero state."""
        hidden, _ = self.lstm(self.embed(x))
        return self.out(hidden)


def run_w4(args):
    steps = W4_QUICK_STEPS if args.quick else W4_STEPS
    text = load_text(args.text)
    vocab = vocabulary(text)
    token_of = torch.zeros(256, dtype=torch.int64)
    token_of[vocab] = torch.arange(len(vocab))
    tokens = token_of[torch.from_numpy(np.frombuffer(text, dtype=np.uint8).astype(np.int64))]

    net = CharLSTM(len(vocab))
    optimizer = torch.optim.Adam(net.parameters(), lr=W4_LR)
    net = compiled(net, args)
    window = torch.arange(W4_SEQ + 1).unsqueeze(1)  # (seq + 1, 1): one column per start offset
    losses = []

    def train_step():
        # Starts in [0, len - seq - 1], so that the targets' last byte is still in the text.
        starts = torch.randint(0, len(tokens) - W4_SEQ, (W4_BATCH,))
        chunk = tokens[window + starts]
        logits = net(chunk[:-1])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), chunk[1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    for _ in range(W4_WARMUP_STEPS):
        train_step()
    start = time.perf_counter()
    for _ in range(steps):
        losses.append(train_step())
    seconds = time.perf_counter() - start
    emit({"train_chars_per_s": steps * W4_BATCH * W4_SEQ / seconds,
          "loss": torch.stack(losses[-W4_LOSS_STEPS:]).mean().item(), "version": f"torch {torch.__version__}"})


def main():
    args = parse_args(__doc__.splitlines()[0], lambda p: p.add_argument(
        "--compile", action="store_true", help="run the model under torch.compile (PyTorch 2.x)"))
    if args.compile and not hasattr(torch, "compile"):
        emit({"unsupported": f"torch {torch.__version__} has no torch.compile"})
        sys.exit(0)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    {"W1": run_w1, "W2": run_w2, "W3": run_w3, "W4": run_w4}[args.workload](args)


if __name__ == "__main__":
    main()
