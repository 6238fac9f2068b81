// The CUDA backend's convolution (its own im2col and cuBLAS, kernels/device_conv.hpp), pooling,
// batch-norm statistics, recurrent cells, embedding rows and dropout masks.
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/device_conv.hpp"
#include "kernels/device_random.hpp"
#include "kernels/gather_checks.hpp"
#include "kernels/recurrent_checks.hpp"

namespace stheno::cuda {

namespace {
ConvGeometry geometry(const Conv2dGeometry& g) {
  return {g.channels, g.height, g.width, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w,
          g.pad_h,    g.pad_w,  g.dilation_h, g.dilation_w, g.out_h(), g.out_w()};
}

PoolGeometry geometry(const PoolShape& s, const Pool2dWindow& w) {
  return {s.h, s.w, s.oh, s.ow, w.kernel.h, w.kernel.w, w.stride.h, w.stride.w, w.padding.h, w.padding.w};
}

// Rows of a recurrent operand: its first row and the stride between rows.
Rows rows_of(const Tensor& t, Index stride) { return {first_element(t), stride}; }

Index first(const Tensor& t) { return device_view(t).offset; }
}  // namespace

void CudaBackend::im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns) {
  const auto [img, cols] = check_columns("im2col", image, g, columns);
  const DeviceView iv = device_view(img);
  DriverCall driver;
  launched(cuda::im2col(elem_of(image.dtype()), buffer_of(cols), device_view(cols), buffer_of(img), iv.offset, iv.stride[4],
                        iv.stride[5], iv.stride[6], iv.stride[7], geometry(g), cols.numel(), compute_),
           "im2col");
}

void CudaBackend::col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image) {
  const auto [img, cols] = check_columns("col2im", image, g, columns);
  const Tensor src = cols.shares_storage(img) ? cols.clone() : cols;
  const DeviceView cv = device_view(src);
  DriverCall driver;
  launched(cuda::col2im(elem_of(image.dtype()), buffer_of(img), device_view(img), buffer_of(src), cv.offset, cv.stride[5],
                        cv.stride[6], cv.stride[7], geometry(g), img.numel(), compute_),
           "col2im");
}

// Each pass checks its operands, then runs through cuDNN where that measured faster for this
// geometry (cudnn_conv.hpp), else as im2col and cuBLAS.
void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g,
                                 const Tensor& out) {
  check_conv_forward(x, weight, bias, g, out);
  auto by_columns = [&] { conv2d_by_columns(*this, columns(), x, weight, bias, g, out); };
#ifdef STHENO_HAS_CUDNN
  if (cudnn_ && cudnn_->run(CudnnConvolutions::Pass::forward, recording_, x, weight, bias, g, out, ColumnsPath(by_columns)))
    return;
#endif
  by_columns();
}

void CudaBackend::conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g, const Tensor& dx) {
  conv_shapes("conv2d_backward_input", dx, weight, grad, g);
  auto by_columns = [&] { conv2d_input_grad_by_columns(*this, columns(), grad, weight, g, dx); };
#ifdef STHENO_HAS_CUDNN
  if (cudnn_ && cudnn_->run(CudnnConvolutions::Pass::input_grad, recording_, grad, weight, Tensor(), g, dx,
                            ColumnsPath(by_columns)))
    return;
#endif
  by_columns();
}

void CudaBackend::conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g, const Tensor& dweight) {
  conv_shapes("conv2d_backward_weight", x, dweight, grad, g);
  auto by_columns = [&] { conv2d_weight_grad_by_columns(*this, columns(), x, grad, g, dweight); };
#ifdef STHENO_HAS_CUDNN
  if (cudnn_ &&
      cudnn_->run(CudnnConvolutions::Pass::weight_grad, recording_, x, grad, Tensor(), g, dweight, ColumnsPath(by_columns)))
    return;
#endif
  by_columns();
}

void CudaBackend::max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out) {
  const PoolShape s = check_pool("max_pool2d", x, window, out);
  DriverCall driver;
  launched(cuda::max_pool(elem_of(x.dtype()), buffer_of(out), first(out), buffer_of(x), first(x), geometry(s, window),
                          out.numel(), compute_),
           "max_pool2d");
}

void CudaBackend::max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Pool2dWindow& window,
                                      const Tensor& dx) {
  const PoolShape s = check_pool("max_pool2d_backward", x, window, grad);
  check_pool_backward(x, pooled, grad, dx);
  DriverCall driver;
  launched(cuda::max_pool_grad(elem_of(x.dtype()), buffer_of(dx), first(dx), buffer_of(x), first(x), buffer_of(pooled),
                               first(pooled), buffer_of(grad), first(grad), geometry(s, window), dx.numel(), compute_),
           "max_pool2d_backward");
}

void CudaBackend::channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance) {
  const ChannelShape cs = check_channel_moments(x, mean, variance, device());
  DriverCall driver;
  launched(cuda::channel_moments(elem_of(x.dtype()), buffer_of(mean), device_view(mean), buffer_of(variance),
                                 device_view(variance), buffer_of(x), first(x), cs.n, cs.c, cs.inner, compute_),
           "channel_moments");
}

