#!/usr/bin/env python3
"""JAX's side of W1 and W2: the whole training step (forward, gradient, SGD update) under jax.jit.

The training set and the epoch's permutation live on the device; each step slices its batch
inside the compiled function, so Python only dispatches one compiled call per step. The first
(compiling) step is made before the clock starts. JAX comes from PyPI (`jax[cpu]`), installed by
`scripts/setup-bench.sh --pypi` into build/bench-venv.
"""
import os
import time

from common import (W1_BATCH, W1_LR, W1_QUICK_TEST, W1_QUICK_TRAIN, W1_SIZES, W1_TEST, W1_TRAIN, W2_BATCH, W2_LR,
                    W2_QUICK_STEPS, W2_SIZES, W2_STEPS, W2_WARMUP_STEPS, emit, load_split, parse_args)


def threads_flag(threads):
    # XLA's CPU client sizes its pools from this flag; it must be set before jax is imported.
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"
                               f" intra_op_parallelism_threads={threads}")


def run_w1(args, jax, jnp, np):
    n_train, n_test = (W1_QUICK_TRAIN, W1_QUICK_TEST) if args.quick else (W1_TRAIN, W1_TEST)
    images, labels = load_split(np, args.data, "train", n_train, np.float32)
    test_images, test_labels = load_split(np, args.data, "t10k", n_test, np.float32)
    targets = np.eye(10, dtype=np.float32)[labels]
    n_in, n_hidden, n_out = W1_SIZES
    key = jax.random.PRNGKey(args.seed)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    # Nielsen: weights and biases N(0, 1).
    params = (jax.random.normal(k1, (n_in, n_hidden)), jax.random.normal(k2, (n_hidden,)),
              jax.random.normal(k3, (n_hidden, n_out)), jax.random.normal(k4, (n_out,)))

    def net(p, x):
        w1, b1, w2, b2 = p
        return jax.nn.sigmoid(jax.nn.sigmoid(x @ w1 + b1) @ w2 + b2)

    def loss(p, x, y):  # mean over the batch of ½‖a − y‖²
        return 0.5 * jnp.sum((net(p, x) - y) ** 2) / x.shape[0]

    @jax.jit
    def step(p, xs, ys, order, k):
        batch = jax.lax.dynamic_slice_in_dim(order, k, W1_BATCH)
        g = jax.grad(loss)(p, xs[batch], ys[batch])
        return tuple(w - W1_LR * gw for w, gw in zip(p, g))

    xs, ys = jax.device_put(images), jax.device_put(targets)
    rng = np.random.default_rng(args.seed)
    order = jax.device_put(rng.permutation(n_train).astype(np.int32))
    jax.block_until_ready(step(params, xs, ys, order, 0))  # compile outside the clock

    start = time.perf_counter()
    order = jax.device_put(rng.permutation(n_train).astype(np.int32))
    for k in range(0, n_train - W1_BATCH + 1, W1_BATCH):
        params = step(params, xs, ys, order, k)
    jax.block_until_ready(params)
    seconds = time.perf_counter() - start

    predictions = np.asarray(jnp.argmax(net(params, jax.device_put(test_images)), axis=1))
    emit({"seconds_per_epoch": seconds, "test_accuracy": float((predictions == test_labels).mean()),
          "version": f"jax {jax.__version__}"})


def run_w2(args, jax, jnp, np):
    steps = W2_QUICK_STEPS if args.quick else W2_STEPS
    images, labels = load_split(np, args.data, "train", 60_000, np.float32)
    n_in, n_hidden, n_out = W2_SIZES
    key = jax.random.PRNGKey(args.seed)
    k1, k2 = jax.random.split(key)
    # PyTorch's nn.Linear default: uniform in ±1/sqrt(fan_in), biases too.
    bound1, bound2 = 1 / np.sqrt(n_in), 1 / np.sqrt(n_hidden)
    params = (jax.random.uniform(k1, (n_in, n_hidden), minval=-bound1, maxval=bound1), jnp.zeros(n_hidden),
              jax.random.uniform(k2, (n_hidden, n_out), minval=-bound2, maxval=bound2), jnp.zeros(n_out))

    def loss(p, x, y):
        w1, b1, w2, b2 = p
        logits = jax.nn.relu(x @ w1 + b1) @ w2 + b2
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def step(p, xs, ys, order, k):
        batch = jax.lax.dynamic_slice_in_dim(order, k, W2_BATCH)
        g = jax.grad(loss)(p, xs[batch], ys[batch])
        return tuple(w - W2_LR * gw for w, gw in zip(p, g))

    xs, ys = jax.device_put(images), jax.device_put(labels.astype(np.int32))
    rng = np.random.default_rng(args.seed)
    order = jax.device_put(rng.permutation(len(images)).astype(np.int32))
    for s in range(W2_WARMUP_STEPS):
        params = step(params, xs, ys, order, s * W2_BATCH)
    jax.block_until_ready(params)
    start = time.perf_counter()
    for s in range(steps):
        params = step(params, xs, ys, order, ((s + W2_WARMUP_STEPS) * W2_BATCH) % (len(images) - W2_BATCH))
    jax.block_until_ready(params)
    emit({"train_samples_per_s": steps * W2_BATCH / (time.perf_counter() - start),
          "version": f"jax {jax.__version__}"})


def main():
    args = parse_args(__doc__.splitlines()[0])
    threads_flag(args.threads)
    import jax
    import jax.numpy as jnp
    import numpy as np
    if args.workload == "W1":
        run_w1(args, jax, jnp, np)
    elif args.workload == "W2":
        run_w2(args, jax, jnp, np)
    else:
        emit({"unsupported": f"{args.workload} has no JAX version"})


if __name__ == "__main__":
    main()
