#include <atomic>
#include <cstdlib>
#include <string>

#include "kernels/cpu/simd/simd_kernels.hpp"
#include "stheno/kernels/cpu_info.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno::cpu {

namespace {
const SimdKernels* table_for(std::string_view isa) {
  if (isa == "avx512") return cpu_isa() >= Isa::avx512 ? &kernels_avx512() : nullptr;
  if (isa == "avx2") return cpu_isa() >= Isa::avx2 ? &kernels_avx2() : nullptr;
  if (isa == "sse2") return &kernels_sse2();
  return nullptr;
}

const SimdKernels* best_table() {
  if (const char* forced = std::getenv("STHENO_ISA")) {
    if (const SimdKernels* t = table_for(forced)) return t;
  }
  for (std::string_view isa : {"avx512", "avx2"})
    if (const SimdKernels* t = table_for(isa)) return t;
  return &kernels_sse2();
}

std::atomic<const SimdKernels*> current{nullptr};
}  // namespace

const SimdKernels& simd() {
  const SimdKernels* t = current.load(std::memory_order_acquire);
  if (!t) {
    t = best_table();
    current.store(t, std::memory_order_release);
  }
  return *t;
}

void use_isa(std::string_view isa) {
  const SimdKernels* t = table_for(isa);
  if (!t) throw ValueError("use_isa: instruction set '" + std::string(isa) + "' is unknown or not supported by this CPU");
  current.store(t, std::memory_order_release);
}

}  // namespace stheno::cpu
