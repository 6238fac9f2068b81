#include <gtest/gtest.h>

#include <limits>

#include <cmath>

#include "isa.hpp"
#include "reference.hpp"

using namespace stheno;
using namespace stheno::testing;

namespace {

// Direct convolution of one image (C,H,W) with weights (F, C, kh, kw), in float64.
std::vector<double> direct_conv(const Tensor& img, const Tensor& w, const Conv2dGeometry& g) {
  const std::int64_t oh = g.out_h(), ow = g.out_w(), f = w.size(0);
  std::vector<double> out(static_cast<std::size_t>(f * oh * ow), 0.0);
  for (std::int64_t o = 0; o < f; ++o)
    for (std::int64_t y = 0; y < oh; ++y)
      for (std::int64_t x = 0; x < ow; ++x) {
        double s = 0;
        for (std::int64_t c = 0; c < g.channels; ++c)
          for (std::int64_t i = 0; i < g.kernel_h; ++i)
            for (std::int64_t j = 0; j < g.kernel_w; ++j) {
              const std::int64_t iy = y * g.stride_h - g.pad_h + i * g.dilation_h;
              const std::int64_t ix = x * g.stride_w - g.pad_w + j * g.dilation_w;
              if (iy >= 0 && iy < g.height && ix >= 0 && ix < g.width) s += img.at({c, iy, ix}) * w.at({o, c, i, j});
            }
        out[static_cast<std::size_t>((o * oh + y) * ow + x)] = s;
      }
  return out;
}

std::vector<Conv2dGeometry> geometries() {
  std::vector<Conv2dGeometry> gs;
  gs.push_back({1, 28, 28, 5, 5, 1, 1, 2, 2, 1, 1});
  gs.push_back({3, 7, 9, 3, 2, 2, 3, 1, 0, 1, 1});
  gs.push_back({2, 6, 5, 3, 3, 1, 1, 2, 1, 2, 2});
  gs.push_back({2, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1});
  gs.push_back({1, 4, 4, 5, 5, 1, 1, 1, 1, 1, 1});   // kernel needs the padding to fit
  gs.push_back({4, 5, 8, 2, 4, 3, 2, 1, 3, 1, 2});
  gs.push_back({2, 9, 7, 3, 2, 1, 2, 2, 0, 3, 1});  // every setting different per axis
  return gs;
}

}  // namespace

TEST(Im2col, TimesWeightsEqualsDirectConvolution) {
  Generator gen(51);
  for (DType dtype : {DType::f32, DType::f64})
    for (const Conv2dGeometry& g : geometries()) {
      SCOPED_TRACE(g.str());
      const Tensor img = random_tensor({2, g.channels, g.height, g.width}, dtype, gen, 1);
      const Tensor w = random_tensor({3, g.channels, g.kernel_h, g.kernel_w}, dtype, gen);
      const Tensor cols = im2col(img, g);
      ASSERT_EQ(cols.shape(), (Shape{2, g.channels * g.kernel_h * g.kernel_w, g.out_h() * g.out_w()}));
      const Tensor out = matmul(w.reshape({3, -1}), cols);  // (2, 3, oh*ow)
      for (std::int64_t n = 0; n < 2; ++n) {
        const auto want = direct_conv(img.select(0, n), w, g);
        const auto got = values(out.select(0, n));
        for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], dtype == DType::f32 ? 1e-4 : 1e-12);
      }
    }
}

TEST(Im2col, Col2imIsTheAdjoint) {
  // <im2col(x), y> == <x, col2im(y)> for all x, y: col2im is exactly the transpose of im2col.
  Generator gen(52);
  for (const Conv2dGeometry& g : geometries()) {
    SCOPED_TRACE(g.str());
    const Tensor x = random_tensor({g.channels, g.height, g.width}, DType::f64, gen);
    const Tensor y = random_tensor({g.channels * g.kernel_h * g.kernel_w, g.out_h() * g.out_w()}, DType::f64, gen);
    const double lhs = sum(mul(im2col(x, g), y)).item<double>();
    const double rhs = sum(mul(x, col2im(y, g))).item<double>();
    EXPECT_NEAR(lhs, rhs, 1e-10 * (1 + std::fabs(lhs)));
  }
}

