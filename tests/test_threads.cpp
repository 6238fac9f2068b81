#include <gtest/gtest.h>

#include "reference.hpp"

using namespace stheno;
using namespace stheno::testing;

// Results may differ between thread counts only by float rounding.
TEST(Threads, ResultsDoNotDependOnThreadCount) {
  const int original = num_threads();
  Generator gen(61);
  const Tensor x = Tensor::normal({300, 700}, gen);
  const Tensor w = Tensor::normal({700, 200}, gen);
  const Tensor big = Tensor::normal({1 << 20}, gen);
  std::vector<Tensor> results[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    EXPECT_EQ(num_threads(), threads);
    auto& r = results[threads - 1];
    r.push_back(sigmoid(x));
    r.push_back(add(x, x.slice(0, 0, 1)));
    r.push_back(matmul(x, w));
    r.push_back(sum(x, 0));
    r.push_back(sum(big).reshape({1}));
    r.push_back(max(big).reshape({1}));
    r.push_back(softmax(x));
  }
  for (std::size_t i = 0; i < results[0].size(); ++i)
    EXPECT_TRUE(allclose(results[0][i], results[1][i], 1e-5, 1e-3)) << "result " << i;  // 700-term dot products
  set_num_threads(original);
  EXPECT_THROW(set_num_threads(0), ValueError);
}

TEST(Allclose, FollowsNumPy) {
  const Tensor a = Tensor::from<double>({1.0, 2.0, NAN});
  EXPECT_FALSE(allclose(a, a));
  EXPECT_TRUE(allclose(a, a, 1e-5, 1e-8, true));
  EXPECT_TRUE(allclose(Tensor::from<float>({1.0f}), Tensor::from<double>({1.000001})));
  EXPECT_FALSE(allclose(Tensor::from<float>({1.0f}), Tensor::from<double>({1.001})));
  EXPECT_TRUE(allclose(Tensor::ones({2, 3}), Tensor::ones({3})));
  EXPECT_THROW(allclose(Tensor::ones({2}), Tensor::ones({3})), ShapeError);
  EXPECT_TRUE(allclose(Tensor::from<double>({INFINITY}), Tensor::from<double>({INFINITY})));
}
