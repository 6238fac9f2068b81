// One GEMM library at a time, loaded by path, timed on the shapes stheno's workloads use:
//   stheno_gemm_choice LIBRARY.so [--threads N]
// prints one JSON line per shape. Built a second time with STHENO_SIDE as stheno_gemm_shapes,
// which times stheno's own matmul (out form) on the same shapes instead. bench/gemm_choice.py runs it for every library and kernel set
// (OPENBLAS_CORETYPE is read when OpenBLAS loads, so each set needs its own process) and prints
// the table of bench/README.md. Libraries are opened with dlopen so that several that export the
// same cblas symbols can be compared without linking any of them.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#ifdef STHENO_SIDE
#include <stheno/stheno.hpp>
#endif

namespace {

using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using DnnlSgemm = int (*)(char, char, long, long, long, float, const float*, long, const float*, long, float, float*, long);

constexpr int kRowMajor = 101, kNoTrans = 111;

struct GemmShape {
  int m, k, n;
};

double seconds_per_call(const auto& call, double flop) {
  const long reps = std::max(1L, static_cast<long>(2e8 / flop));
  double best = 1e30;
  call();
  for (int r = 0; r < 5; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < reps; ++i) call();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps);
  }
  return best;
}

const std::vector<GemmShape>& shapes() {
  // m×k×n: W1's products (batch 10), W2's (batch 128), the CNN's second convolution per image,
  // W4's recurrent product, and a large square one.
  static const std::vector<GemmShape> s = {{10, 784, 30}, {784, 10, 30}, {10, 30, 10}, {128, 784, 1000},
                                       {64, 800, 196}, {32, 128, 512}, {1024, 1024, 1024}};
  return s;
}

}  // namespace

#ifdef STHENO_SIDE
int main(int argc, char** argv) {
  using namespace stheno;
  set_num_threads(argc >= 3 && std::string(argv[1]) == "--threads" ? std::atoi(argv[2]) : 1);
  const GemmInfo info = gemm_info();
  for (const GemmShape& s : shapes()) {
    const Tensor a = Tensor::ones({s.m, s.k}), b = Tensor::ones({s.k, s.n}), c = Tensor::empty({s.m, s.n});
    const double flop = 2.0 * s.m * s.n * s.k;
    const double t = seconds_per_call([&] { matmul(a, b, c); }, flop);
    std::printf("{\"shape\": \"%dx%dx%d\", \"gflops\": %.2f, \"us\": %.3f, \"kernels\": \"%s\"}\n", s.m, s.k, s.n,
                flop / t * 1e-9, t * 1e6, info.kernels.c_str());
  }
  return 0;
}
#else
int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: stheno_gemm_choice LIBRARY.so [--threads N]\n");
    return 2;
  }
  const int threads = argc >= 4 && std::string(argv[2]) == "--threads" ? std::atoi(argv[3]) : 1;
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!lib) {
    std::fprintf(stderr, "stheno_gemm_choice: %s\n", dlerror());
    return 1;
  }
  auto cblas = reinterpret_cast<CblasSgemm>(dlsym(lib, "cblas_sgemm"));
  auto dnnl = reinterpret_cast<DnnlSgemm>(dlsym(lib, "dnnl_sgemm"));
  if (auto set = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads"))) set(threads);
  if (auto set = reinterpret_cast<void (*)(long)>(dlsym(lib, "bli_thread_set_num_threads"))) set(threads);
  if (auto set = reinterpret_cast<void (*)(int)>(dlsym(lib, "omp_set_num_threads"))) set(threads);
  auto corename = reinterpret_cast<char* (*)()>(dlsym(lib, "openblas_get_corename"));
  if (!cblas && !dnnl) {
    std::fprintf(stderr, "stheno_gemm_choice: %s has neither cblas_sgemm nor dnnl_sgemm\n", argv[1]);
    return 1;
  }
  for (const GemmShape& s : shapes()) {
    std::vector<float> a(static_cast<std::size_t>(s.m) * s.k), b(static_cast<std::size_t>(s.k) * s.n),
        c(static_cast<std::size_t>(s.m) * s.n);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 7) * 0.1f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 5) * 0.1f;
    const double flop = 2.0 * s.m * s.n * s.k;
    const double t = seconds_per_call(
        [&] {
          if (dnnl) dnnl('N', 'N', s.m, s.n, s.k, 1.f, a.data(), s.k, b.data(), s.n, 0.f, c.data(), s.n);
          else cblas(kRowMajor, kNoTrans, kNoTrans, s.m, s.n, s.k, 1.f, a.data(), s.k, b.data(), s.n, 0.f, c.data(), s.n);
        },
        flop);
    std::printf("{\"shape\": \"%dx%dx%d\", \"gflops\": %.2f, \"us\": %.3f, \"kernels\": \"%s\"}\n", s.m, s.k, s.n,
                flop / t * 1e-9, t * 1e6, corename ? corename() : "");
  }
  return 0;
}
#endif
