#!/usr/bin/env python3
"""numpy's side of W1, in float64 like the seed documents, two ways:

  --variant per-sample  Nielsen's network.py as written: back-propagate one sample (a column
                        vector) at a time and sum the gradients over the mini-batch.
  --variant batch       the same network and update with the mini-batch as one matrix.

W2 is not a numpy workload; it prints {"skipped": ...}. numpy's BLAS threads follow
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS, which --threads sets before numpy is imported.
"""
import os
import random
import sys
import time

from common import W1_BATCH, W1_LR, W1_QUICK_TEST, W1_QUICK_TRAIN, W1_SIZES, W1_TEST, W1_TRAIN, emit, load_split, parse_args


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    """network.py (Python 3 spelling), less what the benchmark does not run."""

    def __init__(self, sizes, rng):
        self.num_layers = len(sizes)
        self.biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
        self.weights = [rng.standard_normal((y, x)) for x, y in zip(sizes[:-1], sizes[1:])]

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def sgd_epoch(self, training_data, mini_batch_size, eta, shuffle):
        shuffle(training_data)
        n = len(training_data)
        for k in range(0, n, mini_batch_size):
            self.update_mini_batch(training_data[k:k + mini_batch_size], eta)

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def evaluate(self, test_data):
        return sum(int(np.argmax(self.feedforward(x)) == y) for x, y in test_data)


class BatchNetwork(Network):
    """The same parameters and update, with the mini-batch as an (m, 784) matrix."""

    def sgd_epoch(self, images, targets, mini_batch_size, eta, rng):
        (w1, w2), (b1, b2) = self.weights, self.biases
        b1, b2 = b1[:, 0], b2[:, 0]  # views: updating them in place updates self.biases
        order = rng.permutation(len(images))
        for k in range(0, len(images), mini_batch_size):
            batch = order[k:k + mini_batch_size]
            x, y = images[batch], targets[batch]
            a1 = sigmoid(x @ w1.T + b1)
            a2 = sigmoid(a1 @ w2.T + b2)
            delta2 = (a2 - y) * a2 * (1 - a2)
            delta1 = (delta2 @ w2) * a1 * (1 - a1)
            step = eta / len(batch)
            w2 -= step * (delta2.T @ a1)
            b2 -= step * delta2.sum(axis=0)
            w1 -= step * (delta1.T @ x)
            b1 -= step * delta1.sum(axis=0)


def main():
    args = parse_args(__doc__.splitlines()[0],
                      lambda p: p.add_argument("--variant", choices=["per-sample", "batch"], default="per-sample"))
    if args.workload == "W2":
        emit({"skipped": "W2's peers are PyTorch, libtorch and dlib; numpy runs W1 only"})
        return
    n_train, n_test = (W1_QUICK_TRAIN, W1_QUICK_TEST) if args.quick else (W1_TRAIN, W1_TEST)
    train_x, train_y = load_split(np, args.data, "train", n_train, np.float64)
    test_x, test_y = load_split(np, args.data, "t10k", n_test, np.float64)
    one_hot = np.eye(10)[train_y]
    rng = np.random.default_rng(args.seed)

    if args.variant == "per-sample":
        net = Network(W1_SIZES, rng)
        training_data = [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(train_x, one_hot)]
        start = time.perf_counter()
        net.sgd_epoch(training_data, W1_BATCH, W1_LR, random.Random(args.seed).shuffle)
        seconds = time.perf_counter() - start
    else:
        net = BatchNetwork(W1_SIZES, rng)
        start = time.perf_counter()
        net.sgd_epoch(train_x, one_hot, W1_BATCH, W1_LR, rng)
        seconds = time.perf_counter() - start

    correct = net.evaluate([(x.reshape(-1, 1), int(y)) for x, y in zip(test_x, test_y)])
    emit({"seconds_per_epoch": seconds, "test_accuracy": correct / len(test_y),
          "version": f"numpy {np.__version__}", "variant": args.variant})


if __name__ == "__main__":
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    os.environ["OMP_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = _threads  # read once, at import
    import numpy as np
    main()
