#pragma once
// Loss functions as graph expressions: scalars averaged over the batch (axis 0).
#include "stheno/graph/ops.hpp"

namespace stheno::nn {

// Softmax cross-entropy from logits (N, C) and int32 labels (N,): stable for any logits.
inline Node cross_entropy(const Node& logits, const Node& labels) { return softmax_cross_entropy(logits, labels); }

// Negative log-likelihood of log-probabilities (N, C) (e.g. log_softmax) at int32 labels (N,).
Node nll(const Node& log_probs, const Node& labels);

// Mean squared error over all elements.
inline Node mean_squared_error(const Node& prediction, const Node& target) { return mse(prediction, target); }

// The quadratic cost of Nielsen's book: Σ_i ½‖prediction_i − target_i‖², averaged over the batch.
Node quadratic(const Node& prediction, const Node& target);

}  // namespace stheno::nn
