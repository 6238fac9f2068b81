#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "isa.hpp"
#include "reference.hpp"

using namespace stheno;
using namespace stheno::testing;

namespace {

// Reference reduction over the axes flagged in `reduced`, in float64.
std::vector<double> reference(ReduceOp op, const Tensor& x, const std::vector<bool>& reduced, Shape& out_shape) {
  out_shape = Shape{};
  for (int i = 0; i < x.rank(); ++i)
    if (!reduced[static_cast<std::size_t>(i)]) out_shape.push_back(x.shape()[i]);
  std::vector<double> acc(static_cast<std::size_t>(out_shape.numel()), op == ReduceOp::max ? -INFINITY : 0.0);
  std::vector<bool> nan(acc.size(), false);
  std::int64_t count = 1;
  for (int i = 0; i < x.rank(); ++i)
    if (reduced[static_cast<std::size_t>(i)]) count *= x.shape()[i];
  for_each_index(x.shape(), [&](const std::vector<std::int64_t>& idx) {
    std::int64_t pos = 0;
    for (int i = 0, k = 0; i < x.rank(); ++i)
      if (!reduced[static_cast<std::size_t>(i)]) pos = pos * out_shape[k++] + idx[static_cast<std::size_t>(i)];
    const double v = x.at(idx);
    auto& a = acc[static_cast<std::size_t>(pos)];
    if (op == ReduceOp::max) a = std::isnan(v) || std::isnan(a) ? NAN : std::max(a, v);
    else a += v;
  });
  if (op == ReduceOp::mean)
    for (double& a : acc) a /= static_cast<double>(count);
  return acc;
}

}  // namespace

TEST(Reduce, EveryAxisSetMatchesReference) {
  Generator gen(21);
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max})
    for (DType dtype : {DType::f32, DType::f64})
      for (const Shape& shape : {Shape{1}, Shape{17}, Shape{3, 5}, Shape{2, 1, 7}, Shape{4, 3, 2, 5}, Shape{64, 700}})
        for (int layout : {0, 1, 2})
          for (unsigned mask = 0; mask < (1u << shape.rank()); ++mask) {
            std::vector<bool> reduced(static_cast<std::size_t>(shape.rank()));
            Axes axes;
            for (int i = 0; i < shape.rank(); ++i)
              if (mask & (1u << i)) {
                reduced[static_cast<std::size_t>(i)] = true;
                axes.push_back(i - (i % 2 ? shape.rank() : 0));  // mix negative and positive axes
              }
            if (mask == 0) reduced.assign(reduced.size(), true);  // empty axes = all
            for (bool keepdims : {false, true}) {
              SCOPED_TRACE(shape.str() + " axes " + axes.str() + " " + layout_name(layout) + " " +
                           std::string(dtype_name(dtype)) + (keepdims ? " keepdims" : ""));
              const Tensor x = random_tensor(shape, dtype, gen, layout);
              Shape want_shape;
              const auto want = reference(op, x, reduced, want_shape);
              const Tensor y = reduce(op, x, axes, keepdims);
              if (keepdims) {
                for (int i = 0; i < shape.rank(); ++i) EXPECT_EQ(y.shape()[i], reduced[static_cast<std::size_t>(i)] ? 1 : shape[i]);
              } else {
                EXPECT_EQ(y.shape(), want_shape);
              }
              const auto got = values(y);
              ASSERT_EQ(got.size(), want.size());
              for (std::size_t i = 0; i < got.size(); ++i)
                ASSERT_TRUE(near(got[i], want[i], 0, (dtype == DType::f32 ? 1e-5 : 1e-12) * (1 + std::fabs(want[i])) * std::sqrt(double(x.numel()))))
                    << "element " << i << ": got " << got[i] << " want " << want[i];
            }
          }
}

