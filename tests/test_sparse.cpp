// Sparse matrices: the CSR type's construction and checks, the products against dense ones on
// every instruction set and thread count, and sparse inputs in both machines.
#include <gtest/gtest.h>

#include <algorithm>

#include "allocation_counter.hpp"
#include "isa.hpp"
#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

Tensor ints(std::vector<std::int32_t> v) { return Tensor::from<std::int32_t>(v); }

// A random rows × cols matrix with about `density` of its entries stored, in `dtype`.
CsrMatrix random_csr(std::int64_t rows, std::int64_t cols, double density, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  const Tensor u = Tensor::uniform({rows, cols}, gen, 0, 1, DType::f64);
  const Tensor v = Tensor::uniform({rows, cols}, gen, -1, 1, DType::f64);
  const Tensor dense = Tensor::zeros({rows, cols}, DType::f64);
  for (std::int64_t i = 0; i < rows * cols; ++i)
    if (u.data<double>()[i] < density) dense.data<double>()[i] = v.data<double>()[i];
  return CsrMatrix::from_dense(dense.to(dtype));
}

double scalar_of(const Tensor& t) { return t.to(DType::f64).item<double>(); }

double max_difference(const Tensor& a, const Tensor& b) {
  return scalar_of(max(abs(sub(a.to(DType::f64), b.to(DType::f64)))));
}

}  // namespace

TEST(Csr, TripletsAreSortedAndRepeatsSummed) {
  const CsrMatrix m = CsrMatrix::from_triplets(3, 4, std::vector<std::int32_t>{2, 0, 2, 0, 2},
                                               std::vector<std::int32_t>{3, 1, 0, 1, 3},
                                               std::vector<double>{1, 2, 3, 4, 5});
  EXPECT_EQ(m.nnz(), 3);
  EXPECT_EQ(m.row_offsets().str(), ints({0, 1, 1, 3}).str());
  EXPECT_EQ(m.columns().str(), ints({1, 0, 3}).str());
  EXPECT_EQ(m.values().str(), Tensor::from<float>({6, 3, 6}).str());
  const Tensor expected = Tensor::from<float>({0, 6, 0, 0, 0, 0, 0, 0, 3, 0, 0, 6}, {3, 4});
  EXPECT_TRUE(allclose(m.to_dense(), expected, 0, 0));
  EXPECT_DOUBLE_EQ(m.density(), 0.25);
}

TEST(Csr, DenseRoundTripsAndPrints) {
  const CsrMatrix m = random_csr(7, 9, 0.3, DType::f64, 1);
  EXPECT_TRUE(allclose(CsrMatrix::from_dense(m.to_dense()).to_dense(), m.to_dense(), 0, 0));
  EXPECT_EQ(m.dtype(), DType::f64);
  const std::string s = CsrMatrix::from_triplets(2, 3, std::vector<std::int32_t>{1}, std::vector<std::int32_t>{2},
                                                 std::vector<double>{0.5})
                            .str();
  EXPECT_EQ(s, "csr (2, 3) float32, 1 stored (16.7%)\n  row 0:\n  row 1: 2:0.5");
  const CsrMatrix part = m.rows_slice(2, 5);
  EXPECT_EQ(part.rows(), 3);
  EXPECT_TRUE(allclose(part.to_dense(), m.to_dense().slice(0, 2, 5), 0, 0));
}

TEST(Csr, UnsortedColumnsInArraysAreSorted) {
  const CsrMatrix m = CsrMatrix::from_arrays(2, 5, ints({0, 3, 4}), ints({4, 0, 4, 2}), Tensor::from<float>({1, 2, 3, 4}));
  EXPECT_EQ(m.columns().str(), ints({0, 4, 2}).str());
  EXPECT_EQ(m.values().str(), Tensor::from<float>({2, 4, 4}).str());
  EXPECT_EQ(m.row_offsets().str(), ints({0, 2, 3}).str());
}

