// parse_idx on any bytes: an array whose size agrees with its shape, or a stheno::Error.
#include <cstddef>
#include <cstdint>

#include "stheno/data/idx.hpp"
#include "stheno/tensor/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const stheno::data::IdxArray array = stheno::data::parse_idx(data, size, "input.idx");
    if (array.bytes.size() != static_cast<std::size_t>(array.shape.numel())) __builtin_trap();
  } catch (const stheno::Error&) {
  }
  return 0;
}
