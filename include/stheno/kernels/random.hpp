#pragma once
// Random fills drawn from a seeded Generator, in element order, so that a seed gives the same
// values at every thread count.
#include "stheno/tensor/random.hpp"
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// Inverted dropout's mask: each element of the contiguous float tensor out is 1/keep with
// probability keep, else 0. keep must be in (0, 1].
void dropout_mask(Generator& gen, double keep, const Tensor& out);

}  // namespace stheno