TEST(Im2col, BadGeometryIsReported) {
  Conv2dGeometry g{1, 4, 4, 7, 7, 1, 1, 1, 1, 1, 1};
  try {
    im2col(Tensor::zeros({1, 4, 4}), g);
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the padded input"), std::string::npos) << e.what();
  }
  const Conv2dGeometry ok{2, 4, 4, 3, 3, 1, 1, 0, 0, 1, 1};
  EXPECT_THROW(im2col(Tensor::zeros({3, 4, 4}), ok), ShapeError);  // channel mismatch
  EXPECT_THROW(im2col(Tensor::zeros({2, 4, 4}, DType::i32), ok), DTypeError);
  Conv2dGeometry zero_stride = ok;
  zero_stride.stride_h = 0;
  EXPECT_THROW(im2col(Tensor::zeros({2, 4, 4}), zero_stride), ValueError);
  EXPECT_THROW(col2im(Tensor::zeros({18, 5}), ok), ShapeError);
  // Sizes past 2^31, or columns past what memory can index, are refused before any arithmetic
  // on them could overflow (UBSan checks that it does not).
  Conv2dGeometry huge_pad = ok;
  huge_pad.pad_h = std::numeric_limits<std::int64_t>::max();
  EXPECT_THROW(huge_pad.validate("conv2d"), ValueError);
  const Conv2dGeometry huge_columns{std::int64_t{1} << 31, std::int64_t{1} << 30, std::int64_t{1} << 30, 1 << 20, 1 << 20, 1, 1, 0, 0, 1, 1};
  try {
    huge_columns.validate("conv2d");
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("more than memory can index"), std::string::npos) << e.what();
  }
}

// The direct convolution kernels against im2col + matmul, at one and two threads, on a batch
// large enough to be shared out (each thread then sums its own weight-gradient accumulator).
TEST(Conv2dKernels, MatchIm2colAndMatmulAtEveryThreadCount) {
  const Conv2dGeometry g{3, 9, 8, 3, 3, 2, 1, 1, 0, 1, 2};
  const std::int64_t n = 24, f = 5, k = 27, p = g.out_h() * g.out_w();
  Generator gen(11);
  const Tensor x = Tensor::normal({n, 3, 9, 8}, gen, 0, 1, DType::f64);
  const Tensor w = Tensor::normal({f, k}, gen, 0, 1, DType::f64);
  const Tensor bias = Tensor::normal({f}, gen, 0, 1, DType::f64);
  const Tensor grad = Tensor::normal({n, f, p}, gen, 0, 1, DType::f64);
  const Tensor columns = im2col(x, g);                              // (n, k, p)
  const Tensor expected_out = add(matmul(w, columns), bias.reshape({f, 1}));
  const Tensor expected_dx = col2im(matmul(w.t(), grad), g);
  const Tensor expected_dw = sum(matmul(grad, columns.transpose(1, 2)), Axes{0});
  for (int threads : {1, 2, 3, 5}) {  // more parts than cores: a thread may run several
    set_num_threads(threads);
    const Tensor out = Tensor::empty({n, f, p}, DType::f64), dx = Tensor::empty({n, 3, 9, 8}, DType::f64),
                 dw = Tensor::empty({f, k}, DType::f64);
    conv2d_forward(x, w, bias, g, out);
    conv2d_backward_input(grad, w, g, dx);
    conv2d_backward_weight(x, grad, g, dw);
    EXPECT_TRUE(allclose(out, expected_out, 1e-12, 1e-12)) << threads << " threads";
    EXPECT_TRUE(allclose(dx, expected_dx, 1e-12, 1e-12)) << threads << " threads";
    EXPECT_TRUE(allclose(dw, expected_dw, 1e-11, 1e-11)) << threads << " threads";
  }
  set_num_threads(2);
  EXPECT_THROW(conv2d_forward(x, Tensor::zeros({f, k + 1}, DType::f64), Tensor(), g, Tensor::empty({n, f, p}, DType::f64)),
               ShapeError);
}