void CudaBackend::update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                                         const Tensor& running_var, double momentum, double variance_scale) {
  check_running_moments(mean, variance, running_mean, running_var);
  DriverCall driver;
  launched(cuda::running_moments(elem_of(mean.dtype()), first_element(running_mean), first_element(running_var),
                                 buffer_of(mean), device_view(mean), buffer_of(variance), device_view(variance), momentum,
                                 variance_scale, running_mean.numel(), compute_),
           "update_running_moments");
}

void CudaBackend::lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state) {
  const char* op = "lstm_cell";
  const auto [n, h] = batch_and_hidden(op, "gates", gates, 4);
  const DType dt = gates.dtype();
  const Rows g = rows_of(gates, row_stride(op, "gates", gates, n, 4 * h, dt)),
             c = rows_of(c_prev, row_stride(op, "c_prev", c_prev, n, h, dt)),
             s = rows_of(state, row_stride(op, "state", state, n, 2 * h, dt));
  DriverCall driver;
  launched(cuda::lstm_cell(elem_of(dt), g, c, s, h, n * h, compute_), op);
}

void CudaBackend::lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                                     const Tensor& out) {
  const char* op = "lstm_cell_backward";
  const auto [n, h] = batch_and_hidden(op, "gates", gates, 4);
  const DType dt = gates.dtype();
  const Rows g = rows_of(gates, row_stride(op, "gates", gates, n, 4 * h, dt)),
             c = rows_of(c_prev, row_stride(op, "c_prev", c_prev, n, h, dt)),
             s = rows_of(state, row_stride(op, "state", state, n, 2 * h, dt)),
             ds = rows_of(dstate, row_stride(op, "dstate", dstate, n, 2 * h, dt)),
             o = rows_of(out, row_stride(op, "out", out, n, 5 * h, dt));
  DriverCall driver;
  launched(cuda::lstm_cell_grad(elem_of(dt), g, c, s, ds, o, h, n * h, compute_), op);
}

void CudaBackend::gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h_out) {
  const char* op = "gru_cell";
  const auto [n, h] = batch_and_hidden(op, "gx", gx, 3);
  const DType dt = gx.dtype();
  const Rows x = rows_of(gx, row_stride(op, "gx", gx, n, 3 * h, dt)), r = rows_of(gh, row_stride(op, "gh", gh, n, 3 * h, dt)),
             p = rows_of(h_prev, row_stride(op, "h_prev", h_prev, n, h, dt)),
             q = rows_of(h_out, row_stride(op, "h", h_out, n, h, dt));
  DriverCall driver;
  launched(cuda::gru_cell(elem_of(dt), x, r, p, q, h, n * h, compute_), op);
}

void CudaBackend::gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh,
                                    const Tensor& out) {
  const char* op = "gru_cell_backward";
  const auto [n, h] = batch_and_hidden(op, "gx", gx, 3);
  const DType dt = gx.dtype();
  const Rows x = rows_of(gx, row_stride(op, "gx", gx, n, 3 * h, dt)), r = rows_of(gh, row_stride(op, "gh", gh, n, 3 * h, dt)),
             p = rows_of(h_prev, row_stride(op, "h_prev", h_prev, n, h, dt)),
             d = rows_of(dh, row_stride(op, "dh", dh, n, h, dt)), o = rows_of(out, row_stride(op, "out", out, n, 7 * h, dt));
  DriverCall driver;
  launched(cuda::gru_cell_grad(elem_of(dt), x, r, p, d, o, h, n * h, compute_), op);
}

void CudaBackend::gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out) {
  const Index d = check_gather("gather_rows", table, indices, out);
  errors_possible_ = true;
  DriverCall driver;
  launched(cuda::gather_rows(elem_of(table.dtype()), first_element(out), first_element(table),
                             static_cast<const std::int32_t*>(buffer_of(indices)), device_view(indices), table.shape()[0], d,
                             out.numel(), error_flags_, compute_),
           "gather_rows");
}

void CudaBackend::scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out) {
  const Index d = check_gather("scatter_add_rows", out, indices, grad);
  errors_possible_ = true;
  fill(out, 0.0);
  DriverCall driver;
  launched(cuda::scatter_add_rows(elem_of(out.dtype()), first_element(out), first_element(grad),
                                  static_cast<const std::int32_t*>(buffer_of(indices)), device_view(indices), out.shape()[0], d,
                                  indices.numel(), error_flags_, compute_),
           "scatter_add_rows");
}

// The copy goes on the compute stream behind the kernels queued before it, from pinned memory,
// so that a recorded step's copy node can read it when the step replays.
void CudaBackend::dropout_mask(Generator& gen, double keep, const Tensor& out) {
  const std::size_t bytes = check_dropout_out(out);
  void* host = mask_staging_.take(bytes, [this] { return synchronizations(); }, [this](std::size_t capacity) {
    if (recording_)
      throw DeviceError("dropout_mask: a recorded step on " + device().str() +
                        " needs more mask staging than the step before it");
    synchronize();  // every queued copy from the old memory has run
    if (pinned_staging_) cudaFreeHost(pinned_staging_);
    pinned_staging_ = nullptr;
    check(cudaMallocHost(&pinned_staging_, capacity), "cudaMallocHost (dropout staging)", device());
    return pinned_staging_;
  });
  draw_dropout_mask(gen, keep, out, host);
  DriverCall driver;
  check(cudaMemcpyAsync(first_element(out), host, bytes, cudaMemcpyHostToDevice, compute_), "cudaMemcpyAsync (dropout mask)",
        device());
}

}  // namespace stheno::cuda
