#include <gtest/gtest.h>

#include "allocation_counter.hpp"
#include "isa.hpp"
#include "reference.hpp"

using namespace stheno;
using namespace stheno::testing;

namespace {

// Naive float64 matmul over broadcast batch axes, on (..., m, k) and (..., k, n) operands.
Tensor reference_matmul(const Tensor& a, const Tensor& b) {
  const Shape out_shape = matmul_shape(a.shape(), b.shape());
  const Tensor a2 = a.rank() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.rank() == 1 ? b.unsqueeze(1) : b;
  const std::int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1);
  Shape batch(out_shape.span().first(static_cast<std::size_t>(
      std::max(a2.rank(), b2.rank()) - 2)));
  Shape ea = batch, eb = batch, full = batch;
  ea.push_back(m), ea.push_back(k), eb.push_back(k), eb.push_back(n), full.push_back(m), full.push_back(n);
  const Tensor pa = a2.expand(ea), pb = b2.expand(eb);
  Tensor out = Tensor::zeros(full, DType::f64);
  for_each_index(full, [&](const std::vector<std::int64_t>& idx) {
    std::vector<std::int64_t> ia = idx, ib = idx;
    double s = 0;
    for (std::int64_t p = 0; p < k; ++p) {
      ia.back() = p;
      ia[ia.size() - 2] = idx[idx.size() - 2];
      ib[ib.size() - 2] = p;
      ib.back() = idx.back();
      s += pa.at(ia) * pb.at(ib);
    }
    std::int64_t pos = 0;
    for (int d = 0; d < full.rank(); ++d) pos = pos * full[d] + idx[static_cast<std::size_t>(d)];
    out.data<double>()[pos] = s;
  });
  return out.reshape(out_shape);
}

void expect_close_to_reference(const Tensor& got, const Tensor& a, const Tensor& b) {
  const Tensor want = reference_matmul(a, b);
  ASSERT_EQ(got.shape(), want.shape());
  const std::int64_t k = a.shape().back();
  const double tol = (a.dtype() == DType::f32 ? 2e-6 : 1e-14) * static_cast<double>(std::max<std::int64_t>(k, 1));
  const auto g = values(got), w = values(want);
  for (std::size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], w[i], tol * 4) << "element " << i;
}

}  // namespace

TEST(Matmul, TwoDimensionalAllLayoutsAndOddSizes) {
  Generator gen(31);
  for (DType dtype : {DType::f32, DType::f64})
    for (auto [m, k, n] : {std::array<std::int64_t, 3>{1, 1, 1}, {10, 784, 30}, {7, 13, 5}, {33, 1, 17}, {1, 64, 1},
                           {65, 65, 65}, {0, 4, 3}, {3, 0, 4}, {4, 3, 0}})
      for (int la : {0, 1, 2})
        for (int lb : {0, 1, 2}) {
          SCOPED_TRACE(std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) + " " + layout_name(la) +
                       "/" + layout_name(lb) + " " + std::string(dtype_name(dtype)));
          const Tensor a = random_tensor({m, k}, dtype, gen, la);
          const Tensor b = random_tensor({k, n}, dtype, gen, lb);
          expect_close_to_reference(matmul(a, b), a, b);
        }
}

// The register-blocked kernel that takes products with few rows or a short inner axis: every
// row-block size, full and partial column tiles (narrower than a vector, and wider, whose last
// vector overlaps the one before it, in 2-vector and in wide tiles: 150 columns), B as a slice of
// wider rows (its rows' overhang read but never used), as a narrow matrix (padded) and
// transposed (copied into rows), A row-major and transposed, and accumulation into C, on every
// instruction set.
TEST(Matmul, FewRowProductsOnEveryInstructionSet) {
  Generator gen(37);
  const std::string original(cpu::simd().isa);
  for (const std::string& isa : supported_isas()) {
    cpu::use_isa(isa);
    for (DType dtype : {DType::f32, DType::f64})
      for (std::int64_t m : {1, 2, 3, 5, 7, 12, 13, 16, 40})
        for (std::int64_t n : {1, 7, 8, 15, 17, 30, 32, 33, 70, 150})
          for (std::int64_t k : {1, 3, 10, 12, 40})  // short axes: B's rows held in 10 or 12 registers
            for (int lb : {0, 1, 2}) {
              const int la = (m + n) % 2 ? 2 : 0;  // A row-major or transposed: both kernel layouts
              SCOPED_TRACE(isa + " " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) +
                           " a " + layout_name(la) + " b " + (lb == 1 ? "slice" : layout_name(lb)) + " " + std::string(dtype_name(dtype)));
              const Tensor a = random_tensor({m, k}, dtype, gen, la);
              const Tensor wide = random_tensor({k, n + 5}, dtype, gen);
              const Tensor b = lb == 1 ? wide.slice(1, 2, 2 + n) : random_tensor({k, n}, dtype, gen, lb);
              expect_close_to_reference(matmul(a, b), a, b);
              for (double beta : {0.5, 1.0}) {  // C scaled, and C added as it is
                const Tensor c = Tensor::full({m, n}, 3.0, dtype);
                matmul(a, b, c, 2.0, beta);
                const Tensor want = add(mul(reference_matmul(a, b), Tensor::scalar(2.0).to(DType::f64)), Tensor::scalar(3 * beta).to(DType::f64));
                ASSERT_TRUE(allclose(c, want, 1e-5 * static_cast<double>(k), 1e-5)) << "alpha 2, beta " << beta;
              }
            }
  }
  cpu::use_isa(original);
}

