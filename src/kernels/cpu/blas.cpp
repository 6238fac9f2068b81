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
constexpr const char* kOpenBlasLibraries[] = {STHENO_OPENBLAS_LIBRARY, "libopenblas.so.0"};

// oneMKL's single dynamic library: where scripts/setup.sh installs it, then the system's.
constexpr const char* kMklLibraries[] = {STHENO_MKL_LIBRARY, "libmkl_rt.so.3", "libmkl_rt.so.2"};

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
F symbol(void* handle, const char* library, const char* name, std::string& error) {
  void* s = dlsym(handle, name);
  if (!s && error.empty()) error = std::string("stheno: the ") + library + " library loaded has no symbol " + name;
  return reinterpret_cast<F>(s);
}

template <std::size_t N>
void* open_first(const char* const (&names)[N], std::string& tried) {
  for (const char* name : names) {
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return handle;
    const char* why = dlerror();
    tried += std::string(tried.empty() ? "" : "; ") + name + ": " + (why ? why : "not found");
  }
  return nullptr;
}

void* open_openblas(bool& forced, std::string& tried) {
  // Already loaded by someone else: its kernel set is chosen; report it as it is.
  for (const char* name : kOpenBlasLibraries)
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_NOLOAD)) return handle;
  if (!std::getenv("OPENBLAS_CORETYPE"))
    if (const char* k = kernels_for(cpu_isa())) {
      setenv("OPENBLAS_CORETYPE", k, 0);
      forced = true;
    }
  void* handle = open_first(kOpenBlasLibraries, tried);
  if (forced) unsetenv("OPENBLAS_CORETYPE");  // read at load only; keep it from child processes
  return handle;
}

Loaded load_openblas() {
  Loaded l;
  std::string tried;
  void* handle = open_openblas(l.info.forced, tried);
  if (!handle) {
    l.error = "stheno: cannot load OpenBLAS (" + tried + "); install Debian's libopenblas0-openmp (scripts/setup.sh does)";
    return l;
  }
  l.functions.sgemm = symbol<decltype(&cblas_sgemm)>(handle, "OpenBLAS", "cblas_sgemm", l.error);
  l.functions.dgemm = symbol<decltype(&cblas_dgemm)>(handle, "OpenBLAS", "cblas_dgemm", l.error);
  l.functions.library = BlasLibrary::openblas;
  auto set_threads = symbol<void (*)(int)>(handle, "OpenBLAS", "openblas_set_num_threads", l.error);
  auto corename = symbol<char* (*)()>(handle, "OpenBLAS", "openblas_get_corename", l.error);
  auto config = symbol<char* (*)()>(handle, "OpenBLAS", "openblas_get_config", l.error);
  if (!l.error.empty()) return l;
  // BLAS always runs on the thread that calls it: stheno splits big products between its own
  // threads, and a multi-threaded OpenBLAS call would allocate and compete for the same cores.
  set_threads(1);
  // The OpenMP build follows the calling thread's OpenMP thread count instead: blas() sets it to
  // one on every thread that calls BLAS (a program's own OpenMP loops on those threads then run
  // on one thread unless it sets the count again).
  l.omp_set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "omp_set_num_threads"));
  l.info.library = std::string("OpenBLAS: ") + config();
  l.info.kernels = corename();
  l.info.isa = isa_of_kernels(l.info.kernels);
  return l;
}

// oneMKL's code paths (mkl_cbwr_get_auto_branch: MKL_CBWR_AVX2 10, AVX512 12, AVX512_E1 14,
// AVX10 15; older ones below 10) by instruction set.
Isa isa_of_mkl_branch(int branch) {
  if (branch >= 12) return Isa::avx512;
  if (branch >= 10) return Isa::avx2;
  return branch == 9 ? Isa::avx : Isa::sse;
}

Loaded load_mkl() {
  Loaded l;
  std::string tried;
  void* handle = open_first(kMklLibraries, tried);
  if (!handle) {
    l.error = "stheno: cannot load oneMKL (" + tried + "); scripts/setup.sh installs it into build/mkl";
    return l;
  }
  auto set_threading = symbol<int (*)(int)>(handle, "oneMKL", "MKL_Set_Threading_Layer", l.error);
  auto version = symbol<void (*)(char*, int)>(handle, "oneMKL", "MKL_Get_Version_String", l.error);
  auto branch = symbol<int (*)()>(handle, "oneMKL", "MKL_CBWR_Get_Auto_Branch", l.error);
  l.functions.sgemm = symbol<decltype(&cblas_sgemm)>(handle, "oneMKL", "cblas_sgemm", l.error);
  l.functions.dgemm = symbol<decltype(&cblas_dgemm)>(handle, "oneMKL", "cblas_dgemm", l.error);
  l.functions.library = BlasLibrary::mkl;
  if (!l.error.empty()) return l;
  // Sequential: every call runs on the thread that makes it, as with OpenBLAS above.
  constexpr int kSequential = 1;
  set_threading(kSequential);
  char text[256] = {};
  version(text, sizeof text - 1);
  l.info.library = std::string("oneMKL: ") + text;
  const int path = branch();
  l.info.isa = isa_of_mkl_branch(path);
  l.info.kernels = std::string("oneMKL ") + isa_name(l.info.isa);
  return l;
}

void warn_if_older(const GemmInfo& info, const char* remedy) {
  const Isa cpu = cpu_isa();
  if (info.isa < cpu && cpu >= Isa::avx2)
    std::fprintf(stderr,
                 "stheno: warning: GEMM runs %s kernels (%s) on a CPU with %s; matrix products will be several times "
                 "slower. %s\n",
                 info.kernels.c_str(), isa_name(info.isa), isa_name(cpu), remedy);
}

// Which library runs GEMM. Where oneMKL is installed, on Intel CPUs: there it runs the products
// of the workloads 1.2–1.8× faster than OpenBLAS's best kernel set (bench/README.md, measured on
// Emerald Rapids); on AMD CPUs OpenBLAS's Zen set, which was measured there. STHENO_BLAS=openblas
// or =mkl chooses instead (the second is an error when oneMKL cannot be loaded).
Loaded load() {
  const char* asked = std::getenv("STHENO_BLAS");
  const std::string_view choice = asked ? asked : "";
  Loaded l;
  if (!choice.empty() && choice != "openblas" && choice != "mkl") {
    l.error = "stheno: STHENO_BLAS is '" + std::string(choice) + "'; expected openblas or mkl";
    return l;
  }
  const bool mkl = choice == "mkl" || (choice.empty() && __builtin_cpu_is("intel") && cpu_isa() >= Isa::avx2);
  if (mkl) l = load_mkl();
  if (!mkl || (!l.error.empty() && choice != "mkl")) l = load_openblas();
  if (l.error.empty())
    warn_if_older(l.info, l.functions.library == BlasLibrary::mkl
                              ? "oneMKL picks its code path by CPU; STHENO_BLAS=openblas chooses OpenBLAS."
                              : "Unset OPENBLAS_CORETYPE to let stheno choose.");
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
