// Unary and binary elementwise kernels with broadcasting, copies between element types, fills.
#include <cmath>
#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace stheno::cuda {
namespace {

template <class T>
__device__ T unary_op(int op, T x) {
  switch (op) {
    case 0: return -x;
    case 1: return fabs(x);
    case 2: return exp(x);
    case 3: return log(x);
    case 4: return sqrt(x);
    case 5: return x * x;
    case 6: return tanh(x);
    case 7: return sigmoid_of(x);
    case 8: return x > T(0) ? x : T(0);
    case 9: return x > T(0) ? T(1) : x < T(0) ? T(-1) : T(0);
    default: return x > T(0) ? T(1) : T(0);
  }
}

template <class T>
__device__ T binary_op(int op, T a, T b) {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return pow(a, b);
    case 5: return a != a ? a : (a > b ? a : b);
    case 6: return a != a ? a : (a < b ? a : b);
    case 7: return b * a * (T(1) - a);
    case 8: return b * (T(1) - a * a);
    default: return a > T(0) ? b : T(0);
  }
}

template <class T>
__global__ void unary_kernel(int op, T* y, DeviceView yv, const T* x, DeviceView xv, Index n) {
  const Index i = thread_index();
  if (i < n) y[at(yv, i)] = unary_op(op, x[at(xv, i)]);
}

template <class T>
__global__ void binary_kernel(int op, T* y, DeviceView yv, const T* a, DeviceView av, const T* b, DeviceView bv, Index n) {
  const Index i = thread_index();
  if (i < n) y[at(yv, i)] = binary_op(op, a[at(av, i)], b[at(bv, i)]);
}

// Float to int32 saturates and sends NaN to 0, as the host's conversion does.
template <class D, class S>
__host__ __device__ D convert(S v) {
  if constexpr (std::is_same_v<D, std::int32_t> && !std::is_same_v<S, std::int32_t>) {
    if (v != v) return 0;
    if (v >= S(2147483647.0)) return INT32_MAX;
    if (v <= S(-2147483648.0)) return INT32_MIN;
    return static_cast<std::int32_t>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <class D, class S>
__global__ void copy_kernel(D* dst, DeviceView dv, const S* src, DeviceView sv, Index n) {
  const Index i = thread_index();
  if (i < n) dst[at(dv, i)] = convert<D>(src[at(sv, i)]);
}

template <class T>
__global__ void fill_kernel(T* dst, DeviceView dv, T value, Index n) {
  const Index i = thread_index();
  if (i < n) dst[at(dv, i)] = value;
}

template <class Fn>
cudaError_t with_elem(Elem t, Fn&& fn) {
  switch (t) {
    case Elem::f32: return fn(float{});
    case Elem::f64: return fn(double{});
    case Elem::i32: return fn(std::int32_t{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t unary(int op, Elem t, void* y, DeviceView yv, const void* x, DeviceView xv, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(n, s, unary_kernel<T>, op, static_cast<T*>(y), yv, static_cast<const T*>(x), xv, n);
  });
}

cudaError_t binary(int op, Elem t, void* y, DeviceView yv, const void* a, DeviceView av, const void* b, DeviceView bv,
                   Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(n, s, binary_kernel<T>, op, static_cast<T*>(y), yv, static_cast<const T*>(a), av,
                       static_cast<const T*>(b), bv, n);
  });
}

cudaError_t copy(Elem dt, void* dst, DeviceView dv, Elem st, const void* src, DeviceView sv, Index n, cudaStream_t s) {
  return with_elem(dt, [&](auto tag) { using D = decltype(tag);
    return with_elem(st, [&](auto tag) { using S = decltype(tag);
      return launch_over(n, s, copy_kernel<D, S>, static_cast<D*>(dst), dv, static_cast<const S*>(src), sv, n);
    });
  });
}

cudaError_t fill(Elem t, void* dst, DeviceView dv, double value, Index n, cudaStream_t s) {
  return with_elem(t, [&](auto tag) { using T = decltype(tag);
    const T v = convert<T>(value);
    return launch_over(n, s, fill_kernel<T>, static_cast<T*>(dst), dv, v, n);
  });
}

}  // namespace stheno::cuda
