#pragma once
// What every CUDA kernel file shares: the element offset of a view's i-th element, the launch
// geometry of one thread per item, and dispatch from an Elem to a C++ type.
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/launch.hpp"

namespace stheno::cuda {

constexpr int kBlock = 256;

__device__ inline Index at(const DeviceView& v, Index i) {
  Index off = v.offset;
  for (int d = kDeviceViewRank - 1; d >= 0 && i > 0; --d) {
    const Index size = v.size[d];
    if (size == 1) continue;
    const Index q = i / size;
    off += (i - q * size) * v.stride[d];
    i = q;
  }
  return off;
}

__device__ inline Index thread_index() { return static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; }

inline unsigned blocks_for(Index n) { return static_cast<unsigned>((n + kBlock - 1) / kBlock); }

// The host's logistic function: exp of a non-positive argument only, so it never overflows.
template <class T>
__device__ inline T sigmoid_of(T x) {
  const T e = exp(x < T(0) ? x : -x);
  const T s = T(1) / (T(1) + e);
  return x < T(0) ? e * s : s;
}

// Calls fn(T{}) with T the float type of `t`; int32 is not a float type here.
template <class Fn>
cudaError_t with_float(Elem t, Fn&& fn) {
  if (t == Elem::f64) return fn(double{});
  if (t == Elem::f32) return fn(float{});
  return cudaErrorInvalidValue;
}

// Queues kernel<<<blocks for n, kBlock>>> unless n is 0, and reports the launch's error.
template <class Kernel, class... Args>
cudaError_t launch_over(Index n, cudaStream_t s, Kernel kernel, Args... args) {
  if (n <= 0) return cudaSuccess;
  kernel<<<blocks_for(n), kBlock, 0, s>>>(args...);
  return cudaGetLastError();
}

}  // namespace stheno::cuda
