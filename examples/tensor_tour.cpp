// A first look at stheno: tensors, views, broadcasting, reductions and a matrix product.
#include <chrono>
#include <iostream>

#include "stheno/stheno.hpp"

using namespace stheno;

int main() {
  Generator gen(42);
  const Tensor x = Tensor::arange(0, 6).reshape({2, 3});
  std::cout << "x =\n" << x << "\n\n";
  std::cout << "x.t() (a view, no copy) =\n" << x.t() << "\n\n";
  const Tensor bias = Tensor::from<float>({10.f, 20.f, 30.f});
  std::cout << "x + bias (broadcast (2, 3) with (3,)) =\n" << add(x, bias) << "\n\n";
  std::cout << "sum over axis 0 = " << sum(x, 0) << "\n";
  std::cout << "softmax over the last axis =\n" << softmax(x) << "\n\n";

  const Tensor a = Tensor::normal({256, 784}, gen);
  const Tensor w = Tensor::normal({784, 1000}, gen, 0.0, 0.05);
  const Tensor y = matmul(a, w);  // warm-up
  const auto start = std::chrono::steady_clock::now();
  constexpr int kRepeats = 20;
  for (int i = 0; i < kRepeats; ++i) matmul(a, w, y);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / kRepeats;
  std::cout << "matmul (256, 784)·(784, 1000) on " << num_threads() << " threads: " << seconds * 1e3 << " ms, "
            << 2.0 * 256 * 784 * 1000 / seconds * 1e-9 << " GFLOP/s\n";
  std::cout << "sigmoid of the first row, first 5 values: " << sigmoid(y.select(0, 0).slice(0, 0, 5)) << "\n";
  return 0;
}