// A sum over every axis but a middle block of a contiguous tensor (a convolution's bias gradient)
// is read in place, threads sharing out the kept elements: checked on 1 and 3 threads against
// float64 loops, into a strided out, and for int32.
TEST(Reduce, SumsAroundAKeptMiddleBlockOnSeveralThreads) {
  Generator gen(22);
  const int original = num_threads();
  const Tensor x = Tensor::normal({12, 5, 6, 300}, gen, 0, 1, DType::f32);
  std::vector<double> want_sum(30, 0.0);
  for (std::int64_t n = 0; n < 12; ++n)
    for (std::int64_t j = 0; j < 30; ++j)
      for (std::int64_t p = 0; p < 300; ++p) want_sum[static_cast<std::size_t>(j)] += x.at({n, j / 6, j % 6, p});
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    SCOPED_TRACE(std::to_string(threads) + " threads");
    const auto got = values(sum(x, {0, 3}));
    const auto got_mean = values(mean(x, {0, -1}, true));
    ASSERT_EQ(got.size(), 30u);
    ASSERT_EQ(got_mean.size(), 30u);
    for (std::size_t j = 0; j < 30; ++j) {
      EXPECT_NEAR(got[j], want_sum[j], 1e-4 * std::sqrt(3600.0)) << j;
      EXPECT_NEAR(got_mean[j], want_sum[j] / 3600, 1e-6) << j;
    }
    const Tensor wide = Tensor::zeros({5, 12});
    reduce(ReduceOp::sum, x, {0, 3}, false, wide.slice(1, 0, 12, 2));  // a strided out
    for (std::int64_t j = 0; j < 30; ++j) EXPECT_NEAR(wide.at({j / 6, 2 * (j % 6)}), want_sum[static_cast<std::size_t>(j)], 0.03);
  }
  set_num_threads(original);
  const Tensor ints = Tensor::arange(0, 24, 1, DType::i32).reshape({2, 3, 4});
  EXPECT_EQ(values(sum(ints, {0, 2})), (std::vector<double>{60, 92, 124}));
}

// Up to 64 rows are combined one after another, so a sum over the first axis equals a plain loop
// adding the rows in order, bit for bit: checked on every instruction set for widths around the
// register chunks and vectors (the rest of a row goes through a partial vector), with a NaN in a
// whole chunk and one in the last partial vector for max.
TEST(Reduce, RowsCombinedInOrderOnEveryInstructionSet) {
  Generator gen(23);
  const std::vector<std::string> isas = supported_isas();
  for (const std::string& isa : isas) {
    cpu::use_isa(isa);
    for (DType dtype : {DType::f32, DType::f64, DType::i32})
      for (std::int64_t rows : {1, 2, 9, 64})
        for (std::int64_t width : {2, 5, 16, 30, 63, 64, 65, 130, 700}) {  // one column is a lane sum
          SCOPED_TRACE(isa + " " + std::string(dtype_name(dtype)) + " " + std::to_string(rows) + "x" + std::to_string(width));
          const Tensor x = dtype == DType::i32 ? Tensor::arange(0, rows * width, 1, DType::i32).reshape({rows, width})
                                         : Tensor::normal({rows, width}, gen, 0, 1, dtype);
          const auto all = values(x);
          for (ReduceOp op : {ReduceOp::sum, ReduceOp::max}) {
            const auto got = values(reduce(op, x, {0}));
            for (std::int64_t i = 0; i < width; ++i) {
              double want = all[static_cast<std::size_t>(i)];
              for (std::int64_t j = 1; j < rows; ++j) {
                const double v = all[static_cast<std::size_t>(j * width + i)];
                if (op == ReduceOp::max) want = std::max(want, v);
                else if (dtype == DType::f32) want = static_cast<float>(static_cast<float>(want) + static_cast<float>(v));
                else want += v;
              }
              ASSERT_EQ(got[static_cast<std::size_t>(i)], want) << (op == ReduceOp::max ? "max" : "sum") << " at " << i;
            }
          }
          if (dtype == DType::i32 || rows < 2) continue;
          std::vector<double> nans = all;
          nans[static_cast<std::size_t>((rows - 1) * width)] = NAN;
          nans[static_cast<std::size_t>(2 * width - 1)] = NAN;
          const Tensor y = Tensor::from<double>(nans, Shape{rows, width}).to(dtype);
          const auto with_nan = values(reduce(ReduceOp::max, y, {0}));
          EXPECT_TRUE(std::isnan(with_nan.front()));
          EXPECT_TRUE(std::isnan(with_nan.back()));
          if (width > 2) {  // a column without a NaN stays a number
            EXPECT_FALSE(std::isnan(with_nan[1]));
          }
        }
  }
  cpu::use_isa(isas.front());
}

TEST(Reduce, LongSumsStayAccurateInFloat32) {
  // 4 million values of 0.1f: a naive float running sum is off by about 10%.
  const Tensor x = Tensor::full({1 << 22}, 0.1);
  const double want = 0.1f * static_cast<double>(1 << 22);
  EXPECT_NEAR(sum(x).item<float>(), want, want * 1e-6);
  const Tensor cols = Tensor::full({1 << 14, 8}, 0.1);
  EXPECT_NEAR(values(sum(cols, 0))[3], 0.1f * (1 << 14), 0.1f * (1 << 14) * 1e-4);
}

