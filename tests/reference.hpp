#pragma once
// Naive float64 references and input generators shared by the kernel tests.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "stheno/stheno.hpp"

namespace stheno::testing {

// The message of the stheno Error that f throws, or "<no error>".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

// Calls fn(index) for every multi-index of `shape` in row-major order.
inline void for_each_index(const Shape& shape, const std::function<void(const std::vector<std::int64_t>&)>& fn) {
  if (shape.numel() == 0) return;
  std::vector<std::int64_t> index(static_cast<std::size_t>(shape.rank()), 0);
  while (true) {
    fn(index);
    int d = shape.rank() - 1;
    for (; d >= 0; --d) {
      auto& i = index[static_cast<std::size_t>(d)];
      if (++i < shape[d]) break;
      i = 0;
    }
    if (d < 0) return;
  }
}

// The elements as doubles in row-major order, read one by one through at().
inline std::vector<double> values(const Tensor& t) {
  std::vector<double> v;
  for_each_index(t.shape(), [&](const std::vector<std::int64_t>& i) { v.push_back(t.at(i)); });
  return v;
}

// A tensor of `shape` with values from `gen`, laid out as requested:
// 0 = contiguous, 1 = a strided slice of a bigger tensor, 2 = a transposed copy viewed back.
inline Tensor random_tensor(const Shape& shape, DType dtype, Generator& gen, int layout = 0, double lo = -2, double hi = 2) {
  Tensor base;
  if (layout == 1) {
    Shape big = shape;
    if (big.rank() > 0) big[big.rank() - 1] = 2 * big[big.rank() - 1] + 1;
    base = Tensor::uniform(big, gen, lo, hi, DType::f64).to(dtype);
    return shape.rank() > 0 ? base.slice(-1, 1, 2 * shape.back() + 1, 2) : base;
  }
  if (layout == 2 && shape.rank() >= 2) {
    Shape swapped = shape;
    std::swap(swapped[0], swapped[swapped.rank() - 1]);
    base = Tensor::uniform(swapped, gen, lo, hi, DType::f64).to(dtype);
    return base.transpose(0, -1);
  }
  return Tensor::uniform(shape, gen, lo, hi, DType::f64).to(dtype);
}

inline std::string layout_name(int layout) {
  return layout == 0 ? "contiguous" : layout == 1 ? "strided" : "transposed";
}

// Relative tolerance for comparing a dtype's results with a float64 reference.
inline double tolerance(DType dtype) {
  return dtype == DType::f32 ? 2e-6 : 1e-14;
}

inline bool near(double got, double want, double rel, double abs = 0) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= abs + rel * std::fabs(want);
}

}  // namespace stheno::testing
