#include "kernels/cuda/cuda_backend.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>

#include "kernels/device_checks.hpp"

namespace stheno::cuda {

namespace {
std::string error_text(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

void check_blas(cublasStatus_t status, const char* what, Device device) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw DeviceError(std::string(what) + " failed on " + device.str() + ": " + cublasGetStatusName(status) + " (" +
                      cublasGetStatusString(status) + ")");
}

}  // namespace

int device_count(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    // Without a GPU the runtime answers cudaErrorInsufficientDriver or cudaErrorNoDevice, and
    // other errors mean no usable device as well.
    if (why) *why = error_text(status);
    cudaGetLastError();  // clears the error so that later calls do not report it
    return 0;
  }
  if (count == 0 && why) *why = "the CUDA runtime reports no device";
  return count;
}

void check(cudaError_t status, const char* what, Device device) {
  if (status != cudaSuccess) throw DeviceError(std::string(what) + " failed on " + device.str() + ": " + error_text(status));
}

Elem elem_of(DType dtype) {
  switch (dtype) {
    case DType::f32: return Elem::f32;
    case DType::f64: return Elem::f64;
    case DType::i32: return Elem::i32;
    case DType::i64: break;
  }
  throw DTypeError("the CUDA backend holds float32, float64 and int32 tensors, not int64");
}

CudaBackend::CudaBackend(int index) : index_(index) {
  std::string why;
  const int count = device_count(&why);
  if (count == 0)
    throw DeviceError("no CUDA device found for " + device().str() + " (" + why +
                      "); this machine needs an NVIDIA GPU and its driver, or use --device cpu");
  if (index >= count)
    throw DeviceError(device().str() + " does not exist: this machine has " + std::to_string(count) + " CUDA device" +
                      (count == 1 ? "" : "s"));
  check(cudaSetDevice(index), "cudaSetDevice", device());
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, index), "cudaGetDeviceProperties", device());
  name_ = std::string(props.name) + " (compute capability " + std::to_string(props.major) + "." +
          std::to_string(props.minor) + ")";
  check(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking), "cudaStreamCreate", device());
  check(cudaStreamCreateWithFlags(&copies_, cudaStreamNonBlocking), "cudaStreamCreate", device());
  check_blas(cublasCreate(&blas_), "cublasCreate", device());
  check_blas(cublasSetStream(blas_, compute_), "cublasSetStream", device());
  // Products in full float32 unless asked otherwise: TF32 keeps 10 mantissa bits.
  const char* tf32 = std::getenv("STHENO_CUDA_TF32");
  const bool allow_tf32 = tf32 && std::string(tf32) == "1";
  check_blas(cublasSetMathMode(blas_, allow_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH), "cublasSetMathMode",
             device());
  constexpr std::size_t kBlasWorkspace = 32u << 20;  // what cuBLAS asks for on Hopper
  check(cudaMalloc(&blas_workspace_, kBlasWorkspace), "cudaMalloc (cuBLAS workspace)", device());
  check_blas(cublasSetWorkspace(blas_, blas_workspace_, kBlasWorkspace), "cublasSetWorkspace", device());
#ifdef STHENO_HAS_CUDNN
  cudnn_ = std::make_unique<CudnnConvolutions>(device(), compute_, allow_tf32);
#endif
  const char* graphs = std::getenv("STHENO_CUDA_GRAPHS");
  graphs_ = !(graphs && std::string(graphs) == "0");
  check(cudaMalloc(&error_flags_, sizeof(int)), "cudaMalloc", device());
  check(cudaMemsetAsync(error_flags_, 0, sizeof(int), compute_), "cudaMemsetAsync", device());
  check(cudaStreamSynchronize(compute_), "cudaStreamSynchronize", device());
}

