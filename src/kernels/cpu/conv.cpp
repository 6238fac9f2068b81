#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"
#include "kernels/cpu/thread_pool.hpp"
#include "kernels/cpu/winograd.hpp"
#include "stheno/kernels/conv.hpp"

#include "kernels/conv_checks.hpp"
#include "kernels/cpu/cpu_kernels.hpp"

namespace stheno {

std::int64_t Conv2dGeometry::out_h() const {
  return (height + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
}

std::int64_t Conv2dGeometry::out_w() const {
  return (width + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
}

std::string Conv2dGeometry::str() const {
  auto pair = [](std::int64_t a, std::int64_t b) { return std::to_string(a) + "x" + std::to_string(b); };
  return "input " + std::to_string(channels) + "x" + pair(height, width) + ", kernel " + pair(kernel_h, kernel_w) +
         ", stride " + pair(stride_h, stride_w) + ", padding " + pair(pad_h, pad_w) + ", dilation " +
         pair(dilation_h, dilation_w);
}

void Conv2dGeometry::validate(std::string_view op) const {
  auto where = [&] { return std::string(op) + " (" + str() + ")"; };  // built only for an error
  if (channels < 1 || height < 1 || width < 1 || kernel_h < 1 || kernel_w < 1)
    throw ShapeError(where() + ": sizes must be positive");
  if (stride_h < 1 || stride_w < 1 || dilation_h < 1 || dilation_w < 1)
    throw ValueError(where() + ": stride and dilation must be at least 1");
  if (pad_h < 0 || pad_w < 0) throw ValueError(where() + ": padding must not be negative");
  // Sizes from a file can be anything; past 2^31 the arithmetic below could overflow.
  constexpr std::int64_t kMax = std::int64_t{1} << 31;
  for (const std::int64_t v : {channels, height, width, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w})
    if (v > kMax) throw ValueError(where() + ": sizes, strides, paddings and dilations must be at most 2^31");
  const std::int64_t span_h = dilation_h * (kernel_h - 1) + 1, span_w = dilation_w * (kernel_w - 1) + 1;
  if (span_h > height + 2 * pad_h || span_w > width + 2 * pad_w)
    throw ShapeError(where() + ": the kernel spans " + std::to_string(span_h) + "x" + std::to_string(span_w) +
                     " pixels, larger than the padded input " + std::to_string(height + 2 * pad_h) + "x" +
                     std::to_string(width + 2 * pad_w));
  std::int64_t column_rows = 0, positions = 0;
  if (__builtin_mul_overflow(channels, kernel_h * kernel_w, &column_rows) || __builtin_mul_overflow(out_h(), out_w(), &positions) ||
      column_rows > kMax * kMax / std::max<std::int64_t>(positions, 1))
    throw ShapeError(where() + ": the columns (channels·kernel by output positions) are more than memory can index");
}

namespace {

Shape columns_shape(const Conv2dGeometry& g, bool batched, std::int64_t batch) {
  Shape s{g.channels * g.kernel_h * g.kernel_w, g.out_h() * g.out_w()};
  if (batched) s.insert(0, batch);
  return s;
}


// Output positions o with 0 <= o*stride - pad + offset < size, as [lo, hi).
void valid_range(std::int64_t size, std::int64_t out, std::int64_t stride, std::int64_t pad, std::int64_t offset,
                 std::int64_t& lo, std::int64_t& hi) {
  auto ceil_div = [](std::int64_t a, std::int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  lo = std::clamp<std::int64_t>(ceil_div(pad - offset, stride), 0, out);
  hi = std::clamp<std::int64_t>(ceil_div(size + pad - offset, stride), lo, out);
}

// Visits every (kernel tap, output row) segment of one channel: fn(tap_row, oy, iy, x_lo, x_hi, ix0)
// where output columns [x_lo, x_hi) read input row iy starting at column ix0 with stride_w;
// iy < 0 means the whole output row lies in the padding.
template <class Fn>
void for_each_segment(const Conv2dGeometry& g, Fn&& fn) {
  const std::int64_t oh = g.out_h(), ow = g.out_w();
  for (std::int64_t ki = 0; ki < g.kernel_h; ++ki)
    for (std::int64_t kj = 0; kj < g.kernel_w; ++kj) {
      std::int64_t x_lo, x_hi;
      valid_range(g.width, ow, g.stride_w, g.pad_w, kj * g.dilation_w, x_lo, x_hi);
      for (std::int64_t oy = 0; oy < oh; ++oy) {
        const std::int64_t iy = oy * g.stride_h - g.pad_h + ki * g.dilation_h;
        const bool inside = iy >= 0 && iy < g.height;
        fn(ki * g.kernel_w + kj, oy, inside ? iy : -1, x_lo, x_hi, x_lo * g.stride_w - g.pad_w + kj * g.dilation_w);
      }
    }
}

template <class T>
void im2col_channel(const Conv2dGeometry& g, const T* img, T* col) {
  const std::int64_t ow = g.out_w(), plane = g.out_h() * ow;
  for_each_segment(g, [&](std::int64_t tap, std::int64_t oy, std::int64_t iy, std::int64_t lo, std::int64_t hi,
                          std::int64_t ix0) {
    T* dst = col + tap * plane + oy * ow;
    if (iy < 0) {
      std::fill(dst, dst + ow, T(0));
      return;
    }
    std::fill(dst, dst + lo, T(0));
    const T* src = img + iy * g.width + ix0;
    if (g.stride_w == 1) std::copy(src, src + (hi - lo), dst + lo);
    else for (std::int64_t x = lo; x < hi; ++x) dst[x] = src[(x - lo) * g.stride_w];
    std::fill(dst + hi, dst + ow, T(0));
  });
}

template <class T>
void col2im_channel(const Conv2dGeometry& g, const T* col, T* img) {
  const std::int64_t ow = g.out_w(), plane = g.out_h() * ow;
  std::fill(img, img + g.height * g.width, T(0));
  for_each_segment(g, [&](std::int64_t tap, std::int64_t oy, std::int64_t iy, std::int64_t lo, std::int64_t hi,
                          std::int64_t ix0) {
    if (iy < 0) return;
    const T* src = col + tap * plane + oy * ow;
    T* dst = img + iy * g.width + ix0;
    for (std::int64_t x = lo; x < hi; ++x) dst[(x - lo) * g.stride_w] += src[x];
  });
}

// Runs fn(image_channel, column_block) for every (n, c), in parallel when the work is large.
template <class T, class Fn>
void per_channel(const Conv2dGeometry& g, std::int64_t batch, T* image, T* columns, Fn&& fn) {
  const std::int64_t count = batch * g.channels;
  const std::int64_t image_step = g.height * g.width;
  const std::int64_t col_step = g.kernel_h * g.kernel_w * g.out_h() * g.out_w();
  cpu::parallel_for(count, cpu::threads_for(count * col_step, count), [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t i = begin; i < end; ++i) fn(image + i * image_step, columns + i * col_step);
  });
}

}  // namespace

void cpu::im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns) {
  check_image("im2col", image, g);
  const bool batched = image.rank() == 4;
  const Shape expected = columns_shape(g, batched, batched ? image.size(0) : 1);
  if (!columns.defined() || columns.shape() != expected || columns.dtype() != image.dtype())
    throw ShapeError("im2col: columns must be " + std::string(dtype_name(image.dtype())) + " of shape " + expected.str());
  const Tensor src = image.contiguous();
  const Tensor dst = columns.is_contiguous() ? columns : Tensor::empty(expected, image.dtype());
  visit_floating(image.dtype(), "im2col", [&]<class T>() {
    per_channel<T>(g, batched ? image.size(0) : 1, src.data<T>(), dst.data<T>(),
                   [&](T* img, T* col) { im2col_channel<T>(g, img, col); });
  });
  if (!dst.shares_storage(columns)) columns.copy_from(dst);
}


void cpu::col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image) {
  check_image("col2im", image, g);
  const bool batched = image.rank() == 4;
  const Shape expected = columns_shape(g, batched, batched ? image.size(0) : 1);
  if (!columns.defined() || columns.shape() != expected || columns.dtype() != image.dtype())
    throw ShapeError("col2im: columns have shape " + (columns.defined() ? columns.shape().str() : std::string("undefined")) +
                     " but the geometry and image need " + std::string(dtype_name(image.dtype())) + " of shape " + expected.str());
  const Tensor src = columns.contiguous();
  const Tensor dst = image.is_contiguous() && !image.shares_storage(columns) ? image : Tensor::empty(image.shape(), image.dtype());
  visit_floating(image.dtype(), "col2im", [&]<class T>() {
    per_channel<T>(g, batched ? image.size(0) : 1, dst.data<T>(), src.data<T>(),
                   [&](T* img, T* col) { col2im_channel<T>(g, col, img); });
  });
  if (!dst.shares_storage(image)) image.copy_from(dst);
}


}  // namespace stheno

