#include "stheno/nn/init.hpp"

#include <cmath>

namespace stheno::nn {

namespace {
constexpr std::pair<Init, std::string_view> kNames[] = {
    {Init::glorot_uniform, "glorot_uniform"}, {Init::glorot_normal, "glorot_normal"},
    {Init::he_uniform, "he_uniform"},         {Init::he_normal, "he_normal"},
    {Init::standard_normal, "normal"},        {Init::zeros, "zeros"}};
}  // namespace

Init parse_init(std::string_view name) {
  std::string known;
  for (const auto& [init, n] : kNames) {
    if (n == name) return init;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  throw ValueError("unknown initialiser '" + std::string(name) + "' (expected one of: " + known + ")");
}

std::string_view init_name(Init init) {
  for (const auto& [i, n] : kNames)
    if (i == init) return n;
  return "?";
}

Tensor initialize(Init init, const Shape& shape, Generator& gen, DType dtype) {
  const double fan_in = shape.rank() > 0 ? static_cast<double>(shape[0]) : 1.0;
  const double fan_out = shape.rank() > 1 ? static_cast<double>(shape.numel()) / fan_in : 1.0;
  switch (init) {
    case Init::glorot_uniform: {
      const double a = std::sqrt(6.0 / (fan_in + fan_out));
      return Tensor::uniform(shape, gen, -a, a, dtype);
    }
    case Init::glorot_normal: return Tensor::normal(shape, gen, 0, std::sqrt(2.0 / (fan_in + fan_out)), dtype);
    case Init::he_uniform: {
      const double a = std::sqrt(6.0 / fan_in);
      return Tensor::uniform(shape, gen, -a, a, dtype);
    }
    case Init::he_normal: return Tensor::normal(shape, gen, 0, std::sqrt(2.0 / fan_in), dtype);
    case Init::standard_normal: return Tensor::normal(shape, gen, 0, 1, dtype);
    case Init::zeros: return Tensor::zeros(shape, dtype);
  }
  throw ValueError("initialize: unknown initialiser");
}

}  // namespace stheno::nn
