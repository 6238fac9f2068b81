#include <gtest/gtest.h>

#include "reference.hpp"

using namespace stheno;
using stheno::testing::values;

namespace {
Tensor iota(const Shape& s) { return Tensor::arange(0, static_cast<double>(s.numel()), 1, DType::f64).reshape(s); }
}  // namespace

TEST(Views, SliceWithStepAndNegativeBounds) {
  const Tensor x = iota({10});
  const Tensor s = x.slice(0, 1, 8, 3);
  EXPECT_EQ(values(s), (std::vector<double>{1, 4, 7}));
  EXPECT_TRUE(s.shares_storage(x));
  EXPECT_EQ(values(x.slice(0, -3, 10)), (std::vector<double>{7, 8, 9}));
  EXPECT_EQ(x.slice(0, 5, 2).numel(), 0);
  EXPECT_EQ(x.slice(0, 0, 100).numel(), 10);
  EXPECT_THROW(x.slice(0, 0, 5, 0), ValueError);
  EXPECT_THROW(x.slice(1, 0, 5), IndexError);
}

TEST(Views, SelectDropsTheAxis) {
  const Tensor x = iota({2, 3});
  EXPECT_EQ(values(x.select(1, -1)), (std::vector<double>{2, 5}));
  EXPECT_EQ(x.select(0, 1).shape(), (Shape{3}));
  EXPECT_THROW(x.select(0, 2), IndexError);
}

TEST(Views, TransposeAndPermuteDoNotCopy) {
  const Tensor x = iota({2, 3, 4});
  const Tensor p = x.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_TRUE(p.shares_storage(x));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(p.at({3, 1, 2}), x.at({1, 2, 3}));
  EXPECT_EQ(x.t().shape(), (Shape{2, 4, 3}));
  EXPECT_THROW(x.permute({0, 0, 1}), ValueError);
  EXPECT_THROW(x.permute({0, 1}), ShapeError);
  EXPECT_THROW(iota({3}).t(), ShapeError);
}

TEST(Views, ReshapeIsAViewWhenStridesAllow) {
  const Tensor x = iota({2, 3, 4});
  const Tensor r = x.reshape({6, -1});
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  EXPECT_TRUE(r.shares_storage(x));
  // Splitting an axis of a transposed tensor is still a view.
  const Tensor t = x.transpose(0, 2);  // (4, 3, 2)
  const Tensor split = t.view({2, 2, 3, 2});
  EXPECT_TRUE(split.shares_storage(x));
  EXPECT_EQ(split.at({1, 0, 2, 1}), t.at({2, 2, 1}));
  // Merging non-adjacent memory needs a copy: view refuses, reshape copies.
  EXPECT_THROW(t.view({12, 2}), ShapeError);
  const Tensor merged = t.reshape({12, 2});
  EXPECT_FALSE(merged.shares_storage(x));
  EXPECT_EQ(values(merged), values(t));
  // A strided slice merged with a unit axis.
  const Tensor s = iota({4, 6}).slice(1, 0, 6, 2).unsqueeze(1);  // (4, 1, 3)
  EXPECT_EQ(values(s.reshape({12})), values(s));
}

TEST(Views, ReshapeErrors) {
  EXPECT_THROW(iota({2, 3}).reshape({4, 2}), ShapeError);
  EXPECT_THROW(iota({2, 3}).reshape({-1, -1}), ShapeError);
  EXPECT_EQ(iota({0, 3}).reshape({3, 0, -1}).shape(), (Shape{3, 0, 0}));
}

TEST(Views, ExpandBroadcastsWithZeroStride) {
  const Tensor x = iota({3, 1});
  const Tensor e = x.expand({2, 3, 4});
  EXPECT_EQ(e.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(e.strides()[0], 0);
  EXPECT_EQ(e.strides()[2], 0);
  EXPECT_EQ(e.at({1, 2, 3}), 2);
  EXPECT_THROW(x.expand({3, 4, 2}), ShapeError);
  EXPECT_THROW(x.expand({4}), ShapeError);
  // Reshaping a broadcast view copies.
  EXPECT_EQ(e.reshape({24}).numel(), 24);
}

TEST(Views, SqueezeUnsqueeze) {
  const Tensor x = iota({2, 3});
  EXPECT_EQ(x.unsqueeze(0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(x.unsqueeze(1).squeeze(1).shape(), (Shape{2, 3}));
  EXPECT_THROW(x.squeeze(0), ShapeError);
  EXPECT_EQ(x.flatten().shape(), (Shape{6}));
}

TEST(Views, EmptyTensorsAreContiguousWhateverTheirShape) {
  for (const Shape& shape : {Shape{0}, Shape{0, 0}, Shape{3, 0, 2}, Shape{0, 4, 0}}) {
    SCOPED_TRACE(shape.str());
    const Tensor t = Tensor::zeros(shape);
    EXPECT_TRUE(t.is_contiguous());
    EXPECT_EQ(t.contiguous().storage(), t.storage());
  }
  EXPECT_FALSE(Tensor::zeros({2, 3}).t().is_contiguous());
}

TEST(Views, ContiguousCopiesOnlyWhenNeeded) {
  const Tensor x = iota({3, 4});
  EXPECT_EQ(x.contiguous().storage(), x.storage());
  const Tensor c = x.t().contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage(), x.storage());
  EXPECT_EQ(values(c), values(x.t()));
}
