#pragma once
// The instruction sets whose kernel tables this CPU can run, for tests that run every table.
#include <string>
#include <vector>

#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno::testing {

// Every table the CPU supports, best first; leaves the best one in use.
inline std::vector<std::string> supported_isas() {
  std::vector<std::string> isas;
  for (const char* isa : {"avx512", "avx2", "sse2"}) {
    try {
      cpu::use_isa(isa);
      isas.push_back(isa);
    } catch (const ValueError&) {
    }
  }
  cpu::use_isa(isas.front());
  return isas;
}

}  // namespace stheno::testing
