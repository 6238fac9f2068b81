#include "stheno/kernels/softmax.hpp"

#include "kernels/cpu/cpu_kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

namespace {

constexpr std::int64_t kLossChunks = 64;

// log Σ exp(x), its maximum shifted out; the exponentials go to the part's row scratch.
template <class T>
double log_sum_exp(const cpu::TypedKernels<T>& k, std::int64_t n, const T* x) {
  const T shift = k.max(n, x);
  T* scratch = cpu::part_scratch<T>(cpu::ScratchSlot::softmax_row, n);
  return static_cast<double>(shift) + std::log(k.exp_shift_sum(n, x, shift, scratch));
}

// One row; y may be x itself (in place).
template <class T>
void softmax_row(const cpu::TypedKernels<T>& k, std::int64_t n, const T* x, T* y, bool log_form) {
  if (n == 0) return;
  if (!log_form) {
    const T shift = k.max(n, x);
    const T inv = static_cast<T>(1.0 / k.exp_shift_sum(n, x, shift, y));
    k.binary(BinaryOp::mul, n, y, 1, &inv, 0, y, 1);
    return;
  }
  // log softmax = x - log Σ exp(x), taken from x rather than log(y) to keep tiny
  // probabilities exact; the exponentials go to scratch so that x survives when y is x.
  const auto offset = static_cast<T>(log_sum_exp(k, n, x));
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

void check_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out) {
  constexpr const char* name = "softmax_cross_entropy";
  if (!logits.defined() || !targets.defined() || !out.defined()) throw ValueError(std::string(name) + ": undefined tensor");
  if (!is_floating(logits.dtype()) || out.dtype() != logits.dtype())
    throw DTypeError(std::string(name) + ": logits are " + std::string(dtype_name(logits.dtype())) + " and out is " +
                     std::string(dtype_name(out.dtype())) + " (expected the same float dtype)");
  if (logits.rank() != 2 || out.rank() != 0)
    throw ShapeError(std::string(name) + ": expected (N, C) logits and a scalar out, got " + logits.shape().str() +
                     " and " + out.shape().str());
  const bool labels = targets.dtype() == DType::i32;
  if (labels ? targets.shape() != Shape{logits.shape()[0]}
             : targets.dtype() != logits.dtype() || targets.shape() != logits.shape())
    throw ShapeError(std::string(name) + ": targets " + targets.shape().str() + " " +
                     std::string(dtype_name(targets.dtype())) + " do not fit logits " + logits.shape().str() +
                     " (expected int32 labels (N,) or float targets (N, C) of the logits' dtype)");
}

}  // namespace

void cpu::softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out) {
  check_cross_entropy(logits, targets, out);
  // Rows are read in place when their elements are adjacent (the usual (N, C) logits).
  const Tensor x = logits.strides()[1] == 1 ? logits : logits.contiguous();
  const std::int64_t n = x.shape()[0], c = x.shape()[1], row_stride = x.strides()[0];
  const bool labels = targets.dtype() == DType::i32;
  visit_floating(x.dtype(), "softmax_cross_entropy", [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    const T* px = x.data<T>();
    // Rows in chunks fixed by n alone, each summed by one thread and the chunks added in order:
    // the same total at every thread count.
    const std::int64_t chunks = std::min<std::int64_t>(n, kLossChunks);
    double partial[kLossChunks] = {};
    std::atomic<std::int64_t> bad_row{-1};
    cpu::parallel_for(chunks, cpu::threads_for(n * c * 8, chunks), [&](std::int64_t first, std::int64_t last, int) {
      for (std::int64_t chunk = first; chunk < last; ++chunk) {
        double total = 0;
        for (std::int64_t i = n * chunk / chunks; i < n * (chunk + 1) / chunks; ++i) {
          const T* row = px + i * row_stride;
          const double lse = c > 0 ? log_sum_exp(k, c, row) : 0.0;
          if (labels) {
            const std::int32_t label = targets.data<std::int32_t>()[i * targets.strides()[0]];
            if (label < 0 || label >= c) {
              bad_row.store(i, std::memory_order_relaxed);  // reported after the loop; any bad row will do
              continue;
            }
            total += lse - static_cast<double>(row[label]);
          } else {
            const T* t = targets.data<T>() + i * targets.strides()[0];
            const std::int64_t tc = targets.strides()[1];
            for (std::int64_t j = 0; j < c; ++j) total += static_cast<double>(t[j * tc]) * (lse - static_cast<double>(row[j]));
          }
        }
        partial[chunk] = total;
      }
    });
    if (const std::int64_t row = bad_row.load(); row >= 0)
      throw IndexError("softmax_cross_entropy: label " +
                       std::to_string(targets.data<std::int32_t>()[row * targets.strides()[0]]) + " at row " +
                       std::to_string(row) + " is outside [0, " + std::to_string(c) + ")");
    double total = 0;
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) total += partial[chunk];
    out.data<T>()[0] = static_cast<T>(n == 0 ? 0.0 : total / static_cast<double>(n));
  });
}

void cpu::softmax(const Tensor& x, int axis, const Tensor& out) { run(x, axis, out, false); }
void cpu::log_softmax(const Tensor& x, int axis, const Tensor& out) { run(x, axis, out, true); }



}  // namespace stheno
