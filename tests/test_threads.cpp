#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/cpu/parallel.hpp"
#include "reference.hpp"
#include "stheno/kernels/cpu_info.hpp"

using namespace stheno;
using namespace stheno::testing;

// Results may differ between thread counts only by float rounding.
TEST(Threads, ResultsDoNotDependOnThreadCount) {
  const int original = num_threads();
  Generator gen(61);
  const Tensor x = Tensor::normal({300, 700}, gen);
  const Tensor w = Tensor::normal({700, 200}, gen);
  const Tensor big = Tensor::normal({1 << 20}, gen);
  std::vector<Tensor> results[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    EXPECT_EQ(num_threads(), threads);
    auto& r = results[threads - 1];
    r.push_back(sigmoid(x));
    r.push_back(add(x, x.slice(0, 0, 1)));
    r.push_back(matmul(x, w));
    r.push_back(sum(x, 0));
    r.push_back(sum(big).reshape({1}));
    r.push_back(max(big).reshape({1}));
    r.push_back(softmax(x));
  }
  for (std::size_t i = 0; i < results[0].size(); ++i)
    EXPECT_TRUE(allclose(results[0][i], results[1][i], 1e-5, 1e-3)) << "result " << i;  // 700-term dot products
  set_num_threads(original);
  EXPECT_THROW(set_num_threads(0), ValueError);
}

// Every part of a parallel loop runs exactly once, whichever thread claims it, and a loop started
// inside a part runs there, on that thread.
TEST(Threads, EveryPartRunsOnceAndNestedLoopsRunInline) {
  const int original = num_threads();
  for (int threads : {2, 3, 8}) {
    set_num_threads(threads);
    for (int repeat = 0; repeat < 200; ++repeat) {
      std::vector<std::atomic<int>> runs(static_cast<std::size_t>(threads));
      std::atomic<int> inner_elements{0};
      cpu::parallel_for(1000, threads, [&](std::int64_t begin, std::int64_t end, int part) {
        runs[static_cast<std::size_t>(part)]++;
        EXPECT_EQ(cpu::threads_for(1 << 30, 1 << 20), 1);
        const auto self = std::this_thread::get_id();
        cpu::parallel_for(end - begin, threads, [&](std::int64_t b, std::int64_t e, int) {
          EXPECT_EQ(std::this_thread::get_id(), self);
          inner_elements += static_cast<int>(e - b);
        });
      });
      for (auto& r : runs) ASSERT_EQ(r.load(), 1) << threads << " threads";
      ASSERT_EQ(inner_elements.load(), 1000);
    }
  }
  set_num_threads(original);
}

// BLAS is called from several threads at once (each part of a split product): every result must
// equal the one-thread result, call after call. (OpenBLAS's serial build shares one packing
// buffer between threads and fails this.)
TEST(Threads, ConcurrentBlasCallsDoNotInterfere) {
  const int original = num_threads();
  Generator gen(67);
  const Tensor x = Tensor::normal({1000, 256}, gen), w = Tensor::normal({256, 40}, gen);
  set_num_threads(1);
  const Tensor want = matmul(x, w);
  set_num_threads(2);
  const Tensor got = Tensor::empty({1000, 40});
  for (int i = 0; i < 300; ++i) {
    matmul(x, w, got);
    ASSERT_TRUE(allclose(got, want, 1e-5, 1e-4)) << "call " << i;
  }
  set_num_threads(original);
}

// GEMM never runs an older kernel set than this CPU has (OpenBLAS falls back to SSE3 kernels on
// CPU models its table lacks unless stheno names the set).
TEST(Threads, GemmKernelsMatchTheCpu) {
  __builtin_cpu_init();
  if (const char* asked = std::getenv("STHENO_BLAS"); asked && std::string(asked) == "mkl" && !__builtin_cpu_is("intel"))
    GTEST_SKIP() << "oneMKL forced onto a CPU not made by Intel, where it may choose an older code path (stheno warns)";
  const GemmInfo info = gemm_info();
  EXPECT_GE(static_cast<int>(info.isa), static_cast<int>(cpu_isa()))
      << info.library << ": kernels " << info.kernels << " (" << isa_name(info.isa) << ") on a CPU with "
      << isa_name(cpu_isa());
  EXPECT_FALSE(info.kernels.empty());
}

// The library is the one asked for (STHENO_BLAS), else oneMKL on an Intel CPU where it is
// installed (it is the faster one there, bench/README.md) and OpenBLAS everywhere else.
TEST(Threads, GemmLibraryIsChosenByCpu) {
  const char* asked = std::getenv("STHENO_BLAS");
  const bool mkl_installed = std::ifstream(STHENO_MKL_LIBRARY).good();
  __builtin_cpu_init();
  const bool want_mkl = asked ? std::string(asked) == "mkl"
                              : mkl_installed && __builtin_cpu_is("intel") && cpu_isa() >= Isa::avx2;
  const std::string library = gemm_info().library;
  EXPECT_EQ(library.rfind(want_mkl ? "oneMKL: " : "OpenBLAS: ", 0), 0u) << library;
}

TEST(Allclose, FollowsNumPy) {
  const Tensor a = Tensor::from<double>({1.0, 2.0, NAN});
  EXPECT_FALSE(allclose(a, a));
  EXPECT_TRUE(allclose(a, a, 1e-5, 1e-8, true));
  EXPECT_TRUE(allclose(Tensor::from<float>({1.0f}), Tensor::from<double>({1.000001})));
  EXPECT_FALSE(allclose(Tensor::from<float>({1.0f}), Tensor::from<double>({1.001})));
  EXPECT_TRUE(allclose(Tensor::ones({2, 3}), Tensor::ones({3})));
  EXPECT_THROW(allclose(Tensor::ones({2}), Tensor::ones({3})), ShapeError);
  EXPECT_TRUE(allclose(Tensor::from<double>({INFINITY}), Tensor::from<double>({INFINITY})));
}
