#include "kernels/device_gemm.hpp"

#include <algorithm>

#include "kernels/device_views.hpp"
#include "stheno/kernels/linalg.hpp"

namespace stheno {

namespace {
GemmOperand operand(const Tensor& x) {
  const int r = x.rank();
  const std::int64_t rows = x.shape()[r - 2], cols = x.shape()[r - 1];
  const std::int64_t s0 = x.strides()[r - 2], s1 = x.strides()[r - 1];
  if ((s1 == 1 || cols == 1) && s0 >= std::max<std::int64_t>(cols, 1)) return {x, false, s0};
  if (rows == 1 && (s1 == 1 || cols == 1)) return {x, false, std::max<std::int64_t>(cols, 1)};
  if ((s0 == 1 || rows == 1) && s1 >= std::max<std::int64_t>(rows, 1)) return {x, true, s1};
  return {x.contiguous(), false, std::max<std::int64_t>(cols, 1)};
}
}  // namespace

std::int64_t GemmPlan::item_offset(const Tensor& x, std::int64_t index) {
  std::int64_t off = device_view(x).offset;
  for (int d = x.rank() - 3; d >= 0; --d) {
    const std::int64_t s = x.shape()[d];
    off += (index % s) * x.strides()[d];
    index /= s;
  }
  return off;
}

void GemmPlan::finish() const {
  if (!done && !c.same_elements(result)) result.copy_from(c);
}

GemmPlan plan_gemm(Backend& backend, const Tensor& a, const Tensor& b, const Tensor& out, double beta) {
  const Device device = backend.device();
  if (a.dtype() != b.dtype() || a.dtype() != out.dtype() || !is_floating(a.dtype()))
    throw DTypeError("matmul: " + device.str() + " multiplies float32 or float64 matrices of one dtype, got " +
                     std::string(dtype_name(a.dtype())) + ", " + std::string(dtype_name(b.dtype())) + " and out " +
                     std::string(dtype_name(out.dtype())));
  const Shape shape = matmul_shape(a.shape(), b.shape());
  if (out.shape() != shape)
    throw ShapeError("matmul: out has shape " + out.shape().str() + " but " + a.shape().str() + "·" + b.shape().str() +
                     " is " + shape.str());
  GemmPlan plan;
  if (out.numel() == 0) {
    plan.done = true;
    return plan;
  }
  // 1-D operands as a row (left) or a column (right), and out with that axis put back.
  Tensor a2 = a.rank() == 1 ? a.unsqueeze(0) : a, b2 = b.rank() == 1 ? b.unsqueeze(1) : b, c2 = out;
  if (a.rank() == 1) c2 = c2.unsqueeze(c2.rank() - (b.rank() == 1 ? 0 : 1));
  if (b.rank() == 1) c2 = c2.unsqueeze(c2.rank());
  plan.m = c2.shape()[c2.rank() - 2];
  plan.n = c2.shape()[c2.rank() - 1];
  plan.k = a2.shape()[a2.rank() - 1];
  plan.result = c2;
  if (plan.k == 0) {  // an empty sum: out = beta·out
    if (beta == 0) backend.fill(c2, 0.0);
    else backend.binary(BinaryOp::mul, c2, Tensor::scalar(beta, c2.dtype(), device), c2);
    plan.done = true;
    return plan;
  }
  Shape batch = c2.shape();
  batch.erase(batch.rank() - 1);
  batch.erase(batch.rank() - 1);
  auto with_batch = [&](const Tensor& t, std::int64_t rows, std::int64_t cols) {
    Shape full = batch;
    full.push_back(rows);
    full.push_back(cols);
    return t.expand(full);
  };
  plan.a = operand(with_batch(a2, plan.m, plan.k));
  plan.b = operand(with_batch(b2, plan.k, plan.n));
  const bool direct_c = (c2.strides()[c2.rank() - 1] == 1 || plan.n == 1) && c2.strides()[c2.rank() - 2] >= plan.n;
  plan.c = direct_c ? c2 : Tensor::empty(c2.shape(), c2.dtype(), device);
  if (!direct_c && beta != 0) plan.c.copy_from(c2);
  plan.ldc = plan.m > 1 ? plan.c.strides()[plan.c.rank() - 2] : plan.n;
  plan.items = batch.numel();
  return plan;
}

}  // namespace stheno
