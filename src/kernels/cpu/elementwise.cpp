// Checks operands once, then hands rows to the per-ISA loops, which do no checking.
#include "stheno/kernels/elementwise.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "kernels/cpu/cpu_kernels.hpp"

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

std::string_view op_name(UnaryOp op) {
  static constexpr std::string_view names[] = {"neg", "abs", "exp", "log", "sqrt", "square", "tanh", "sigmoid", "relu", "sign", "step"};
  return names[static_cast<int>(op)];
}

std::string_view op_name(BinaryOp op) {
  static constexpr std::string_view names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                                "sigmoid_grad", "tanh_grad", "relu_grad"};
  return names[static_cast<int>(op)];
}

namespace {

std::string str(std::string_view s) { return std::string(s); }

void require_same_dtype(std::string_view op, const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) {
  if (a.dtype() != b.dtype())
    throw DTypeError(str(op) + ": " + what_a + " has dtype " + str(dtype_name(a.dtype())) + " but " + what_b +
                     " has dtype " + str(dtype_name(b.dtype())) + " (expected the same dtype)");
}

void require_defined(std::string_view op, const Tensor& t, const char* what) {
  if (!t.defined()) throw ValueError(str(op) + ": " + what + " is an undefined tensor");
}

void require_out_shape(std::string_view op, const Tensor& out, const Shape& result) {
  if (out.shape() != result)
    throw ShapeError(str(op) + ": out has shape " + out.shape().str() + " but the result has shape " + result.str());
}

// An input that shares memory with `out` in a different layout would be overwritten while it is
// still being read; such an input is copied first. The same layout is safe (true in-place).
Tensor unaliased(const Tensor& in, const Tensor& out) {
  if (!in.shares_storage(out)) return in;
  if (in.same_elements(out)) return in;
  return in.clone();
}

// Operands that a flat loop over out's elements can read directly: out's own shape, contiguous
// and not overlapping out in another layout; and, beside one of those, a single element of no
// higher rank (read with stride 0), which broadcasts to out's shape. Small networks'
// elementwise ops are all of this kind, and for their few hundred elements the general path's
// broadcast and layout bookkeeping cost more than the arithmetic (a 10×10 sub: 80 -> 60 ns).
bool laid_out_as(const Tensor& in, const Tensor& out) {
  return in.shape() == out.shape() && in.is_contiguous() && (!in.shares_storage(out) || in.same_elements(out));
}

bool single_element_for(const Tensor& in, const Tensor& out) {
  return in.numel() == 1 && in.rank() <= out.rank() && !in.shares_storage(out);
}

// Cost weights so that cheap ops need more elements before they use threads.
std::int64_t cost(UnaryOp op) {
  switch (op) {
    case UnaryOp::exp: case UnaryOp::log: case UnaryOp::tanh: case UnaryOp::sigmoid: return 8;
    default: return 1;
  }
}
std::int64_t cost(BinaryOp op) { return op == BinaryOp::pow ? 16 : 1; }

// Whether one call of the row kernel over out's elements computes the op (and on one thread).
bool flat_unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  return out.is_contiguous() && laid_out_as(x, out) && out.numel() * cost(op) < cpu::kParallelGrain;
}

// The element steps (1, or 0 for a single broadcast element) of a binary op's operands when one
// call of the row kernel computes it.
struct FlatOperands {
  std::int64_t a_step, b_step;
};
std::optional<FlatOperands> flat_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const bool a_flat = laid_out_as(a, out), b_flat = laid_out_as(b, out);
  if (out.is_contiguous() && ((a_flat && (b_flat || single_element_for(b, out))) || (b_flat && single_element_for(a, out))) &&
      out.numel() * cost(op) < cpu::kParallelGrain && !(a.dtype() == DType::i32 && op == BinaryOp::div))
    return FlatOperands{a_flat ? 1 : 0, b_flat ? 1 : 0};
  return std::nullopt;
}

}  // namespace

void cpu::unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  const std::string_view name = op_name(op);
  require_defined(name, x, "input");
  require_defined(name, out, "out");
  require_same_dtype(name, "input", x, "out", out);
  const bool int_ok = op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::square || op == UnaryOp::relu ||
                      op == UnaryOp::sign || op == UnaryOp::step;
  if (x.dtype() == DType::i32 && !int_ok)
    throw DTypeError(str(name) + ": dtype int32 is not supported (expected float32 or float64; convert with to())");
  require_out_shape(name, out, x.shape());
  if (flat_unary(op, x, out)) {
    visit_arithmetic(x.dtype(), name, [&]<class T>() {
      cpu::typed_kernels<T>().unary(op, out.numel(), x.data<T>(), 1, out.data<T>(), 1);
    });
    return;
  }
  const Tensor in = unaliased(x, out);
  const auto loop = detail::make_strided_loop<2>(out.shape(), {&out.strides(), &in.strides()});
  visit_arithmetic(x.dtype(), name, [&]<class T>() {
    T* y = out.data<T>();
    const T* px = in.data<T>();
    const auto kernel = cpu::typed_kernels<T>().unary;
    cpu::parallel_rows(loop, cost(op), [&](const auto& off, std::int64_t n, const auto& st) {
      kernel(op, n, px + off[1], st[1], y + off[0], st[0]);
    });
  });
}


