#!/usr/bin/env python3
"""Reads a safetensors file by the public specification, independently of stheno, and prints
what it holds, so that tests/test_safetensors.cpp can check that other programs read what stheno
writes. Uses only json, struct and numpy.

    read_safetensors.py FILE

Prints tab-separated lines, tensors in the order of their data in the file:

    header_length  N
    metadata       KEY  VALUE
    tensor         NAME  DTYPE  SHAPE  SUM  WEIGHTED_SUM

SHAPE is the dimensions joined by "x" ("" for a scalar). SUM is the float64 sum of the elements;
WEIGHTED_SUM is sum(i * x[i]) over the row-major flattening, so data written in the wrong order
(a transposed view copied column by column, say) changes it even when SUM stays the same. Both
are printed with repr(), which round-trips float64 exactly.

Exits with status 1 and a message on stderr if the file breaks the specification, including the
rules stheno's writer promises: header padded with spaces so the data starts 8-byte aligned, and
tensors' data back to back with no gaps, overlaps or trailing bytes.
"""
import json
import struct
import sys

import numpy as np

NUMPY_DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4"}


class SpecViolation(Exception):
    pass


def reject_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise SpecViolation(f"duplicate keys in the header: {duplicates}")
    return dict(pairs)


def read_header(data):
    if len(data) < 8:
        raise SpecViolation(f"file is {len(data)} bytes, shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", data[:8])
    if 8 + length > len(data):
        raise SpecViolation(f"header length {length} runs past the end of a {len(data)}-byte file")
    if (8 + length) % 8 != 0:
        raise SpecViolation(f"data section starts at byte {8 + length}, not a multiple of 8")
    text = data[8:8 + length].decode("utf-8")
    if not text.startswith("{"):
        raise SpecViolation("header does not start with '{'")
    header, end = json.JSONDecoder(object_pairs_hook=reject_duplicate_keys).raw_decode(text)
    if text[end:].strip(" ") != "":
        raise SpecViolation(f"header is padded with something other than spaces: {text[end:]!r}")
    return length, header


def read_tensor(name, entry, data_section):
    if entry["dtype"] not in NUMPY_DTYPES:
        raise SpecViolation(f"tensor {name!r}: unexpected dtype {entry['dtype']!r}")
    dtype = np.dtype(NUMPY_DTYPES[entry["dtype"]])
    shape = tuple(int(d) for d in entry["shape"])
    begin, end = (int(x) for x in entry["data_offsets"])
    count = 1
    for d in shape:
        count *= d
    if end - begin != count * dtype.itemsize:
        raise SpecViolation(f"tensor {name!r}: data_offsets {[begin, end]} do not fit shape {list(shape)}")
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    return np.frombuffer(data_section, dtype=dtype, count=count, offset=begin).reshape(shape)


def summarize(path):
    with open(path, "rb") as f:
        data = f.read()
    length, header = read_header(data)
    data_section = data[8 + length:]
    metadata = header.pop("__metadata__", {})
    lines = [f"header_length\t{length}"]
    lines += [f"metadata\t{key}\t{value}" for key, value in sorted(metadata.items())]

    entries = sorted(header.items(), key=lambda item: tuple(item[1]["data_offsets"]))
    expected_begin = 0
    for name, entry in entries:
        begin, end = entry["data_offsets"]
        if begin != expected_begin:
            raise SpecViolation(f"tensor {name!r} starts at {begin}, expected {expected_begin}")
        expected_begin = end
        values = read_tensor(name, entry, data_section).astype(np.float64).ravel()
        weighted = float(np.sum(values * np.arange(values.size, dtype=np.float64)))
        shape = "x".join(str(d) for d in entry["shape"])
        lines.append(f"tensor\t{name}\t{entry['dtype']}\t{shape}\t{float(np.sum(values))!r}\t{weighted!r}")
    if expected_begin != len(data_section):
        raise SpecViolation(f"{len(data_section) - expected_begin} trailing bytes after the last tensor")
    return lines


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} FILE", file=sys.stderr)
        return 2
    try:
        print("\n".join(summarize(argv[1])))
    except (SpecViolation, KeyError, ValueError, UnicodeDecodeError) as error:
        print(f"{argv[1]}: not a valid safetensors file: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
