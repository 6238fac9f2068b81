// im2col and col2im, max pooling and its gradient, and batch normalisation's channel moments.
#include <cmath>

#include "kernels/cuda/common.cuh"

namespace stheno::cuda {
namespace {

template <class T>
__global__ void im2col_kernel(T* cols, DeviceView cv, const T* img, Index i0, Index is0, Index is1, Index is2, Index is3,
                              ConvGeometry g, Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index p_count = g.oh * g.ow, k_count = g.c * g.kh * g.kw;
  const Index p = e % p_count, row = (e / p_count) % k_count, image = e / (p_count * k_count);
  const Index j = row % g.kw, i = (row / g.kw) % g.kh, c = row / (g.kw * g.kh);
  const Index y = (p / g.ow) * g.sh - g.ph + i * g.dh, x = (p % g.ow) * g.sw - g.pw + j * g.dw;
  const bool inside = y >= 0 && y < g.h && x >= 0 && x < g.w;
  cols[at(cv, e)] = inside ? img[i0 + image * is0 + c * is1 + y * is2 + x * is3] : T(0);
}

template <class T>
__global__ void col2im_kernel(T* img, DeviceView iv, const T* cols, Index c0, Index cs0, Index cs1, Index cs2, ConvGeometry g,
                              Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index x = e % g.w, y = (e / g.w) % g.h, c = (e / (g.w * g.h)) % g.c, image = e / (g.w * g.h * g.c);
  double acc = 0;
  for (Index i = 0; i < g.kh; ++i) {
    const Index ty = y + g.ph - i * g.dh;
    if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
    for (Index j = 0; j < g.kw; ++j) {
      const Index tx = x + g.pw - j * g.dw;
      if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
      const Index row = (c * g.kh + i) * g.kw + j, p = (ty / g.sh) * g.ow + tx / g.sw;
      acc += cols[c0 + image * cs0 + row * cs1 + p * cs2];
    }
  }
  img[at(iv, e)] = static_cast<T>(acc);
}

template <class T>
__global__ void max_pool_kernel(T* out, Index o0, const T* x, Index x0, PoolGeometry g, Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index ox = e % g.ow, oy = (e / g.ow) % g.oh, plane = e / (g.ow * g.oh);
  const T* p = x + x0 + plane * g.h * g.w;
  T best = -INFINITY;
  for (Index i = 0; i < g.kh; ++i) {
    const Index iy = oy * g.sh - g.ph + i;
    if (iy < 0 || iy >= g.h) continue;
    for (Index j = 0; j < g.kw; ++j) {
      const Index ix = ox * g.sw - g.pw + j;
      if (ix < 0 || ix >= g.w) continue;
      const T v = p[iy * g.w + ix];
      if (v > best || v != v) best = v;
    }
    if (best != best) break;
  }
  out[o0 + e] = best;
}

// The first pixel of window (oy, ox) holding y (a NaN when y is one), else its first pixel.
template <class T>
__device__ Index first_maximum(const T* p, const PoolGeometry& g, Index oy, Index ox, T y) {
  const Index y0 = oy * g.sh - g.ph, x0 = ox * g.sw - g.pw;
  const Index i_lo = y0 > 0 ? y0 : 0, i_hi = g.h < y0 + g.kh ? g.h : y0 + g.kh;
  const Index j_lo = x0 > 0 ? x0 : 0, j_hi = g.w < x0 + g.kw ? g.w : x0 + g.kw;
  for (Index iy = i_lo; iy < i_hi; ++iy)
    for (Index ix = j_lo; ix < j_hi; ++ix) {
      const T v = p[iy * g.w + ix];
      if (v == y || (v != v && y != y)) return iy * g.w + ix;
    }
  return i_lo * g.w + j_lo;
}

// Each pixel gathers the gradients of the windows whose first maximum it is.
template <class T>
__global__ void max_pool_grad_kernel(T* dx, Index d0, const T* x, Index x0, const T* pooled, Index y0, const T* grad, Index g0,
                                     PoolGeometry g, Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index ix = e % g.w, iy = (e / g.w) % g.h, plane = e / (g.w * g.h);
  const T* p = x + x0 + plane * g.h * g.w;
  const Index oy_lo = (iy + g.ph - g.kh + g.sh) / g.sh, oy_hi = (iy + g.ph) / g.sh;
  const Index ox_lo = (ix + g.pw - g.kw + g.sw) / g.sw, ox_hi = (ix + g.pw) / g.sw;
  double acc = 0;
  for (Index oy = oy_lo > 0 ? oy_lo : 0; oy <= (oy_hi < g.oh - 1 ? oy_hi : g.oh - 1); ++oy)
    for (Index ox = ox_lo > 0 ? ox_lo : 0; ox <= (ox_hi < g.ow - 1 ? ox_hi : g.ow - 1); ++ox) {
      const Index o = (plane * g.oh + oy) * g.ow + ox;
      if (first_maximum(p, g, oy, ox, pooled[y0 + o]) == iy * g.w + ix) acc += grad[g0 + o];
    }
  dx[d0 + e] = static_cast<T>(acc);
}

template <class T>
__global__ void channel_moments_kernel(T* mean, DeviceView mv, T* variance, DeviceView vv, const T* x, Index x0, Index n,
                                       Index c, Index inner) {
  const Index ch = thread_index();
  if (ch >= c) return;
  double sum = 0;
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < inner; ++k) sum += x[x0 + (i * c + ch) * inner + k];
  const double mu = sum / static_cast<double>(n * inner);
  double squares = 0;
  for (Index i = 0; i < n; ++i)
    for (Index k = 0; k < inner; ++k) {
      const double d = x[x0 + (i * c + ch) * inner + k] - mu;
      squares += d * d;
    }
  mean[at(mv, ch)] = static_cast<T>(mu);
  variance[at(vv, ch)] = static_cast<T>(squares / static_cast<double>(n * inner));
}

template <class T>
__global__ void running_moments_kernel(T* rm, T* rv, const T* mean, DeviceView mv, const T* variance, DeviceView vv,
                                       double momentum, double variance_scale, Index c) {
  const Index ch = thread_index();
  if (ch >= c) return;
  rm[ch] = static_cast<T>((1 - momentum) * rm[ch] + momentum * mean[at(mv, ch)]);
  rv[ch] = static_cast<T>((1 - momentum) * rv[ch] + momentum * variance_scale * variance[at(vv, ch)]);
}

}  // namespace