TEST(Csr, BadArraysAreRejectedNamingTheRow) {
  const Tensor v3 = Tensor::from<float>({1, 2, 3});
  EXPECT_NE(error_of([&] { CsrMatrix::from_arrays(2, 4, ints({0, 2, 3}), ints({0, 4, 1}), v3); })
                .find("row 0 has column 4, outside [0, 4)"), std::string::npos);
  EXPECT_NE(error_of([&] { CsrMatrix::from_arrays(2, 4, ints({0, 2, 1}), ints({0, 1, 1}), v3); })
                .find("row 1 ends (offset 1) before it starts (offset 2)"), std::string::npos);
  EXPECT_NE(error_of([&] { CsrMatrix::from_arrays(2, 4, ints({1, 2, 3}), ints({0, 1, 1}), v3); })
                .find("must start at 0"), std::string::npos);
  EXPECT_NE(error_of([&] { CsrMatrix::from_arrays(2, 4, ints({0, 2, 5}), ints({0, 1, 1}), v3); })
                .find("row 1 ends at offset 5, past the 3 stored entries"), std::string::npos);
  EXPECT_NE(error_of([&] { CsrMatrix::from_arrays(2, 4, ints({0, 1, 2}), ints({0, 1, 1}), v3); })
                .find("the last row ends at offset 2, but 3 entries are stored"), std::string::npos);
  EXPECT_NE(error_of([&] { CsrMatrix::from_arrays(3, 4, ints({0, 1, 2}), ints({0, 1, 1}), v3); })
                .find("rows + 1 = 4"), std::string::npos);
  EXPECT_NE(error_of([&] {
              CsrMatrix::from_triplets(2, 2, std::vector<std::int32_t>{0, 2}, std::vector<std::int32_t>{0, 0},
                                       std::vector<double>{1, 1});
            }).find("triplet 1 has row 2"), std::string::npos);
  EXPECT_THROW(CsrMatrix::from_arrays(1, 2, ints({0, 1}), ints({0}), ints({1})), DTypeError);
}

// Every product against the dense one, on every kernel table, at 1 and 2 threads; the results
// are identical at both thread counts. Widths cover partial vectors and partial tiles.
TEST(SparseKernels, MatchDenseProductsOnEveryInstructionSet) {
  const int threads_before = num_threads();
  for (const std::string& isa : stheno::testing::supported_isas()) {
    cpu::use_isa(isa);
    for (DType dtype : {DType::f32, DType::f64}) {
      const double tolerance = dtype == DType::f32 ? 1e-5 : 1e-12;
      for (std::int64_t n : {1, 5, 16, 64, 67, 130}) {
        const CsrMatrix a = random_csr(37, 53, 0.1, dtype, static_cast<std::uint64_t>(n));
        Generator gen(static_cast<std::uint64_t>(n) + 100);
        const Tensor b = Tensor::uniform({53, n}, gen, -1, 1, dtype), g = Tensor::uniform({37, n}, gen, -1, 1, dtype);
        const Tensor ad = a.to_dense();
        Tensor first[3];
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          const Tensor ab = csr_matmul(a, b), atg = csr_t_matmul(a, g);
          const Tensor sampled = Tensor::empty({a.nnz()}, dtype);
          csr_sampled_dot(a.row_offsets(), a.columns(), g, b, sampled);
          const std::string where = isa + " " + std::string(dtype_name(dtype)) + " n=" + std::to_string(n);
          EXPECT_LT(max_difference(ab, matmul(ad, b)), tolerance) << where;
          EXPECT_LT(max_difference(atg, matmul(ad.t(), g)), tolerance) << where;
          // g·bᵀ read at the stored entries.
          const Tensor full = matmul(g, b.t());
          double worst = 0;
          for (std::int64_t r = 0; r < a.rows(); ++r)
            for (std::int64_t k = a.row_offsets().data<std::int32_t>()[r]; k < a.row_offsets().data<std::int32_t>()[r + 1]; ++k)
              worst = std::max(worst, std::abs(sampled.at({k}) - full.at({r, a.columns().data<std::int32_t>()[k]})));
          EXPECT_LT(worst, tolerance) << where;
          const Tensor results[3] = {ab, atg, sampled};
          for (int i = 0; i < 3; ++i) {
            if (threads == 1) first[i] = results[i];
            else EXPECT_TRUE(allclose(results[i], first[i], 0, 0)) << where << " differs between 1 and 2 threads";
          }
        }
      }
    }
  }
  set_num_threads(threads_before);
}