// --- direct convolution: im2col of one image at a time into a cache-sized scratch -------------

namespace stheno {

namespace {

// One image's columns (K, P), in the scratch of the part being run.
template <class T>
T* image_columns(std::int64_t size) {
  return cpu::part_scratch<T>(cpu::ScratchSlot::conv_columns, size);
}

// The calling thread's scratch for the other parts' weight-gradient sums (part 0 sums into
// dweight itself); they are read back after the loop, on this thread.
template <class T>
T* part_accumulators(std::int64_t size) {
  thread_local std::vector<T> sums;
  if (sums.size() < static_cast<std::size_t>(size)) sums.resize(static_cast<std::size_t>(size));
  return sums.data();
}


// Calls body(image, thread) for every image, images shared out between threads.
template <class Body>
void per_image(std::int64_t n, std::int64_t work, Body&& body) {
  cpu::parallel_for(n, cpu::threads_for(work, n), [&](std::int64_t begin, std::int64_t end, int thread) {
    for (std::int64_t i = begin; i < end; ++i) body(i, thread);
  });
}

// One image (C, H, W) to its columns (C·kh·kw, P), and the adjoint (which overwrites the image).
template <class T>
void image_to_columns(const Conv2dGeometry& g, const T* image, T* columns) {
  const std::int64_t plane = g.height * g.width, block = g.kernel_h * g.kernel_w * g.out_h() * g.out_w();
  for (std::int64_t c = 0; c < g.channels; ++c) im2col_channel<T>(g, image + c * plane, columns + c * block);
}

template <class T>
void columns_to_image(const Conv2dGeometry& g, const T* columns, T* image) {
  const std::int64_t plane = g.height * g.width, block = g.kernel_h * g.kernel_w * g.out_h() * g.out_w();
  for (std::int64_t c = 0; c < g.channels; ++c) col2im_channel<T>(g, columns + c * block, image + c * plane);
}

// Channels [c0, c0 + channels) of one image into `padded`, each plane surrounded by its zero
// padding, followed by `slack` zeros.
template <class T>
void pad_channels(const Conv2dGeometry& g, const T* image, std::int64_t c0, std::int64_t channels, std::int64_t slack, T* padded) {
  const std::int64_t wp = g.width + 2 * g.pad_w, plane = (g.height + 2 * g.pad_h) * wp;
  std::fill(padded, padded + channels * plane + slack, T(0));
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t row = 0; row < g.height; ++row) {
      const T* src = image + ((c0 + c) * g.height + row) * g.width;
      std::copy(src, src + g.width, padded + c * plane + (row + g.pad_h) * wp + g.pad_w);
    }
}

// Where each (channel, kernel row, kernel column) of the first `channels` channels reads the
// image that pad_channels lays out, as an offset from the window's first pixel.
void tap_offsets(const Conv2dGeometry& g, std::int64_t channels, std::int64_t* taps) {
  const std::int64_t wp = g.width + 2 * g.pad_w, plane = (g.height + 2 * g.pad_h) * wp;
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t ki = 0; ki < g.kernel_h; ++ki)
      for (std::int64_t kj = 0; kj < g.kernel_w; ++kj)
        taps[(c * g.kernel_h + ki) * g.kernel_w + kj] = c * plane + ki * g.dilation_h * wp + kj * g.dilation_w;
}

