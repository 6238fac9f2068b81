#pragma once
// Which instruction sets this CPU has and which ones stheno's kernels run on, for reports
// (stheno train --json, the benchmark tables) and for the test that no kernel set is older than
// the CPU supports.
#include <string>

namespace stheno {

// Instruction-set levels, oldest first. x86-64-v4 (AVX-512 F/BW/CD/DQ/VL) is avx512 and
// x86-64-v3 (AVX2, FMA) is avx2; avx and sse are older kernel sets a BLAS may fall back to.
enum class Isa { sse, avx, avx2, avx512 };
const char* isa_name(Isa isa);

// The newest level this CPU runs.
Isa cpu_isa();

struct GemmInfo {
  std::string library;  // the library and what it says of itself, e.g. "oneMKL: Intel(R) oneAPI ..."
  std::string kernels;  // the kernel set it runs: OpenBLAS's name for it ("SkylakeX"), or "oneMKL avx512"
  Isa isa;              // the instruction set of those kernels
  bool forced;          // stheno chose OpenBLAS's kernel set because the library's own table might not
};

// The GEMM library in use; loads it if it is not loaded yet.
GemmInfo gemm_info();

}  // namespace stheno