namespace {

// A convolution case: geometry, images, filters.
struct ConvCase {
  Conv2dGeometry g;
  std::int64_t n, f;
};

// A case's random operands: images, weights (f, k) and bias, and the sizes k and p (output
// pixels per image).
struct ConvInputs {
  std::int64_t k, p;
  Tensor x, w, bias;
};

// Calls check(case, dtype, inputs) on every instruction set, in both dtypes, at each thread
// count, with the case named in failures; puts the instruction set and thread count back
// afterwards.
template <class Check>
void for_every_conv_case(const std::vector<ConvCase>& cases, std::initializer_list<int> thread_counts, Generator& gen,
                         Check&& check) {
  const std::string original(cpu::simd().isa);
  for (const std::string& isa : supported_isas()) {
    cpu::use_isa(isa);
    for (DType dtype : {DType::f32, DType::f64})
      for (const ConvCase& c : cases)
        for (int threads : thread_counts) {
          set_num_threads(threads);
          SCOPED_TRACE(isa + " " + std::string(dtype_name(dtype)) + " " + c.g.str() + ", " + std::to_string(threads) +
                       " threads");
          const Conv2dGeometry& g = c.g;
          const std::int64_t k = g.channels * g.kernel_h * g.kernel_w;
          ConvInputs in{k, g.out_h() * g.out_w(), Tensor::normal({c.n, g.channels, g.height, g.width}, gen, 0, 1, dtype),
                        Tensor::normal({c.f, k}, gen, 0, 1, dtype), Tensor::normal({c.f}, gen, 0, 1, dtype)};
          check(c, dtype, in);
        }
  }
  cpu::use_isa(original);
  set_num_threads(2);
}

}  // namespace

// Convolutions that step one pixel along rows run straight from the padded image (no columns):
// rows of one and several vectors with a partial last one, filter counts that leave a short
// register block, strides down the image, dilation, uneven padding, channels in several blocks
// (a 120x120 plane), and filters shared out between threads for a single image; on every
// instruction set, both dtypes, against the columns' product. With unit strides the input
// gradient is such a convolution too (flipped weights), unless the padding is wider than the
// kernel's reach (the last case, which takes the columns); the weight gradient's columns come
// from the padded image.
TEST(Conv2dKernels, DirectPathMatchesColumnsOnEveryInstructionSet) {
  const std::vector<ConvCase> cases = {
      {{2, 7, 37, 3, 5, 1, 1, 1, 2, 1, 1}, 2, 13},     // 37 columns: 16 + 16 + 5 floats
      {{3, 9, 8, 3, 3, 2, 1, 1, 0, 1, 2}, 3, 5},       // stride 2 down, dilation 2 across
      {{32, 14, 14, 5, 5, 1, 1, 2, 2, 1, 1}, 1, 12},   // the CNN's second convolution, too few filters for Winograd
      {{3, 120, 120, 3, 3, 1, 1, 1, 1, 1, 1}, 1, 7},   // one channel per block
      {{1, 6, 5, 6, 5, 1, 1, 0, 0, 1, 1}, 2, 1},       // one output pixel
      {{3, 9, 11, 3, 3, 1, 1, 2, 1, 2, 2}, 2, 4},      // dilation 2 both ways
      {{2, 6, 6, 3, 3, 1, 1, 3, 3, 1, 1}, 2, 3},       // padding past the kernel's reach
  };
  Generator gen(12);
  for_every_conv_case(cases, {1, 3}, gen, [&](const ConvCase& c, DType dtype, const ConvInputs& in) {
    const Conv2dGeometry& g = c.g;
    const std::int64_t k = in.k, p = in.p;
    const Tensor &x = in.x, &w = in.w, &bias = in.bias;
    const Tensor out = Tensor::full({c.n, c.f, p}, 1e30, dtype);  // every element must be written
    conv2d_forward(x, w, bias, g, out);
    const Tensor x64 = x.to(DType::f64);
    const Tensor columns = im2col(x64, g);
    const Tensor want = add(matmul(w.to(DType::f64), columns), bias.to(DType::f64).reshape({c.f, 1}));
    const double tol = dtype == DType::f32 ? 1e-5 * std::sqrt(static_cast<double>(k)) : 1e-12;
    ASSERT_TRUE(allclose(out.to(DType::f64), want, tol, tol));
    const Tensor grad = Tensor::normal({c.n, c.f, p}, gen, 0, 1, dtype);
    const Tensor dx = Tensor::full(x.shape(), 1e30, dtype), dw = Tensor::full(w.shape(), 1e30, dtype);
    conv2d_backward_input(grad, w, g, dx);
    conv2d_backward_weight(x, grad, g, dw);
    const Tensor grad64 = grad.to(DType::f64);
    const double tol_p = dtype == DType::f32 ? 1e-5 * std::sqrt(static_cast<double>(c.n * p)) : 1e-11;
    ASSERT_TRUE(allclose(dx.to(DType::f64), col2im(matmul(w.to(DType::f64).t(), grad64), g), tol, tol)) << "input gradient";
    ASSERT_TRUE(allclose(dw.to(DType::f64), sum(matmul(grad64, columns.transpose(1, 2)), Axes{0}), tol_p, tol_p))
        << "weight gradient";
  });
}

