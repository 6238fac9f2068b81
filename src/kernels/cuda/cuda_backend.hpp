#pragma once
// The CUDA backend: one device, one compute stream and one copy stream, cuBLAS for products
// (TF32 off unless STHENO_CUDA_TF32=1), and stheno's kernels (launch.hpp) for the rest. Device
// memory is a plain pointer, so a tensor's buffer is its storage's handle plus byte offset.
#include <cuda_runtime_api.h>
#include <cublas_v2.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/launch.hpp"
#include "kernels/device_views.hpp"
#include "stheno/kernels/backend.hpp"

namespace stheno::cuda {

// How many CUDA devices this process can use; 0 with `why` filled on any error (no driver, no
// device, a driver older than the toolkit).
int device_count(std::string* why = nullptr);

// Throws DeviceError "<what> failed on <device>: <CUDA error name>: <description>" unless cudaSuccess.
void check(cudaError_t status, const char* what, Device device);

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index);
  ~CudaBackend() override;

  // DeviceRuntime
  Device device() const override { return {DeviceKind::cuda, index_}; }
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
  std::int64_t launches() const override { return launches_.load(); }

  // Backend
  bool supports(OpKind kind, DType dtype) const override;
  void prepare(DType) override {}  // kernels are compiled into the library
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
  void scale_gradient(const Tensor& grad, double factor) override;

 private:
  // Checks a launcher's result and counts the launch.
  void launched(cudaError_t status, const char* kernel);
  // A device buffer of at least `bytes`, kept and grown (never shrunk) between calls; the one
  // compute stream keeps its users apart. Slots: 0 partial sums, 1 loss rows.
  void* scratch(int slot, std::size_t bytes);
  // Reads `bytes` from device memory, waiting for the compute stream: one host synchronisation.
  void read(const void* device_memory, void* host, std::size_t bytes);
  void check_error_flags();
  double partial_total(cudaError_t (*kernel)(Elem, double*, const void*, DeviceView, Index, Index, cudaStream_t),
                       const char* name, const Tensor& x);

  int index_;
  std::string name_;
  cudaStream_t compute_ = nullptr, copies_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  std::vector<cudaEvent_t> upload_events_;  // a pool; the first pending_uploads_ are in flight
  std::size_t pending_uploads_ = 0;
  std::mutex mutex_;  // guards the scratch buffers
  std::vector<std::pair<void*, std::size_t>> scratch_ = std::vector<std::pair<void*, std::size_t>>(2);
  int* error_flags_ = nullptr;  // bits set by kernels that met invalid input (a label out of range)
  bool errors_possible_ = false;
  std::atomic<std::int64_t> allocations_{0}, synchronizations_{0}, launches_{0};
};

// A tensor's typed device pointer at its first element's buffer (offsets come in views), and
// the element type of a dtype.
inline void* buffer_of(const Tensor& t) { return static_cast<char*>(t.storage()->handle()); }
Elem elem_of(DType dtype);

}  // namespace stheno::cuda
