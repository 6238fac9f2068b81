// parse_safetensors on any bytes: tensors that agree with their header, or a stheno::Error.
#include <cstddef>
#include <cstdint>

#include "stheno/io/safetensors.hpp"
#include "stheno/tensor/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const stheno::io::SafetensorsFile file = stheno::io::parse_safetensors(data, size, "input.safetensors");
    std::size_t bytes = 0;
    for (const stheno::io::NamedTensor& t : file.tensors) {
      // Whatever loads must be savable: the same name rules hold both ways.
      if (t.name.empty() || !t.tensor.is_contiguous()) __builtin_trap();
      bytes += static_cast<std::size_t>(t.tensor.numel()) * stheno::itemsize(t.tensor.dtype());
    }
    if (bytes > size) __builtin_trap();
  } catch (const stheno::Error&) {
  }
  return 0;
}