// Convolutions whose windows step one pixel along a row skip the columns: each image's channels
// are copied, zero-padded, into a scratch (in blocks that stay in L2), and the SIMD kernel reads
// every output row's pixels straight from it (simd_kernels.hpp, DirectConv). Work is shared out by
// image and, when there are fewer images than threads, by blocks of filters too. `s` gives the
// images' and outputs' strides.
constexpr std::int64_t kDirectConvBytes = 256 * 1024;

template <class T>
void direct_conv(const Conv2dGeometry& g, const ConvShapes& s, const T* x, const T* weights, const T* bias, T* out) {
  const std::int64_t wp = g.width + 2 * g.pad_w, plane = (g.height + 2 * g.pad_h) * wp, taps_per_channel = g.kernel_h * g.kernel_w;
  const std::int64_t block = std::clamp<std::int64_t>(kDirectConvBytes / static_cast<std::int64_t>(plane * sizeof(T)), 1, g.channels);
  const std::int64_t slack = cpu::kMaxVectorBytes / static_cast<std::int64_t>(sizeof(T));
  const int threads = cpu::threads_for(s.n * s.f * s.k * s.p, std::max<std::int64_t>(s.n, s.f));
  const std::int64_t filter_parts = std::clamp<std::int64_t>(threads / std::max<std::int64_t>(s.n, 1), 1, s.f);
  const auto& kernels = cpu::typed_kernels<T>();
  per_image(s.n * filter_parts, s.n * s.f * s.k * s.p, [&](std::int64_t unit, int) {
    const std::int64_t i = unit / filter_parts, part = unit % filter_parts;
    const std::int64_t f_lo = s.f * part / filter_parts, f_hi = s.f * (part + 1) / filter_parts;
    T* padded = cpu::part_scratch<T>(cpu::ScratchSlot::conv_padded, block * plane + slack);
    auto* taps = cpu::part_scratch<std::int64_t>(cpu::ScratchSlot::conv_taps, block * taps_per_channel);
    tap_offsets(g, block, taps);
    T* y = out + i * s.output;
    for (std::int64_t c0 = 0; c0 < g.channels; c0 += block) {
      const std::int64_t channels = std::min(block, g.channels - c0);
      pad_channels(g, x + i * s.image, c0, channels, slack, padded);
      const cpu::DirectConv<T> job{weights + f_lo * s.k + c0 * taps_per_channel, s.k, f_hi - f_lo,
                                   channels * taps_per_channel, taps, padded, g.stride_h * wp, g.out_h(), g.out_w(),
                                   y + f_lo * s.p, bias ? bias + f_lo : nullptr, c0 > 0};
      kernels.conv_direct(job);
    }
  });
}

