// Convolution as im2col + CLBlast GEMM (the columns live in a reused device scratch), its
// adjoints, max pooling and batch normalisation's channel statistics.
#include "kernels/device_conv.hpp"
#include "kernels/opencl/opencl_backend.hpp"

namespace stheno::opencl {

const char* const kConvSource = R"CLC(
typedef struct { long c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow; } Geometry;
// Image (N, C, H, W) with strides is[4] from element i0; columns (N, C·kh·kw, oh·ow) as a View.
kernel void im2col(global T* cols, View cv, global const T* img, long i0, long is0, long is1, long is2, long is3,
                   Geometry g, long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long p_count = g.oh * g.ow, k_count = g.c * g.kh * g.kw;
  const long p = e % p_count, row = (e / p_count) % k_count, image = e / (p_count * k_count);
  const long j = row % g.kw, i = (row / g.kw) % g.kh, c = row / (g.kw * g.kh);
  const long y = (p / g.ow) * g.sh - g.ph + i * g.dh, x = (p % g.ow) * g.sw - g.pw + j * g.dw;
  const bool inside = y >= 0 && y < g.h && x >= 0 && x < g.w;
  cols[at(&cv, e)] = inside ? img[i0 + image * is0 + c * is1 + y * is2 + x * is3] : (T)0;
}
// Each pixel sums the column entries that read it (a gather, so no two work-items write alike).
kernel void col2im(global T* img, View iv, global const T* cols, long c0, long cs0, long cs1, long cs2, Geometry g,
                   long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long x = e % g.w, y = (e / g.w) % g.h, c = (e / (g.w * g.h)) % g.c, image = e / (g.w * g.h * g.c);
  ACC acc = 0;
  for (long i = 0; i < g.kh; ++i) {
    const long ty = y + g.ph - i * g.dh;
    if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh) continue;
    for (long j = 0; j < g.kw; ++j) {
      const long tx = x + g.pw - j * g.dw;
      if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow) continue;
      const long row = (c * g.kh + i) * g.kw + j, p = (ty / g.sh) * g.ow + tx / g.sw;
      acc += cols[c0 + image * cs0 + row * cs1 + p * cs2];
    }
  }
  img[at(&iv, e)] = (T)acc;
}
// Pooling windows (kh, kw) moved by (sh, sw) over planes of h×w padded by (ph, pw); planes
// contiguous. NaN wins, as in the max reduction.
kernel void max_pool(global T* out, global const T* x, long x0, long h, long w, long oh, long ow, long kh, long kw,
                     long sh, long sw, long ph, long pw, long o0, long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long ox = e % ow, oy = (e / ow) % oh, plane = e / (ow * oh);
  global const T* p = x + x0 + plane * h * w;
  T best = -INFINITY;
  for (long i = 0; i < kh; ++i) {
    const long iy = oy * sh - ph + i;
    if (iy < 0 || iy >= h) continue;
    for (long j = 0; j < kw; ++j) {
      const long ix = ox * sw - pw + j;
      if (ix < 0 || ix >= w) continue;
      const T v = p[iy * w + ix];
      if (v > best || v != v) best = v;
      if (best != best) break;
    }
  }
  out[o0 + e] = best;
}
// The first pixel of window (oy, ox) holding y (a NaN when y is one), else its first pixel.
inline long first_maximum(global const T* p, long h, long w, long kh, long kw, long sh, long sw, long ph, long pw,
                          long oy, long ox, T y) {
  const long y0 = oy * sh - ph, x0 = ox * sw - pw;
  const long i_lo = max(0L, y0), i_hi = min(h, y0 + kh), j_lo = max(0L, x0), j_hi = min(w, x0 + kw);
  for (long iy = i_lo; iy < i_hi; ++iy)
    for (long ix = j_lo; ix < j_hi; ++ix) {
      const T v = p[iy * w + ix];
      if (v == y || (v != v && y != y)) return iy * w + ix;
    }
  return i_lo * w + j_lo;
}
// Each pixel gathers the gradients of the windows whose first maximum it is.
kernel void max_pool_grad(global T* dx, global const T* x, global const T* pooled, global const T* grad, long h, long w,
                          long oh, long ow, long kh, long kw, long sh, long sw, long ph, long pw, long x0, long y0,
                          long g0, long d0, long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long ix = e % w, iy = (e / w) % h, plane = e / (w * h);
  global const T* p = x + x0 + plane * h * w;
  const long oy_lo = max(0L, (iy + ph - kh + sh) / sh), oy_hi = min(oh - 1, (iy + ph) / sh);
  const long ox_lo = max(0L, (ix + pw - kw + sw) / sw), ox_hi = min(ow - 1, (ix + pw) / sw);
  ACC acc = 0;
  for (long oy = oy_lo; oy <= oy_hi; ++oy)
    for (long ox = ox_lo; ox <= ox_hi; ++ox) {
      const long o = (plane * oh + oy) * ow + ox;
      if (first_maximum(p, h, w, kh, kw, sh, sw, ph, pw, oy, ox, pooled[y0 + o]) == iy * w + ix) acc += grad[g0 + o];
    }
  dx[d0 + e] = (T)acc;
}
// Per channel of x (N, C, inner) contiguous: the mean and the biased variance, two passes.
kernel void channel_moments(global T* mean, View mv, global T* variance, View vv, global const T* x, long x0, long n,
                            long c, long inner) {
  const long ch = get_global_id(0);
  if (ch >= c) return;
  ACC sum = 0;
  for (long i = 0; i < n; ++i)
    for (long k = 0; k < inner; ++k) sum += x[x0 + (i * c + ch) * inner + k];
  const ACC mu = sum / (ACC)(n * inner);
  ACC squares = 0;
  for (long i = 0; i < n; ++i)
    for (long k = 0; k < inner; ++k) { const ACC d = x[x0 + (i * c + ch) * inner + k] - mu; squares += d * d; }
  mean[at(&mv, ch)] = (T)mu;
  variance[at(&vv, ch)] = (T)(squares / (ACC)(n * inner));
}
kernel void running_moments(global T* rm, long rm0, global T* rv, long rv0, global const T* mean, View mv,
                            global const T* variance, View vv, ACC momentum, ACC variance_scale, long c) {
  const long ch = get_global_id(0);
  if (ch >= c) return;
  rm[rm0 + ch] = (T)((1 - momentum) * rm[rm0 + ch] + momentum * mean[at(&mv, ch)]);
  rv[rv0 + ch] = (T)((1 - momentum) * rv[rv0 + ch] + momentum * variance_scale * variance[at(&vv, ch)]);
}
)CLC";