// Backends live for the whole process (see the registration below); this runs only if one
// failed half-way through its constructor's successors.
CudaBackend::~CudaBackend() {
  cudnn_.reset();
  if (pinned_staging_) cudaFreeHost(pinned_staging_);
  for (auto& [buffer, size] : scratch_)
    if (buffer) cudaFree(buffer);
  for (cudaEvent_t e : upload_events_) cudaEventDestroy(e);
  if (error_flags_) cudaFree(error_flags_);
  if (step_graph_) cudaGraphExecDestroy(step_graph_);
  if (blas_) cublasDestroy(blas_);
  if (blas_workspace_) cudaFree(blas_workspace_);
  if (copies_) cudaStreamDestroy(copies_);
  if (compute_) cudaStreamDestroy(compute_);
}

namespace {
// Blocks are rounded up so that freed ones fit later requests: to 512 bytes below 1 MiB, to
// 2 MiB above.
std::size_t block_size(std::size_t bytes) {
  constexpr std::size_t kSmall = 512, kLarge = 2u << 20, kSplit = 1u << 20;
  const std::size_t unit = bytes < kSplit ? kSmall : kLarge;
  return std::max<std::size_t>(unit, (bytes + unit - 1) / unit * unit);
}
}  // namespace

// A caching allocator, as the eager machine needs (a compiled program allocates its arena once):
// a freed block goes back to a cache and the best-fitting cached block (at most twice the size
// asked for) serves the next request. Every kernel runs on the one compute stream, so a block
// freed by a tensor whose kernels are still queued is only reused by kernels queued after them.
void* CudaBackend::allocate(std::size_t bytes) {
  const std::size_t size = block_size(bytes);
  std::lock_guard lock(blocks_mutex_);
  if (auto it = cached_.lower_bound(size); it != cached_.end() && it->first <= 2 * size) {
    const auto [got, p] = *it;
    cached_.erase(it);
    cached_bytes_ -= got;
    live_.emplace(p, got);
    live_bytes_ += got;
    reused_since_sync_.insert(p);
    return p;
  }
  void* p = nullptr;
  DriverCall driver;
  cudaError_t status = cudaMalloc(&p, size);
  // Freeing the cache waits for the device, which a recorded step cannot do.
  if (status == cudaErrorMemoryAllocation && !cached_.empty() && !recording_) {
    cudaGetLastError();
    release_cached();  // then try once more
    status = cudaMalloc(&p, size);
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    std::size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    throw OutOfMemoryError(bytes, "a tensor on " + device().str() + ": stheno holds " + std::to_string(live_bytes_ >> 20) +
                                      " MiB in tensors and " + std::to_string(cached_bytes_ >> 20) +
                                      " MiB cached; the device has " + std::to_string(free_bytes >> 20) + " MiB free of " +
                                      std::to_string(total >> 20) + " MiB");
  }
  check(status, "cudaMalloc", device());
  allocations_.fetch_add(1, std::memory_order_relaxed);
  live_.emplace(p, size);
  live_bytes_ += size;
  return p;
}

void CudaBackend::deallocate(void* handle) noexcept {
  std::lock_guard lock(blocks_mutex_);
  const auto it = live_.find(handle);
  if (it == live_.end()) return;
  live_bytes_ -= it->second;
  cached_bytes_ += it->second;
  cached_.emplace(it->second, handle);
  live_.erase(it);
}

void CudaBackend::release_cached() {
  cudaStreamSynchronize(compute_);  // the last users of the cached blocks have finished
  for (const auto& [size, p] : cached_) cudaFree(p);
  cached_.clear();
  cached_bytes_ = 0;
}

void CudaBackend::upload(void* handle, std::size_t offset, const void* host, std::size_t bytes) {
  DriverCall driver;
  // Blocking: the caller may reuse its host memory as soon as this returns.
  check(cudaMemcpyAsync(static_cast<char*>(handle) + offset, host, bytes, cudaMemcpyHostToDevice, compute_), "cudaMemcpyAsync",
        device());
  check(cudaStreamSynchronize(compute_), "cudaStreamSynchronize", device());
}

