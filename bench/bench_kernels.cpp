// Kernel microbenchmarks: GEMM in GFLOP/s at 1 and 2 threads, elementwise and reduction
// throughput in GB/s. bench/kernels_report.py runs this next to numpy and writes the table.
#include <benchmark/benchmark.h>

#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

void gemm(benchmark::State& state, DType dtype) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  set_num_threads(static_cast<int>(state.range(3)));
  Generator gen(1);
  const Tensor a = Tensor::normal({m, k}, gen, 0, 1, dtype);
  const Tensor b = Tensor::normal({k, n}, gen, 0, 1, dtype);
  const Tensor c = Tensor::empty({m, n}, dtype);
  for (auto _ : state) {
    matmul(a, b, c);
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(m * n * k) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void sgemm(benchmark::State& state) { gemm(state, DType::f32); }
void dgemm(benchmark::State& state) { gemm(state, DType::f64); }

void gemm_sizes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (auto [m, k, n] : {std::array<int, 3>{10, 784, 30}, {10, 30, 10}, {128, 784, 1000}, {256, 256, 256},
                           {512, 512, 512}, {1024, 1024, 1024}})
      b->Args({m, k, n, threads});
  b->ArgNames({"m", "k", "n", "threads"});
}

// out = op(a, b) over n float32 elements: 3 streams of 4 bytes.
void elementwise(benchmark::State& state, bool transcendental) {
  const std::int64_t n = state.range(0);
  set_num_threads(static_cast<int>(state.range(1)));
  Generator gen(2);
  const Tensor a = Tensor::normal({n}, gen), b = Tensor::normal({n}, gen), out = Tensor::empty({n});
  for (auto _ : state) {
    if (transcendental) sigmoid(a, out);
    else add(a, b, out);
    benchmark::DoNotOptimize(out.raw_data());
  }
  const double bytes = static_cast<double>(n) * 4.0 * (transcendental ? 2 : 3);
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void add_f32(benchmark::State& state) { elementwise(state, false); }
void sigmoid_f32(benchmark::State& state) { elementwise(state, true); }

void sum_f32(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  set_num_threads(static_cast<int>(state.range(1)));
  Generator gen(3);
  const Tensor a = Tensor::normal({n}, gen), out = Tensor::empty({});
  for (auto _ : state) reduce(ReduceOp::sum, a, {}, false, out);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(n) * 4e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void stream_sizes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (int n : {1 << 12, 1 << 16, 1 << 20, 1 << 24}) b->Args({n, threads});
  b->ArgNames({"n", "threads"});
}

}  // namespace

BENCHMARK(sgemm)->Apply(gemm_sizes)->UseRealTime();
BENCHMARK(dgemm)->Args({128, 784, 1000, 1})->Args({512, 512, 512, 1})->ArgNames({"m", "k", "n", "threads"})->UseRealTime();
BENCHMARK(add_f32)->Apply(stream_sizes)->UseRealTime();
BENCHMARK(sigmoid_f32)->Apply(stream_sizes)->UseRealTime();
BENCHMARK(sum_f32)->Apply(stream_sizes)->UseRealTime();

BENCHMARK_MAIN();