TEST(MaxPoolKernels, RouteGradientsToTheFirstMaximum) {
  // One 1x1x2x4 image, windows 2x2 with stride 2: maxima 5 (twice, first at (0, 0)) and 7.
  const Tensor x = Tensor::from<double>({5, 1, 2, 7, 5, 3, 7, 0}, Shape{1, 1, 2, 4});
  const Tensor pooled = Tensor::empty({1, 1, 1, 2}, DType::f64);
  max_pool2d(x, Pool2dWindow{2, 2}, pooled);
  EXPECT_EQ(pooled.to_vector<double>(), (std::vector<double>{5, 7}));
  const Tensor dx = Tensor::empty({1, 1, 2, 4}, DType::f64);
  max_pool2d_backward(x, pooled, Tensor::from<double>({10, 20}, Shape{1, 1, 1, 2}), Pool2dWindow{2, 2}, dx);
  EXPECT_EQ(dx.to_vector<double>(), (std::vector<double>{10, 0, 0, 20, 0, 0, 0, 0}));
  // A NaN in a window is its maximum.
  const Tensor with_nan = Tensor::from<double>({1, std::nan(""), 2, 3}, Shape{1, 1, 2, 2});
  const Tensor one = Tensor::empty({1, 1, 1, 1}, DType::f64);
  max_pool2d(with_nan, Pool2dWindow{2, 2}, one);
  EXPECT_TRUE(std::isnan(one.at({0, 0, 0, 0})));
  EXPECT_THROW(max_pool2d(x, Pool2dWindow{3, 1}, pooled), ShapeError);
  EXPECT_THROW(max_pool2d(x, Pool2dWindow{2, 1, {0, 2}}, pooled), ValueError);  // padding over half the kernel
  // Sizes past 2^31 are refused before the arithmetic on them could overflow (UBSan checks).
  const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
  EXPECT_THROW((Pool2dWindow{{huge, 2}, 1, {huge / 2, 0}}.validate("max_pool2d", 2, 4)), ValueError);
}