cudaError_t im2col(Elem t, void* cols, DeviceView cv, const void* img, Index i0, Index is0, Index is1, Index is2, Index is3,
                   ConvGeometry g, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(n, s, im2col_kernel<T>, static_cast<T*>(cols), cv, static_cast<const T*>(img), i0, is0, is1, is2, is3,
                       g, n);
  });
}

cudaError_t col2im(Elem t, void* img, DeviceView iv, const void* cols, Index c0, Index cs0, Index cs1, Index cs2,
                   ConvGeometry g, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(n, s, col2im_kernel<T>, static_cast<T*>(img), iv, static_cast<const T*>(cols), c0, cs0, cs1, cs2, g, n);
  });
}

cudaError_t max_pool(Elem t, void* out, Index o0, const void* x, Index x0, PoolGeometry p, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(n, s, max_pool_kernel<T>, static_cast<T*>(out), o0, static_cast<const T*>(x), x0, p, n);
  });
}

cudaError_t max_pool_grad(Elem t, void* dx, Index d0, const void* x, Index x0, const void* pooled, Index y0, const void* grad,
                          Index g0, PoolGeometry p, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(n, s, max_pool_grad_kernel<T>, static_cast<T*>(dx), d0, static_cast<const T*>(x), x0,
                       static_cast<const T*>(pooled), y0, static_cast<const T*>(grad), g0, p, n);
  });
}

cudaError_t channel_moments(Elem t, void* mean, DeviceView mv, void* variance, DeviceView vv, const void* x, Index x0, Index n,
                            Index c, Index inner, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(c, s, channel_moments_kernel<T>, static_cast<T*>(mean), mv, static_cast<T*>(variance), vv,
                       static_cast<const T*>(x), x0, n, c, inner);
  });
}

cudaError_t running_moments(Elem t, void* running_mean, void* running_var, const void* mean, DeviceView mv,
                            const void* variance, DeviceView vv, double momentum, double variance_scale, Index c,
                            cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(c, s, running_moments_kernel<T>, static_cast<T*>(running_mean), static_cast<T*>(running_var),
                       static_cast<const T*>(mean), mv, static_cast<const T*>(variance), vv, momentum, variance_scale, c);
  });
}

}  // namespace stheno::cuda
