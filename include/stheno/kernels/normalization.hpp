#pragma once
// Per-channel statistics for batch normalisation.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// x (N, C) or (N, C, spatial...): the mean and the biased variance of each channel over every
// other axis, written to mean (C,) and variance (C,). Two passes per channel, accumulated in
// double, so that large offsets do not cancel the variance.
void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance);

// The running statistics' update in training: running = (1 − momentum)·running + momentum·batch,
// the batch variance first multiplied by variance_scale (the unbiased correction). All four are
// (C,) of one float dtype; the running ones contiguous.
void update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                            const Tensor& running_var, double momentum, double variance_scale);

}  // namespace stheno
