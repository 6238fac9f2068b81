#pragma once
// Numerically stable softmax and log-softmax along one axis: the maximum is subtracted first,
// so large logits never overflow.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

Tensor softmax(const Tensor& x, int axis = -1);
void softmax(const Tensor& x, int axis, const Tensor& out);
Tensor log_softmax(const Tensor& x, int axis = -1);
void log_softmax(const Tensor& x, int axis, const Tensor& out);

// The mean over rows of -Σ_c t[i,c]·log_softmax(logits)[i,c], written to the scalar out.
// logits (N, C); targets are int32 labels (N,), one class per row (an IndexError names a row
// whose label is outside [0, C)), or float targets (N, C) of the logits' dtype, not necessarily
// normalised. Each row's log-sum-exp is taken with its maximum subtracted; nothing of size
// (N, C) is written (unless the logits' rows are strided, which are copied first).
void softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out);

}  // namespace stheno