// Past a core's L2 cache, B's rows are taken in blocks and C's rows in chunks (several of each
// here, and tiles of columns with partial vectors); the result is the same.
TEST(SparseKernels, LargeOperandsAreTakenInBlocks) {
  const int threads_before = num_threads();
  for (DType dtype : {DType::f32, DType::f64}) {
    const CsrMatrix a = random_csr(1100, 5000, 0.01, dtype, 11);
    Generator gen(12);
    const Tensor b = Tensor::uniform({5000, 130}, gen, -1, 1, dtype);
    const Tensor expected = matmul(a.to_dense(), b);
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      EXPECT_LT(max_difference(csr_matmul(a, b), expected), dtype == DType::f32 ? 1e-5 : 1e-12) << dtype_name(dtype);
    }
  }
  set_num_threads(threads_before);
}

TEST(SparseKernels, DenseOperandsMayBeRowSlicesOfWiderMatrices) {
  const CsrMatrix a = random_csr(6, 8, 0.4, DType::f32, 3);
  Generator gen(4);
  const Tensor wide = Tensor::uniform({8, 40}, gen);
  const Tensor b = wide.slice(1, 3, 30), out = Tensor::zeros({6, 40}).slice(1, 5, 32);
  csr_matmul(a.row_offsets(), a.columns(), a.values(), b, out);
  EXPECT_LT(max_difference(out, matmul(a.to_dense(), b)), 1e-5);
}

// Room past the stored entries holds anything (here a column far out of range): never read.
TEST(SparseKernels, SpareRoomIsNeverRead) {
  const Tensor offsets = ints({0, 1, 2}), columns = ints({1, 0, -7, 1000}), values = Tensor::from<float>({2, 3, 9, 9});
  const Tensor b = Tensor::from<float>({1, 2, 3, 4}, {2, 2});
  EXPECT_TRUE(allclose(Tensor::from<float>({6, 8, 3, 6}, {2, 2}), [&] {
    const Tensor out = Tensor::empty({2, 2});
    csr_matmul(offsets, columns, values, b, out);
    return out;
  }(), 0, 0));
  const Tensor sampled = Tensor::full({4}, 5.0);
  csr_sampled_dot(offsets, columns, b, b, sampled);
  EXPECT_EQ(sampled.str(), Tensor::from<float>({11, 11, 0, 0}).str());
}

TEST(SparseKernels, BadArraysAreAnErrorNamingTheRow) {
  const Tensor b = Tensor::ones({3, 4}), out = Tensor::empty({2, 4}), values = Tensor::ones({3});
  EXPECT_NE(error_of([&] { csr_matmul(ints({0, 1, 3}), ints({0, 2, 3}), values, b, out); })
                .find("row 1 has column 3, outside [0, 3)"), std::string::npos);
  EXPECT_NE(error_of([&] { csr_matmul(ints({0, 2, 1}), ints({0, 2, 1}), values, b, out); })
                .find("row 1 spans entries [2, 1)"), std::string::npos);
  EXPECT_NE(error_of([&] { csr_matmul(ints({0, 1, 9}), ints({0, 2, 1}), values, b, out); })
                .find("row 1 spans entries [1, 9)"), std::string::npos);
  EXPECT_NE(error_of([&] { csr_matmul(ints({0, -4, 2}), ints({0, 2, 1}), values, b, out); })
                .find("row 0 spans entries [0, -4)"), std::string::npos);
  const Tensor t_out = Tensor::empty({3, 4}), g = Tensor::ones({2, 4});
  EXPECT_NE(error_of([&] { csr_t_matmul(ints({0, 1, 3}), ints({0, 5, 1}), values, g, t_out); })
                .find("row 1 has column 5"), std::string::npos);
  EXPECT_NE(error_of([&] { csr_matmul(ints({0, 1, 3}), ints({0, 2, 1}), values, Tensor::ones({3, 4}, DType::f64), out); })
                .find("dense operand"), std::string::npos);
  EXPECT_NE(error_of([&] { csr_matmul(ints({0, 1, 3}), ints({0, 2, 1}), values, b.t(), out); })
                .find("unit-stride rows"), std::string::npos);
}

