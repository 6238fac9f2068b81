// A reduction is brought to one canonical form, a contiguous (outer, r, inner) block whose
// middle axis is reduced: directly when the reduced axes are adjacent, else after moving them
// last with one copy. Sums over every axis but a middle block skip that copy (sum_around_kept).
#include "stheno/kernels/reduce.hpp"

#include "kernels/cpu/cpu_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

namespace {

std::string_view name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::mean: return "mean";
    case ReduceOp::max: return "max";
  }
  return "reduce";
}

struct ReducedAxes {
  bool reduced[kMaxRank] = {};
  int count = 0;
};

ReducedAxes parse_axes(const Axes& axes, int rank, std::string_view op) {
  ReducedAxes r;
  for (std::int64_t a : axes) {
    const int ax = normalize_axis(static_cast<int>(a), rank, op);
    if (r.reduced[ax]) throw ValueError(std::string(op) + ": axis " + std::to_string(a) + " is given twice");
    r.reduced[ax] = true;
  }
  if (axes.empty())
    for (int i = 0; i < rank; ++i) r.reduced[i] = true;
  for (int i = 0; i < rank; ++i) r.count += r.reduced[i];
  return r;
}

// An input as (outer, r, inner), r the reduced extent.
struct Extents {
  std::int64_t outer = 1, r = 1, inner = 1;
};

struct Canonical : Extents {
  Tensor data;  // contiguous
};

// A per-thread buffer, grown as needed and reused, so that reductions over non-adjacent axes
// (a bias gradient summed over batch and pixels) allocate nothing after warm-up.
Tensor scratch(const Shape& shape, DType dtype) {
  thread_local Tensor pool[3];
  Tensor& t = pool[static_cast<int>(dtype)];
  if (!t.defined() || t.numel() < shape.numel()) t = Tensor::empty({std::max<std::int64_t>(shape.numel(), 1)}, dtype);
  return t.slice(0, 0, shape.numel()).view(shape);
}

// The reduced axes' extent r, between the extents before and after them, when they are next to
// each other.
std::optional<Extents> adjacent_extents(const Shape& shape, const ReducedAxes& axes) {
  int lo = -1, hi = -1;
  for (int i = 0; i < shape.rank(); ++i)
    if (axes.reduced[i]) { if (lo < 0) lo = i; hi = i; }
  if (hi - lo + 1 != axes.count) return std::nullopt;
  Extents e;
  for (int i = 0; i < shape.rank(); ++i) (i < lo ? e.outer : i <= hi ? e.r : e.inner) *= shape[i];
  return e;
}

Canonical canonical(const Tensor& x, const ReducedAxes& axes) {
  Canonical c;
  if (const std::optional<Extents> e = adjacent_extents(x.shape(), axes)) {
    // A strided view (a slice of a wider gradient) is gathered into scratch: no allocation.
    if (x.is_contiguous()) {
      c.data = x;
    } else {
      c.data = scratch(x.shape(), x.dtype());
      c.data.copy_from(x);
    }
    static_cast<Extents&>(c) = *e;
  } else {
    int order[kMaxRank], n = 0;
    for (int i = 0; i < x.rank(); ++i) if (!axes.reduced[i]) order[n++] = i;
    for (int i = 0; i < x.rank(); ++i) if (axes.reduced[i]) order[n++] = i;
    const Tensor moved = x.permute(std::span<const int>(order, static_cast<std::size_t>(n)));
    c.data = scratch(moved.shape(), x.dtype());
    c.data.copy_from(moved);
    for (int i = 0; i < x.rank(); ++i) (axes.reduced[i] ? c.r : c.outer) *= x.shape()[i];
  }
  return c;
}

constexpr int kMaxThreads = 256;
constexpr std::int64_t kRowBlock = 64;

// A sum (exact for int32 up to 2^53) converted to T; int32 wraps like its elementwise ops.
template <class T>
T finish(double total, T scale) {
  if constexpr (std::is_same_v<T, std::int32_t>) return static_cast<T>(static_cast<std::int64_t>(total));
  else return static_cast<T>(total * static_cast<double>(scale));
}

