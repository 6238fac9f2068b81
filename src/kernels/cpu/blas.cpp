#include "kernels/cpu/blas.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "stheno/kernels/cpu_info.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    case Isa::avx: return "avx";
    case Isa::sse: return "sse";
  }
  return "?";
}

Isa cpu_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return Isa::avx512;
  if (__builtin_cpu_supports("x86-64-v3")) return Isa::avx2;
  if (__builtin_cpu_supports("avx")) return Isa::avx;
  return Isa::sse;
}

namespace cpu {

namespace {

constexpr const char* kLibrary = STHENO_OPENBLAS_SONAME;

// OpenBLAS's kernel-set names (openblas_get_corename) by the instruction set they are written in.
Isa isa_of_kernels(std::string_view core) {
  std::string lower(core);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (std::string_view k : {"skylakex", "cooperlake", "sapphirerapids"})
    if (lower == k) return Isa::avx512;
  for (std::string_view k : {"haswell", "zen", "excavator"})
    if (lower == k) return Isa::avx2;
  for (std::string_view k : {"sandybridge", "bulldozer", "piledriver", "steamroller"})
    if (lower == k) return Isa::avx;
  return Isa::sse;
}

// The kernel set for this CPU's instruction set, named so that OpenBLAS cannot fall back to an
// older one when its table lacks the CPU model. (Its SkylakeX set runs on every AVX-512 CPU, its
// Haswell and Zen sets on every AVX2 one; Zen's blocking suits AMD's caches.)
const char* kernels_for(Isa isa) {
  __builtin_cpu_init();
  if (isa == Isa::avx512) return "SkylakeX";
  if (isa == Isa::avx2) return __builtin_cpu_is("amd") ? "Zen" : "Haswell";
  return nullptr;
}

struct Loaded {
  Blas functions{};
  GemmInfo info{};
  std::string error;  // why it could not be loaded; empty when it was
};

template <class F>
F symbol(void* handle, const char* name, std::string& error) {
  void* s = dlsym(handle, name);
  if (!s && error.empty()) error = std::string("stheno: ") + kLibrary + " has no symbol " + name;
  return reinterpret_cast<F>(s);
}

Loaded load() {
  Loaded l;
  // Already loaded by someone else: its kernel set is chosen; report it as it is.
  void* handle = dlopen(kLibrary, RTLD_NOW | RTLD_NOLOAD);
  if (!handle && !std::getenv("OPENBLAS_CORETYPE"))
    if (const char* k = kernels_for(cpu_isa())) {
      setenv("OPENBLAS_CORETYPE", k, 0);
      l.info.forced = true;
    }
  if (!handle) handle = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (l.info.forced) unsetenv("OPENBLAS_CORETYPE");  // read at load only; keep it from child processes
  if (!handle) {
    const char* why = dlerror();
    l.error = std::string("stheno: cannot load the BLAS library ") + kLibrary + " (" + (why ? why : "unknown reason") +
              "); install Debian's libopenblas0 (scripts/setup.sh does)";
    return l;
  }
  l.functions.sgemm = symbol<decltype(&cblas_sgemm)>(handle, "cblas_sgemm", l.error);
  l.functions.dgemm = symbol<decltype(&cblas_dgemm)>(handle, "cblas_dgemm", l.error);
  auto set_threads = symbol<void (*)(int)>(handle, "openblas_set_num_threads", l.error);
  auto corename = symbol<char* (*)()>(handle, "openblas_get_corename", l.error);
  auto config = symbol<char* (*)()>(handle, "openblas_get_config", l.error);
  if (!l.error.empty()) return l;
  // BLAS always runs on the thread that calls it: stheno splits big products between its own
  // threads, and a multi-threaded OpenBLAS call would allocate and compete for the same cores.
  // OpenBLAS's OpenMP build also sets the caller's OpenMP thread count, which is the program's
  // own business, so it is put back.
  auto omp_get = reinterpret_cast<int (*)()>(dlsym(handle, "omp_get_max_threads"));
  auto omp_set = reinterpret_cast<void (*)(int)>(dlsym(handle, "omp_set_num_threads"));
  const int omp_threads = omp_get && omp_set ? omp_get() : 0;
  set_threads(1);
  if (omp_threads > 0) omp_set(omp_threads);
  l.info.library = config();
  l.info.kernels = corename();
  l.info.isa = isa_of_kernels(l.info.kernels);
  const Isa cpu = cpu_isa();
  if (l.info.isa < cpu && cpu >= Isa::avx2)
    std::fprintf(stderr,
                 "stheno: warning: OpenBLAS runs its %s kernels (%s) on a CPU with %s; matrix products will be several "
                 "times slower. Unset OPENBLAS_CORETYPE to let stheno choose.\n",
                 l.info.kernels.c_str(), isa_name(l.info.isa), isa_name(cpu));
  return l;
}

const Loaded& loaded() {
  static const Loaded l = load();
  return l;
}

// Load while the process is still single-threaded: choosing the kernel set sets an environment
// variable, which is not safe once other threads may be reading the environment.
[[maybe_unused]] const bool loaded_at_start = (loaded(), true);

}  // namespace

const Blas& blas() {
  const Loaded& l = loaded();
  if (!l.error.empty()) throw Error(l.error);
  return l.functions;
}

}  // namespace cpu

GemmInfo gemm_info() {
  cpu::blas();
  return cpu::loaded().info;
}

}  // namespace stheno
