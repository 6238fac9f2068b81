// Reductions over any axes, argmax, and the whole-tensor sums behind gradient clipping and the
// NaN watch. One work-item per output element walks the reduced elements in order, so results
// do not depend on how work is shared out.
#include <array>

#include "kernels/device_checks.hpp"
#include "kernels/opencl/opencl_backend.hpp"

namespace stheno::opencl {

const char* const kReduceSource = R"CLC(
// op: 0 sum, 1 mean, 2 max. As on the host: when kept axes follow the reduced ones, rows are
// combined in T, in blocks of 64 rows whose results are combined in turn (`blocked`); otherwise
// sums accumulate in ACC and are scaled once.
inline T combine(int op, T p, T q) { return op == 2 ? (p != p ? p : (p > q ? p : q)) : p + q; }
kernel void reduce(int op, int blocked, T scale, global T* y, View yv, global const T* x, View kept, View reduced,
                   long outer, long r) {
  const long i = get_global_id(0);
  if (i >= outer) return;
  const long base = at(&kept, i);
  if (blocked) {
    T total = 0;
    for (long j0 = 0; j0 < r; j0 += 64) {
      const long j1 = min(r, j0 + 64);
      T acc = x[base + at(&reduced, j0)];
      for (long j = j0 + 1; j < j1; ++j) acc = combine(op, acc, x[base + at(&reduced, j)]);
      total = j0 == 0 ? acc : combine(op, total, acc);
    }
    y[at(&yv, i)] = op == 1 ? total * scale : total;
    return;
  }
  if (op == 2) {
    T best = x[base];
    for (long j = 1; j < r; ++j) best = combine(2, best, x[base + at(&reduced, j)]);
    y[at(&yv, i)] = best;
    return;
  }
  ACC acc = 0;
  for (long j = 0; j < r; ++j) acc += (ACC)x[base + at(&reduced, j)];
  y[at(&yv, i)] = (T)(acc * (ACC)scale);
}
kernel void argmax(global int* y, View yv, global const T* x, View kept, View reduced, long outer, long r) {
  const long i = get_global_id(0);
  if (i >= outer) return;
  const long base = at(&kept, i);
  long best = 0;
  T best_value = x[base];
  for (long j = 1; j < r && best_value == best_value; ++j) {
    const T v = x[base + at(&reduced, j)];
    if (v > best_value || v != v) { best = j; best_value = v; }
  }
  y[at(&yv, i)] = (int)best;
}
// Part p of `parts` sums the squares of elements p, p + parts, ... (sum_squares) or counts
// the elements that are not finite (non_finite).
kernel void sum_squares(global ACC* partial, global const T* x, View xv, long n, long parts) {
  const long p = get_global_id(0);
  if (p >= parts) return;
  ACC acc = 0;
  for (long i = p; i < n; i += parts) { const ACC v = x[at(&xv, i)]; acc += v * v; }
  partial[p] = acc;
}
kernel void non_finite(global ACC* partial, global const T* x, View xv, long n, long parts) {
  const long p = get_global_id(0);
  if (p >= parts) return;
  ACC count = 0;
  for (long i = p; i < n; i += parts) { const T v = x[at(&xv, i)]; if (!isfinite(v)) count += 1; }
  partial[p] = count;
}
)CLC";

namespace {
constexpr cl_long kParts = 256;
}  // namespace

void OpenclBackend::reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out) {
  const ReductionPlan plan = check_reduce(op, x, axes, keepdims, out, device());
  const Tensor in = x.shares_storage(out) ? x.clone() : x;
  const auto [kept, reduced] = split_axes(in, plan.mask);
  const cl_int code = static_cast<cl_int>(op), blocked = plan.blocked ? 1 : 0;
  const cl_long outer = out.numel(), r = plan.r;
  cl_kernel k = kernel(kReduceSource, "reduce", x.dtype());
  if (x.dtype() == DType::f64)
    launch(k, static_cast<std::size_t>(outer), code, blocked, plan.scale, buffer_of(out), view_of(out), buffer_of(in), kept,
           reduced, outer, r);
  else
    launch(k, static_cast<std::size_t>(outer), code, blocked, static_cast<cl_float>(plan.scale), buffer_of(out), view_of(out),
           buffer_of(in), kept, reduced, outer, r);
}

void OpenclBackend::argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out) {
  const int ax = check_argmax(x, axis, keepdims, out, device());
  const auto [kept, reduced] = rows_along(x, ax);
  const cl_long outer = out.numel(), r = x.shape()[ax];
  launch(kernel(kReduceSource, "argmax", x.dtype()), static_cast<std::size_t>(outer), buffer_of(out), view_of(out),
         buffer_of(x), kept, reduced, outer, r);
}

namespace {
// Runs one of the chunked whole-tensor kernels and adds its parts up on the host.
double chunked_total(OpenclBackend& b, const char* name, const Tensor& x) {
  const std::size_t acc = b.has_fp64() ? sizeof(cl_double) : sizeof(cl_float);
  const cl_mem partial = b.scratch(0, static_cast<std::size_t>(kParts) * acc);
  const cl_long n = x.numel(), parts = kParts;
  b.launch(b.kernel(kReduceSource, name, x.dtype()), static_cast<std::size_t>(kParts), partial, buffer_of(x), view_of(x), n,
           parts);
  double total = 0;
  if (b.has_fp64()) {
    cl_double host[kParts];
    b.read(partial, 0, host, sizeof host);
    for (double v : host) total += v;
  } else {
    cl_float host[kParts];
    b.read(partial, 0, host, sizeof host);
    for (float v : host) total += v;
  }
  return total;
}
}  // namespace

bool OpenclBackend::all_finite(const Tensor& t) {
  if (!is_floating(t.dtype()) || t.numel() == 0) return true;
  return chunked_total(*this, "non_finite", t) == 0;
}

double OpenclBackend::gradient_sum_of_squares(const Tensor& grad) {
  if (!is_floating(grad.dtype()))
    throw DTypeError("gradient_sum_of_squares: gradients must be float32 or float64, not " +
                     std::string(dtype_name(grad.dtype())));
  return chunked_total(*this, "sum_squares", grad);
}

}  // namespace stheno::opencl
