#pragma once
// The CUDA backend: one device, one compute stream and one copy stream, cuBLAS for products
// (TF32 off unless STHENO_CUDA_TF32=1), and stheno's kernels (launch.hpp) for the rest. Device
// memory is a plain pointer, so a tensor's buffer is its storage's handle plus byte offset.
#include <cuda_runtime_api.h>
#include <cublas_v2.h>

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernels/cuda/cudnn_conv.hpp"
#include "kernels/cuda/launch.hpp"
#include "kernels/device_conv.hpp"
#include "kernels/device_random.hpp"
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
  // A training step is captured on the compute stream into a CUDA graph (kernels and cuBLAS
  // calls are recorded, not run), the instantiated graph updated in place with the new step's
  // arguments (cudaGraphExecUpdate: same topology, new scalars and buffers) and launched once.
  // STHENO_CUDA_GRAPHS=0 turns it off.
  bool begin_step_record() override;
  void end_step_record(bool launch) override;
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
  void update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                              const Tensor& running_var, double momentum, double variance_scale) override;
  void lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state) override;
  void lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                          const Tensor& out) override;
  void gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h) override;
  void gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh,
                         const Tensor& out) override;
  void gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out) override;
  void scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out) override;
  void dropout_mask(Generator& gen, double keep, const Tensor& out) override;

 private:
  // Checks a launcher's result and counts the launch.
  void launched(cudaError_t status, const char* kernel);
  // A launch counts unless it was recorded (the recorded step counts once, when it launches).
  void count_launch() {
    if (!recording_) launches_.fetch_add(1, std::memory_order_relaxed);
  }
  // A device buffer of at least `bytes`, kept and grown (never shrunk) between calls; the one
  // compute stream keeps its users apart. Slots: 0 partial sums, 1 loss rows.
  void* scratch(int slot, std::size_t bytes);
  // Reads `bytes` from device memory, waiting for the compute stream: one host synchronisation.
  void read(const void* device_memory, void* host, std::size_t bytes);
  // After the host has waited for the compute stream: cache blocks are no longer in use by
  // queued kernels, and the kernels' error flags can be read.
  void drained();
  void check_error_flags();
  // Frees every cached block (the caller holds blocks_mutex_).
  void release_cached();
  // The columns of a convolution, as conv2d_by_columns (kernels/device_conv.hpp) asks for them.
  auto columns() {
    return [this](const Shape& shape, DType dtype) { return grown_tensor(columns_, shape, dtype, device()); };
  }
  double partial_total(cudaError_t (*kernel)(Elem, double*, const void*, DeviceView, Index, Index, cudaStream_t),
                       const char* name, const Tensor& x);

  int index_;
  std::string name_;
  cudaStream_t compute_ = nullptr, copies_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  void* blas_workspace_ = nullptr;  // cuBLAS's own, so that it allocates nothing while recorded
  bool graphs_ = true, recording_ = false, uploads_to_wait_for_ = false;
  cudaGraphExec_t step_graph_ = nullptr;
  std::vector<cudaEvent_t> upload_events_;  // a pool; the first pending_uploads_ are in flight
  std::size_t pending_uploads_ = 0;
  std::mutex mutex_;  // guards the scratch buffers
  std::array<std::pair<void*, std::size_t>, 2> scratch_{};
  std::mutex blocks_mutex_;  // guards the allocator's blocks
  std::multimap<std::size_t, void*> cached_;   // free blocks by size
  std::unordered_map<void*, std::size_t> live_;  // blocks in use, with their sizes
  std::size_t live_bytes_ = 0, cached_bytes_ = 0;
  std::shared_ptr<Storage> columns_;
  std::unique_ptr<CudnnConvolutions> cudnn_;  // where the build has cuDNN
  void* pinned_staging_ = nullptr;  // host memory that dropout masks are drawn into
  MaskStaging mask_staging_;
  // Blocks handed out again from the cache since the last synchronisation: kernels queued before
  // may still use them, so a copy-stream upload into one waits for the compute stream first.
  std::unordered_set<void*> reused_since_sync_;
  int* error_flags_ = nullptr;  // bits set by kernels that met invalid input (a label out of range)
  bool errors_possible_ = false;
  std::atomic<std::int64_t> allocations_{0}, synchronizations_{0}, launches_{0};
};

// A tensor's device buffer (offsets come in views), and the element type of a dtype.
inline void* buffer_of(const Tensor& t) { return static_cast<char*>(t.storage()->handle()); }
// A tensor's first element, for kernels that take rows or contiguous tensors as plain pointers.
inline void* first_element(const Tensor& t) {
  return static_cast<char*>(t.storage()->handle()) + t.storage()->byte_offset() +
         static_cast<std::size_t>(t.offset()) * itemsize(t.dtype());
}
Elem elem_of(DType dtype);

}  // namespace stheno::cuda
