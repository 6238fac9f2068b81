#pragma once
// Per-channel statistics for batch normalisation.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// x (N, C) or (N, C, spatial...): the mean and the biased variance of each channel over every
// other axis, written to mean (C,) and variance (C,). Two passes per channel, accumulated in
// double, so that large offsets do not cancel the variance.
void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance);

}  // namespace stheno
