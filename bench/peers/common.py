"""Shared by the Python peers: the command line, the workload constants, the IDX reader and W4's text.

The data directory holds the plain (decompressed) IDX files written by bench/prepare_data.py.
"""
import argparse
import json
import math
import os
import struct
from collections import Counter
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

# W3: a small CNN on Fashion-MNIST, conv(1->32, 5x5, pad 2)-ReLU-maxpool 2 -> conv(32->64, 5x5,
# pad 2)-ReLU-maxpool 2 -> flatten (C, H, W order) -> 3136-128 ReLU -> 128-10, softmax
# cross-entropy, SGD with momentum.
W3_CONV1, W3_CONV2, W3_KERNEL, W3_PADDING, W3_POOL = 32, 64, 5, 2, 2
W3_HIDDEN, W3_CLASSES = 128, 10
W3_LR, W3_MOMENTUM, W3_BATCH = 0.01, 0.9, 64
W3_STEPS, W3_QUICK_STEPS, W3_WARMUP_STEPS = 40, 3, 3

# W4: a character (byte) LSTM on the text that load_text() defines, embedding -> one LSTM layer
# -> linear to the vocabulary, cross-entropy over every position, Adam.
W4_EMBED, W4_HIDDEN = 64, 128
W4_LR, W4_BATCH, W4_SEQ = 0.002, 32, 32
W4_STEPS, W4_QUICK_STEPS, W4_WARMUP_STEPS = 60, 3, 3
W4_LOSS_STEPS = 10  # the reported loss is the mean over this many last timed steps: one step's is noisy
DEFAULT_TEXT = "/usr/share/common-licenses"


def parse_args(description, extra=None):
    """The flags every peer takes; `extra(parser)` may add the program's own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workload", required=True, choices=["W1", "W2", "W3", "W4"])
    parser.add_argument("--data", required=True, help="directory of plain IDX files (bench/prepare_data.py)")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="W4's text: a directory, see load_text()")
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


def load_text(directory=DEFAULT_TEXT):
    """W4's text as bytes: the regular files directly in `directory`, in order of file name
    compared byte by byte (so "Apache-2.0" < "BSD" < "GPL-3" < "LGPL-2"), each read whole and
    concatenated with nothing between them. Symbolic links are left out, since in Debian's
    /usr/share/common-licenses they only alias files already counted (GPL -> GPL-3), and so are
    subdirectories and special files. That directory gives 14 files, 237,320 bytes, 86 distinct
    byte values.
    """
    files = [p for p in Path(directory).iterdir() if p.is_file() and not p.is_symlink()]
    files.sort(key=lambda p: os.fsencode(p.name))
    text = b"".join(p.read_bytes() for p in files)
    if len(text) < W4_SEQ + 1:
        raise SystemExit(f"{directory}: W4 needs at least {W4_SEQ + 1} bytes of text, found {len(text)}")
    return text


def vocabulary(text):
    """The distinct byte values of `text` in increasing order; a byte's token is its index here."""
    return sorted(set(text))


def unigram_entropy(text):
    """Entropy in nats of the text's byte frequencies: the loss of a model that ignores context,
    the baseline a trained W4 model must beat."""
    n = len(text)
    return -sum(c / n * math.log(c / n) for c in Counter(text).values())


def emit(result):
    print(json.dumps(result), flush=True)