// The input gradient of a convolution with unit strides is itself one: the output gradient,
// padded by dilation·(kernel - 1) - padding, convolved with the weights flipped in both axes and
// with filters and channels swapped. That needs padding at most dilation·(kernel - 1), which
// every "same" or "valid" layer has.
bool input_grad_is_a_convolution(const Conv2dGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.pad_h <= g.dilation_h * (g.kernel_h - 1) &&
         g.pad_w <= g.dilation_w * (g.kernel_w - 1);
}

template <class T>
void input_grad_by_convolution(const Conv2dGeometry& g, const ConvShapes& s, const T* grad, const T* weights, T* dx) {
  const std::int64_t kh = g.kernel_h, kw = g.kernel_w, taps = kh * kw;
  T* flipped = cpu::part_scratch<T>(cpu::ScratchSlot::conv_flipped, s.f * s.k);  // (C, F·kh·kw)
  for (std::int64_t f = 0; f < s.f; ++f)
    for (std::int64_t c = 0; c < g.channels; ++c)
      for (std::int64_t t = 0; t < taps; ++t) flipped[(c * s.f + f) * taps + (taps - 1 - t)] = weights[f * s.k + c * taps + t];
  Conv2dGeometry adjoint = g;
  adjoint.channels = s.f;
  adjoint.height = g.out_h();
  adjoint.width = g.out_w();
  adjoint.pad_h = g.dilation_h * (kh - 1) - g.pad_h;
  adjoint.pad_w = g.dilation_w * (kw - 1) - g.pad_w;
  const ConvShapes as{s.n, s.f * taps, g.height * g.width, g.channels, s.output, s.image};
  if (cpu::winograd_applies(adjoint, as)) cpu::winograd_conv<T>(adjoint, as, grad, flipped, nullptr, dx);
  else direct_conv<T>(adjoint, as, grad, flipped, nullptr, dx);
}

