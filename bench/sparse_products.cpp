// stheno's side of the sparse benchmarks (bench/run_sparse.py): the time of one CSR × dense
// product, and of the dense product of the same matrices, for a random matrix of a given size
// and density. Prints one JSON object.
//
//   stheno_sparse_products --rows M --cols K --n N --density D [--threads T] [--seed S] [--dense]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

// Each entry stored with probability `density`, values uniform in [-1, 1).
CsrMatrix random_csr(std::int64_t rows, std::int64_t cols, double density, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::geometric_distribution<std::int64_t> gap(density);  // columns skipped before the next entry
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<std::int32_t> offsets{0}, columns;
  std::vector<float> values;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = gap(rng); c < cols; c += 1 + gap(rng)) {
      columns.push_back(static_cast<std::int32_t>(c));
      values.push_back(value(rng));
    }
    offsets.push_back(static_cast<std::int32_t>(columns.size()));
  }
  return CsrMatrix::from_arrays(rows, cols, Tensor::from<std::int32_t>(offsets), Tensor::from<std::int32_t>(columns),
                                Tensor::from<float>(values));
}

template <class Fn>
double median_seconds(Fn&& fn, int reps) {
  fn();  // warm-up
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t rows = 4096, cols = 16384, n = 64;
  double density = 0.04;
  int threads = 1, reps = 7;
  std::uint64_t seed = 1;
  bool dense = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw ValueError("stheno_sparse_products: " + a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--rows") rows = std::stoll(next());
    else if (a == "--cols") cols = std::stoll(next());
    else if (a == "--n") n = std::stoll(next());
    else if (a == "--density") density = std::stod(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--dense") dense = true;
    else throw ValueError("stheno_sparse_products: unknown argument " + a);
  }
  set_num_threads(threads);
  const CsrMatrix a = random_csr(rows, cols, density, seed);
  Generator gen(seed + 1);
  const Tensor b = Tensor::uniform({cols, n}, gen, -1, 1), out = Tensor::empty({rows, n});
  const double sparse_s =
      median_seconds([&] { csr_matmul(a.row_offsets(), a.columns(), a.values(), b, out); }, reps);
  double dense_s = 0;
  if (dense) {
    const Tensor ad = a.to_dense();
    dense_s = median_seconds([&] { matmul(ad, b, out); }, std::max(3, reps / 2));
  }
  std::printf("{\"rows\": %lld, \"cols\": %lld, \"n\": %lld, \"density\": %.6g, \"nnz\": %lld, \"sparse_ms\": %.4f, "
              "\"dense_ms\": %.4f, \"threads\": %d}\n",
              static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(n), a.density(),
              static_cast<long long>(a.nnz()), 1e3 * sparse_s, 1e3 * dense_s, threads);
}
