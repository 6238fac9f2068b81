#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "isa.hpp"
#include "reference.hpp"

using namespace stheno;
using namespace stheno::testing;

TEST(Softmax, MatchesReferenceOnEveryAxis) {
  Generator gen(41);
  for (DType dtype : {DType::f32, DType::f64})
    for (int layout : {0, 1, 2})
      for (int axis : {0, 1, -1}) {
        const Tensor x = random_tensor({5, 4, 37}, dtype, gen, layout, -20, 20);
        const Tensor p = softmax(x, axis), lp = log_softmax(x, axis);
        const int ax = axis < 0 ? 2 : axis;
        for_each_index(x.shape(), [&](const std::vector<std::int64_t>& idx) {
          std::vector<std::int64_t> j = idx;
          double mx = -INFINITY, total = 0;
          for (j[static_cast<std::size_t>(ax)] = 0; j[static_cast<std::size_t>(ax)] < x.shape()[ax]; ++j[static_cast<std::size_t>(ax)]) mx = std::max(mx, x.at(j));
          for (j[static_cast<std::size_t>(ax)] = 0; j[static_cast<std::size_t>(ax)] < x.shape()[ax]; ++j[static_cast<std::size_t>(ax)]) total += std::exp(x.at(j) - mx);
          const double want_log = x.at(idx) - mx - std::log(total);
          const double tol = dtype == DType::f32 ? 2e-6 : 1e-14;
          // x - max is rounded to the dtype first, so p carries a relative error of about eps·|log p|.
          ASSERT_TRUE(near(p.at(idx), std::exp(want_log), tol * (1 + std::fabs(want_log)), 1e-30)) << p.at(idx) << " vs " << std::exp(want_log) << " " << dtype_name(dtype) << " layout " << layout << " axis " << axis;
          ASSERT_NEAR(lp.at(idx), want_log, tol * (1 + std::fabs(want_log)) * 4);
        });
      }
}

// Rows of every length around the vector widths (the elements after the last whole vector go
// through a padded vector), and rows long enough for the lane sums to be folded more than once,
// on every instruction set; a NaN or the maximum placed in the padded part still counts.
TEST(Softmax, RowsOfEveryLengthOnEveryInstructionSet) {
  Generator gen(47);
  std::vector<std::int64_t> lengths;
  for (std::int64_t n = 1; n <= 40; ++n) lengths.push_back(n);
  for (std::int64_t n : {86, 4095, 4096, 4097, 9001}) lengths.push_back(n);
  for (const std::string& isa : supported_isas()) {
    cpu::use_isa(isa);
    for (DType dtype : {DType::f32, DType::f64})
      for (std::int64_t n : lengths) {
        SCOPED_TRACE(isa + " " + std::string(dtype_name(dtype)) + " n=" + std::to_string(n));
        std::vector<double> row = Tensor::uniform({n}, gen, -5, 5, DType::f64).to_vector<double>();
        row[static_cast<std::size_t>(n - 1)] = 9;  // the maximum in the last (padded) lanes
        const Tensor x = Tensor::from<double>(row, Shape{1, n}).to(dtype);
        double total = 0;
        for (std::int64_t j = 0; j < n; ++j) total += std::exp(x.at({0, j}) - 9);
        const auto p = values(softmax(x, 1)), lp = values(log_softmax(x, 1));
        const double tol = dtype == DType::f32 ? 2e-6 : 1e-14;
        for (std::int64_t j = 0; j < n; ++j) {
          const double want_log = x.at({0, j}) - 9 - std::log(total);
          ASSERT_NEAR(p[static_cast<std::size_t>(j)], std::exp(want_log), tol * (1 + std::fabs(want_log)) * std::exp(want_log) + 1e-30) << "at " << j;
          ASSERT_NEAR(lp[static_cast<std::size_t>(j)], want_log, tol * (1 + std::fabs(want_log)) * 4) << "at " << j;
        }
        ASSERT_EQ(max(x).to(DType::f64).item<double>(), 9.0);
        row[static_cast<std::size_t>(n - 1)] = std::nan("");
        const Tensor with_nan = Tensor::from<double>(row, Shape{1, n}).to(dtype);
        ASSERT_TRUE(std::isnan(max(with_nan).to(DType::f64).item<double>()));
        for (double v : values(softmax(with_nan, 1))) ASSERT_TRUE(std::isnan(v));
      }
  }
}

