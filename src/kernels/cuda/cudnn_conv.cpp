#include "kernels/cuda/cudnn_conv.hpp"

#include <cudnn.h>

#include <algorithm>
#include <limits>
#include <string>

#include "kernels/cuda/cuda_backend.hpp"

// cuDNN 9 marks its convolution API (descriptors, Find, Convolution*) deprecated in favour of its
// graph API; it still ships and is what this file needs.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace stheno::cuda {

namespace {
cudnnHandle_t handle_of(void* h) { return static_cast<cudnnHandle_t>(h); }

void check_dnn(cudnnStatus_t status, const char* what, Device device) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw DeviceError(std::string(what) + " failed on " + device.str() + ": cuDNN " + cudnnGetErrorString(status));
}

int narrow(std::int64_t v, const char* what) {
  if (v > std::numeric_limits<int>::max())
    throw ShapeError(std::string("conv2d: ") + what + " " + std::to_string(v) + " is past cuDNN's int range");
  return static_cast<int>(v);
}

// Which of a pass's operands is the image (x or dx), the output-shaped one (y or its gradient)
// and the weight (w or dw).
struct Roles {
  const Tensor& image;
  const Tensor& outputs;
  const Tensor& weight;
};
Roles roles(CudnnConvolutions::Pass pass, const Tensor& a, const Tensor& b, const Tensor& out) {
  using Pass = CudnnConvolutions::Pass;
  return {pass == Pass::input_grad ? out : a, pass == Pass::forward ? out : pass == Pass::input_grad ? a : b,
          pass == Pass::weight_grad ? out : b};
}

// Milliseconds `fn` takes on `stream` (the median of three runs after one to warm up).
template <class Fn>
float time_on(cudaStream_t stream, Device device, Fn&& fn) {
  cudaEvent_t start = nullptr, stop = nullptr;
  check(cudaEventCreate(&start), "cudaEventCreate", device);
  check(cudaEventCreate(&stop), "cudaEventCreate", device);
  fn();
  std::array<float, 3> ms{};
  for (float& t : ms) {
    check(cudaEventRecord(start, stream), "cudaEventRecord", device);
    fn();
    check(cudaEventRecord(stop, stream), "cudaEventRecord", device);
    check(cudaEventSynchronize(stop), "cudaEventSynchronize", device);
    check(cudaEventElapsedTime(&t, start, stop), "cudaEventElapsedTime", device);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[1];
}
}  // namespace

// One pass's cuDNN call for one geometry: descriptors, the algorithm cuDNN's timing chose, and
// its workspace.
struct CudnnConvolutions::Plan {
  Pass pass;
  cudnnDataType_t type;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  int algo = 0;
  std::size_t workspace = 0;

  ~Plan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
};

CudnnConvolutions::CudnnConvolutions(Device device, cudaStream_t stream, bool allow_tf32)
    : device_(device), stream_(stream), allow_tf32_(allow_tf32) {
  cudnnHandle_t h = nullptr;
  if (cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) return;
  handle_ = h;
  check_dnn(cudnnSetStream(h, stream), "cudnnSetStream", device);
}

CudnnConvolutions::~CudnnConvolutions() {
  plans_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) cudnnDestroy(handle_of(handle_));
}

CudnnConvolutions::Key CudnnConvolutions::key_of(Pass pass, const Tensor& a, const Tensor& b, bool bias_defined,
                                                 const Conv2dGeometry& g, const Tensor& out) const {
  // The image operand (x, or dx for the input gradient) and the output-shaped one carry the
  // batch strides that the descriptors bake in.
  const auto [image, outputs, weight] = roles(pass, a, b, out);
  return {static_cast<std::int64_t>(pass), static_cast<std::int64_t>(a.dtype()), image.size(0), g.channels, g.height,
          g.width, weight.size(0), g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h,
          g.dilation_w, image.size(0) > 1 ? image.strides()[0] : 0, outputs.size(0) > 1 ? outputs.strides()[0] : 0,
          bias_defined ? 1 : 0};
}