// Every output against a plain loop over its window, with per-axis sizes and padding, on
// negative images: were padding read as zeros, it would win every border window.
// The pooling kernel's three ways across a row (stride 1, stride 2 by even lanes, any other
// stride) on every instruction set and dtype: rows of one and several vectors with a partial
// last one, odd sizes whose last pixels no window covers, padding on either axis, NaNs (a window
// holding one gives NaN) and -inf pixels. The gradient (its own kernel for 2×2 windows with
// stride 2) goes to each window's first maximum, also where a maximum is tied.
TEST(MaxPoolKernels, EveryInstructionSetMatchesAPlainLoop) {
  struct Case {
    std::int64_t h, w;
    Pool2dWindow window;
  };
  const std::vector<Case> cases = {
      {28, 28, Pool2dWindow{{2, 2}, {2, 2}, {0, 0}}}, {7, 7, Pool2dWindow{{2, 2}, {2, 2}, {0, 0}}},
      {5, 37, Pool2dWindow{{3, 3}, {1, 1}, {1, 1}}},  {9, 35, Pool2dWindow{{2, 3}, {1, 2}, {1, 1}}},
      {8, 50, Pool2dWindow{{3, 3}, {3, 3}, {1, 1}}},  {6, 3, Pool2dWindow{{1, 3}, {1, 2}, {0, 1}}},
  };
  Generator gen(13);
  const std::string original(cpu::simd().isa);
  for (const std::string& isa : supported_isas()) {
    cpu::use_isa(isa);
    for (DType dtype : {DType::f32, DType::f64})
      for (const Case& c : cases) {
        const Pool2dWindow& w = c.window;
        SCOPED_TRACE(isa + " " + std::string(dtype_name(dtype)) + " " + std::to_string(c.h) + "x" + std::to_string(c.w) + " " + w.str());
        std::vector<double> pixels = Tensor::normal({3, c.h, c.w}, gen, 0, 1, DType::f64).to_vector<double>();
        pixels[5] = std::nan("");
        pixels[static_cast<std::size_t>(c.h * c.w + 2)] = -INFINITY;
        pixels[pixels.size() - 3] = std::nan("");
        pixels[0] = pixels[1] = 10;                                                        // tied in the first window's top row
        pixels[static_cast<std::size_t>(2 * c.h * c.w + 1)] = pixels[static_cast<std::size_t>(2 * c.h * c.w + c.w)] = 20;  // tied across rows
        const Tensor x = Tensor::from<double>(pixels, Shape{1, 3, c.h, c.w}).to(dtype);
        const std::int64_t oh = w.out_h(c.h), ow = w.out_w(c.w);
        const Tensor pooled = Tensor::full({1, 3, oh, ow}, 7.0, dtype);
        max_pool2d(x, w, pooled);
        const Tensor got = pooled.to(DType::f64);
        const Tensor grad = Tensor::normal({1, 3, oh, ow}, gen, 0, 1, DType::f64).to(dtype);
        const Tensor dx = Tensor::full(x.shape(), 7.0, dtype);
        max_pool2d_backward(x, pooled, grad, w, dx);
        std::vector<double> want_dx(pixels.size(), 0.0);
        for (std::int64_t p = 0; p < 3; ++p)
          for (std::int64_t oy = 0; oy < oh; ++oy)
            for (std::int64_t ox = 0; ox < ow; ++ox) {
              double best = -INFINITY;
              bool nan = false;
              std::int64_t first_best = -1, first_nan = -1;
              for (std::int64_t i = 0; i < w.kernel.h; ++i)
                for (std::int64_t j = 0; j < w.kernel.w; ++j) {
                  const std::int64_t iy = oy * w.stride.h - w.padding.h + i, ix = ox * w.stride.w - w.padding.w + j;
                  if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                  const std::int64_t at = (p * c.h + iy) * c.w + ix;
                  const double v = static_cast<double>(x.to(DType::f64).at({0, p, iy, ix}));
                  if (std::isnan(v) && !nan) nan = true, first_nan = at;
                  if (first_best < 0 || v > best) best = v, first_best = at;
                }
              const double y = got.at({0, p, oy, ox});
              if (nan) ASSERT_TRUE(std::isnan(y)) << "at " << p << "," << oy << "," << ox;
              else ASSERT_EQ(y, best) << "at " << p << "," << oy << "," << ox;
              want_dx[static_cast<std::size_t>(nan ? first_nan : first_best)] += static_cast<double>(grad.to(DType::f64).at({0, p, oy, ox}));
            }
        // Overlapping windows add into one pixel in the dtype's precision.
        ASSERT_TRUE(allclose(dx.to(DType::f64), Tensor::from<double>(want_dx, x.shape()), 1e-6, 1e-6)) << "gradient";
      }
  }
  cpu::use_isa(original);
}

TEST(MaxPoolKernels, PerAxisWindowsWithPaddingMatchAPlainLoop) {
  Generator gen(11);
  const Tensor x = neg(exp(Tensor::normal({2, 3, 7, 6}, gen, 0, 1, DType::f64)));
  for (const Pool2dWindow w : {Pool2dWindow{{3, 2}, {2, 1}, {1, 1}}, Pool2dWindow{{2, 3}, {1, 3}, {1, 0}},
                               Pool2dWindow{{5, 4}, {2, 2}, {2, 2}}}) {
    const std::int64_t oh = w.out_h(7), ow = w.out_w(6);
    const Tensor pooled = Tensor::empty({2, 3, oh, ow}, DType::f64), dx = Tensor::empty({2, 3, 7, 6}, DType::f64);
    const Tensor grad = Tensor::normal({2, 3, oh, ow}, gen, 0, 1, DType::f64);
    max_pool2d(x, w, pooled);
    max_pool2d_backward(x, pooled, grad, w, dx);
    std::vector<double> expected_dx(2 * 3 * 7 * 6, 0.0);
    for (std::int64_t p = 0; p < 6; ++p)
      for (std::int64_t oy = 0; oy < oh; ++oy)
        for (std::int64_t ox = 0; ox < ow; ++ox) {
          double best = -INFINITY;
          std::int64_t by = -1, bx = -1;
          for (std::int64_t i = 0; i < w.kernel.h; ++i)
            for (std::int64_t j = 0; j < w.kernel.w; ++j) {
              const std::int64_t iy = oy * w.stride.h - w.padding.h + i, ix = ox * w.stride.w - w.padding.w + j;
              if (iy < 0 || iy >= 7 || ix < 0 || ix >= 6) continue;
              const double v = x.at({p / 3, p % 3, iy, ix});
              if (v > best) best = v, by = iy, bx = ix;
            }
          ASSERT_EQ(pooled.at({p / 3, p % 3, oy, ox}), best) << w.str() << " at " << p << "," << oy << "," << ox;
          expected_dx[static_cast<std::size_t>((p * 7 + by) * 6 + bx)] += grad.at({p / 3, p % 3, oy, ox});
        }
    EXPECT_EQ(dx.to_vector<double>(), expected_dx) << w.str();
  }
}