TEST(Softmax, StableForHugeLogits) {
  const Tensor x = Tensor::from<float>({1000.f, 1001.f, -1000.f});
  const auto p = values(softmax(x));
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(1.0)), 1e-6);
  EXPECT_NEAR(p[1], 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_EQ(p[2], 0.0);
  const auto lp = values(log_softmax(x));
  EXPECT_NEAR(lp[2], -2001 - std::log(1 + std::exp(-1.0)), 1e-2);  // finite, not -inf
}

TEST(Softmax, ErrorsAndOutForm) {
  EXPECT_THROW(softmax(Tensor::zeros({2}, DType::i32)), DTypeError);
  EXPECT_THROW(softmax(Tensor::zeros({2}), 1), IndexError);
  EXPECT_THROW(softmax(Tensor::zeros({2, 3}), -1, Tensor::zeros({3, 2})), ShapeError);
  const Tensor x = Tensor::zeros({2, 4});
  const Tensor out = Tensor::zeros({4, 2}).t();
  softmax(x, 1, out);
  for (double v : values(out)) EXPECT_FLOAT_EQ(v, 0.25);
  EXPECT_EQ(softmax(Tensor::zeros({3, 0})).numel(), 0);
}

// The loss kernel against log_softmax and a plain sum, for labels and for unnormalised float
// targets, on layouts that are not contiguous, and the same total at every thread count.
TEST(SoftmaxCrossEntropy, MatchesLogSoftmaxAndIsTheSameAtEveryThreadCount) {
  Generator gen(43);
  for (DType dtype : {DType::f32, DType::f64})
    for (int layout : {0, 2}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " layout " + std::to_string(layout));
      const std::int64_t n = 1001, c = 13;  // enough work to be split between two threads
      const Tensor logits = random_tensor({n, c}, dtype, gen, layout, -30, 30);
      std::vector<std::int32_t> label_values;
      for (std::int64_t i = 0; i < n; ++i) label_values.push_back(static_cast<std::int32_t>((i * 7 + 3) % c));
      const Tensor labels = Tensor::from(label_values);
      const Tensor targets = random_tensor({n, c}, dtype, gen, layout, 0, 2);
      const Tensor lp = log_softmax(logits, 1);
      double want_labels = 0, want_targets = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        want_labels -= lp.at({i, static_cast<std::int64_t>(label_values[static_cast<std::size_t>(i)])});
        for (std::int64_t k = 0; k < c; ++k) want_targets -= targets.at({i, k}) * lp.at({i, k});
      }
      want_labels /= static_cast<double>(n), want_targets /= static_cast<double>(n);
      const double tol = dtype == DType::f32 ? 1e-5 : 1e-12;
      std::vector<double> by_threads;
      const int before = num_threads();
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const Tensor out = Tensor::empty({}, dtype);
        softmax_cross_entropy(logits, labels, out);
        EXPECT_NEAR(out.item<double>(), want_labels, tol * std::fabs(want_labels));
        by_threads.push_back(out.item<double>());
        softmax_cross_entropy(logits, targets, out);
        EXPECT_NEAR(out.item<double>(), want_targets, tol * std::fabs(want_targets));
      }
      set_num_threads(before);
      EXPECT_EQ(by_threads[0], by_threads[1]);
    }
}

TEST(SoftmaxCrossEntropy, ErrorsNameTheRowAndTheShapes) {
  const Tensor logits = Tensor::zeros({3, 4}), out = Tensor::empty({});
  try {
    softmax_cross_entropy(logits, Tensor::from<std::int32_t>({0, 4, 1}), out);
    FAIL() << "no error";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("label 4 at row 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(softmax_cross_entropy(logits, Tensor::from<std::int32_t>({0, 1}), out), ShapeError);
  EXPECT_THROW(softmax_cross_entropy(logits, Tensor::zeros({3, 5}), out), ShapeError);
  EXPECT_THROW(softmax_cross_entropy(logits, Tensor::from<std::int32_t>({0, 1, 2}), Tensor::empty({1})), ShapeError);
}