void CudaBackend::upload_async(void* handle, std::size_t offset, const void* host, std::size_t bytes) {
  if (pending_uploads_ == upload_events_.size()) {  // the pool grows once, to the most uploads in one step
    cudaEvent_t e = nullptr;
    check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate", device());
    upload_events_.push_back(e);
  }
  DriverCall driver;
  bool reused = false;
  {
    std::lock_guard lock(blocks_mutex_);
    reused = reused_since_sync_.count(handle) > 0;
  }
  if (reused) {  // kernels queued before may still read or write the block
    check(cudaEventRecord(upload_events_[pending_uploads_], compute_), "cudaEventRecord", device());
    check(cudaStreamWaitEvent(copies_, upload_events_[pending_uploads_], 0), "cudaStreamWaitEvent", device());
  }
  check(cudaMemcpyAsync(static_cast<char*>(handle) + offset, host, bytes, cudaMemcpyHostToDevice, copies_), "cudaMemcpyAsync",
        device());
  check(cudaEventRecord(upload_events_[pending_uploads_], copies_), "cudaEventRecord", device());
  ++pending_uploads_;
}

void CudaBackend::order_after_uploads() {
  // While a step is recorded, the launch waits for the uploads (an event recorded outside the
  // capture cannot join it).
  if (recording_) {
    uploads_to_wait_for_ = pending_uploads_ > 0;
    return;
  }
  DriverCall driver;
  for (std::size_t i = 0; i < pending_uploads_; ++i)
    check(cudaStreamWaitEvent(compute_, upload_events_[i], 0), "cudaStreamWaitEvent", device());
}

void CudaBackend::finish_uploads() {
  DriverCall driver;
  for (std::size_t i = 0; i < pending_uploads_; ++i)
    check(cudaEventSynchronize(upload_events_[i]), "cudaEventSynchronize (uploads)", device());
  pending_uploads_ = 0;
}

void CudaBackend::download(const void* handle, std::size_t offset, void* host, std::size_t bytes) {
  read(static_cast<const char*>(handle) + offset, host, bytes);
}

void CudaBackend::read(const void* device_memory, void* host, std::size_t bytes) {
  synchronizations_.fetch_add(1, std::memory_order_relaxed);
  {
    DriverCall driver;
    check(cudaMemcpyAsync(host, device_memory, bytes, cudaMemcpyDeviceToHost, compute_), "cudaMemcpyAsync", device());
    check(cudaStreamSynchronize(compute_), "cudaStreamSynchronize", device());
  }
  drained();
}

void CudaBackend::synchronize() {
  synchronizations_.fetch_add(1, std::memory_order_relaxed);
  {
    DriverCall driver;
    check(cudaStreamSynchronize(compute_), "cudaStreamSynchronize", device());
  }
  drained();
}

void CudaBackend::drained() {
  {
    std::lock_guard lock(blocks_mutex_);
    reused_since_sync_.clear();
  }
  check_error_flags();
}

void CudaBackend::check_error_flags() {
  if (!errors_possible_) return;
  int flags = 0;
  {
    DriverCall driver;  // the stream has just drained, so this waits for nothing
    check(cudaMemcpy(&flags, error_flags_, sizeof flags, cudaMemcpyDeviceToHost), "cudaMemcpy", device());
  }
  if (flags == 0) return;
  check(cudaMemsetAsync(error_flags_, 0, sizeof(int), compute_), "cudaMemsetAsync", device());
  throw_kernel_errors(flags, device());
}

void CudaBackend::launched(cudaError_t status, const char* kernel) {
  check(status, kernel, device());
  count_launch();
}