TEST(Reduce, Int32SumAndMax) {
  const Tensor x = Tensor::from<std::int32_t>({1, -5, 7, 2, 9, -3}, {2, 3});
  EXPECT_EQ(values(sum(x, 1)), (std::vector<double>{3, 8}));
  EXPECT_EQ(values(max(x, 0)), (std::vector<double>{2, 9, 7}));
  EXPECT_EQ(sum(x).item<std::int32_t>(), 11);
  EXPECT_THROW(mean(x), DTypeError);
}

TEST(Reduce, EmptyAxes) {
  const Tensor e = Tensor::zeros({3, 0});
  EXPECT_EQ(values(sum(e, 1)), (std::vector<double>{0, 0, 0}));
  for (double v : values(mean(e, 1))) EXPECT_TRUE(std::isnan(v));
  EXPECT_THROW(max(e, 1), ValueError);
  EXPECT_THROW(argmax(e, 1), ValueError);
  EXPECT_EQ(sum(e, 0).shape(), (Shape{0}));
}

TEST(Reduce, MaxPropagatesNaN) {
  const Tensor x = Tensor::from<float>({1, NAN, 3, 4}, {2, 2});
  const auto m = values(max(x, 1));
  EXPECT_TRUE(std::isnan(m[0]));
  EXPECT_EQ(m[1], 4);
}

TEST(Reduce, OutForm) {
  const Tensor x = Tensor::arange(0, 12, 1, DType::f64).reshape({3, 4});
  const Tensor out = Tensor::zeros({2, 4}, DType::f64).select(0, 1);  // a view into a bigger buffer
  reduce(ReduceOp::sum, x, {0}, false, out);
  EXPECT_EQ(values(out), (std::vector<double>{12, 15, 18, 21}));
  EXPECT_THROW(reduce(ReduceOp::sum, x, {0}, false, Tensor::zeros({3}, DType::f64)), ShapeError);
  EXPECT_THROW(reduce(ReduceOp::sum, x, {0}, false, Tensor::zeros({4})), DTypeError);
}

TEST(Reduce, AxisErrors) {
  const Tensor x = Tensor::zeros({2, 3});
  EXPECT_THROW(sum(x, 2), IndexError);
  EXPECT_THROW(sum(x, {0, 0}), ValueError);
  EXPECT_THROW(sum(x, {1, -1}), ValueError);
}

TEST(Argmax, MatchesReferenceOnEveryAxis) {
  Generator gen(22);
  for (int layout : {0, 1, 2}) {
    const Tensor x = random_tensor({4, 5, 6}, DType::f32, gen, layout);
    for (int axis = 0; axis < 3; ++axis) {
      const Tensor a = argmax(x, axis);
      EXPECT_EQ(a.dtype(), DType::i32);
      Shape expect_shape = x.shape();
      expect_shape.erase(axis);
      ASSERT_EQ(a.shape(), expect_shape);
      for_each_index(a.shape(), [&](const std::vector<std::int64_t>& idx) {
        std::vector<std::int64_t> full = idx;
        full.insert(full.begin() + axis, 0);
        std::int64_t best = 0;
        double best_v = -INFINITY;
        for (std::int64_t j = 0; j < x.shape()[axis]; ++j) {
          full[static_cast<std::size_t>(axis)] = j;
          if (x.at(full) > best_v) best_v = x.at(full), best = j;
        }
        ASSERT_EQ(a.at(idx), best);
      });
    }
  }
}

TEST(Argmax, TiesNaNAndWholeTensor) {
  EXPECT_EQ(argmax(Tensor::from<float>({1, 3, 3, 2})).item<std::int32_t>(), 1);
  EXPECT_EQ(argmax(Tensor::from<float>({1, NAN, 5, NAN})).item<std::int32_t>(), 1);
  const Tensor m = Tensor::from<double>({0, 9, 2, 3, 4, 5}, {2, 3});
  EXPECT_EQ(argmax(m).item<std::int32_t>(), 1);
  EXPECT_EQ(argmax(m.t()).item<std::int32_t>(), 2);  // row-major index into the transposed view
  EXPECT_EQ(argmax(m, 1, true).shape(), (Shape{2, 1}));
}
