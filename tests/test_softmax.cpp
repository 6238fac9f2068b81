#include <gtest/gtest.h>

#include <cmath>

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