// Unit-stride 3×3 and 5×5 layers with enough channels and filters run by Winograd's minimal
// filtering (kernels/cpu/winograd.hpp). Its transforms round more than a direct sum: the
// forward, input-gradient and weight-gradient results are held to 1e-4 of the scale of their
// terms in float32 (measured: up to 3e-5, where a direct sum stays near 1e-6) and to 2e-13 in
// float64 (measured: up to 5e-14), which only exact transforms meet.
TEST(Conv2dKernels, WinogradMatchesDirectSums) {
  const std::vector<ConvCase> cases = {
      {{32, 14, 14, 5, 5, 1, 1, 2, 2, 1, 1}, 3, 64},    // the CNN's second convolution
      {{16, 13, 11, 5, 5, 1, 1, 2, 1, 1, 1}, 2, 17},    // odd sizes: partial tiles, 17 filters
      {{19, 9, 30, 3, 3, 1, 1, 1, 1, 1, 1}, 2, 33},     // 3×3 in 4×4 tiles
      {{16, 40, 70, 3, 3, 1, 1, 0, 0, 1, 1}, 1, 16},    // no padding; several chunks of tile rows
      {{24, 8, 8, 5, 5, 1, 1, 4, 4, 1, 1}, 5, 20},      // padding past the kernel's reach
  };
  Generator gen(21);
  for_every_conv_case(cases, {1, 2}, gen, [&](const ConvCase& c, DType dtype, const ConvInputs& in) {
    const Conv2dGeometry& g = c.g;
    const std::int64_t k = in.k, p = in.p;
    const Tensor &x = in.x, &w = in.w, &bias = in.bias;
    const Tensor grad = Tensor::normal({c.n, c.f, p}, gen, 0, 1, dtype);
    const Tensor out = Tensor::full({c.n, c.f, p}, 1e30, dtype);
    const Tensor dx = Tensor::full(x.shape(), 1e30, dtype), dw = Tensor::full(w.shape(), 1e30, dtype);
    conv2d_forward(x, w, bias, g, out);
    conv2d_backward_input(grad, w, g, dx);
    conv2d_backward_weight(x, grad, g, dw);
    const Tensor columns = im2col(x.to(DType::f64), g), w64 = w.to(DType::f64), grad64 = grad.to(DType::f64);
    const double unit = dtype == DType::f32 ? 1e-4 : 2e-13;
    // Each result is a sum of unit normal products: k terms forward, f·taps for the input
    // gradient, n·p for the weight gradient; its scale is the square root of that count.
    const auto error = [](const Tensor& got, const Tensor& want) { return max(abs(sub(got.to(DType::f64), want))).item<double>(); };
    const double forward = error(out, add(matmul(w64, columns), bias.to(DType::f64).reshape({c.f, 1})));
    const double input = error(dx, col2im(matmul(w64.t(), grad64), g));
    const double weight = error(dw, sum(matmul(grad64, columns.transpose(1, 2)), Axes{0}));
    EXPECT_LE(forward, unit * std::sqrt(static_cast<double>(k))) << "forward";
    EXPECT_LE(input, unit * std::sqrt(static_cast<double>(c.f * g.kernel_h * g.kernel_w))) << "input gradient";
    EXPECT_LE(weight, unit * std::sqrt(static_cast<double>(c.n * p))) << "weight gradient";
  });
}
