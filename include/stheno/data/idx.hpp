#pragma once
// IDX, the format of the MNIST files: a 4-byte magic number (0, 0, a type code, the rank), one
// big-endian 32-bit size per dimension, then the elements in row-major order.
#include <cstdint>
#include <string>
#include <vector>

#include "stheno/tensor/shape.hpp"

namespace stheno::data {

// The unsigned-byte arrays (type code 0x08) that MNIST and Fashion-MNIST use.
struct IdxArray {
  Shape shape;
  std::vector<std::uint8_t> bytes;  // shape.numel() elements, row-major
};

// Parses a plain or gzip'd IDX file held in memory; `name` (usually its path) starts every error.
// Throws IOError naming it, and for malformed contents the byte offset (counted in the
// decompressed data) and what was expected there: a bad magic number, a type code other than
// 0x08, a dimension of 0, more than 2^34 elements, data shorter or longer than its dimensions say;
// for gzip data also a corrupt or truncated stream (with its offset in the file) and bytes after it.
IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& name);

// Reads the file at `path` (at most 2 GiB) and parses it with parse_idx.
IdxArray read_idx(const std::string& path);

}  // namespace stheno::data