void cpu::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const std::string_view name = op_name(op);
  require_defined(name, a, "first operand");
  require_defined(name, b, "second operand");
  require_defined(name, out, "out");
  require_same_dtype(name, "first operand", a, "second operand", b);
  require_same_dtype(name, "operands", a, "out", out);
  if (!is_floating(a.dtype()) && (op == BinaryOp::sigmoid_grad || op == BinaryOp::tanh_grad || op == BinaryOp::relu_grad))
    throw DTypeError(str(name) + ": dtype " + str(dtype_name(a.dtype())) + " is not supported (expected float32 or float64)");
  if (const std::optional<FlatOperands> flat = flat_binary(op, a, b, out)) {
    visit_arithmetic(a.dtype(), name, [&]<class T>() {
      cpu::typed_kernels<T>().binary(op, out.numel(), a.data<T>(), flat->a_step, b.data<T>(), flat->b_step, out.data<T>(), 1);
    });
    return;
  }
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  require_out_shape(name, out, shape);
  const Tensor pa = unaliased(a, out).expand(shape);
  const Tensor pb = unaliased(b, out).expand(shape);
  const auto loop = detail::make_strided_loop<3>(shape, {&out.strides(), &pa.strides(), &pb.strides()});
  visit_arithmetic(a.dtype(), name, [&]<class T>() {
    if constexpr (std::is_same_v<T, std::int32_t>) {
      if (op == BinaryOp::div)
        for (std::int32_t v : b.to_vector<std::int32_t>())
          if (v == 0) throw ValueError("div: integer division by zero (divisor of shape " + b.shape().str() + ")");
    }
    T* y = out.data<T>();
    const T* p = pa.data<T>();
    const T* q = pb.data<T>();
    const auto kernel = cpu::typed_kernels<T>().binary;
    cpu::parallel_rows(loop, cost(op), [&](const auto& off, std::int64_t n, const auto& st) {
      kernel(op, n, p + off[1], st[1], q + off[2], st[2], y + off[0], st[0]);
    });
  });
}


PreparedKernel cpu::prepare_unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  if (!flat_unary(op, x, out)) return {};
  const std::int64_t n = out.numel();
  return visit_arithmetic(x.dtype(), op_name(op), [&]<class T>() -> PreparedKernel {
    return [op, n](std::span<const Tensor> in, const Tensor& y) {
      cpu::typed_kernels<T>().unary(op, n, in[0].data<T>(), 1, y.data<T>(), 1);
    };
  });
}

PreparedKernel cpu::prepare_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const std::optional<FlatOperands> flat = flat_binary(op, a, b, out);
  if (!flat) return {};
  const std::int64_t n = out.numel();
  return visit_arithmetic(a.dtype(), op_name(op), [&]<class T>() -> PreparedKernel {
    return [op, n, steps = *flat](std::span<const Tensor> in, const Tensor& y) {
      cpu::typed_kernels<T>().binary(op, n, in[0].data<T>(), steps.a_step, in[1].data<T>(), steps.b_step, y.data<T>(), 1);
    };
  });
}

// One block of out's trailing axes, laid out as out's, copied once (a contiguous source) or along
// out's leading axes, which the source broadcasts (stride 0): a bias's rows.
PreparedKernel cpu::prepare_copy(const Tensor& source, const Tensor& out) {
  if (source.dtype() != out.dtype() || source.shape() != out.shape() || !out.is_contiguous() || source.shares_storage(out))
    return {};
  const Shape& shape = out.shape();
  int split = 0;  // axes [0, split) broadcast, [split, rank) as out's
  while (split < shape.rank() && (shape[split] == 1 || source.strides()[split] == 0)) ++split;
  for (int i = split; i < shape.rank(); ++i)
    if (shape[i] != 1 && source.strides()[i] != out.strides()[i]) return {};
  std::int64_t copies = 1;
  for (int i = 0; i < split; ++i) copies *= shape[i];
  const auto bytes = static_cast<std::size_t>(shape.numel() / std::max<std::int64_t>(copies, 1)) * itemsize(out.dtype());
  return [copies, bytes](std::span<const Tensor> in, const Tensor& y) {
    const auto* from = static_cast<const char*>(in[0].raw_data());
    auto* to = static_cast<char*>(y.raw_data());
    for (std::int64_t i = 0; i < copies; ++i) std::memcpy(to + static_cast<std::size_t>(i) * bytes, from, bytes);
  };
}

}  // namespace stheno