// The weight gradient of convolutions whose windows step one pixel along rows, without columns:
// each part of the batch pads its images and lays each output gradient out by pixel (filters
// padded to whole vectors), and the SIMD kernel (DirectConvWeightGrad) sums tap pixels times
// gradients into the part's (taps, filters) accumulator; the parts' accumulators are then added
// into the weight gradient in part order, so the result does not depend on timing.
template <class T>
void direct_weight_grad(const Conv2dGeometry& g, const ConvShapes& s, const T* x, const T* grad, T* dweight) {
  const std::int64_t wp = g.width + 2 * g.pad_w, plane = (g.height + 2 * g.pad_h) * wp;
  const std::int64_t lanes = cpu::kMaxVectorBytes / static_cast<std::int64_t>(sizeof(T));
  const std::int64_t ldf = (s.f + lanes - 1) / lanes * lanes, k_blocks = (s.k + cpu::kTapBlock - 1) / cpu::kTapBlock * cpu::kTapBlock;
  const int parts = cpu::threads_for(s.n * s.f * s.k * s.p, s.n);
  T* sums = part_accumulators<T>(static_cast<std::int64_t>(parts) * k_blocks * ldf);
  std::fill(sums, sums + static_cast<std::int64_t>(parts) * k_blocks * ldf, T(0));  // parts without images stay zero
  const auto& kernels = cpu::typed_kernels<T>();
  cpu::parallel_for(s.n, parts, [&](std::int64_t begin, std::int64_t end, int part) {
    T* padded = cpu::part_scratch<T>(cpu::ScratchSlot::conv_padded, g.channels * plane);
    T* grad_t = cpu::part_scratch<T>(cpu::ScratchSlot::conv_grad_t, s.p * ldf);
    auto* taps = cpu::part_scratch<std::int64_t>(cpu::ScratchSlot::conv_taps, k_blocks);
    tap_offsets(g, g.channels, taps);
    std::fill(taps + s.k, taps + k_blocks, std::int64_t{0});
    T* acc = sums + static_cast<std::int64_t>(part) * k_blocks * ldf;
    std::fill(grad_t, grad_t + s.p * ldf, T(0));
    for (std::int64_t i = begin; i < end; ++i) {
      pad_channels(g, x + i * s.image, 0, g.channels, 0, padded);
      const T* gi = grad + i * s.output;
      for (std::int64_t q = 0; q < s.p; ++q)  // contiguous writes; the reads walk s.f rows side by side
        for (std::int64_t f = 0; f < s.f; ++f) grad_t[q * ldf + f] = gi[f * s.p + q];
      kernels.conv_direct_weight_grad({grad_t, ldf, s.f, taps, s.k, padded, g.stride_h * wp, g.out_h(), g.out_w(), acc, ldf});
    }
  });
  for (std::int64_t f = 0; f < s.f; ++f)
    for (std::int64_t p = 0; p < s.k; ++p) {
      T total = sums[p * ldf + f];
      for (int part = 1; part < parts; ++part) total += sums[(static_cast<std::int64_t>(part) * k_blocks + p) * ldf + f];
      dweight[f * s.k + p] = total;
    }
}

}  // namespace

