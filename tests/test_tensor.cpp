#include <gtest/gtest.h>

#include <cmath>

#include "allocation_counter.hpp"
#include "reference.hpp"

using namespace stheno;
using stheno::testing::values;

TEST(Tensor, Creation) {
  const Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.dtype(), DType::f32);
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(z), std::vector<double>(6, 0.0));
  EXPECT_EQ(values(Tensor::ones({2}, DType::i32)), (std::vector<double>{1, 1}));
  EXPECT_EQ(values(Tensor::full({3}, 2.5, DType::f64)), (std::vector<double>{2.5, 2.5, 2.5}));
  EXPECT_EQ(values(Tensor::arange(1, 2, 0.25, DType::f64)), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(Tensor::arange(5, 0).numel(), 0);
  EXPECT_EQ(values(Tensor::arange(3, 0, -1, DType::i32)), (std::vector<double>{3, 2, 1}));
  const Tensor s = Tensor::scalar(4.0, DType::f64);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.item<double>(), 4.0);
  const Tensor f = Tensor::from<float>({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  EXPECT_EQ(f.at({1, 2}), 6.0);
  EXPECT_EQ(Tensor::empty({0, 4}).numel(), 0);
}

TEST(Tensor, CreationErrors) {
  EXPECT_THROW(Tensor::from<float>({1.f, 2.f}, {3}), ShapeError);
  EXPECT_THROW(Tensor::arange(0, 1, 0), ValueError);
  EXPECT_THROW(Tensor::empty({2, -1}), ShapeError);
  EXPECT_THROW(Tensor::zeros({2}).item<float>(), ShapeError);
  EXPECT_THROW(Tensor::zeros({2}).data<double>(), DTypeError);
  EXPECT_THROW(Tensor::zeros({2}).at({2}), IndexError);
  EXPECT_THROW(Tensor::zeros({2}).at({0, 0}), IndexError);
  EXPECT_THROW(Tensor().clone(), ValueError);
}

TEST(Tensor, RunningOutOfMemoryNamesWhatWasAsked) {
  // The sanitizers' allocator aborts on a request this size instead of failing it.
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build";
  try {
    Tensor::empty({1LL << 40, 1024});
    FAIL() << "4.5 PB were allocated";
  } catch (const OutOfMemoryError& e) {
    EXPECT_EQ(std::string(e.what()), "out of memory: could not allocate 4503599.6 GB for a float32 tensor of shape (1099511627776, 1024)");
  }
}

TEST(Tensor, BorrowSharesExternalMemory) {
  double buffer[4] = {1, 2, 3, 4};
  const Tensor t = Tensor::borrow(buffer, {2, 2}, DType::f64);
  t.fill(7);
  EXPECT_EQ(buffer[3], 7);
}

TEST(Tensor, StorageIsAligned) {
  const Tensor t = Tensor::empty({13});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data<float>()) % Storage::kAlignment, 0u);
}

TEST(Tensor, CopiesShareOrOwnStorage) {
  const Tensor a = Tensor::arange(0, 4);
  const Tensor shared = a;
  const Tensor copy = a.clone();
  a.fill(9);
  EXPECT_EQ(shared.at({0}), 9);
  EXPECT_EQ(copy.at({0}), 0);
  EXPECT_TRUE(shared.shares_storage(a));
  EXPECT_FALSE(copy.shares_storage(a));
}

TEST(Tensor, ConversionBetweenDtypes) {
  const Tensor x = Tensor::from<double>({1.75, -2.5, NAN, 1e12, -1e12});
  EXPECT_EQ(values(x.to(DType::i32)), (std::vector<double>{1, -2, 0, 2147483647.0, -2147483648.0}));
  const Tensor y = Tensor::from<std::int32_t>({3, -4}).to(DType::f32);
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_EQ(values(y), (std::vector<double>{3, -4}));
  EXPECT_EQ(x.to(DType::f64).storage(), x.storage());  // same dtype: no copy
  EXPECT_EQ(Tensor::from<float>({0.5f}).to_vector<double>(), std::vector<double>{0.5});
}

// int64 holds sparse indices: stored, copied and converted exactly, refused by arithmetic.
TEST(Tensor, Int64IsStoredExactlyConvertedSaturatingAndRefusedByArithmetic) {
  const std::int64_t big = (std::int64_t{1} << 53) + 1;  // not a double
  const Tensor x = Tensor::from<std::int64_t>({big, -3, INT64_MAX});
  EXPECT_EQ(x.dtype(), DType::i64);
  EXPECT_EQ(itemsize(DType::i64), 8u);
  EXPECT_EQ(x.slice(0, 0, 1).item<std::int64_t>(), big);
  EXPECT_EQ(x.clone().to_vector<std::int64_t>(), (std::vector<std::int64_t>{big, -3, INT64_MAX}));
  EXPECT_EQ(x.to(DType::i32).to_vector<std::int32_t>(), (std::vector<std::int32_t>{INT32_MAX, -3, INT32_MAX}));
  EXPECT_EQ(Tensor::from<double>({NAN, -1e30, 2.5}).to(DType::i64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{0, INT64_MIN, 2}));
  EXPECT_EQ(Tensor::from<std::int32_t>({-7}).to(DType::i64).item<std::int64_t>(), -7);
  EXPECT_NE(x.str().find("int64"), std::string::npos);
  EXPECT_THROW(add(x, x), DTypeError);
  Graph g;
  const Node n = g.input("offsets", Shape{3}, DType::i64);
  try {
    (void)(n + n);
    ADD_FAILURE() << "int64 arithmetic in a graph was accepted";
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("offsets"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("int64 holds sparse matrix indices"), std::string::npos) << e.what();
  }
}

TEST(Tensor, CopyFromBroadcastsAndConverts) {
  const Tensor dst = Tensor::zeros({2, 3}, DType::f64);
  dst.copy_from(Tensor::from<std::int32_t>({1, 2, 3}));
  EXPECT_EQ(values(dst), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(dst.copy_from(Tensor::zeros({2})), ShapeError);
}

TEST(Tensor, CopyFromAnOverlappingViewIsSafe) {
  const Tensor m = Tensor::arange(0, 9, 1, DType::f64).reshape({3, 3});
  m.copy_from(m.t());
  EXPECT_EQ(values(m), (std::vector<double>{0, 3, 6, 1, 4, 7, 2, 5, 8}));
  const Tensor v = Tensor::arange(0, 5, 1, DType::f64);
  v.slice(0, 1, 5).copy_from(v.slice(0, 0, 4));  // shifted overlap
  EXPECT_EQ(values(v), (std::vector<double>{0, 0, 1, 2, 3}));
}

TEST(Tensor, FillOnAStridedViewTouchesOnlyTheView) {
  const Tensor m = Tensor::zeros({3, 4}, DType::i32);
  m.slice(1, 0, 4, 2).fill(5);
  EXPECT_EQ(values(m), (std::vector<double>{5, 0, 5, 0, 5, 0, 5, 0, 5, 0, 5, 0}));
}