// Reduces the r rows of one (r, inner) block into dst[0..inner). Rows are combined in blocks
// of kRowBlock and each block's result into dst, so a float sum's rounding error grows with
// kRowBlock + r / kRowBlock instead of with r.
template <class T>
void reduce_block(const cpu::TypedKernels<T>& k, ReduceOp op, const T* block, std::int64_t r, std::int64_t inner,
                  T scale, T* dst) {
  const BinaryOp combine = op == ReduceOp::max ? BinaryOp::maximum : BinaryOp::add;
  T* scratch = cpu::part_scratch<T>(cpu::ScratchSlot::reduce_rows, inner);
  std::fill(dst, dst + inner, T(0));
  for (std::int64_t j0 = 0; j0 < r; j0 += kRowBlock) {
    const std::int64_t j1 = std::min(r, j0 + kRowBlock);
    T* acc = j0 == 0 ? dst : scratch;
    std::copy(block + j0 * inner, block + (j0 + 1) * inner, acc);
    k.combine_rows(combine, j1 - j0 - 1, inner, block + (j0 + 1) * inner, acc);
    if (j0 > 0) k.binary(combine, inner, dst, 1, acc, 1, dst, 1);
  }
  if (op == ReduceOp::mean) k.binary(BinaryOp::mul, inner, dst, 1, &scale, 0, dst, 1);
}

template <class T>
void reduce_canonical(ReduceOp op, const T* x, const Extents& extents, T* out) {
  const auto& k = cpu::typed_kernels<T>();
  const auto [outer, r, inner] = extents;
  const bool is_max = op == ReduceOp::max;
  const T scale = op == ReduceOp::mean ? static_cast<T>(1.0 / static_cast<double>(r)) : T(1);
  const std::int64_t work = outer * r * inner;

  if (inner == 1 && outer < num_threads() && work >= cpu::kParallelGrain) {
    // Few long rows: threads reduce slices of each row, then the slices are combined.
    const int threads = std::min(num_threads(), kMaxThreads);
    for (std::int64_t o = 0; o < outer; ++o) {
      const T* row = x + o * r;
      double partial[kMaxThreads] = {};
      T partial_max[kMaxThreads];
      std::fill(partial_max, partial_max + threads, row[0]);
      cpu::parallel_for(r, threads, [&](std::int64_t b, std::int64_t e, int t) {
        if (is_max) partial_max[t] = k.max(e - b, row + b);
        else partial[t] = k.sum(e - b, row + b);
      });
      double total = 0;
      for (int t = 0; t < threads; ++t) total += partial[t];
      out[o] = is_max ? k.max(threads, partial_max) : finish<T>(total, scale);
    }
    return;
  }
  // Otherwise threads take whole (r, inner) blocks.
  cpu::parallel_for(outer, cpu::threads_for(work, outer), [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t o = begin; o < end; ++o) {
      const T* block = x + o * r * inner;
      if (inner == 1) out[o] = is_max ? k.max(r, block) : finish<T>(k.sum(r, block), scale);
      else reduce_block(k, op, block, r, inner, scale, out + o * inner);
    }
  });
}

// A sum or mean of a contiguous tensor over every axis but a middle block (a convolution's bias
// gradient: (N, C, pixels) summed over images and pixels), each row summed where it lies, each
// thread owning some of the kept elements. The canonical form would first copy the tensor with
// the kept axes moved to the front: for W3's first layer that copy took 1.4 ms of a step against
// about 0.3 for the sums alone.
struct AroundKept {
  std::int64_t before = 1, kept = 1, after = 1;
};

std::optional<AroundKept> around_kept(const Tensor& x, const ReducedAxes& axes) {
  int lo = -1, hi = -1;
  for (int i = 0; i < x.rank(); ++i)
    if (!axes.reduced[i]) { if (lo < 0) lo = i; hi = i; }
  if (lo <= 0 || hi >= x.rank() - 1 || hi - lo + 1 != x.rank() - axes.count || !x.is_contiguous()) return std::nullopt;
  AroundKept a;
  for (int i = 0; i < x.rank(); ++i) (i < lo ? a.before : i <= hi ? a.kept : a.after) *= x.shape()[i];
  return a;
}

template <class T>
void sum_around_kept(const T* x, const AroundKept& a, T scale, T* out) {
  const auto& k = cpu::typed_kernels<T>();
  cpu::parallel_for(a.kept, cpu::threads_for(a.before * a.kept * a.after, a.kept), [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t j = begin; j < end; ++j) {
      double total = 0;
      for (std::int64_t i = 0; i < a.before; ++i) total += k.sum(a.after, x + (i * a.kept + j) * a.after);
      out[j] = finish<T>(total, scale);
    }
  });
}

}  // namespace