void cpu::conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g, const Tensor& out) {
  const ConvShapes s = conv_shapes("conv2d", x, weight, out, g);
  if (bias.defined() && (bias.shape() != Shape{s.f} || bias.dtype() != x.dtype() || !bias.is_contiguous()))
    throw ShapeError("conv2d: the bias must be (" + std::to_string(s.f) + ",), got " + bias.shape().str());
  visit_floating(x.dtype(), "conv2d", [&]<class T>() {
    const T* px = x.data<T>();
    const T* pw = weight.data<T>();
    const T* pb = bias.defined() ? bias.data<T>() : nullptr;
    T* po = out.data<T>();
    if (cpu::winograd_applies(g, s)) return cpu::winograd_conv<T>(g, s, px, pw, pb, po);
    if (g.stride_w == 1) return direct_conv<T>(g, s, px, pw, pb, po);
    per_image(s.n, s.n * s.f * s.k * s.p, [&](std::int64_t i, int) {
      T* cols = image_columns<T>(s.k * s.p);
      image_to_columns<T>(g, px + i * s.image, cols);
      T* y = po + i * s.output;
      if (pb)
        for (std::int64_t f = 0; f < s.f; ++f) std::fill(y + f * s.p, y + (f + 1) * s.p, pb[f]);
      cpu::gemm<T>(false, false, s.f, s.p, s.k, T(1), pw, s.k, cols, s.p, pb ? T(1) : T(0), y, s.p);
    });
  });
}

void cpu::conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g, const Tensor& dx) {
  const ConvShapes s = conv_shapes("conv2d_backward_input", dx, weight, grad, g);
  visit_floating(dx.dtype(), "conv2d_backward_input", [&]<class T>() {
    const T* pg = grad.data<T>();
    const T* pw = weight.data<T>();
    T* pdx = dx.data<T>();
    if (input_grad_is_a_convolution(g)) return input_grad_by_convolution<T>(g, s, pg, pw, pdx);
    per_image(s.n, s.n * s.f * s.k * s.p, [&](std::int64_t i, int) {
      T* cols = image_columns<T>(s.k * s.p);
      cpu::gemm<T>(true, false, s.k, s.p, s.f, T(1), pw, s.k, pg + i * s.output, s.p, T(0), cols, s.p);
      columns_to_image<T>(g, cols, pdx + i * s.image);
    });
  });
}

void cpu::conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g, const Tensor& dweight) {
  const ConvShapes s = conv_shapes("conv2d_backward_weight", x, dweight, grad, g);
  visit_floating(x.dtype(), "conv2d_backward_weight", [&]<class T>() {
    const T* px = x.data<T>();
    const T* pg = grad.data<T>();
    T* pdw = dweight.data<T>();
    if (cpu::winograd_applies(g, s)) return cpu::winograd_weight_grad<T>(g, s, px, pg, pdw);
    if (g.stride_w == 1) return direct_weight_grad<T>(g, s, px, pg, pdw);
    const int parts = cpu::threads_for(s.n * s.f * s.k * s.p, s.n);
    // Each part sums its images' products into its own accumulator (part 0: dweight itself);
    // the others' are added afterwards in part order, so results do not depend on timing.
    // The accumulators belong to the part, not to the thread that happens to run it.
    T* extra = part_accumulators<T>(static_cast<std::int64_t>(parts - 1) * s.f * s.k);
    cpu::parallel_for(s.n, parts, [&](std::int64_t begin, std::int64_t end, int part) {
      T* cols = image_columns<T>(s.k * s.p);
      T* acc = part > 0 ? extra + (part - 1) * s.f * s.k : pdw;
      std::fill(acc, acc + s.f * s.k, T(0));
      for (std::int64_t i = begin; i < end; ++i) {
        image_to_columns<T>(g, px + i * s.image, cols);
        cpu::gemm<T>(false, true, s.f, s.k, s.p, T(1), pg + i * s.output, s.p, cols, s.p, T(1), acc, s.k);
      }
    });
    if (s.n == 0) std::fill(pdw, pdw + s.f * s.k, T(0));
    for (int part = 1; part < parts; ++part) {
      std::int64_t begin, end;
      cpu::chunk_of(s.n, part, parts, begin, end);
      if (end > begin)
        for (std::int64_t j = 0; j < s.f * s.k; ++j) pdw[j] += extra[(part - 1) * s.f * s.k + j];
    }
  });
}

}  // namespace stheno
