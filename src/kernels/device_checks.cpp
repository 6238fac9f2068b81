#include "kernels/device_checks.hpp"

#include <string>

#include "stheno/tensor/shape.hpp"

namespace stheno {

void require_float(std::string_view op, const Tensor& t, Device device) {
  if (!is_floating(t.dtype()))
    throw DTypeError(std::string(op) + ": " + device.str() + " runs elementwise ops on float32 and float64 only, not " +
                     std::string(dtype_name(t.dtype())));
}

void require_same_dtype(std::string_view op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw DTypeError(std::string(op) + ": dtypes " + std::string(dtype_name(a.dtype())) + " and " +
                     std::string(dtype_name(b.dtype())) + " differ; convert one with to()");
}

void require_not_int64(const char* op, const Tensor& t, Device device) {
  if (t.dtype() == DType::i64)
    throw DTypeError(std::string(op) + ": " + device.str() + " holds float32, float64 and int32 tensors, not int64 "
                     "(int64 sparse indices stay on the host)");
}

void check_unary(std::string_view op, const Tensor& x, const Tensor& out, Device device) {
  require_float(op, x, device);
  require_same_dtype(op, x, out);
  if (out.shape() != x.shape())
    throw ShapeError(std::string(op) + ": out has shape " + out.shape().str() + " but the result has shape " + x.shape().str());
}

Shape check_binary(std::string_view op, const Tensor& a, const Tensor& b, const Tensor& out, Device device) {
  require_float(op, a, device);
  require_same_dtype(op, a, b);
  require_same_dtype(op, a, out);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  if (out.shape() != shape)
    throw ShapeError(std::string(op) + ": out has shape " + out.shape().str() + " but the result has shape " + shape.str());
  return shape;
}

ReductionPlan check_reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out, Device device) {
  ReductionPlan plan;
  plan.name = op == ReduceOp::sum ? "sum" : op == ReduceOp::mean ? "mean" : "max";
  const std::string name = plan.name;
  if (!is_floating(x.dtype()))
    throw DTypeError(name + ": " + device.str() + " reduces float32 and float64 only, not " + std::string(dtype_name(x.dtype())));
  const Shape result = reduced_shape(x.shape(), axes, keepdims, name);
  if (out.shape() != result || out.dtype() != x.dtype())
    throw ShapeError(name + ": out is " + std::string(dtype_name(out.dtype())) + " " + out.shape().str() +
                     " but the result is " + std::string(dtype_name(x.dtype())) + " " + result.str());
  plan.mask = reduced_axes(axes, x.rank(), name);
  int lo = -1, hi = -1, count = 0;
  for (int d = 0; d < x.rank(); ++d)
    if (plan.mask[static_cast<std::size_t>(d)]) {
      plan.r *= x.shape()[d];
      if (lo < 0) lo = d;
      hi = d;
      ++count;
    }
  if (op == ReduceOp::max && plan.r == 0)
    throw ValueError("max: cannot reduce an empty axis (input shape " + x.shape().str() + ")");
  std::int64_t inner = 1;
  for (int d = hi + 1; d < x.rank(); ++d) inner *= x.shape()[d];
  plan.blocked = hi - lo + 1 == count && inner > 1;
  plan.scale = op == ReduceOp::mean ? 1.0 / static_cast<double>(plan.r) : 1.0;
  return plan;
}

int check_argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out, Device device) {
  if (!is_floating(x.dtype())) throw DTypeError("argmax: " + device.str() + " runs argmax on float32 and float64 only");
  const int ax = normalize_axis(axis, x.rank(), "argmax");
  if (x.shape()[ax] == 0) throw ValueError("argmax: cannot reduce an empty axis (input shape " + x.shape().str() + ")");
  const Shape result = reduced_shape(x.shape(), Axes{ax}, keepdims, "argmax");
  if (out.shape() != result || out.dtype() != DType::i32)
    throw ShapeError("argmax: out is " + std::string(dtype_name(out.dtype())) + " " + out.shape().str() +
                     " but the result is int32 " + result.str());
  return ax;
}

int check_softmax(const Tensor& x, int axis, const Tensor& out, bool log_form) {
  const char* name = log_form ? "log_softmax" : "softmax";
  if (!is_floating(x.dtype())) throw DTypeError(std::string(name) + ": expected float32 or float64");
  const int ax = normalize_axis(axis, x.rank(), name);
  if (out.shape() != x.shape() || out.dtype() != x.dtype())
    throw ShapeError(std::string(name) + ": out is " + out.shape().str() + " but the result is " + x.shape().str());
  return ax;
}

CrossEntropyShape check_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out) {
  if (logits.rank() != 2 || !is_floating(logits.dtype()))
    throw ShapeError("softmax_cross_entropy: logits must be float (N, C), got " + std::string(dtype_name(logits.dtype())) +
                     " " + logits.shape().str());
  CrossEntropyShape s{logits.size(0), logits.size(1), targets.dtype() == DType::i32};
  if (s.labels ? targets.shape() != Shape{s.rows}
               : targets.shape() != logits.shape() || targets.dtype() != logits.dtype())
    throw ShapeError("softmax_cross_entropy: targets " + std::string(dtype_name(targets.dtype())) + " " +
                     targets.shape().str() + " do not fit logits " + logits.shape().str() +
                     " (expected int32 labels (N,) or float targets (N, C))");
  if (out.numel() != 1 || out.dtype() != logits.dtype())
    throw ShapeError("softmax_cross_entropy: out must be one " + std::string(dtype_name(logits.dtype())) + " element");
  return s;
}

void check_one_hot(const Tensor& labels, const Tensor& out) {
  if (labels.dtype() != DType::i32 || labels.rank() != 1 || out.rank() != 2 || out.size(0) != labels.size(0) ||
      !is_floating(out.dtype()))
    throw ShapeError("one_hot: expected int32 labels (N,) and float out (N, C), got labels " +
                     std::string(dtype_name(labels.dtype())) + " " + labels.shape().str() + " and out " +
                     std::string(dtype_name(out.dtype())) + " " + out.shape().str());
}

void throw_kernel_errors(int flags, Device device) {
  std::string kernels;
  if (flags & 1) kernels += "softmax_cross_entropy";
  if (flags & 2) kernels += std::string(kernels.empty() ? "" : ", ") + "one_hot";
  if (flags & 3) kernels += " got a class label outside [0, C)";
  if (flags & 12) kernels += std::string(kernels.empty() ? "" : "; ") + "gather_rows or scatter_add_rows got an index outside the table";
  throw IndexError(kernels + " on " + device.str() + " (found when the device was synchronised, so the results since the "
                   "last synchronisation are not valid)");
}

}  // namespace stheno
