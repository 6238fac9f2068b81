#pragma once
// Parameter initialisers. Weights are (fan_in, fan_out): a layer computes x·W.
#include "stheno/tensor/tensor.hpp"

namespace stheno::nn {

enum class Init {
  glorot_uniform,  // U(±sqrt(6 / (fan_in + fan_out))), for sigmoid and tanh
  glorot_normal,   // N(0, 2 / (fan_in + fan_out))
  he_uniform,      // U(±sqrt(6 / fan_in)), for ReLU
  he_normal,       // N(0, 2 / fan_in)
  standard_normal, // N(0, 1): the seeds' network (Nielsen's first chapter)
  zeros,
};

Init parse_init(std::string_view name);  // "glorot_uniform", ...; throws ValueError listing the names
std::string_view init_name(Init init);

// A (fan_in, fan_out) weight, or any shape whose first axis is fan_in and the rest fan_out.
Tensor initialize(Init init, const Shape& shape, Generator& gen, DType dtype = DType::f32);

}  // namespace stheno::nn
