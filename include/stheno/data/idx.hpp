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

// Reads a plain or gzip'd IDX file. Throws IOError naming the path, and for malformed contents
// the byte offset (counted in the decompressed data) and what was expected there: a bad magic
// number, a type code other than 0x08, a dimension of 0, a file shorter or longer than its
// dimensions say.
IdxArray read_idx(const std::string& path);

}  // namespace stheno::data
