#pragma once
// Reductions over any set of axes, or over all axes when `axes` is empty. With keepdims the
// reduced axes stay as size 1, so the result broadcasts against the input.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

using Axes = Dims;

enum class ReduceOp { sum, mean, max };

Tensor reduce(ReduceOp op, const Tensor& x, const Axes& axes = {}, bool keepdims = false);
void reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out);
// The shape reduce() returns.
Shape reduced_shape(const Shape& shape, const Axes& axes, bool keepdims, std::string_view op);

// sum of int32 stays int32 (wrapping); mean needs a float dtype; max of an empty axis throws.
inline Tensor sum(const Tensor& x, const Axes& axes = {}, bool keepdims = false) { return reduce(ReduceOp::sum, x, axes, keepdims); }
inline Tensor mean(const Tensor& x, const Axes& axes = {}, bool keepdims = false) { return reduce(ReduceOp::mean, x, axes, keepdims); }
inline Tensor max(const Tensor& x, const Axes& axes = {}, bool keepdims = false) { return reduce(ReduceOp::max, x, axes, keepdims); }
inline Tensor sum(const Tensor& x, int axis, bool keepdims = false) { return sum(x, Axes{axis}, keepdims); }
inline Tensor mean(const Tensor& x, int axis, bool keepdims = false) { return mean(x, Axes{axis}, keepdims); }
inline Tensor max(const Tensor& x, int axis, bool keepdims = false) { return max(x, Axes{axis}, keepdims); }

// Index (int32) of the largest element along `axis`; the first one on ties, the first NaN if any.
Tensor argmax(const Tensor& x, int axis, bool keepdims = false);
void argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out);
// Flat row-major index of the largest element of the whole tensor, as a rank-0 int32 tensor.
Tensor argmax(const Tensor& x);

}  // namespace stheno
