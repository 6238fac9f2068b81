#pragma once
// The OpenCL backend: one context and one in-order queue per device, programs built once per
// (source, dtype) and kept, and kernels for every op the MLP, the CNN and the char-LSTM use.
// Kernel sources are OpenCL C 1.2 (no fp16, no subgroups, no work-group collectives), so that
// they run on PoCL's CPU device as on a GPU; float64 only where the device has cl_khr_fp64.
#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <string>
#include <vector>

#include "kernels/device_conv.hpp"
#include "kernels/device_random.hpp"
#include "kernels/device_views.hpp"
#include "stheno/kernels/backend.hpp"

namespace stheno::opencl {

// A tensor as the kernels see it (kernels/device_view.hpp; cl_long is 64-bit, as its fields).
using View = DeviceView;
inline View view_of(const Tensor& t) { return device_view(t); }
inline View view_of(const Tensor& t, const Shape& shape) { return device_view(t, shape); }
cl_mem buffer_of(const Tensor& t);

// Throws DeviceError "<what> failed on <device>: <OpenCL error name> (<code>)" unless CL_SUCCESS.
void check(cl_int status, const char* what, Device device);

class OpenclBackend final : public Backend {
 public:
  explicit OpenclBackend(int index);
  ~OpenclBackend() override;

  // DeviceRuntime
  Device device() const override { return {DeviceKind::opencl, index_}; }
  std::string name() const override { return name_; }
  void* allocate(std::size_t bytes) override;
  void deallocate(void* handle) noexcept override;
  void upload(void* handle, std::size_t offset, const void* host, std::size_t bytes) override;
  void download(const void* handle, std::size_t offset, void* host, std::size_t bytes) override;
  void upload_async(void* handle, std::size_t offset, const void* host, std::size_t bytes) override;
  void order_after_uploads() override;
  void finish_uploads() override;
  void copy(const Tensor& src, const Tensor& dst) override;
  void fill(const Tensor& dst, double value) override;
  void synchronize() override;
  std::int64_t allocations() const override { return allocations_.load(); }
  std::int64_t synchronizations() const override { return synchronizations_.load(); }
  // CLBlast's calls count as one launch each.
  std::int64_t launches() const override { return launches_.load(); }

  // Backend
  bool supports(OpKind kind, DType dtype) const override;
  void unary(UnaryOp op, const Tensor& x, const Tensor& out) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) override;
  void reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out) override;
  void argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out) override;
  void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) override;
  void softmax(const Tensor& x, int axis, const Tensor& out, bool log_form) override;
  void softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out) override;
  void one_hot(const Tensor& labels, const Tensor& out) override;
  bool all_finite(const Tensor& t) override;
  void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                  bool nesterov, double weight_decay) override;
  void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr, double eps,
                      double weight_decay) override;
  void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& momentum_buffer,
                      double lr, double alpha, double eps, double momentum, double weight_decay) override;
  void adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                   double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t) override;
  double gradient_sum_of_squares(const Tensor& grad) override;
  void im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns) override;
  void col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image) override;
  void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g,
                      const Tensor& out) override;
  void conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g, const Tensor& dx) override;
  void conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g, const Tensor& dweight) override;
  void max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out) override;
  void max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Pool2dWindow& window,
                           const Tensor& dx) override;
  void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance) override;
  void lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state) override;
  void lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                          const Tensor& out) override;
  void gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h) override;
  void gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh,
                         const Tensor& out) override;
  void gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out) override;
  void dropout_mask(Generator& gen, double keep, const Tensor& out) override;
  void scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out) override;
  void update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                              const Tensor& running_var, double momentum, double variance_scale) override;
  void scale_gradient(const Tensor& grad, double factor) override;

  // For the kernel files: the kernel `name` (a string literal: the cache keys on its address) of
  // `source` built for `dtype` (the source sees it as T, and int32 as I), made on first request
  // and kept; prepare() builds the programs before a compiled program's first step.
  cl_kernel kernel(const char* source, const char* name, DType dtype);
  // Sets the arguments and enqueues a 1-D range of `global` work-items (no-op when 0).
  template <class... Args>
  void launch(cl_kernel k, std::size_t global, const Args&... args) {
    if (global == 0) return;
    cl_uint i = 0;
    (set_arg(k, i++, sizeof(Args), &args), ...);
    enqueue(k, global);
  }
  cl_command_queue queue() { return queue_; }
  cl_context context() { return context_; }
  bool has_fp64() const { return fp64_; }
  // A device buffer of at least `bytes`, reused between calls (it grows, never shrinks); the
  // in-order queue keeps its users apart. Slots: 0 partial sums, 1 loss rows, 2 CLBlast's
  // temporary buffer.
  cl_mem scratch(int slot, std::size_t bytes);
  // The columns of a convolution, as conv2d_by_columns (kernels/device_conv.hpp) asks for them.
  auto columns() {
    return [this](const Shape& shape, DType dtype) { return grown_tensor(columns_, shape, dtype, device()); };
  }
  void count_launch() { launches_.fetch_add(1, std::memory_order_relaxed); }
  // An int on the device whose bits kernels set when their input is invalid (a label out of
  // range); read() checks it when it synchronises and throws IndexError naming the kernel.
  cl_mem error_flags() {
    errors_possible_ = true;
    return error_flags_;
  }
  // Reads `bytes` from a buffer, waiting for it: one host synchronisation.
  void read(cl_mem buffer, std::size_t offset, void* host, std::size_t bytes);
  // Builds every program this backend has for `dtype` (the same build is then reused).
  void prepare(DType dtype) override;

 private:
  void set_arg(cl_kernel k, cl_uint index, std::size_t size, const void* value);
  void enqueue(cl_kernel k, std::size_t global);
  void require_dtype(std::string_view kernel, DType dtype) const;
  // Builds `source` for `dtype` on first use (the caller holds mutex_); `name` is for messages.
  cl_program program(const char* source, const char* name, DType dtype);

  int index_;
  std::string name_;
  cl_device_id device_id_ = nullptr;
  cl_context context_ = nullptr;
  cl_command_queue queue_ = nullptr;
  cl_command_queue copy_queue_ = nullptr;  // uploads that overlap the kernels of queue_
  std::vector<cl_event> uploads_;          // started and not yet waited for
  bool fp64_ = false;
  std::mutex mutex_;  // guards the program cache and scratch buffers
  std::map<std::pair<const char*, DType>, cl_program> programs_;
  std::map<std::pair<const char*, DType>, cl_kernel> kernels_;  // names are string literals
  std::array<std::pair<cl_mem, std::size_t>, 4> scratch_{};
  std::shared_ptr<Storage> columns_;
  std::shared_ptr<Storage> host_staging_;  // host memory that dropout masks are drawn into
  MaskStaging mask_staging_;
  cl_mem error_flags_ = nullptr;
  bool errors_possible_ = false;
  void check_error_flags();
  std::atomic<std::int64_t> allocations_{0}, synchronizations_{0}, launches_{0};
};

// The backend of an OpenCL tensor's device.
OpenclBackend& backend_of(const Tensor& t);

// The OpenCL C sources of each kernel family (one file each), for prepare().
extern const char* const kConvSource;
extern const char* const kCopySource;
extern const char* const kElementwiseSource;
extern const char* const kRecurrentSource;
extern const char* const kReduceSource;
extern const char* const kSoftmaxSource;
extern const char* const kUpdateSource;

}  // namespace stheno::opencl