// A sparse input of fixed room takes matrices with different numbers of entries, run after run,
// and the gradients flow to the dense weight (and to the values, when asked) as through the
// dense product; after the first run, nothing is allocated.
TEST(SparseGraph, TapeMachineTakesMatricesOfAnySizeUpToItsRoom) {
  Graph g;
  Generator gen(5);
  const CsrNode x = csr_input(g, "x", 12, 30, 80);
  const Node w = g.parameter("w", Tensor::normal({30, 6}, gen));
  const Node y = sparse_matmul(x, w);
  const Node cost = sum(tanh(y));
  const std::vector<Node> grads = grad(cost, {w, x.values});
  TapeMachine m(g, {cost, grads[0], grads[1]});
  EXPECT_NE(m.listing().find("csr_matmul"), std::string::npos);
  const CsrMatrix batches[] = {random_csr(12, 30, 0.2, DType::f32, 6), random_csr(12, 30, 0.05, DType::f32, 7),
                               CsrMatrix::from_dense(Tensor::zeros({12, 30}))};
  for (const CsrMatrix& batch : batches) {
    ASSERT_LE(batch.nnz(), 80);
    m.let(x, batch);
    m.run();
    Graph d(Graph::Mode::eager);
    const Node dw = d.parameter("w", w.value()), dx = d.parameter("x", batch.to_dense());
    const Node dcost = sum(tanh(matmul(dx, dw)));
    const std::vector<Node> dgrads = grad(dcost, {dw, dx});
    EXPECT_NEAR(scalar_of(m.value(cost)), scalar_of(dcost.value()), 1e-4);
    EXPECT_LT(max_difference(m.value(grads[0]), dgrads[0].value()), 1e-5);
    // The values' gradient is the dense gradient at the stored entries, and 0 in the spare room.
    const Tensor dv = m.value(grads[1]);
    for (std::int64_t r = 0, k = 0; r < 12; ++r)
      for (; k < batch.row_offsets().data<std::int32_t>()[r + 1]; ++k)
        EXPECT_NEAR(dv.at({k}), dgrads[1].value().at({r, batch.columns().data<std::int32_t>()[k]}), 1e-5);
    for (std::int64_t k = batch.nnz(); k < 80; ++k) EXPECT_EQ(dv.at({k}), 0.0);
  }
  if (!stheno::testing::allocation_counting_available()) return;
  const int threads_before = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    m.run();
    stheno::testing::AllocationCounter counter;
    for (int i = 0; i < 6; ++i) {
      m.let(x, batches[i % 2]);
      m.run();
    }
    EXPECT_EQ(counter.count(), 0) << "allocations in 6 runs at " << threads << " threads";
  }
  set_num_threads(threads_before);
}

TEST(SparseGraph, LetChecksTheMatrixAgainstTheInput) {
  Graph g;
  const CsrNode x = csr_input(g, "x", 4, 10, 3);
  const Node y = sparse_matmul(x, g.parameter("w", Tensor::ones({10, 2})));
  TapeMachine m(g, {y});
  EXPECT_NE(error_of([&] { m.let(x, random_csr(4, 10, 0.9, DType::f32, 1)); }).find("room for 3"), std::string::npos);
  EXPECT_NE(error_of([&] { m.let(x, random_csr(5, 10, 0.0, DType::f32, 1)); }).find("is (4, 10) float32, the matrix csr (5, 10)"),
            std::string::npos);
  EXPECT_THROW(m.let(x, random_csr(4, 10, 0.1, DType::f64, 1)), ShapeError);
  EXPECT_NE(error_of([&] { sparse_matmul(x, g.parameter("v", Tensor::ones({9, 2}))); }).find("has 10 columns"),
            std::string::npos);
}

TEST(SparseGraph, EagerGraphsTakeASparseConstant) {
  Graph g(Graph::Mode::eager);
  const CsrMatrix a = random_csr(5, 7, 0.3, DType::f64, 9);
  Generator gen(10);
  const Node w = g.parameter("w", Tensor::normal({7, 3}, gen, 0, 1, DType::f64));
  const Node y = sparse_matmul(csr_constant(g, a), w);
  EXPECT_LT(max_difference(y.value(), matmul(a.to_dense(), w.value())), 1e-12);
  const Node dw = grad(sum(y * y), {w})[0];
  EXPECT_LT(max_difference(dw.value(), mul(matmul(a.to_dense().t(), y.value()), Tensor::scalar(2.0, DType::f64))), 1e-12);
}
