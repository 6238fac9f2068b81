#!/usr/bin/env python3
"""Decompresses Fashion-MNIST's gzip'd IDX files once into a cache directory, so that every
benchmark program reads the same plain files and none of them times gzip.

usage: bench/prepare_data.py [--source DIR] [--out DIR]
"""
import argparse
import gzip
import os
import shutil
from pathlib import Path

DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_CACHE = Path("build/bench-data")
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def prepare(source=DEFAULT_SOURCE, out=DEFAULT_CACHE):
    """Returns `out` holding the four plain IDX files; files already there are kept."""
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = out / name
        if target.exists():
            continue
        plain, packed = source / name, source / (name + ".gz")
        tmp = target.with_suffix(".tmp")
        if packed.exists():
            with gzip.open(packed, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        elif plain.exists():
            shutil.copyfile(plain, tmp)
        else:
            raise SystemExit(f"prepare_data: neither {packed} nor {plain} exists (run scripts/setup.sh)")
        os.replace(tmp, target)  # a killed run never leaves a truncated file behind
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--out", default=DEFAULT_CACHE)
    args = parser.parse_args()
    print(prepare(args.source, args.out))


if __name__ == "__main__":
    main()