bool CudnnConvolutions::run(Pass pass, bool recording, const Tensor& a, const Tensor& b, const Tensor& bias,
                            const Conv2dGeometry& g, const Tensor& out, const ColumnsPath& by_columns) {
  // cuDNN wants a batch, and a bias it can read as (1, F, 1, 1).
  if (!handle_ || roles(pass, a, b, out).image.size(0) == 0 || (bias.defined() && !bias.is_contiguous())) return false;
  const Key key = key_of(pass, a, b, bias.defined(), g, out);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    if (recording) return false;  // timing waits for the device; the next unrecorded call decides
    std::unique_ptr<Plan> plan;
    try {
      plan = decide(pass, a, b, bias, g, out, by_columns);
    } catch (const DeviceError&) {
      // cuDNN refused these operands (sizes past its int range, a library missing at run time):
      // the columns path serves them.
      cudaGetLastError();
    }
    it = plans_.emplace(key, std::move(plan)).first;
  }
  if (!it->second) return false;
  execute(*it->second, a, b, bias, out);
  return true;
}

void* CudnnConvolutions::workspace(std::size_t bytes) {
  if (bytes > workspace_bytes_) {
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize", device_);
    if (workspace_) cudaFree(workspace_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
    check(cudaMalloc(&workspace_, bytes), "cudaMalloc (cuDNN workspace)", device_);
    workspace_bytes_ = bytes;
  }
  return workspace_;
}

std::unique_ptr<CudnnConvolutions::Plan> CudnnConvolutions::decide(Pass pass, const Tensor& a, const Tensor& b,
                                                                   const Tensor& bias, const Conv2dGeometry& g,
                                                                   const Tensor& out, const ColumnsPath& by_columns) {
  DriverCall driver;
  const cudnnHandle_t h = handle_of(handle_);
  auto plan = std::make_unique<Plan>();
  plan->pass = pass;
  plan->type = a.dtype() == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  const auto [image, outputs, weight] = roles(pass, a, b, out);
  const int n = narrow(image.size(0), "the batch"), c = narrow(g.channels, "channels"), hh = narrow(g.height, "height"),
            w = narrow(g.width, "width"), f = narrow(weight.size(0), "filters"), oh = narrow(g.out_h(), "output height"),
            ow = narrow(g.out_w(), "output width");
  const int image_stride = narrow(n > 1 ? image.strides()[0] : std::int64_t{c} * hh * w, "the image stride");
  const int output_stride = narrow(n > 1 ? outputs.strides()[0] : std::int64_t{f} * oh * ow, "the output stride");
  check_dnn(cudnnCreateTensorDescriptor(&plan->x), "cudnnCreateTensorDescriptor", device_);
  check_dnn(cudnnSetTensor4dDescriptorEx(plan->x, plan->type, n, c, hh, w, image_stride, hh * w, w, 1),
            "cudnnSetTensor4dDescriptorEx", device_);
  check_dnn(cudnnCreateTensorDescriptor(&plan->y), "cudnnCreateTensorDescriptor", device_);
  check_dnn(cudnnSetTensor4dDescriptorEx(plan->y, plan->type, n, f, oh, ow, output_stride, oh * ow, ow, 1),
            "cudnnSetTensor4dDescriptorEx", device_);
  check_dnn(cudnnCreateFilterDescriptor(&plan->w), "cudnnCreateFilterDescriptor", device_);
  check_dnn(cudnnSetFilter4dDescriptor(plan->w, plan->type, CUDNN_TENSOR_NCHW, f, c, narrow(g.kernel_h, "kernel height"),
                                       narrow(g.kernel_w, "kernel width")),
            "cudnnSetFilter4dDescriptor", device_);
  check_dnn(cudnnCreateConvolutionDescriptor(&plan->conv), "cudnnCreateConvolutionDescriptor", device_);
  check_dnn(cudnnSetConvolution2dDescriptor(plan->conv, narrow(g.pad_h, "padding"), narrow(g.pad_w, "padding"),
                                            narrow(g.stride_h, "stride"), narrow(g.stride_w, "stride"),
                                            narrow(g.dilation_h, "dilation"), narrow(g.dilation_w, "dilation"),
                                            CUDNN_CROSS_CORRELATION, plan->type),
            "cudnnSetConvolution2dDescriptor", device_);
  // Full float32 unless TF32 was asked for, as for cuBLAS.
  check_dnn(cudnnSetConvolutionMathType(plan->conv, allow_tf32_ ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
            "cudnnSetConvolutionMathType", device_);
  if (pass == Pass::forward && bias.defined()) {
    check_dnn(cudnnCreateTensorDescriptor(&plan->bias), "cudnnCreateTensorDescriptor", device_);
    check_dnn(cudnnSetTensor4dDescriptor(plan->bias, CUDNN_TENSOR_NCHW, plan->type, 1, f, 1, 1),
              "cudnnSetTensor4dDescriptor", device_);
  }

  // cuDNN times its algorithms on the real operands, with as much workspace as the columns
  // would take or 64 MiB, whichever is more.
  std::size_t free_bytes = 0, total = 0;
  check(cudaMemGetInfo(&free_bytes, &total), "cudaMemGetInfo", device_);
  const std::size_t limit = std::min(free_bytes / 2, std::max<std::size_t>(64u << 20, static_cast<std::size_t>(n) * c * g.kernel_h *
                                                                                         g.kernel_w * oh * ow * itemsize(a.dtype())));
  void* ws = workspace(limit);
  constexpr int kAlgos = 8;
  int found = 0;
  float cudnn_ms = std::numeric_limits<float>::infinity();
  auto take = [&](const auto& perf) {
    for (int i = 0; i < found; ++i)
      // Deterministic algorithms only (no atomics: the same bits every run, as stheno's own
      // kernels give), and tensor-core math only where TF32 is allowed.
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].time < cudnn_ms && perf[i].determinism == CUDNN_DETERMINISTIC &&
          (allow_tf32_ || perf[i].mathType != CUDNN_TENSOR_OP_MATH)) {
        cudnn_ms = perf[i].time;
        plan->algo = static_cast<int>(perf[i].algo);
        plan->workspace = perf[i].memory;
      }
  };
  void* x = first_element(image);
  void* y = first_element(outputs);
  void* wt = first_element(weight);
  if (pass == Pass::forward) {
    std::array<cudnnConvolutionFwdAlgoPerf_t, kAlgos> perf{};
    check_dnn(cudnnFindConvolutionForwardAlgorithmEx(h, plan->x, x, plan->w, wt, plan->conv, plan->y, y, kAlgos, &found,
                                                     perf.data(), ws, limit),
              "cudnnFindConvolutionForwardAlgorithmEx", device_);
    take(perf);
  } else if (pass == Pass::input_grad) {
    std::array<cudnnConvolutionBwdDataAlgoPerf_t, kAlgos> perf{};
    check_dnn(cudnnFindConvolutionBackwardDataAlgorithmEx(h, plan->w, wt, plan->y, y, plan->conv, plan->x, x, kAlgos, &found,
                                                          perf.data(), ws, limit),
              "cudnnFindConvolutionBackwardDataAlgorithmEx", device_);
    take(perf);
  } else {
    std::array<cudnnConvolutionBwdFilterAlgoPerf_t, kAlgos> perf{};
    check_dnn(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, plan->x, x, plan->y, y, plan->conv, plan->w, wt, kAlgos,
                                                            &found, perf.data(), ws, limit),
              "cudnnFindConvolutionBackwardFilterAlgorithmEx", device_);
    take(perf);
  }
  const float columns_ms = time_on(stream_, device_, [&] { by_columns(); });
  if (!(cudnn_ms < columns_ms)) return nullptr;
  workspace(plan->workspace);
  return plan;
}

