// Softmax and log-softmax along rows, softmax cross-entropy, and one-hot rows. One thread per
// row (or per element for one-hot); sums in double.
#include <cmath>

#include "kernels/cuda/common.cuh"

namespace stheno::cuda {
namespace {

template <class T>
__global__ void softmax_kernel(bool log_form, T* y, DeviceView ykept, DeviceView yrow, const T* x, DeviceView xkept,
                               DeviceView xrow, Index rows, Index n) {
  const Index i = thread_index();
  if (i >= rows) return;
  const Index xb = at(xkept, i), yb = at(ykept, i);
  T shift = x[xb];
  for (Index j = 1; j < n; ++j) shift = fmax(shift, x[xb + at(xrow, j)]);
  double total = 0;
  for (Index j = 0; j < n; ++j) total += exp(static_cast<double>(x[xb + at(xrow, j)] - shift));
  const double log_total = log(total);
  for (Index j = 0; j < n; ++j) {
    const double z = static_cast<double>(x[xb + at(xrow, j)] - shift);
    y[yb + at(yrow, j)] = static_cast<T>(log_form ? z - log_total : exp(z) / total);
  }
}

template <class T>
__device__ double row_log_sum_exp(const T* x, Index n) {
  T shift = x[0];
  for (Index j = 1; j < n; ++j) shift = fmax(shift, x[j]);
  double total = 0;
  for (Index j = 0; j < n; ++j) total += exp(static_cast<double>(x[j] - shift));
  return static_cast<double>(shift) + log(total);
}

template <class T>
__global__ void xent_labels_kernel(double* loss, const T* x, Index x0, Index ld, const std::int32_t* labels, Index l0,
                                   Index ls, Index c, Index rows, int* error) {
  const Index i = thread_index();
  if (i >= rows) return;
  const T* row = x + x0 + i * ld;
  const std::int32_t label = labels[l0 + i * ls];
  if (label < 0 || label >= c) {
    atomicOr(error, 1);
    loss[i] = NAN;
    return;
  }
  loss[i] = row_log_sum_exp(row, c) - static_cast<double>(row[label]);
}

template <class T>
__global__ void xent_targets_kernel(double* loss, const T* x, Index x0, Index ld, const T* t, DeviceView tv, Index c,
                                    Index rows) {
  const Index i = thread_index();
  if (i >= rows) return;
  const T* row = x + x0 + i * ld;
  const double lse = row_log_sum_exp(row, c);
  double acc = 0;
  for (Index j = 0; j < c; ++j) acc += static_cast<double>(t[at(tv, i * c + j)]) * (lse - static_cast<double>(row[j]));
  loss[i] = acc;
}

template <class T>
__global__ void mean_of_kernel(T* out, Index o0, const double* loss, Index rows) {
  if (thread_index() != 0) return;
  double total = 0;
  for (Index i = 0; i < rows; ++i) total += loss[i];
  out[o0] = static_cast<T>(rows == 0 ? 0.0 : total / static_cast<double>(rows));
}

template <class T>
__global__ void one_hot_kernel(T* out, DeviceView ov, const std::int32_t* labels, DeviceView lv, Index c, Index n,
                               int* error) {
  const Index i = thread_index();
  if (i >= n) return;
  const Index row = i / c, col = i - row * c;
  const std::int32_t label = labels[at(lv, row)];
  if (col == 0 && (label < 0 || label >= c)) atomicOr(error, 2);
  out[at(ov, i)] = label == col ? T(1) : T(0);
}

}  // namespace

cudaError_t softmax(bool log_form, Elem t, void* y, DeviceView ykept, DeviceView yrow, const void* x, DeviceView xkept,
                    DeviceView xrow, Index rows, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(rows, s, softmax_kernel<T>, log_form, static_cast<T*>(y), ykept, yrow, static_cast<const T*>(x),
                       xkept, xrow, rows, n);
  });
}

cudaError_t xent_labels(Elem t, double* loss, const void* x, Index x0, Index ld, const std::int32_t* labels, Index l0,
                        Index ls, Index c, Index rows, int* error, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(rows, s, xent_labels_kernel<T>, loss, static_cast<const T*>(x), x0, ld, labels, l0, ls, c, rows,
                       error);
  });
}

cudaError_t xent_targets(Elem t, double* loss, const void* x, Index x0, Index ld, const void* targets, DeviceView tv,
                         Index c, Index rows, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(rows, s, xent_targets_kernel<T>, loss, static_cast<const T*>(x), x0, ld,
                       static_cast<const T*>(targets), tv, c, rows);
  });
}

cudaError_t mean_of(Elem t, void* out, Index o0, const double* loss, Index rows, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag); return launch_over(1, s, mean_of_kernel<T>, static_cast<T*>(out), o0, loss, rows); });
}

cudaError_t one_hot(Elem t, void* out, DeviceView ov, const std::int32_t* labels, DeviceView lv, Index c, Index n,
                    int* error, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(n, s, one_hot_kernel<T>, static_cast<T*>(out), ov, labels, lv, c, n, error);
  });
}

}  // namespace stheno::cuda
