#include "stheno/kernels/softmax.hpp"

#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

namespace {

// One row; y may be x itself (in place).
template <class T>
void softmax_row(const cpu::TypedKernels<T>& k, std::int64_t n, const T* x, T* y, bool log_form) {
  if (n == 0) return;
  const T shift = k.max(n, x);
  if (!log_form) {
    const T inv = static_cast<T>(1.0 / k.exp_shift_sum(n, x, shift, y));
    k.binary(BinaryOp::mul, n, y, 1, &inv, 0, y, 1);
    return;
  }
  // log softmax = x - (max + log(sum)), taken from x rather than log(y) to keep tiny
  // probabilities exact; the exponentials go to scratch so that x survives when y is x.
  T* scratch = cpu::part_scratch<T>(cpu::ScratchSlot::softmax_row, n);
  const double total = k.exp_shift_sum(n, x, shift, scratch);
  const T offset = static_cast<T>(static_cast<double>(shift) + std::log(total));
  k.binary(BinaryOp::sub, n, x, 1, &offset, 0, y, 1);
}

void run(const Tensor& x, int axis, const Tensor& out, bool log_form) {
  const char* name = log_form ? "log_softmax" : "softmax";
  if (!x.defined() || !out.defined()) throw ValueError(std::string(name) + ": undefined tensor");
  if (x.dtype() != out.dtype())
    throw DTypeError(std::string(name) + ": input has dtype " + std::string(dtype_name(x.dtype())) +
                     " but out has dtype " + std::string(dtype_name(out.dtype())));
  if (out.shape() != x.shape())
    throw ShapeError(std::string(name) + ": out has shape " + out.shape().str() + " but the input has shape " + x.shape().str());
  const int ax = normalize_axis(axis, x.rank(), name);
  // Work on contiguous rows with the softmax axis last.
  const Tensor src = x.transpose(ax, -1).contiguous();
  // Rows are written straight into out when it is contiguous along the axis and either separate
  // from x or exactly x (in place); otherwise through a temporary.
  const bool same_as_x = out.same_elements(x);
  const bool direct = ax == x.rank() - 1 && out.is_contiguous() && (same_as_x || !out.shares_storage(x));
  const Tensor dst = direct ? out : Tensor::empty(src.shape(), x.dtype());
  const std::int64_t n = x.shape()[ax];
  const std::int64_t rows = n == 0 ? 0 : x.numel() / n;
  visit_floating(x.dtype(), name, [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    const T* px = src.data<T>();
    T* py = dst.data<T>();
    cpu::parallel_for(rows, cpu::threads_for(rows * n * 8, rows), [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t r = begin; r < end; ++r) softmax_row(k, n, px + r * n, py + r * n, log_form);
    });
  });
  if (!direct) out.copy_from(dst.transpose(ax, -1));
}

}  // namespace

void softmax(const Tensor& x, int axis, const Tensor& out) { run(x, axis, out, false); }
void log_softmax(const Tensor& x, int axis, const Tensor& out) { run(x, axis, out, true); }

Tensor softmax(const Tensor& x, int axis) {
  if (!x.defined()) throw ValueError("softmax: undefined tensor");
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  run(x, axis, out, false);
  return out;
}

Tensor log_softmax(const Tensor& x, int axis) {
  if (!x.defined()) throw ValueError("log_softmax: undefined tensor");
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  run(x, axis, out, true);
  return out;
}

}  // namespace stheno
