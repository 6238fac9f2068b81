#include "stheno/nn/losses.hpp"

namespace stheno::nn {

Node nll(const Node& log_probs, const Node& labels) {
  if (log_probs.rank() != 2 || labels.rank() != 1 || labels.dtype() != DType::i32 || labels.shape()[0] != log_probs.shape()[0])
    throw ShapeError("nll of " + log_probs.describe() + ", " + labels.describe() +
                     ": expects log-probabilities (N, C) and int32 labels (N,)");
  const double n = static_cast<double>(log_probs.shape()[0]);
  return -sum(log_probs * one_hot(labels, log_probs.shape()[1], log_probs.dtype())) / n;
}

Node quadratic(const Node& prediction, const Node& target) {
  if (prediction.shape() != target.shape() || prediction.rank() < 1)
    throw ShapeError("quadratic of " + prediction.describe() + ", " + target.describe() +
                     ": prediction and target must have the same shape (N, ...)");
  const double n = static_cast<double>(prediction.shape()[0]);
  return sum(square(prediction - target)) / (2.0 * n);
}

}  // namespace stheno::nn
