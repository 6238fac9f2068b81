// The CUDA backend's reductions, products, softmax family and optimizer updates: checks and
// views on the host, then one launch (or one cuBLAS call per batch item).
#include <algorithm>
#include <array>
#include <map>
#include <mutex>

#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/device_checks.hpp"
#include "kernels/device_gemm.hpp"
#include "kernels/update_checks.hpp"

namespace stheno::cuda {

namespace {
constexpr Index kParts = 256;
}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out) {
  const ReductionPlan plan = check_reduce(op, x, axes, keepdims, out, device());
  const Tensor in = x.shares_storage(out) ? x.clone() : x;
  const auto [kept, along] = split_axes(in, plan.mask);
  DriverCall driver;
  launched(cuda::reduce(static_cast<int>(op), plan.blocked, plan.scale, elem_of(x.dtype()), buffer_of(out), device_view(out),
                        buffer_of(in), kept, along, out.numel(), plan.r, compute_),
           plan.name);
}

void CudaBackend::argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out) {
  const int ax = check_argmax(x, axis, keepdims, out, device());
  const auto [kept, along] = rows_along(x, ax);
  DriverCall driver;
  launched(cuda::argmax(elem_of(x.dtype()), static_cast<std::int32_t*>(buffer_of(out)), device_view(out), buffer_of(x), kept,
                        along, out.numel(), x.shape()[ax], compute_),
           "argmax");
}

double CudaBackend::partial_total(cudaError_t (*kernel)(Elem, double*, const void*, DeviceView, Index, Index, cudaStream_t),
                                  const char* name, const Tensor& x) {
  auto* partial = static_cast<double*>(scratch(0, kParts * sizeof(double)));
  {
    DriverCall driver;
    launched(kernel(elem_of(x.dtype()), partial, buffer_of(x), device_view(x), x.numel(), kParts, compute_), name);
  }
  std::array<double, kParts> host{};
  read(partial, host.data(), sizeof host);
  double total = 0;
  for (double v : host) total += v;
  return total;
}

bool CudaBackend::all_finite(const Tensor& t) {
  if (!is_floating(t.dtype()) || t.numel() == 0) return true;
  return partial_total(cuda::non_finite, "non_finite", t) == 0;
}

double CudaBackend::gradient_sum_of_squares(const Tensor& grad) {
  if (!is_floating(grad.dtype()))
    throw DTypeError("gradient_sum_of_squares: gradients must be float32 or float64, not " +
                     std::string(dtype_name(grad.dtype())));
  return partial_total(cuda::sum_squares, "sum_squares", grad);
}

void CudaBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  const GemmPlan plan = plan_gemm(*this, a, b, out, beta);
  if (plan.done) return;
  // cuBLAS is column-major: row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ, each matrix read as
  // its own transpose with the same leading dimension.
  auto op = [](const GemmOperand& o) { return o.transposed ? CUBLAS_OP_T : CUBLAS_OP_N; };
  const int m = static_cast<int>(plan.m), n = static_cast<int>(plan.n), k = static_cast<int>(plan.k);
  const int lda = static_cast<int>(plan.a.ld), ldb = static_cast<int>(plan.b.ld), ldc = static_cast<int>(plan.ldc);
  const std::size_t size = itemsize(a.dtype());
  auto* A = static_cast<char*>(buffer_of(plan.a.t));
  auto* B = static_cast<char*>(buffer_of(plan.b.t));
  auto* C = static_cast<char*>(buffer_of(plan.c));
  for (std::int64_t i = 0; i < plan.items; ++i) {
    const char* ai = A + static_cast<std::size_t>(GemmPlan::item_offset(plan.a.t, i)) * size;
    const char* bi = B + static_cast<std::size_t>(GemmPlan::item_offset(plan.b.t, i)) * size;
    char* ci = C + static_cast<std::size_t>(GemmPlan::item_offset(plan.c, i)) * size;
    cublasStatus_t s{};
    {
      DriverCall driver;
      if (a.dtype() == DType::f32) {
        const float fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
        s = cublasSgemm(blas_, op(plan.b), op(plan.a), n, m, k, &fa, reinterpret_cast<const float*>(bi), ldb,
                        reinterpret_cast<const float*>(ai), lda, &fb, reinterpret_cast<float*>(ci), ldc);
      } else {
        s = cublasDgemm(blas_, op(plan.b), op(plan.a), n, m, k, &alpha, reinterpret_cast<const double*>(bi), ldb,
                        reinterpret_cast<const double*>(ai), lda, &beta, reinterpret_cast<double*>(ci), ldc);
      }
    }
    if (s != CUBLAS_STATUS_SUCCESS)
      throw DeviceError("matmul " + a.shape().str() + "·" + b.shape().str() + " on " + device().str() + ": cuBLAS " +
                        cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")");
    count_launch();
  }
  plan.finish();
}

void CudaBackend::softmax(const Tensor& x, int axis, const Tensor& out, bool log_form) {
  const int ax = check_softmax(x, axis, out, log_form);
  const Tensor in = unaliased(x, out);
  const auto [xkept, xrow] = rows_along(in, ax);
  const auto [ykept, yrow] = rows_along(out, ax);
  const Index n = x.shape()[ax], rows = n == 0 ? 0 : x.numel() / n;
  DriverCall driver;
  launched(cuda::softmax(log_form, elem_of(x.dtype()), buffer_of(out), ykept, yrow, buffer_of(in), xkept, xrow, rows, n,
                         compute_),
           log_form ? "log_softmax" : "softmax");
}

