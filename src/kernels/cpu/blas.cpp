#include "kernels/cpu/blas.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
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

// OpenBLAS's OpenMP build, then whichever build the system links by default. Not the serial
// build: without its locking option it packs every call into one shared buffer, so the calls
// stheno's threads make side by side would corrupt each other's products (measured: wrong
// evaluations at 2 threads).
constexpr const char* kLibraries[] = {STHENO_OPENBLAS_LIBRARY, "libopenblas.so.0"};

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
  if (isa == Isa::avx512) return "SkylakeX";
  if (isa == Isa::avx2) return __builtin_cpu_is("amd") ? "Zen" : "Haswell";
  return nullptr;
}

struct Loaded {
  Blas functions{};
  GemmInfo info{};
  std::string error;  // why it could not be loaded; empty when it was
  void (*omp_set_num_threads)(int) = nullptr;  // null unless OpenBLAS is an OpenMP build
};

template <class F>
F symbol(void* handle, const char* name, std::string& error) {
  void* s = dlsym(handle, name);
  if (!s && error.empty()) error = std::string("stheno: the OpenBLAS library loaded has no symbol ") + name;
  return reinterpret_cast<F>(s);
}

void* open_library(bool& forced, std::string& tried) {
  // Already loaded by someone else: its kernel set is chosen; report it as it is.
  for (const char* name : kLibraries)
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_NOLOAD)) return handle;
  if (!std::getenv("OPENBLAS_CORETYPE"))
    if (const char* k = kernels_for(cpu_isa())) {
      setenv("OPENBLAS_CORETYPE", k, 0);
      forced = true;
    }
  void* handle = nullptr;
  for (const char* name : kLibraries) {
    if ((handle = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
    const char* why = dlerror();
    tried += std::string(tried.empty() ? "" : "; ") + name + ": " + (why ? why : "not found");
  }
  if (forced) unsetenv("OPENBLAS_CORETYPE");  // read at load only; keep it from child processes
  return handle;
}

Loaded load() {
  Loaded l;
  std::string tried;
  void* handle = open_library(l.info.forced, tried);
  if (!handle) {
    l.error = "stheno: cannot load OpenBLAS (" + tried + "); install Debian's libopenblas0-openmp (scripts/setup.sh does)";
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
  set_threads(1);
  // The OpenMP build follows the calling thread's OpenMP thread count instead: blas() sets it to
  // one on every thread that calls BLAS (a program's own OpenMP loops on those threads then run
  // on one thread unless it sets the count again).
  l.omp_set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "omp_set_num_threads"));
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

namespace {
thread_local bool thread_prepared = false;
}  // namespace

void prepare_thread_for_blas() {
  if (thread_prepared) return;
  thread_prepared = true;
  if (const Loaded& l = loaded(); l.omp_set_num_threads) l.omp_set_num_threads(1);
}

const Blas& blas() {
  const Loaded& l = loaded();
  if (!l.error.empty()) throw Error(l.error);
  prepare_thread_for_blas();
  return l.functions;
}

}  // namespace cpu

GemmInfo gemm_info() {
  cpu::blas();
  return cpu::loaded().info;
}

}  // namespace stheno
