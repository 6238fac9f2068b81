"""Shared by the Python peers: the command line, the workload constants and the IDX reader.

The data directory holds the plain (decompressed) IDX files written by bench/prepare_data.py.
"""
import argparse
import json
import struct
from pathlib import Path

# W1: the seed documents' network (Nielsen's network.py on Fashion-MNIST).
W1_SIZES = (784, 30, 10)
W1_LR, W1_BATCH = 3.0, 10
W1_TRAIN, W1_TEST = 50_000, 10_000
W1_QUICK_TRAIN, W1_QUICK_TEST = 2_000, 1_000

# W2: the GPU talk's network, on the CPU.
W2_SIZES = (784, 1000, 10)
W2_LR, W2_BATCH = 0.1, 128
W2_STEPS, W2_QUICK_STEPS, W2_WARMUP_STEPS = 200, 10, 3
W2_EVAL_BATCH, W2_WARMUP_EVAL_BATCHES = 1000, 2


def parse_args(description, extra=None):
    """The flags every peer takes; `extra(parser)` may add the program's own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workload", required=True, choices=["W1", "W2"])
    parser.add_argument("--data", required=True, help="directory of plain IDX files (bench/prepare_data.py)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    if extra:
        extra(parser)
    return parser.parse_args()


def read_idx(path):
    """Returns (shape, raw bytes) of an unsigned-byte IDX file."""
    data = Path(path).read_bytes()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return shape, data[4 + 4 * ndim:]


def load_split(np, data_dir, split, limit, dtype):
    """Images as a (n, 784) array scaled to [0, 1] and labels as int64, for split 'train' or 't10k'."""
    shape, pixels = read_idx(Path(data_dir) / f"{split}-images-idx3-ubyte")
    _, labels = read_idx(Path(data_dir) / f"{split}-labels-idx1-ubyte")
    images = np.frombuffer(pixels, dtype=np.uint8).reshape(shape[0], -1)[:limit]
    return images.astype(dtype) / dtype(255), np.frombuffer(labels, dtype=np.uint8)[:limit].astype(np.int64)


def emit(result):
    print(json.dumps(result), flush=True)