Shape reduced_shape(const Shape& shape, const Axes& axes, bool keepdims, std::string_view op) {
  const ReducedAxes parsed = parse_axes(axes, shape.rank(), op);
  Shape out;
  for (int i = 0; i < shape.rank(); ++i) {
    if (!parsed.reduced[i]) out.push_back(shape[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

void cpu::reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out) {
  const std::string_view opname = name(op);
  if (!x.defined() || !out.defined()) throw ValueError(std::string(opname) + ": undefined tensor");
  if (op == ReduceOp::mean && !is_floating(x.dtype()))
    throw DTypeError("mean: dtype " + std::string(dtype_name(x.dtype())) +
                     " is not supported (expected float32 or float64; convert with to())");
  if (out.dtype() != x.dtype())
    throw DTypeError(std::string(opname) + ": out has dtype " + std::string(dtype_name(out.dtype())) +
                     " but the input has dtype " + std::string(dtype_name(x.dtype())));
  const Shape result = reduced_shape(x.shape(), axes, keepdims, opname);
  if (out.shape() != result)
    throw ShapeError(std::string(opname) + ": out has shape " + out.shape().str() + " but the result has shape " + result.str());
  const ReducedAxes parsed = parse_axes(axes, x.rank(), opname);
  const std::optional<AroundKept> around = op != ReduceOp::max ? around_kept(x, parsed) : std::nullopt;
  const Canonical c = around ? Canonical{} : canonical(x, parsed);
  if (op == ReduceOp::max && c.r == 0 && c.outer * c.inner > 0)
    throw ValueError("max: cannot reduce an empty axis (input shape " + x.shape().str() + ")");
  const Tensor dst = out.is_contiguous() && !out.shares_storage(x) ? out : Tensor::empty(result, x.dtype());
  visit_arithmetic(x.dtype(), opname, [&]<class T>() {
    if (!around) return reduce_canonical<T>(op, c.data.data<T>(), c, dst.data<T>());
    const double count = static_cast<double>(around->before * around->after);
    sum_around_kept<T>(x.data<T>(), *around, op == ReduceOp::mean ? static_cast<T>(1.0 / count) : T(1), dst.data<T>());
  });
  if (!dst.shares_storage(out)) out.copy_from(dst);
}

// Reduced axes next to each other in a contiguous input are read in place, and small work stays
// on one thread: one call of the canonical reduction.
PreparedKernel cpu::prepare_reduce(ReduceOp op, const Tensor& x, const Axes& axes, const Tensor& out) {
  const std::optional<Extents> e = adjacent_extents(x.shape(), parse_axes(axes, x.rank(), name(op)));
  if (!e || !x.is_contiguous() || !out.is_contiguous() || out.shares_storage(x) || x.numel() == 0 ||
      x.numel() >= cpu::kParallelGrain)
    return {};
  return visit_arithmetic(x.dtype(), name(op), [&]<class T>() -> PreparedKernel {
    return [op, e = *e](std::span<const Tensor> in, const Tensor& y) {
      reduce_canonical<T>(op, in[0].data<T>(), e, y.data<T>());
    };
  });
}

namespace {
template <class T>
std::int32_t argmax_strided(const T* x, std::int64_t n, std::int64_t stride) {
  std::int64_t best = 0;
  T best_value = x[0];
  for (std::int64_t j = 1; j < n && best_value == best_value; ++j) {
    const T v = x[j * stride];
    if (v > best_value || v != v) {
      best = j;
      best_value = v;
    }
  }
  return static_cast<std::int32_t>(best);
}
}  // namespace

void cpu::argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out) {
  if (!x.defined() || !out.defined()) throw ValueError("argmax: undefined tensor");
  const int ax = normalize_axis(axis, x.rank(), "argmax");
  if (x.shape()[ax] == 0) throw ValueError("argmax: cannot reduce an empty axis (input shape " + x.shape().str() + ")");
  if (x.shape()[ax] > INT32_MAX) throw ValueError("argmax: axis longer than int32 indices can count");
  if (out.dtype() != DType::i32)
    throw DTypeError("argmax: out has dtype " + std::string(dtype_name(out.dtype())) + " but indices are int32");
  const Shape result = reduced_shape(x.shape(), Axes{ax}, keepdims, "argmax");
  if (out.shape() != result)
    throw ShapeError("argmax: out has shape " + out.shape().str() + " but the result has shape " + result.str());
  const Canonical c = canonical(x, parse_axes(Axes{ax}, x.rank(), "argmax"));
  const Tensor dst = out.is_contiguous() && !out.shares_storage(x) ? out : Tensor::empty(result, DType::i32);
  std::int32_t* indices = dst.data<std::int32_t>();
  visit_dtype(x.dtype(), [&]<class T>() {
    const T* src = c.data.data<T>();
    for (std::int64_t o = 0; o < c.outer; ++o)
      for (std::int64_t i = 0; i < c.inner; ++i)
        indices[o * c.inner + i] = argmax_strided(src + o * c.r * c.inner + i, c.r, c.inner);
  });
  if (!dst.shares_storage(out)) out.copy_from(dst);
}



}  // namespace stheno
