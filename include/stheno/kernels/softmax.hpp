#pragma once
// Numerically stable softmax and log-softmax along one axis: the maximum is subtracted first,
// so large logits never overflow.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

Tensor softmax(const Tensor& x, int axis = -1);
void softmax(const Tensor& x, int axis, const Tensor& out);
Tensor log_softmax(const Tensor& x, int axis = -1);
void log_softmax(const Tensor& x, int axis, const Tensor& out);

}  // namespace stheno
