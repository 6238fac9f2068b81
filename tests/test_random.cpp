#include <gtest/gtest.h>

#include <cmath>

#include "stheno/stheno.hpp"

using namespace stheno;

// Golden values pin the sequence: a change here changes every seeded run everywhere.
TEST(Random, SameSeedSameNumbersEverywhere) {
  Generator gen(2024);
  EXPECT_EQ(gen.next_u64(), 1029197146548041518ULL);
  EXPECT_EQ(gen.uniform(), 0.78210377286675503);
  // normal() goes through the C library's log, sin and cos: equal to within a few ulp.
  EXPECT_DOUBLE_EQ(gen.normal(), 0.20780665233422843);
  Generator a(7), b(7);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.normal(), b.normal());
}

TEST(Random, UniformAndNormalMoments) {
  Generator gen(1);
  const Tensor u = Tensor::uniform({200000}, gen, -1.0, 3.0, DType::f64);
  EXPECT_NEAR(mean(u).item<double>(), 1.0, 0.01);
  EXPECT_GE(-max(neg(u)).item<double>(), -1.0);
  EXPECT_LT(max(u).item<double>(), 3.0);
  const Tensor n = Tensor::normal({200000}, gen, 2.0, 0.5, DType::f64);
  const double m = mean(n).item<double>();
  const double var = mean(square(sub(n, Tensor::scalar(m, DType::f64)))).item<double>();
  EXPECT_NEAR(m, 2.0, 0.01);
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.01);
}

TEST(Random, StateRoundTripContinuesTheSequence) {
  Generator gen(99);
  gen.normal();  // leaves a spare normal in the state
  const Generator::State saved = gen.state();
  const double next = gen.normal(), after = gen.normal();
  Generator other(0);
  other.set_state(saved);
  EXPECT_EQ(other.normal(), next);
  EXPECT_EQ(other.normal(), after);
}

TEST(Random, BelowIsInRangeAndCoversIt) {
  Generator gen(5);
  int seen[7] = {};
  for (int i = 0; i < 7000; ++i) {
    const auto v = gen.below(7);
    ASSERT_LT(v, 7u);
    ++seen[v];
  }
  for (int c : seen) EXPECT_GT(c, 800);
}

TEST(Random, TensorsFromTheSameSeedAreEqual) {
  Generator a(3), b(3);
  const Tensor x = Tensor::normal({4, 5}, a), y = Tensor::normal({4, 5}, b);
  EXPECT_TRUE(allclose(x, y, 0, 0));
  EXPECT_EQ(x.dtype(), DType::f32);
  EXPECT_THROW(Tensor::normal({2}, a, 0, 1, DType::i32), DTypeError);
}