void CudnnConvolutions::execute(const Plan& plan, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out) {
  DriverCall driver;
  const cudnnHandle_t h = handle_of(handle_);
  const double one64 = 1, zero64 = 0;
  const float one32 = 1, zero32 = 0;
  const void* one = plan.type == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&one64) : &one32;
  const void* zero = plan.type == CUDNN_DATA_DOUBLE ? static_cast<const void*>(&zero64) : &zero32;
  switch (plan.pass) {
    case Pass::forward:
      check_dnn(cudnnConvolutionForward(h, one, plan.x, first_element(a), plan.w, first_element(b), plan.conv,
                                        static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), workspace_, plan.workspace, zero,
                                        plan.y, first_element(out)),
                "cudnnConvolutionForward", device_);
      if (plan.bias)
        check_dnn(cudnnAddTensor(h, one, plan.bias, first_element(bias), one, plan.y, first_element(out)), "cudnnAddTensor",
                  device_);
      break;
    case Pass::input_grad:
      check_dnn(cudnnConvolutionBackwardData(h, one, plan.w, first_element(b), plan.y, first_element(a), plan.conv,
                                             static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo), workspace_,
                                             plan.workspace, zero, plan.x, first_element(out)),
                "cudnnConvolutionBackwardData", device_);
      break;
    case Pass::weight_grad:
      check_dnn(cudnnConvolutionBackwardFilter(h, one, plan.x, first_element(a), plan.y, first_element(b), plan.conv,
                                               static_cast<cudnnConvolutionBwdFilterAlgo_t>(plan.algo), workspace_,
                                               plan.workspace, zero, plan.w, first_element(out)),
                "cudnnConvolutionBackwardFilter", device_);
      break;
  }
}

}  // namespace stheno::cuda
