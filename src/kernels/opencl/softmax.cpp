// Softmax and log-softmax along an axis, softmax cross-entropy, and one-hot rows.
#include "kernels/device_checks.hpp"
#include "kernels/opencl/opencl_backend.hpp"

namespace stheno::opencl {

const char* const kSoftmaxSource = R"CLC(
// One work-item per row: the maximum, then Σ exp(x − max), then the outputs.
kernel void softmax(int log_form, global T* y, View ykept, View yrow, global const T* x, View xkept, View xrow,
                    long rows, long n) {
  const long i = get_global_id(0);
  if (i >= rows) return;
  const long xb = at(&xkept, i), yb = at(&ykept, i);
  T shift = x[xb];
  for (long j = 1; j < n; ++j) shift = fmax(shift, x[xb + at(&xrow, j)]);
  ACC total = 0;
  for (long j = 0; j < n; ++j) total += exp((ACC)(x[xb + at(&xrow, j)] - shift));
  const ACC log_total = log(total);
  for (long j = 0; j < n; ++j) {
    const ACC z = (ACC)(x[xb + at(&xrow, j)] - shift);
    y[yb + at(&yrow, j)] = (T)(log_form ? z - log_total : exp(z) / total);
  }
}
inline ACC row_log_sum_exp(global const T* x, long n) {
  T shift = x[0];
  for (long j = 1; j < n; ++j) shift = fmax(shift, x[j]);
  ACC total = 0;
  for (long j = 0; j < n; ++j) total += exp((ACC)(x[j] - shift));
  return (ACC)shift + log(total);
}
// Row losses of logits (N, C) with unit-stride rows `ld` apart; then their mean. A label
// outside [0, C) sets bit 0 of *error.
kernel void xent_labels(global ACC* loss, global const T* x, long x0, long ld, global const int* labels, long l0,
                        long ls, long c, long rows, global int* error) {
  const long i = get_global_id(0);
  if (i >= rows) return;
  global const T* row = x + x0 + i * ld;
  const int label = labels[l0 + i * ls];
  if (label < 0 || label >= c) { atomic_or(error, 1); loss[i] = NAN; return; }
  loss[i] = row_log_sum_exp(row, c) - (ACC)row[label];
}
kernel void xent_targets(global ACC* loss, global const T* x, long x0, long ld, global const T* t, View tv, long c,
                         long rows) {
  const long i = get_global_id(0);
  if (i >= rows) return;
  global const T* row = x + x0 + i * ld;
  const ACC lse = row_log_sum_exp(row, c);
  ACC acc = 0;
  for (long j = 0; j < c; ++j) acc += (ACC)t[at(&tv, i * c + j)] * (lse - (ACC)row[j]);
  loss[i] = acc;
}
kernel void mean_of(global T* out, long o0, global const ACC* loss, long rows) {
  if (get_global_id(0) != 0) return;
  ACC total = 0;
  for (long i = 0; i < rows; ++i) total += loss[i];
  out[o0] = (T)(rows == 0 ? 0 : total / (ACC)rows);
}
kernel void one_hot(global T* out, View ov, global const int* labels, View lv, long c, long n, global int* error) {
  const long i = get_global_id(0);
  if (i >= n) return;
  const long row = i / c, col = i - row * c;
  const int label = labels[at(&lv, row)];
  if (col == 0 && (label < 0 || label >= c)) atomic_or(error, 2);
  out[at(&ov, i)] = label == col ? (T)1 : (T)0;
}
)CLC";


void OpenclBackend::softmax(const Tensor& x, int axis, const Tensor& out, bool log_form) {
  const int ax = check_softmax(x, axis, out, log_form);
  const Tensor in = unaliased(x, out);
  const auto [xkept, xrow] = rows_along(in, ax);
  const auto [ykept, yrow] = rows_along(out, ax);
  const cl_long n = x.shape()[ax], rows = n == 0 ? 0 : x.numel() / n;
  const cl_int form = log_form ? 1 : 0;
  launch(kernel(kSoftmaxSource, "softmax", x.dtype()), static_cast<std::size_t>(rows), form, buffer_of(out), ykept, yrow,
         buffer_of(in), xkept, xrow, rows, n);
}

void OpenclBackend::softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out) {
  const CrossEntropyShape shape = check_cross_entropy(logits, targets, out);
  const cl_long rows = shape.rows, c = shape.classes;
  const bool labels = shape.labels;
  const Tensor x = logits.strides()[1] == 1 ? logits : logits.contiguous();
  const std::size_t acc = has_fp64() ? sizeof(cl_double) : sizeof(cl_float);
  const cl_mem loss = scratch(1, static_cast<std::size_t>(std::max<cl_long>(rows, 1)) * acc);
  const View xv = view_of(x);
  const cl_long x0 = xv.offset, ld = rows > 1 ? x.strides()[0] : c;
  if (labels) {
    const View lv = view_of(targets);
    const cl_long ls = rows > 1 ? targets.strides()[0] : 1;
    launch(kernel(kSoftmaxSource, "xent_labels", x.dtype()), static_cast<std::size_t>(rows), loss, buffer_of(x), x0, ld,
           buffer_of(targets), lv.offset, ls, c, rows, error_flags());
  } else {
    launch(kernel(kSoftmaxSource, "xent_targets", x.dtype()), static_cast<std::size_t>(rows), loss, buffer_of(x), x0, ld,
           buffer_of(targets), view_of(targets), c, rows);
  }
  const cl_long o0 = view_of(out).offset;
  launch(kernel(kSoftmaxSource, "mean_of", x.dtype()), 1, buffer_of(out), o0, loss, rows);
}

void OpenclBackend::one_hot(const Tensor& labels, const Tensor& out) {
  check_one_hot(labels, out);
  const cl_long c = out.size(1), n = out.numel();
  launch(kernel(kSoftmaxSource, "one_hot", out.dtype()), static_cast<std::size_t>(n), buffer_of(out), view_of(out),
         buffer_of(labels), view_of(labels), c, n, error_flags());
}

}  // namespace stheno::opencl
