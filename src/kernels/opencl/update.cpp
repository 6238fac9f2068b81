// Optimizer updates, one pass over a parameter, its gradient and its state, in the same
// arithmetic as the host's (kernels/cpu/simd/update_rows.hpp); and scaling a gradient.
#include "kernels/opencl/opencl_backend.hpp"
#include "kernels/update_checks.hpp"

namespace stheno::opencl {

const char* const kUpdateSource = R"CLC(
kernel void sgd(global T* p, long p0, global const T* g, long g0, global T* v, long v0, T rate, T mu, int nesterov,
                T wd, int has_velocity, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  p += p0; g += g0; v += v0;
  if (!has_velocity) { p[i] -= rate * (g[i] + wd * p[i]); return; }
  const T gi = g[i] + wd * p[i];
  v[i] = mu * v[i] + gi;
  p[i] -= rate * (nesterov ? gi + mu * v[i] : v[i]);
}
kernel void adagrad(global T* p, long p0, global const T* g, long g0, global T* s, long s0, T rate, T eps, T wd, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  p += p0; g += g0; s += s0;
  const T gi = g[i] + wd * p[i];
  s[i] += gi * gi;
  p[i] -= rate * gi / (sqrt(s[i]) + eps);
}
kernel void rmsprop(global T* p, long p0, global const T* g, long g0, global T* a, long a0, global T* b, long b0,
                    T rate, T alpha, T eps, T mu, T wd, int has_momentum, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  p += p0; g += g0; a += a0; b += b0;
  const T gi = g[i] + wd * p[i];
  a[i] = alpha * a[i] + ((T)1 - alpha) * gi * gi;
  const T step = gi / (sqrt(a[i]) + eps);
  if (has_momentum) { b[i] = mu * b[i] + step; p[i] -= rate * b[i]; }
  else p[i] -= rate * step;
}
kernel void adam(global T* p, long p0, global const T* g, long g0, global T* m, long m0, global T* v, long v0, T rate,
                 T beta1, T beta2, T eps, T inv_c1, T inv_sqrt_c2, T shrink, T l2, long n) {
  const long i = get_global_id(0);
  if (i >= n) return;
  p += p0; g += g0; m += m0; v += v0;
  const T gi = g[i] + l2 * p[i];
  m[i] = beta1 * m[i] + ((T)1 - beta1) * gi;
  v[i] = beta2 * v[i] + ((T)1 - beta2) * gi * gi;
  p[i] = p[i] * shrink - rate * (m[i] * inv_c1) / (sqrt(v[i]) * inv_sqrt_c2 + eps);
}
kernel void scale(global T* g, long g0, ACC factor, long n) {
  const long i = get_global_id(0);
  if (i < n) g[g0 + i] = (T)((ACC)g[g0 + i] * factor);
}
)CLC";

namespace {
cl_long first(const Tensor& t) { return t.defined() ? view_of(t).offset : 0; }

// Launches `name` with the parameter's scalars in its own dtype.
template <class Fn>
void typed(const Tensor& param, Fn&& fn) {
  if (param.dtype() == DType::f64) fn(cl_double{});
  else fn(cl_float{});
}
}  // namespace

void OpenclBackend::sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                               bool nesterov, double weight_decay) {
  require_sgd(param, grad, velocity, momentum);
  const bool has_velocity = momentum != 0;
  const cl_mem v = has_velocity ? buffer_of(velocity) : buffer_of(param);
  const cl_long n = param.numel();
  typed(param, [&]<class T>(T) {
    launch(kernel(kUpdateSource, "sgd", param.dtype()), static_cast<std::size_t>(n), buffer_of(param), first(param),
           buffer_of(grad), first(grad), v, has_velocity ? first(velocity) : first(param), static_cast<T>(lr),
           static_cast<T>(momentum), cl_int{nesterov}, static_cast<T>(weight_decay), cl_int{has_velocity}, n);
  });
}

void OpenclBackend::adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr,
                                   double eps, double weight_decay) {
  require_adagrad(param, grad, sum_squares);
  const cl_long n = param.numel();
  typed(param, [&]<class T>(T) {
    launch(kernel(kUpdateSource, "adagrad", param.dtype()), static_cast<std::size_t>(n), buffer_of(param), first(param),
           buffer_of(grad), first(grad), buffer_of(sum_squares), first(sum_squares), static_cast<T>(lr),
           static_cast<T>(eps), static_cast<T>(weight_decay), n);
  });
}

void OpenclBackend::rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg,
                                   const Tensor& momentum_buffer, double lr, double alpha, double eps, double momentum,
                                   double weight_decay) {
  require_rmsprop(param, grad, square_avg, momentum_buffer, momentum);
  const bool has_momentum = momentum != 0;
  const Tensor& b = has_momentum ? momentum_buffer : param;
  const cl_long n = param.numel();
  typed(param, [&]<class T>(T) {
    launch(kernel(kUpdateSource, "rmsprop", param.dtype()), static_cast<std::size_t>(n), buffer_of(param), first(param),
           buffer_of(grad), first(grad), buffer_of(square_avg), first(square_avg), buffer_of(b), first(b),
           static_cast<T>(lr), static_cast<T>(alpha), static_cast<T>(eps), static_cast<T>(momentum),
           static_cast<T>(weight_decay), cl_int{has_momentum}, n);
  });
}

void OpenclBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                                double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                                std::int64_t t) {
  require_adam(param, grad, m, v, t);
  const cl_long n = param.numel();
  typed(param, [&]<class T>(T) {
    const AdamTerms<T> a = adam_terms<T>(lr, beta1, beta2, eps, weight_decay, decoupled, t);
    launch(kernel(kUpdateSource, "adam", param.dtype()), static_cast<std::size_t>(n), buffer_of(param), first(param),
           buffer_of(grad), first(grad), buffer_of(m), first(m), buffer_of(v), first(v), a.rate, a.beta1, a.beta2, a.eps,
           a.inv_c1, a.inv_sqrt_c2, a.shrink, a.l2, n);
  });
}

void OpenclBackend::scale_gradient(const Tensor& grad, double factor) {
  require_param("clip_grad_norm", grad);
  const cl_long n = grad.numel();
  cl_kernel k = kernel(kUpdateSource, "scale", grad.dtype());
  if (has_fp64()) launch(k, static_cast<std::size_t>(n), buffer_of(grad), first(grad), static_cast<cl_double>(factor), n);
  else launch(k, static_cast<std::size_t>(n), buffer_of(grad), first(grad), static_cast<cl_float>(factor), n);
}

}  // namespace stheno::opencl
