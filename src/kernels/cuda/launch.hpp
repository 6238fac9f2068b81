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

// A convolution's geometry as the kernels take it.
struct ConvGeometry {
  Index c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};
// im2col: image (N, C, H, W) with strides is0..is3 from element i0 into columns (N, C·kh·kw,
// oh·ow) as a view; col2im: each pixel gathers the column entries that read it.
cudaError_t im2col(Elem t, void* cols, DeviceView cv, const void* img, Index i0, Index is0, Index is1, Index is2, Index is3,
                   ConvGeometry g, Index n, cudaStream_t s);
cudaError_t col2im(Elem t, void* img, DeviceView iv, const void* cols, Index c0, Index cs0, Index cs1, Index cs2,
                   ConvGeometry g, Index n, cudaStream_t s);
// Max pooling over contiguous planes of h×w (NaN wins), and its gradient to each window's first
// maximum.
struct PoolGeometry {
  Index h, w, oh, ow, kh, kw, sh, sw, ph, pw;
};
cudaError_t max_pool(Elem t, void* out, Index o0, const void* x, Index x0, PoolGeometry p, Index n, cudaStream_t s);
cudaError_t max_pool_grad(Elem t, void* dx, Index d0, const void* x, Index x0, const void* pooled, Index y0, const void* grad,
                          Index g0, PoolGeometry p, Index n, cudaStream_t s);
// Per channel of contiguous x (N, C, inner): mean and biased variance; and the running averages.
cudaError_t channel_moments(Elem t, void* mean, DeviceView mv, void* variance, DeviceView vv, const void* x, Index x0, Index n,
                            Index c, Index inner, cudaStream_t s);
cudaError_t running_moments(Elem t, void* running_mean, void* running_var, const void* mean, DeviceView mv,
                            const void* variance, DeviceView vv, double momentum, double variance_scale, Index c,
                            cudaStream_t s);

// Fused recurrent cells over rows of unit stride (pointers at the first row, strides between
// rows), as the host computes them; n = rows × hidden units.
struct Rows {
  void* p;
  Index stride;
};
cudaError_t lstm_cell(Elem t, Rows gates, Rows c_prev, Rows state, Index h, Index n, cudaStream_t s);
cudaError_t lstm_cell_grad(Elem t, Rows gates, Rows c_prev, Rows state, Rows dstate, Rows out, Index h, Index n,
                           cudaStream_t s);
cudaError_t gru_cell(Elem t, Rows gx, Rows gh, Rows h_prev, Rows h_out, Index h, Index n, cudaStream_t s);
cudaError_t gru_cell_grad(Elem t, Rows gx, Rows gh, Rows h_prev, Rows dh, Rows out, Index h, Index n, cudaStream_t s);
// Embedding rows: gather (an index outside [0, rows) sets bit 2 of *error and gives zeros) and
// scatter-add in index order, one thread per column (bit 3).
cudaError_t gather_rows(Elem t, void* out, const void* table, const std::int32_t* idx, DeviceView iv, Index rows, Index d,
                        Index n, int* error, cudaStream_t s);
cudaError_t scatter_add_rows(Elem t, void* out, const void* grad, const std::int32_t* idx, DeviceView iv, Index rows, Index d,
                             Index count, int* error, cudaStream_t s);

}  // namespace stheno::cuda
