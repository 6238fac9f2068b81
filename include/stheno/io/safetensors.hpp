#pragma once
// Tensors on disk in the safetensors format (https://github.com/huggingface/safetensors), so that
// checkpoints written here load in PyTorch, NumPy or JAX and theirs load here:
//
//   8 bytes    N, the header length, unsigned little-endian
//   N bytes    UTF-8 JSON: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
//              ..., "__metadata__": {"key": "value"}}, padded with spaces so that the data
//              starts at a multiple of 8 bytes
//   the rest   every tensor's bytes, little-endian and row-major, at its data_offsets (counted
//              from the end of the header), with no gaps, overlaps or trailing bytes
//
// Supported dtypes: F32 (float32), F64 (float64), I32 (int32).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stheno/tensor/tensor.hpp"

namespace stheno::io {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Writes `tensors` (in this order, any layout: views are written row-major) and `metadata` to
// `path`, replacing any existing file atomically (see write_file_atomically).
// Throws ValueError, writing nothing, for an undefined tensor, an empty or duplicate name, the
// reserved name "__metadata__", a name or metadata key longer than 1024 bytes, or a name or
// metadata string that is not valid UTF-8; IOError if
// the file cannot be written.
void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// A loaded file: its tensors (contiguous, each with its own storage), in the order of their data
// in the file, which is the order they were saved in.
struct SafetensorsFile {
  std::vector<NamedTensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string path;

  bool contains(const std::string& name) const;
  // The tensor called `name`; throws ValueError naming the file and listing the names it has.
  const Tensor& get(const std::string& name) const;
};

// Reads and fully validates a safetensors file. A malformed file is an IOError that names the
// path, the byte offset of the problem and what was expected: a file too short for the header
// length, a header length past the end of the file (or over 16 MiB), a header holding a NUL
// byte or nesting deeper than 8 levels, JSON that does not parse (including numbers beyond a
// double's range) or is not an object of tensor entries, an empty tensor name, a tensor name or
// metadata key longer than 1024 bytes (what save_safetensors would refuse), an entry
// without a valid "dtype", "shape" or "data_offsets", data_offsets that disagree with the shape,
// run past the end of the file, overlap or leave gaps, and trailing bytes. A well-formed file
// that stheno cannot represent is a DTypeError (a dtype other than F32, F64, I32) or a
// ShapeError (rank above kMaxRank). Messages quote at most 64 bytes of any name or value.
SafetensorsFile load_safetensors(const std::string& path);

// The same for a whole file held in memory; `name` (usually its path) is what errors call it.
SafetensorsFile parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& name);

// Loads the file at `path` into existing tensors, which keep their storage (and so every view and
// graph parameter sharing it) and their layout. The file must hold exactly the targets' names,
// dtypes and shapes. Everything is compared before anything is copied, and a mismatch throws one
// error listing every difference (missing in the file, unexpected in the file, dtype, shape):
// ShapeError if all differences are shapes, DTypeError if all are dtypes, ValueError otherwise.
// On any error no target is modified.
void load_into(const std::string& path, const std::vector<NamedTensor>& targets);

}  // namespace stheno::io
