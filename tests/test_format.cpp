#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "stheno/stheno.hpp"

using namespace stheno;

TEST(Format, LooksLikeNumPy) {
  EXPECT_EQ(Tensor::arange(0, 6).reshape({2, 3}).str(),
            "tensor([[0., 1., 2.],\n"
            "        [3., 4., 5.]], dtype=float32)");
  EXPECT_EQ(Tensor::from<double>({1.5, -2.25, 10}).str(), "tensor([ 1.5 , -2.25, 10.  ], dtype=float64)");
  EXPECT_EQ(Tensor::from<std::int32_t>({1, -20, 300}).str(), "tensor([  1, -20, 300], dtype=int32)");
  EXPECT_EQ(Tensor::scalar(3.5).str(), "tensor(3.5, dtype=float32)");
  EXPECT_EQ(Tensor::zeros({0, 2}).str(), "tensor([], shape=(0, 2), dtype=float32)");
  EXPECT_EQ(Tensor::from<double>({1e-5, 1}).str(), "tensor([1.e-05, 1.e+00], dtype=float64)");
  EXPECT_EQ(Tensor::from<float>({NAN, INFINITY, 1}).str(), "tensor([nan, inf,  1.], dtype=float32)");
  EXPECT_EQ(Tensor().str(), "tensor(undefined)");
}

TEST(Format, LargeTensorsAreSummarised) {
  const std::string s = Tensor::arange(0, 2000, 1, DType::i32).str();
  EXPECT_EQ(s, "tensor([   0,    1,    2, ..., 1997, 1998, 1999], dtype=int32)");
  const std::string m = Tensor::zeros({100, 100}).str();
  EXPECT_NE(m.find("..."), std::string::npos);
  EXPECT_LT(m.size(), 400u);
}

TEST(Format, ThreeDimensionsSeparateBlocksWithABlankLine) {
  std::ostringstream os;
  os << Tensor::arange(0, 8, 1, DType::i32).reshape({2, 2, 2});
  EXPECT_EQ(os.str(),
            "tensor([[[0, 1],\n"
            "         [2, 3]],\n"
            "\n"
            "        [[4, 5],\n"
            "         [6, 7]]], dtype=int32)");
}

TEST(Format, LongRowsWrap) {
  const std::string s = Tensor::arange(0, 40, 1, DType::f64).str();
  EXPECT_NE(s.find('\n'), std::string::npos);
  for (std::size_t start = 0, end; start < s.size(); start = end + 1) {
    end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    EXPECT_LE(end - start, 80u);
  }
}
