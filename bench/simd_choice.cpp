// Which way to write SIMD kernels: stheno's plain loops compiled per instruction set, or the
// same kernels hand-written with Google Highway (here compiled for AVX-512). Also a scalar
// libm loop, the baseline that our own vectorisable exp replaces.
#include <benchmark/benchmark.h>
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <cmath>

#include "stheno/stheno.hpp"

namespace hn = hwy::HWY_NAMESPACE;
using namespace stheno;

namespace {

void hwy_add(const float* a, const float* b, float* y, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Add(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, y + i);
  for (; i < n; ++i) y[i] = a[i] + b[i];
}

void hwy_sigmoid(const float* x, float* y, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t lanes = hn::Lanes(d);
  const auto one = hn::Set(d, 1.0f);
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(hn::LoadU(d, x + i))))), d, y + i);
  for (; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void libm_sigmoid(const float* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

struct Data {
  Tensor a, b, out;
  explicit Data(std::int64_t n) {
    Generator gen(7);
    a = Tensor::normal({n}, gen);
    b = Tensor::normal({n}, gen);
    out = Tensor::empty({n});
  }
};

template <class Fn>
void run(benchmark::State& state, int streams, Fn fn) {
  set_num_threads(1);
  Data d(state.range(0));
  for (auto _ : state) {
    fn(d);
    benchmark::DoNotOptimize(d.out.raw_data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(state.range(0)) * 4.0 * streams * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void add_stheno(benchmark::State& s) { run(s, 3, [](Data& d) { add(d.a, d.b, d.out); }); }
void add_highway(benchmark::State& s) {
  run(s, 3, [](Data& d) { hwy_add(d.a.data<float>(), d.b.data<float>(), d.out.data<float>(), static_cast<std::size_t>(d.a.numel())); });
}
void sigmoid_stheno(benchmark::State& s) { run(s, 2, [](Data& d) { sigmoid(d.a, d.out); }); }
void sigmoid_highway(benchmark::State& s) {
  run(s, 2, [](Data& d) { hwy_sigmoid(d.a.data<float>(), d.out.data<float>(), static_cast<std::size_t>(d.a.numel())); });
}
void sigmoid_scalar_libm(benchmark::State& s) {
  run(s, 2, [](Data& d) { libm_sigmoid(d.a.data<float>(), d.out.data<float>(), static_cast<std::size_t>(d.a.numel())); });
}

}  // namespace

BENCHMARK(add_stheno)->Arg(1 << 14)->Arg(1 << 20);
BENCHMARK(add_highway)->Arg(1 << 14)->Arg(1 << 20);
BENCHMARK(sigmoid_stheno)->Arg(1 << 14)->Arg(1 << 20);
BENCHMARK(sigmoid_highway)->Arg(1 << 14)->Arg(1 << 20);
BENCHMARK(sigmoid_scalar_libm)->Arg(1 << 14)->Arg(1 << 20);

BENCHMARK_MAIN();
