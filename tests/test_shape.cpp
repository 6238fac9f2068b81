#include <gtest/gtest.h>

#include "stheno/tensor/shape.hpp"
#include "stheno/tensor/error.hpp"

using namespace stheno;

TEST(Shape, BasicsAndPrinting) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.str(), "(2, 3, 4)");
  EXPECT_EQ(Shape{}.str(), "()");
  EXPECT_EQ(Shape{}.numel(), 1);
  EXPECT_EQ(Shape{5}.str(), "(5,)");
  EXPECT_EQ((Shape{3, 0}.numel()), 0);
  s.insert(1, 7);
  EXPECT_EQ(s, (Shape{2, 7, 3, 4}));
  s.erase(0);
  EXPECT_EQ(s, (Shape{7, 3, 4}));
}

TEST(Shape, RankLimitIsAnError) {
  EXPECT_THROW((Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), ShapeError);
  Shape s{1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_THROW(s.push_back(1), ShapeError);
}

TEST(Shape, ContiguousStrides) {
  EXPECT_EQ(contiguous_strides({2, 3, 4}), (Strides{12, 4, 1}));
  EXPECT_EQ(contiguous_strides({}), Strides{});
}

TEST(Shape, BroadcastFollowsNumPy) {
  EXPECT_EQ(broadcast_shapes({2, 3}, {3}, "t"), (Shape{2, 3}));
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}, "t"), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {5}, "t"), (Shape{5}));
  EXPECT_EQ(broadcast_shapes({0, 1}, {1, 5}, "t"), (Shape{0, 5}));
  EXPECT_EQ(broadcast_shapes({1}, {0}, "t"), (Shape{0}));
  // Gorgonia issue 367: (2,) over (2,2,2).
  EXPECT_EQ(broadcast_shapes({2}, {2, 2, 2}, "t"), (Shape{2, 2, 2}));
}

TEST(Shape, BroadcastErrorNamesOpAndShapes) {
  try {
    broadcast_shapes({2, 3}, {4}, "add");
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("add"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(2, 3)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(4,)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3 vs 4"), std::string::npos) << msg;
  }
}

TEST(Shape, NormalizeAxis) {
  EXPECT_EQ(normalize_axis(-1, 3, "t"), 2);
  EXPECT_EQ(normalize_axis(0, 3, "t"), 0);
  EXPECT_THROW(normalize_axis(3, 3, "t"), IndexError);
  EXPECT_THROW(normalize_axis(-4, 3, "t"), IndexError);
}