namespace {
struct Geometry {
  cl_long c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
};
Geometry geometry(const Conv2dGeometry& g) {
  return {g.channels, g.height, g.width, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w,
          g.pad_h,    g.pad_w,  g.dilation_h, g.dilation_w, g.out_h(), g.out_w()};
}
}  // namespace

void OpenclBackend::im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns) {
  const auto [img, cols] = check_columns("im2col", image, g, columns);
  const View iv = view_of(img);
  const cl_long n = cols.numel();
  launch(kernel(kConvSource, "im2col", image.dtype()), static_cast<std::size_t>(n), buffer_of(cols), view_of(cols),
         buffer_of(img), iv.offset, iv.stride[4], iv.stride[5], iv.stride[6], iv.stride[7], geometry(g), n);
}

void OpenclBackend::col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image) {
  const auto [img, cols] = check_columns("col2im", image, g, columns);
  const Tensor src = cols.shares_storage(img) ? cols.clone() : cols;
  const View cv = view_of(src);
  const cl_long n = img.numel();
  launch(kernel(kConvSource, "col2im", image.dtype()), static_cast<std::size_t>(n), buffer_of(img), view_of(img),
         buffer_of(src), cv.offset, cv.stride[5], cv.stride[6], cv.stride[7], geometry(g), n);
}

void OpenclBackend::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g,
                                   const Tensor& out) {
  conv2d_by_columns(*this, columns(), x, weight, bias, g, out);
}

void OpenclBackend::conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g,
                                          const Tensor& dx) {
  conv2d_input_grad_by_columns(*this, columns(), grad, weight, g, dx);
}

void OpenclBackend::conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g,
                                           const Tensor& dweight) {
  conv2d_weight_grad_by_columns(*this, columns(), x, grad, g, dweight);
}

void OpenclBackend::max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out) {
  const PoolShape s = check_pool("max_pool2d", x, window, out);
  const cl_long n = out.numel();
  launch(kernel(kConvSource, "max_pool", x.dtype()), static_cast<std::size_t>(n), buffer_of(out), buffer_of(x),
         view_of(x).offset, s.h, s.w, s.oh, s.ow, window.kernel.h, window.kernel.w, window.stride.h, window.stride.w,
         window.padding.h, window.padding.w, view_of(out).offset, n);
}

void OpenclBackend::max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad,
                                        const Pool2dWindow& window, const Tensor& dx) {
  const PoolShape s = check_pool("max_pool2d_backward", x, window, grad);
  check_pool_backward(x, pooled, grad, dx);
  const cl_long n = dx.numel();
  launch(kernel(kConvSource, "max_pool_grad", x.dtype()), static_cast<std::size_t>(n), buffer_of(dx), buffer_of(x),
         buffer_of(pooled), buffer_of(grad), s.h, s.w, s.oh, s.ow, window.kernel.h, window.kernel.w, window.stride.h,
         window.stride.w, window.padding.h, window.padding.w, view_of(x).offset, view_of(pooled).offset,
         view_of(grad).offset, view_of(dx).offset, n);
}

void OpenclBackend::channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance) {
  const ChannelShape cs = check_channel_moments(x, mean, variance, device());
  const cl_long n = cs.n, c = cs.c, inner = cs.inner;
  launch(kernel(kConvSource, "channel_moments", x.dtype()), static_cast<std::size_t>(c), buffer_of(mean), view_of(mean),
         buffer_of(variance), view_of(variance), buffer_of(x), view_of(x).offset, n, c, inner);
}

void OpenclBackend::update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                                           const Tensor& running_var, double momentum, double variance_scale) {
  check_running_moments(mean, variance, running_mean, running_var);
  const cl_long c = running_mean.numel();
  cl_kernel k = kernel(kConvSource, "running_moments", mean.dtype());
  const auto args = [&](auto m, auto s) {
    launch(k, static_cast<std::size_t>(c), buffer_of(running_mean), view_of(running_mean).offset, buffer_of(running_var),
           view_of(running_var).offset, buffer_of(mean), view_of(mean), buffer_of(variance), view_of(variance), m, s, c);
  };
  if (has_fp64()) args(static_cast<cl_double>(momentum), static_cast<cl_double>(variance_scale));
  else args(static_cast<cl_float>(momentum), static_cast<cl_float>(variance_scale));
}

}  // namespace stheno::opencl
