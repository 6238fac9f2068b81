#pragma once
// The CUDA kernels as the backend calls them: plain pointers (already at the tensor's first
// byte's buffer, offsets in elements come in views), DeviceViews and scalars, so that the .cu
// files include nothing of the library but this. Each launcher enqueues on `stream` and returns
// the launch's error (cudaSuccess when it was queued).
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/device_view.hpp"

namespace stheno::cuda {

// The element types the kernels are built for, in DType's order.
enum class Elem : int { f32 = 0, f64 = 1, i32 = 2 };
using Index = std::int64_t;

// Elementwise (op codes are UnaryOp's and BinaryOp's values), copies between element types
// (with broadcasting) and fills.
cudaError_t unary(int op, Elem t, void* y, DeviceView yv, const void* x, DeviceView xv, Index n, cudaStream_t s);
cudaError_t binary(int op, Elem t, void* y, DeviceView yv, const void* a, DeviceView av, const void* b, DeviceView bv,
                   Index n, cudaStream_t s);
cudaError_t copy(Elem dt, void* dst, DeviceView dv, Elem st, const void* src, DeviceView sv, Index n, cudaStream_t s);
cudaError_t fill(Elem t, void* dst, DeviceView dv, double value, Index n, cudaStream_t s);

// Reductions (op: 0 sum, 1 mean, 2 max; `blocked` as on the host: rows combined in blocks of
// 64), argmax, and per-part sums of squares / non-finite counts in double.
cudaError_t reduce(int op, bool blocked, double scale, Elem t, void* y, DeviceView yv, const void* x, DeviceView kept,
                   DeviceView reduced, Index outer, Index r, cudaStream_t s);
cudaError_t argmax(Elem t, std::int32_t* y, DeviceView yv, const void* x, DeviceView kept, DeviceView reduced, Index outer,
                   Index r, cudaStream_t s);
cudaError_t sum_squares(Elem t, double* partial, const void* x, DeviceView xv, Index n, Index parts, cudaStream_t s);
cudaError_t non_finite(Elem t, double* partial, const void* x, DeviceView xv, Index n, Index parts, cudaStream_t s);

// Softmax along rows, softmax cross-entropy (row losses in double, then their mean) and one-hot
// rows. A label outside [0, C) sets bit 0 (cross-entropy) or 1 (one-hot) of *error.
cudaError_t softmax(bool log_form, Elem t, void* y, DeviceView ykept, DeviceView yrow, const void* x, DeviceView xkept,
                    DeviceView xrow, Index rows, Index n, cudaStream_t s);
cudaError_t xent_labels(Elem t, double* loss, const void* x, Index x0, Index ld, const std::int32_t* labels, Index l0,
                        Index ls, Index c, Index rows, int* error, cudaStream_t s);
cudaError_t xent_targets(Elem t, double* loss, const void* x, Index x0, Index ld, const void* targets, DeviceView tv,
                         Index c, Index rows, cudaStream_t s);
cudaError_t mean_of(Elem t, void* out, Index o0, const double* loss, Index rows, cudaStream_t s);
cudaError_t one_hot(Elem t, void* out, DeviceView ov, const std::int32_t* labels, DeviceView lv, Index c, Index n,
                    int* error, cudaStream_t s);

// Optimizer updates over contiguous tensors (pointers at their first element); scalars arrive
// in double and are used in the parameter's type, as on the host.
struct AdamScalars {
  double rate, beta1, beta2, eps, inv_c1, inv_sqrt_c2, shrink, l2;
};
cudaError_t sgd(Elem t, void* p, const void* g, void* v, double rate, double mu, bool nesterov, double wd, bool has_velocity,
                Index n, cudaStream_t s);
cudaError_t adagrad(Elem t, void* p, const void* g, void* sum_squares, double rate, double eps, double wd, Index n,
                    cudaStream_t s);
cudaError_t rmsprop(Elem t, void* p, const void* g, void* square_avg, void* momentum_buffer, double rate, double alpha,
                    double eps, double mu, double wd, bool has_momentum, Index n, cudaStream_t s);
cudaError_t adam(Elem t, void* p, const void* g, void* m, void* v, const AdamScalars& a, Index n, cudaStream_t s);
cudaError_t scale(Elem t, void* g, double factor, Index n, cudaStream_t s);

}  // namespace stheno::cuda