void CudaBackend::softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out) {
  const CrossEntropyShape shape = check_cross_entropy(logits, targets, out);
  const Index rows = shape.rows, c = shape.classes;
  const bool labels = shape.labels;
  const Tensor x = logits.strides()[1] == 1 ? logits : logits.contiguous();
  auto* loss = static_cast<double*>(scratch(1, static_cast<std::size_t>(std::max<Index>(rows, 1)) * sizeof(double)));
  const Index x0 = device_view(x).offset, ld = rows > 1 ? x.strides()[0] : c;
  const Elem t = elem_of(x.dtype());
  if (labels) errors_possible_ = true;
  DriverCall driver;
  if (labels)
    launched(cuda::xent_labels(t, loss, buffer_of(x), x0, ld, static_cast<const std::int32_t*>(buffer_of(targets)),
                               device_view(targets).offset, rows > 1 ? targets.strides()[0] : 1, c, rows, error_flags_,
                               compute_),
             "xent_labels");
  else
    launched(cuda::xent_targets(t, loss, buffer_of(x), x0, ld, buffer_of(targets), device_view(targets), c, rows, compute_),
             "xent_targets");
  launched(cuda::mean_of(t, buffer_of(out), device_view(out).offset, loss, rows, compute_), "mean_of");
}

void CudaBackend::one_hot(const Tensor& labels, const Tensor& out) {
  check_one_hot(labels, out);
  errors_possible_ = true;
  DriverCall driver;
  launched(cuda::one_hot(elem_of(out.dtype()), buffer_of(out), device_view(out),
                         static_cast<const std::int32_t*>(buffer_of(labels)), device_view(labels), out.size(1), out.numel(),
                         error_flags_, compute_),
           "one_hot");
}

void CudaBackend::sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                             bool nesterov, double weight_decay) {
  require_sgd(param, grad, velocity, momentum);
  const bool has_velocity = momentum != 0;
  DriverCall driver;
  launched(cuda::sgd(elem_of(param.dtype()), first_element(param), first_element(grad),
                     has_velocity ? first_element(velocity) : nullptr, lr, momentum, nesterov, weight_decay, has_velocity,
                     param.numel(), compute_),
           "sgd");
}

void CudaBackend::adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr, double eps,
                                 double weight_decay) {
  require_adagrad(param, grad, sum_squares);
  DriverCall driver;
  launched(cuda::adagrad(elem_of(param.dtype()), first_element(param), first_element(grad), first_element(sum_squares), lr,
                         eps, weight_decay, param.numel(), compute_),
           "adagrad");
}

void CudaBackend::rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg,
                                 const Tensor& momentum_buffer, double lr, double alpha, double eps, double momentum,
                                 double weight_decay) {
  require_rmsprop(param, grad, square_avg, momentum_buffer, momentum);
  const bool has_momentum = momentum != 0;
  DriverCall driver;
  launched(cuda::rmsprop(elem_of(param.dtype()), first_element(param), first_element(grad), first_element(square_avg),
                         has_momentum ? first_element(momentum_buffer) : nullptr, lr, alpha, eps, momentum, weight_decay,
                         has_momentum, param.numel(), compute_),
           "rmsprop");
}

void CudaBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                              double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t) {
  require_adam(param, grad, m, v, t);
  // The scalars rounded to the parameter's type on the host, as every backend does; a double
  // carries a float exactly.
  auto scalars = [&]<class T>(T) {
    const AdamTerms<T> a = adam_terms<T>(lr, beta1, beta2, eps, weight_decay, decoupled, t);
    return AdamScalars{a.rate, a.beta1, a.beta2, a.eps, a.inv_c1, a.inv_sqrt_c2, a.shrink, a.l2};
  };
  const AdamScalars a = param.dtype() == DType::f64 ? scalars(double{}) : scalars(float{});
  DriverCall driver;
  launched(cuda::adam(elem_of(param.dtype()), first_element(param), first_element(grad), first_element(m), first_element(v),
                      a, param.numel(), compute_),
           "adam");
}

void CudaBackend::scale_gradient(const Tensor& grad, double factor) {
  require_param("clip_grad_norm", grad);
  DriverCall driver;
  launched(cuda::scale(elem_of(grad.dtype()), first_element(grad), factor, grad.numel(), compute_), "scale");
}

namespace {
// Started on first use and kept for the life of the process, as the host's thread pool is.
const bool registered = [] {
  register_device_kind(DeviceKind::cuda, [](int index) -> DeviceRuntime& {
    // Never destroyed: tensors in static storage may outlive any destructor order, and the CUDA
    // context may be gone before static destructors run.
    static std::mutex mutex;
    static auto* started = new std::map<int, CudaBackend*>;
    std::lock_guard lock(mutex);
    // Each call into the runtime would need the device made current first; until then, one
    // CUDA device per process, and a second is refused rather than run on the wrong GPU.
    for (const auto& [other, backend] : *started)
      if (other != index && backend)
        throw DeviceError("cuda:" + std::to_string(index) + ": this process already uses cuda:" + std::to_string(other) +
                          "; stheno runs one CUDA device per process (set CUDA_VISIBLE_DEVICES to choose it)");
    CudaBackend*& b = (*started)[index];
    if (!b) b = new CudaBackend(index);
    return *b;
  });
  return true;
}();
}  // namespace

}  // namespace stheno::cuda