bool CudaBackend::begin_step_record() {
  if (!graphs_) return false;
  DriverCall driver;
  // Relaxed: the dropout mask's upload goes on the copy stream, outside the capture, meanwhile.
  check(cudaStreamBeginCapture(compute_, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture", device());
  recording_ = true;
  uploads_to_wait_for_ = false;
  return true;
}

void CudaBackend::end_step_record(bool launch) {
  recording_ = false;
  DriverCall driver;
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(compute_, &graph);
  if (!launch) {
    if (graph) cudaGraphDestroy(graph);
    return;
  }
  check(ended, "cudaStreamEndCapture (a training step)", device());
  cudaGraphExecUpdateResultInfo info{};
  if (!step_graph_ || cudaGraphExecUpdate(step_graph_, graph, &info) != cudaSuccess) {
    cudaGetLastError();
    if (step_graph_) cudaGraphExecDestroy(step_graph_);
    step_graph_ = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&step_graph_, graph, 0);
    if (made != cudaSuccess) cudaGraphDestroy(graph);
    check(made, "cudaGraphInstantiate (a training step)", device());
  }
  cudaGraphDestroy(graph);
  if (uploads_to_wait_for_) order_after_uploads();
  check(cudaGraphLaunch(step_graph_, compute_), "cudaGraphLaunch", device());
  count_launch();
}

void* CudaBackend::scratch(int slot, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  auto& [buffer, size] = scratch_[static_cast<std::size_t>(slot)];
  if (size < bytes) {
    if (recording_)
      throw DeviceError("a recorded step on " + device().str() + " needs a larger scratch buffer than the step before it "
                        "(set STHENO_CUDA_GRAPHS=0 for programs whose sizes change between steps)");
    DriverCall driver;
    if (buffer) {
      check(cudaStreamSynchronize(compute_), "cudaStreamSynchronize", device());  // its last user may still run
      cudaFree(buffer);
    }
    buffer = nullptr;
    size = 0;
    check(cudaMalloc(&buffer, bytes), "cudaMalloc (scratch)", device());
    allocations_.fetch_add(1, std::memory_order_relaxed);
    size = bytes;
  }
  return buffer;
}

bool CudaBackend::supports(OpKind kind, DType dtype) const {
  if (dtype == DType::i64) return false;
  switch (kind) {
    case OpKind::unary: case OpKind::binary: case OpKind::matmul: case OpKind::matmul_add: case OpKind::reduce:
    case OpKind::argmax: case OpKind::softmax: case OpKind::log_softmax: case OpKind::one_hot:
    case OpKind::softmax_cross_entropy: case OpKind::reshape: case OpKind::permute: case OpKind::slice:
    case OpKind::unslice: case OpKind::unslice_add: case OpKind::concat: case OpKind::broadcast: case OpKind::sum_to:
    case OpKind::laid_out: case OpKind::dropout_mask:
    case OpKind::im2col: case OpKind::col2im: case OpKind::conv2d: case OpKind::conv2d_input_grad:
    case OpKind::conv2d_weight_grad: case OpKind::max_pool2d: case OpKind::max_pool2d_grad: case OpKind::batch_norm_stats:
    case OpKind::batch_norm_training_gate: case OpKind::batch_norm_replica_mean: case OpKind::lstm_cell:
    case OpKind::lstm_cell_grad: case OpKind::gru_cell: case OpKind::gru_cell_grad: case OpKind::embedding:
    case OpKind::embedding_grad:
      return true;
    default:
      return false;
  }
}

void CudaBackend::copy(const Tensor& src, const Tensor& dst) {
  require_not_int64("copy", src, device());
  require_not_int64("copy", dst, device());
  DriverCall driver;
  launched(cuda::copy(elem_of(dst.dtype()), buffer_of(dst), device_view(dst), elem_of(src.dtype()), buffer_of(src),
                      device_view(src, dst.shape()), dst.numel(), compute_),
           "copy");
}

void CudaBackend::fill(const Tensor& dst, double value) {
  require_not_int64("fill", dst, device());
  DriverCall driver;
  launched(cuda::fill(elem_of(dst.dtype()), buffer_of(dst), device_view(dst), value, dst.numel(), compute_), "fill");
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  check_unary(op_name(op), x, out, device());
  const Tensor in = unaliased(x, out);
  DriverCall driver;
  launched(cuda::unary(static_cast<int>(op), elem_of(x.dtype()), buffer_of(out), device_view(out), buffer_of(in),
                       device_view(in), out.numel(), compute_),
           "unary");
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Shape shape = check_binary(op_name(op), a, b, out, device());
  const Tensor pa = unaliased(a, out), pb = unaliased(b, out);
  DriverCall driver;
  launched(cuda::binary(static_cast<int>(op), elem_of(a.dtype()), buffer_of(out), device_view(out), buffer_of(pa),
                        device_view(pa, shape), buffer_of(pb), device_view(pb, shape), out.numel(), compute_),
           "binary");
}

}  // namespace stheno::cuda