TEST(Matmul, TransposedOperandsAreNotCopied) {
  // A transposed view has unit stride on its first axis: BLAS reads it as is. The result is
  // checked; the layout rule itself is what makes t() free.
  Generator gen(32);
  const Tensor w = Tensor::normal({30, 784}, gen, 0, 1, DType::f64);
  const Tensor x = Tensor::normal({10, 784}, gen, 0, 1, DType::f64);
  expect_close_to_reference(matmul(x, w.t()), x, w.t());
  expect_close_to_reference(matmul(w.t().t(), x.t()), w, x.t());
}

TEST(Matmul, BatchedWithBroadcastBatchAxes) {
  Generator gen(33);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4, 5}, {3, 5, 2}}, {{3, 4, 5}, {5, 2}}, {{4, 5}, {2, 5, 3}}, {{2, 1, 4, 5}, {3, 5, 6}}, {{0, 4, 5}, {5, 2}},
      {{5}, {3, 5, 2}}, {{3, 4, 5}, {5}}, {{6}, {6}}, {{6}, {6, 2}}, {{2, 6}, {6}}};
  for (DType dtype : {DType::f32, DType::f64})
    for (const auto& [sa, sb] : cases)
      for (int layout : {0, 2}) {
        SCOPED_TRACE(sa.str() + " x " + sb.str() + " " + layout_name(layout));
        const Tensor a = random_tensor(sa, dtype, gen, layout);
        const Tensor b = random_tensor(sb, dtype, gen, layout);
        expect_close_to_reference(matmul(a, b), a, b);
      }
}

TEST(Matmul, AlphaBetaAccumulateIntoOut) {
  const Tensor a = Tensor::from<double>({1, 2, 3, 4}, {2, 2});
  const Tensor b = Tensor::from<double>({1, 0, 0, 1}, {2, 2});
  const Tensor out = Tensor::ones({2, 2}, DType::f64);
  matmul(a, b, out, 2.0, 1.0);
  EXPECT_EQ(values(out), (std::vector<double>{3, 5, 7, 9}));
  // A strided out (a column slice) and an out that aliases an input both work.
  const Tensor wide = Tensor::zeros({2, 4}, DType::f64);
  matmul(a, b, wide.slice(1, 0, 4, 2));
  EXPECT_EQ(values(wide), (std::vector<double>{1, 0, 2, 0, 3, 0, 4, 0}));
  const Tensor c = a.clone();
  matmul(c, c, c);
  EXPECT_EQ(values(c), (std::vector<double>{7, 10, 15, 22}));
  // k = 0 scales out by beta.
  const Tensor z = Tensor::full({2, 2}, 3.0, DType::f64);
  matmul(Tensor::zeros({2, 0}, DType::f64), Tensor::zeros({0, 2}, DType::f64), z, 1.0, 0.5);
  EXPECT_EQ(values(z), (std::vector<double>{1.5, 1.5, 1.5, 1.5}));
}

TEST(Matmul, MatvecAndOuter) {
  const Tensor a = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor x = Tensor::from<float>({1, 0, -1});
  EXPECT_EQ(values(matvec(a, x)), (std::vector<double>{-2, -2}));
  EXPECT_EQ(values(matvec(a.t(), Tensor::from<float>({1, 1}))), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(values(outer(Tensor::from<float>({1, 2}), x)), (std::vector<double>{1, 0, -1, 2, 0, -2}));
  EXPECT_THROW(matvec(x, a), ShapeError);
  EXPECT_THROW(outer(a, x), ShapeError);
}

TEST(Matmul, ErrorsNameBothShapes) {
  try {
    matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5}));
    FAIL();
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("(2, 3)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(4, 5)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("matmul"), std::string::npos) << msg;
  }
  EXPECT_THROW(matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}, DType::f64)), DTypeError);
  EXPECT_THROW(matmul(Tensor::zeros({2, 3}, DType::i32), Tensor::zeros({3, 2}, DType::i32)), DTypeError);
  EXPECT_THROW(matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 2})), ShapeError);
  EXPECT_THROW(matmul(Tensor::scalar(1), Tensor::zeros({1})), ShapeError);
  EXPECT_THROW(matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}), Tensor::zeros({2, 3})), ShapeError);
}

// Narrow products are where BLAS small-matrix kernels may allocate per call; every shape a
// training step meets must allocate nothing.
TEST(Matmul, NarrowProductsAllocateNothing) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build: allocator not replaceable";
  Generator gen(9);
  for (DType dt : {DType::f32, DType::f64})
    for (std::int64_t m : {1, 10, 64})
      for (std::int64_t k : {16, 32, 64, 130})
        for (std::int64_t n = 1; n <= 40; ++n)
          for (bool transposed_b : {false, true})
            for (double beta : {0.0, 1.0}) {
              const Tensor a = Tensor::normal({m, k}, gen, 0, 1, dt);
              const Tensor b = transposed_b ? Tensor::normal({n, k}, gen, 0, 1, dt).t() : Tensor::normal({k, n}, gen, 0, 1, dt);
              const Tensor c = Tensor::zeros({m, n}, dt);
              matmul(a, b, c, 1.0, beta);
              stheno::testing::AllocationCounter counter;
              matmul(a, b, c, 1.0, beta);
              ASSERT_EQ(counter.count(), 0) << dtype_name(dt) << " " << m << "x" << k << "x" << n
                                            << (transposed_b ? " (B transposed)" : "") << " beta " << beta;
            }
}
