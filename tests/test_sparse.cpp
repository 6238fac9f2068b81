// Sparse matrices: the CSR type's construction and checks, the products against dense ones on
// every instruction set and thread count, and sparse inputs in both machines.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <tuple>

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

TEST(Csr, Int64IndicesHoldTheSameMatrixAsInt32) {
  const std::vector<std::int32_t> r32{2, 0, 2, 0, 2}, c32{3, 1, 0, 1, 3};
  const std::vector<std::int64_t> r64(r32.begin(), r32.end()), c64(c32.begin(), c32.end());
  const std::vector<double> v{1, 2, 3, 4, 5};
  const CsrMatrix a = CsrMatrix::from_triplets(3, 4, r32, c32, v), b = CsrMatrix::from_triplets(3, 4, r64, c64, v);
  EXPECT_EQ(a.index_dtype(), DType::i32);
  EXPECT_EQ(b.index_dtype(), DType::i64);
  EXPECT_EQ(b.row_offsets().dtype(), DType::i64);
  EXPECT_EQ(b.columns().to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0, 3}));
  EXPECT_TRUE(allclose(a.to_dense(), b.to_dense(), 0, 0));
  EXPECT_EQ(b.str(), a.str().insert(a.str().find('\n'), ", int64 indices"));
  EXPECT_TRUE(allclose(b.rows_slice(1, 3).to_dense(), a.to_dense().slice(0, 1, 3), 0, 0));
  EXPECT_EQ(b.rows_slice(1, 3).index_dtype(), DType::i64);
  const CsrMatrix narrowed = b.with_index_dtype(DType::i32), dense64 = CsrMatrix::from_dense(a.to_dense(), DType::i64);
  EXPECT_EQ(narrowed.index_dtype(), DType::i32);
  EXPECT_EQ(narrowed.str(), a.str());
  EXPECT_EQ(dense64.index_dtype(), DType::i64);
  EXPECT_EQ(dense64.str(), b.str());
  // Unsorted, repeated columns in int64 arrays are sorted and summed as in int32 ones.
  const CsrMatrix u = CsrMatrix::from_arrays(2, 5, Tensor::from<std::int64_t>({0, 3, 4}),
                                             Tensor::from<std::int64_t>({4, 0, 4, 2}), Tensor::from<float>({1, 2, 3, 4}));
  EXPECT_EQ(u.columns().to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 4, 2}));
  EXPECT_EQ(u.values().to_vector<float>(), (std::vector<float>{2, 4, 4}));
  const Tensor v3 = Tensor::from<float>({1, 2, 3});
  EXPECT_NE(error_of([&] {
              CsrMatrix::from_arrays(2, 4, Tensor::from<std::int64_t>({0, 2, 3}), Tensor::from<std::int64_t>({0, 4, 1}), v3);
            }).find("row 0 has column 4, outside [0, 4)"), std::string::npos);
  EXPECT_NE(error_of([&] { CsrMatrix::from_arrays(2, 4, ints({0, 2, 3}), Tensor::from<std::int64_t>({0, 1, 1}), v3); })
                .find("must both be int32 or both int64, got int32 and int64"), std::string::npos);
  EXPECT_THROW(CsrMatrix::from_dense(a.to_dense(), DType::f32), DTypeError);
}

// int64 indices address what int32 ones cannot: columns and rows past 2^31 - 1.
TEST(Csr, Int64IndicesAddressPastInt32AndNarrowingIsChecked) {
  const std::int64_t cols = std::int64_t{3} << 30;  // 3·2^30 > 2^31 - 1
  const CsrMatrix wide = CsrMatrix::from_triplets(2, cols, std::vector<std::int64_t>{1, 0},
                                                  std::vector<std::int64_t>{cols - 1, 5}, std::vector<double>{0.5, 2});
  EXPECT_EQ(wide.cols(), cols);
  EXPECT_EQ(wide.columns().to_vector<std::int64_t>(), (std::vector<std::int64_t>{5, cols - 1}));
  EXPECT_NE(wide.str().find("row 1: " + std::to_string(cols - 1) + ":0.5"), std::string::npos) << wide.str();
  EXPECT_NE(error_of([&] { (void)wide.with_index_dtype(DType::i32); }).find("use int64 indices"), std::string::npos);
  EXPECT_NE(error_of([&] {
              CsrMatrix::from_arrays(1, cols, ints({0, 1}), ints({0}), Tensor::from<float>({1}));
            }).find("more rows, columns or entries than int32 indices can address"), std::string::npos);
  // A product with a sparse operand this wide needs a dense operand of 3·2^30 rows; the column set
  // (row sets are int32) refuses the table by name instead of writing wrong rows.
  Tensor set = Tensor::empty({4}, DType::i32);
  EXPECT_NE(error_of([&] { csr_column_set(wide.row_offsets(), wide.columns(), wide.cols(), set); })
                .find("past what int32 row sets can address"), std::string::npos);
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

// The int64 kernels are the int32 ones with wider indices: the same bits on every instruction set,
// in small and blocked products, and the same errors naming the row.
TEST(SparseKernels, Int64IndicesGiveTheSameBitsAsInt32OnEveryInstructionSet) {
  const int threads_before = num_threads();
  set_num_threads(2);
  for (const std::string& isa : stheno::testing::supported_isas()) {
    cpu::use_isa(isa);
    for (DType dtype : {DType::f32, DType::f64})
      for (const auto& [rows, cols, n] : {std::tuple{37, 53, 67}, std::tuple{1100, 5000, 130}}) {
        const CsrMatrix a = random_csr(rows, cols, 0.02, dtype, 21), w = a.with_index_dtype(DType::i64);
        Generator gen(22);
        const Tensor b = Tensor::uniform({cols, n}, gen, -1, 1, dtype), g = Tensor::uniform({rows, n}, gen, -1, 1, dtype);
        const std::string where = isa + " " + std::string(dtype_name(dtype)) + " " + std::to_string(rows);
        EXPECT_TRUE(allclose(csr_matmul(w, b), csr_matmul(a, b), 0, 0)) << where;
        EXPECT_TRUE(allclose(csr_t_matmul(w, g), csr_t_matmul(a, g), 0, 0)) << where;
        Tensor sampled[2] = {Tensor::empty({a.nnz()}, dtype), Tensor::empty({a.nnz()}, dtype)};
        csr_sampled_dot(a.row_offsets(), a.columns(), g, b, sampled[0]);
        csr_sampled_dot(w.row_offsets(), w.columns(), g, b, sampled[1]);
        EXPECT_TRUE(allclose(sampled[0], sampled[1], 0, 0)) << where;
        Tensor sets[2] = {Tensor::empty({a.nnz()}, DType::i32), Tensor::empty({a.nnz()}, DType::i32)};
        csr_column_set(a.row_offsets(), a.columns(), cols, sets[0]);
        csr_column_set(w.row_offsets(), w.columns(), cols, sets[1]);
        EXPECT_EQ(sets[0].to_vector<std::int32_t>(), sets[1].to_vector<std::int32_t>()) << where;
        Tensor at_rows[2] = {Tensor::empty({a.nnz(), n}, dtype), Tensor::empty({a.nnz(), n}, dtype)};
        csr_t_matmul_at_rows(a.row_offsets(), a.columns(), a.values(), g, sets[0], cols, at_rows[0]);
        csr_t_matmul_at_rows(w.row_offsets(), w.columns(), w.values(), g, sets[1], cols, at_rows[1]);
        EXPECT_TRUE(allclose(at_rows[0], at_rows[1], 0, 0)) << where;
      }
  }
  cpu::use_isa(stheno::testing::supported_isas().front());
  set_num_threads(threads_before);
  const Tensor b = Tensor::ones({3, 4}), out = Tensor::empty({2, 4}), values = Tensor::ones({3});
  const auto longs = [](std::vector<std::int64_t> v) { return Tensor::from<std::int64_t>(v); };
  EXPECT_NE(error_of([&] { csr_matmul(longs({0, 1, 3}), longs({0, 2, 3}), values, b, out); })
                .find("row 1 has column 3, outside [0, 3)"), std::string::npos);
  EXPECT_NE(error_of([&] { csr_matmul(longs({0, 2, 1}), longs({0, 2, 1}), values, b, out); })
                .find("row 1 spans entries [2, 1)"), std::string::npos);
  EXPECT_NE(error_of([&] { csr_matmul(longs({0, 1, 3}), ints({0, 2, 1}), values, b, out); })
                .find("both int32 or both int64"), std::string::npos);
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

TEST(SparseKernels, UnsortedColumnsInBoundArraysAreEachTakenOnceAcrossBlocks) {
  // A program's arrays may hold a row's columns in any order; with B taken in blocks (5000 rows
  // of 130 floats: several), every entry must still count exactly once.
  const Tensor offsets = ints({0, 5, 5, 8}), columns = ints({4990, 12, 2600, 0, 4100, 3000, 1, 2999});
  const Tensor values = Tensor::from<float>({1, 2, 3, 4, 5, 6, 7, 8});
  Generator gen(14);
  const Tensor b = Tensor::uniform({5000, 130}, gen, -1, 1);
  const Tensor out = Tensor::empty({3, 130});
  csr_matmul(offsets, columns, values, b, out);
  const CsrMatrix sorted = CsrMatrix::from_arrays(3, 5000, offsets, columns, values);
  EXPECT_LT(max_difference(out, matmul(sorted.to_dense(), b)), 1e-5);
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
    EXPECT_EQ(counter.outside_driver_calls(), 0) << "allocations in 6 runs at " << threads << " threads";
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

// A sparse input with int64 indices trains as one with int32 ones (same bits), through the
// row-sparse gradient too; a matrix of the other index dtype is refused by name.
TEST(SparseGraph, Int64InputsGiveTheSameStepsAsInt32Ones) {
  Tensor results[2][2];
  for (int wide = 0; wide < 2; ++wide) {
    const DType index = wide ? DType::i64 : DType::i32;
    Graph g;
    Generator gen(5);
    const CsrNode x = csr_input(g, "x", 12, 30, 80, DType::f32, index);
    const Node w = g.parameter("w", Tensor::normal({30, 6}, gen));
    const Node cost = sum(tanh(sparse_matmul(x, w, TableGradient::rows)));
    const std::vector<Node> grads = grad(cost, {w, x.values});
    TapeMachine m(g, {cost, grads[0], grads[1]});
    const CsrMatrix batch = random_csr(12, 30, 0.2, DType::f32, 6);
    if (wide) {
      EXPECT_NE(error_of([&] { m.let(x, batch); }).find("has int64 indices, the matrix int32 ones; convert it with "
                                                         "with_index_dtype()"), std::string::npos);
    }
    m.let(x, batch.with_index_dtype(index));
    m.run();
    results[wide][0] = m.value(grads[0]).clone();
    results[wide][1] = m.value(grads[1]).clone();
  }
  EXPECT_TRUE(allclose(results[0][0], results[1][0], 0, 0));
  EXPECT_TRUE(allclose(results[0][1], results[1][1], 0, 0));
  Graph g;
  EXPECT_NE(error_of([&] { csr_input(g, "big", 2, std::int64_t{1} << 32, 4); }).find("use int64 indices"),
            std::string::npos);
  EXPECT_THROW(csr_input(g, "x", 2, 3, 4, DType::f32, DType::f32), DTypeError);
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

// ---- row-sparse gradients ---------------------------------------------------------------------

namespace {

// The rows of `set` before its first -1.
std::vector<std::int32_t> held_rows(const Tensor& set) {
  std::vector<std::int32_t> out;
  for (std::int64_t k = 0; k < set.numel() && set.data<std::int32_t>()[k] >= 0; ++k)
    out.push_back(set.data<std::int32_t>()[k]);
  return out;
}

Tensor column_set_of(const CsrMatrix& a, std::int64_t room) {
  Tensor rows = Tensor::empty({room}, DType::i32);
  csr_column_set(a.row_offsets(), a.columns(), a.cols(), rows);
  return rows;
}

}  // namespace

TEST(RowSparse, ColumnSetIsTheDistinctColumnsInOrderThenMinusOne) {
  const CsrMatrix a = CsrMatrix::from_triplets(3, 10, std::vector<std::int32_t>{0, 0, 1, 2, 2},
                                               std::vector<std::int32_t>{7, 2, 7, 9, 0}, std::vector<double>{1, 2, 3, 4, 5});
  const Tensor rows = column_set_of(a, 6);
  EXPECT_EQ(held_rows(rows), (std::vector<std::int32_t>{0, 2, 7, 9}));
  EXPECT_EQ(rows.data<std::int32_t>()[4], -1);
  EXPECT_EQ(rows.data<std::int32_t>()[5], -1);
  EXPECT_NE(error_of([&] { column_set_of(a, 3); }).find("uses 4 distinct columns, but the output has room for 3"),
            std::string::npos);
}

TEST(RowSparse, ProductAtTheColumnSetMatchesTheDenseTransposedProduct) {
  const int threads_before = num_threads();
  for (DType dtype : {DType::f32, DType::f64})
    for (std::int64_t n : {1, 7, 16, 33, 130}) {
      const CsrMatrix a = random_csr(37, 500, 0.03, dtype, 40 + static_cast<std::uint64_t>(n));
      Generator gen(3);
      const Tensor g = Tensor::normal({37, n}, gen, 0, 1, dtype);
      const Tensor rows = column_set_of(a, a.nnz() + 3);
      const Tensor expected = csr_t_matmul(a, g);
      Tensor results[2];
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        Tensor values = Tensor::empty({rows.numel(), n}, dtype);
        values.fill(7);  // every row is written, the ones past the set with zeros
        csr_t_matmul_at_rows(a.row_offsets(), a.columns(), a.values(), g, rows, a.cols(), values);
        Tensor dense = Tensor::empty({500, n}, dtype);
        dense.fill(7);
        rows_to_dense(rows, values, dense);
        EXPECT_LT(max_difference(dense, expected), dtype == DType::f32 ? 1e-5 : 1e-12) << "n " << n;
        const auto held = static_cast<std::int64_t>(held_rows(rows).size());
        for (std::int64_t k = held; k < rows.numel(); ++k)
          for (std::int64_t j = 0; j < n; ++j) ASSERT_EQ(values.at({k, j}), 0.0);
        results[threads - 1] = values;
      }
      EXPECT_EQ(max_difference(results[0], results[1]), 0.0) << "thread counts differ at n " << n;
    }
  set_num_threads(threads_before);
}

TEST(RowSparse, TakeRowsIsTheAdjointOfRowsToDense) {
  Generator gen(8);
  const Tensor dense = Tensor::normal({6, 4}, gen);
  const Tensor rows = ints({1, 4, 5, -1, -1});
  Tensor taken = Tensor::empty({5, 4});
  take_rows(dense, rows, taken);
  Tensor back = Tensor::empty({6, 4});
  rows_to_dense(rows, taken, back);
  for (std::int64_t r = 0; r < 6; ++r)
    for (std::int64_t j = 0; j < 4; ++j)
      EXPECT_EQ(back.at({r, j}), r == 1 || r == 4 || r == 5 ? dense.at({r, j}) : 0.0);
  for (std::int64_t j = 0; j < 4; ++j) EXPECT_EQ(taken.at({3, j}), 0.0);
}

TEST(RowSparse, BadRowSetsAreAnErrorNamingTheEntry) {
  const CsrMatrix a = CsrMatrix::from_triplets(2, 8, std::vector<std::int32_t>{0, 1}, std::vector<std::int32_t>{3, 5},
                                               std::vector<double>{1, 2});
  const Tensor g = Tensor::ones({2, 3});
  Tensor values = Tensor::empty({3, 3});
  const auto product = [&](const Tensor& rows) {
    return error_of([&] { csr_t_matmul_at_rows(a.row_offsets(), a.columns(), a.values(), g, rows, 8, values); });
  };
  EXPECT_NE(product(ints({5, 3, -1})).find("row set entry 1 is 3"), std::string::npos);
  EXPECT_NE(product(ints({3, 8, -1})).find("row set entry 1 is 8"), std::string::npos);
  EXPECT_NE(product(ints({3, -1, 5})).find("after the first -1 every entry must be -1"), std::string::npos);
  EXPECT_NE(product(ints({3, 4, -1})).find("row 1 of the sparse operand has column 5, which the row set does not hold"),
            std::string::npos);
  EXPECT_NE(error_of([&] { rows_to_dense(ints({2, 2, -1}), values, Tensor::zeros({8, 3})); }).find("row set entry 1"),
            std::string::npos);
}

namespace {

// A parameter (6, 3), a row-sparse gradient at rows 1 and 4, and the same gradient dense.
struct RowUpdateCase {
  Tensor param, rows, values, dense;
  explicit RowUpdateCase(DType dtype = DType::f32) {
    Generator gen(21);
    param = Tensor::normal({6, 3}, gen, 0, 1, dtype);
    rows = ints({1, 4, -1});
    values = Tensor::normal({3, 3}, gen, 0, 1, dtype);
    values.select(0, 2).fill(0);
    dense = Tensor::zeros({6, 3}, dtype);
    rows_to_dense(rows, values, dense);
  }
};

// Runs `steps` steps of an optimizer built by make on a copy of c.param, with the row-sparse
// gradient (or the dense one), and returns the parameter.
template <class Make>
Tensor after_steps(const RowUpdateCase& c, Make make, bool row_sparse, int steps) {
  const Tensor p = c.param.clone();
  auto opt = make(p);
  const optim::Gradient gradient =
      row_sparse ? optim::Gradient::of_rows(c.rows, c.values) : optim::Gradient::of_dense(c.dense);
  for (int i = 0; i < steps; ++i) opt->step(std::span<const optim::Gradient>(&gradient, 1));
  return p;
}

bool rows_equal(const Tensor& a, const Tensor& b, std::int64_t row) {
  for (std::int64_t j = 0; j < a.shape()[1]; ++j)
    if (a.at({row, j}) != b.at({row, j})) return false;
  return true;
}

}  // namespace

TEST(RowSparse, SgdAndAdagradApplyExactlyTheDenseUpdateToTheTouchedRows) {
  const RowUpdateCase c;
  const auto sgd = [](const Tensor& p) { return std::make_unique<optim::SGD>(std::vector<Tensor>{p}, 0.1); };
  const auto adagrad = [](const Tensor& p) { return std::make_unique<optim::AdaGrad>(std::vector<Tensor>{p}, 0.1); };
  EXPECT_EQ(max_difference(after_steps(c, sgd, true, 3), after_steps(c, sgd, false, 3)), 0.0);
  EXPECT_EQ(max_difference(after_steps(c, adagrad, true, 3), after_steps(c, adagrad, false, 3)), 0.0);
  const Tensor moved = after_steps(c, sgd, true, 1);
  for (std::int64_t r : {0, 2, 3, 5}) EXPECT_TRUE(rows_equal(moved, c.param, r)) << "row " << r;
  for (std::int64_t r : {1, 4}) EXPECT_FALSE(rows_equal(moved, c.param, r)) << "row " << r;
}

TEST(RowSparse, MomentumAndSparseAdamMoveOnlyTheTouchedRows) {
  const RowUpdateCase c(DType::f64);
  // Step 1 at rows 1 and 4, step 2 at row 1 alone: the dense forms would move row 4 again at
  // step 2 (its velocity or moments are not zero); the lazy forms leave it where step 1 put it.
  const auto two_steps = [&](optim::Optimizer& opt, const Tensor& p) {
    const optim::Gradient first = optim::Gradient::of_rows(c.rows, c.values);
    opt.step(std::span<const optim::Gradient>(&first, 1));
    const Tensor after_first = p.clone();
    const Tensor values = c.values.clone();
    values.select(0, 1).fill(0);
    const optim::Gradient second = optim::Gradient::of_rows(ints({1, -1, -1}), values);
    opt.step(std::span<const optim::Gradient>(&second, 1));
    return after_first;
  };
  {
    const Tensor p = c.param.clone();
    optim::SGD momentum({p}, 0.1, 0.9);
    const Tensor after_first = two_steps(momentum, p);
    EXPECT_TRUE(rows_equal(p, after_first, 4));
    EXPECT_FALSE(rows_equal(p, after_first, 1));
    // Row 1 by the formula: v1 = g, v2 = 0.9·g + g; p = p0 − 0.1·(v1 + v2).
    for (std::int64_t j = 0; j < 3; ++j)
      EXPECT_NEAR(p.at({1, j}), c.param.at({1, j}) - 0.1 * (1 + 1.9) * c.values.at({0, j}), 1e-12);
  }
  {
    const Tensor p = c.param.clone();
    optim::SparseAdam adam({p}, 0.01);
    const Tensor after_first = two_steps(adam, p);
    EXPECT_TRUE(rows_equal(p, after_first, 4));
    for (std::int64_t r : {0, 2, 3, 5}) EXPECT_TRUE(rows_equal(p, c.param, r)) << "row " << r;
    // At step 1 lazy Adam equals Adam on the touched rows: p −= lr · g/(|g| + ε).
    const Tensor q = c.param.clone();
    optim::Adam dense({q}, 0.01);
    const optim::Gradient g = optim::Gradient::of_dense(c.dense);
    dense.step(std::span<const optim::Gradient>(&g, 1));
    EXPECT_LT(max_difference(after_first, q), 1e-15);
  }
}

TEST(RowSparse, AdamAndRmspropRefuseARowSparseGradient) {
  const RowUpdateCase c;
  const Tensor p = c.param.clone();
  optim::Adam adam({p}, 0.01);
  const optim::Gradient g = optim::Gradient::of_rows(c.rows, c.values);
  const std::string message = error_of([&] { adam.step(std::span<const optim::Gradient>(&g, 1)); });
  EXPECT_NE(message.find("adam: parameter 0 (6, 3) has a row-sparse gradient"), std::string::npos) << message;
  EXPECT_NE(message.find("sparse_adam"), std::string::npos);
  EXPECT_EQ(max_difference(p, c.param), 0.0);
  EXPECT_EQ(adam.steps_taken(), 0);
  optim::RMSprop rmsprop({p}, 0.01);
  EXPECT_THROW(rmsprop.step(std::span<const optim::Gradient>(&g, 1)), ValueError);
}

namespace {

// A bag-of-words classifier of `features` inputs: an embedding bag (sum) over a sparse batch,
// ReLU, a linear layer, cross-entropy.
struct BagModel {
  Graph g;
  Generator gen{17};
  nn::EmbeddingBag bag;
  nn::Linear head;
  CsrNode x;
  Node labels, loss;
  BagModel(std::int64_t batch, std::int64_t features, std::int64_t capacity, TableGradient gradient)
      : bag(features, 8, gen, nn::EmbeddingBag::Mode::sum, DType::f32, gradient), head(8, 3, gen),
        x(csr_input(g, "x", batch, features, capacity)), labels(g.input("labels", {batch}, DType::i32)) {
    loss = nn::cross_entropy(head(relu(bag(x))), labels);
  }
  std::vector<nn::Parameter*> params() { return nn::parameters_of({&bag, &head}); }
};

}  // namespace

TEST(RowSparse, TrainingStepUpdatesOnlyTheRowsABatchUsed) {
  const std::int64_t batch = 4, features = 200;
  const CsrMatrix x = random_csr(batch, features, 0.02, DType::f32, 31);
  const Tensor labels = ints({0, 2, 1, 2});
  BagModel sparse(batch, features, 64, TableGradient::rows), dense(batch, features, 64, TableGradient::dense);
  const Tensor table_before = sparse.bag.weight().value.clone();
  optim::AdaGrad sparse_opt(nn::values_of(sparse.params()), 0.1), dense_opt(nn::values_of(dense.params()), 0.1);
  optim::TrainingStep sparse_step(sparse.loss, nn::nodes_of(sparse.g, sparse.params()), sparse_opt);
  optim::TrainingStep dense_step(dense.loss, nn::nodes_of(dense.g, dense.params()), dense_opt);
  ASSERT_TRUE(sparse_step.rows_form(0).has_value());
  ASSERT_FALSE(dense_step.rows_form(0).has_value());
  // The program stops at the row set and the product's operands: the optimizer forms the rows.
  const std::string listing = sparse_step.machine().listing();
  EXPECT_NE(listing.find("csr_column_set"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("csr_t_matmul_at_rows"), std::string::npos) << "the block is not formed\n" << listing;
  EXPECT_EQ(listing.find("rows_to_dense"), std::string::npos) << "the dense gradient is not computed\n" << listing;
  for (optim::TrainingStep* step : {&sparse_step, &dense_step}) {
    step->machine().let(step == &sparse_step ? sparse.x : dense.x, x);
    step->machine().bind(step == &sparse_step ? sparse.labels : dense.labels, labels);
    for (int i = 0; i < 3; ++i) step->run();
  }
  const Tensor table = sparse.bag.weight().value;
  std::vector<bool> used(features, false);
  for (std::int64_t k = 0; k < x.nnz(); ++k) used[static_cast<std::size_t>(x.columns().data<std::int32_t>()[k])] = true;
  for (std::int64_t r = 0; r < features; ++r)
    EXPECT_EQ(rows_equal(table, table_before, r), !used[static_cast<std::size_t>(r)]) << "row " << r;
  // AdaGrad with no weight decay: the row-sparse and dense steps agree.
  EXPECT_LT(max_difference(table, dense.bag.weight().value), 1e-6);
  EXPECT_LT(max_difference(sparse.head.weight().value, dense.head.weight().value), 1e-6);
}

TEST(RowSparse, TrainingStepWithAdamRefusesARowSparseTable) {
  BagModel m(2, 50, 8, TableGradient::rows);
  optim::Adam adam(nn::values_of(m.params()), 0.01);
  const std::string message =
      error_of([&] { optim::TrainingStep step(m.loss, nn::nodes_of(m.g, m.params()), adam); });
  EXPECT_NE(message.find("has a row-sparse gradient (TableGradient::rows), which adam cannot apply"), std::string::npos)
      << message;
}

// A row-sparse gradient given as the product Aᵀ·g at the row set updates the parameter with the
// same bits as the formed block, for every optimizer that takes rows, both index widths, both
// dtypes and thread counts, across the rows each part forms at a time.
TEST(RowSparse, UpdatesFromTheProductMatchUpdatesFromTheFormedBlock) {
  const int threads_before = num_threads();
  for (DType dtype : {DType::f32, DType::f64})
    for (DType index : {DType::i32, DType::i64})
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const CsrMatrix a = random_csr(37, 500, 0.03, dtype, 50).with_index_dtype(index);
        Generator gen(51);
        const Tensor g = Tensor::normal({37, 20}, gen, 0, 1, dtype);
        const Tensor rows = column_set_of(a, a.nnz() + 5);
        ASSERT_GT(held_rows(rows).size(), 100u);
        const Tensor block = Tensor::empty({rows.numel(), 20}, dtype);
        csr_t_matmul_at_rows(a.row_offsets(), a.columns(), a.values(), g, rows, a.cols(), block);
        const optim::Gradient formed = optim::Gradient::of_rows(rows, block);
        const optim::Gradient product = optim::Gradient::of_product(rows, {a.row_offsets(), a.columns(), a.values(), g});
        EXPECT_FALSE(product.numbers().defined());
        const Tensor start = Tensor::normal({500, 20}, gen, 0, 1, dtype);
        using Make = std::function<std::unique_ptr<optim::Optimizer>(const Tensor&)>;
        const std::pair<const char*, Make> makes[] = {
            {"momentum", [](const Tensor& p) { return std::make_unique<optim::SGD>(std::vector<Tensor>{p}, 0.1, 0.9, false, 0.01); }},
            {"adagrad", [](const Tensor& p) { return std::make_unique<optim::AdaGrad>(std::vector<Tensor>{p}, 0.1); }},
            {"sparse_adam", [](const Tensor& p) { return std::make_unique<optim::SparseAdam>(std::vector<Tensor>{p}, 0.01); }}};
        for (const auto& [name, make] : makes) {
          Tensor results[2];
          for (int form = 0; form < 2; ++form) {
            results[form] = start.clone();
            const auto opt = make(results[form]);
            for (int step = 0; step < 2; ++step) opt->step(std::span<const optim::Gradient>(form ? &product : &formed, 1));
          }
          EXPECT_EQ(max_difference(results[0], results[1]), 0.0)
              << name << " " << dtype_name(dtype) << " " << dtype_name(index) << " indices, " << threads << " threads";
          EXPECT_GT(max_difference(results[0], start), 0.0) << name;
        }
      }
  set_num_threads(threads_before);
  // A product whose arrays are bad is refused by name before any row changes.
  const Tensor p = Tensor::ones({6, 2}), before = p.clone();
  optim::SGD sgd({p}, 0.1);
  const optim::Gradient bad = optim::Gradient::of_product(
      ints({1, 3, -1}), {ints({0, 1, 2}), ints({1, 4}), Tensor::ones({2}), Tensor::ones({3, 2})});
  EXPECT_NE(error_of([&] { sgd.step(std::span<const optim::Gradient>(&bad, 1)); }).find("the dense operand must be"),
            std::string::npos);
  const optim::Gradient outside = optim::Gradient::of_product(
      ints({1, 3, -1}), {ints({0, 1, 2}), ints({1, 5}), Tensor::ones({2}), Tensor::ones({2, 2})});
  EXPECT_NE(error_of([&] { sgd.step(std::span<const optim::Gradient>(&outside, 1)); })
                .find("row 1 of the sparse operand has column 5, which the row set does not hold"),
            std::string::npos);
  EXPECT_EQ(max_difference(p, before), 0.0);
}

// With clipping, the product's block is formed so that its numbers count in the global norm:
// plain SGD on the row-sparse gradient then moves the table exactly as on the dense one.
TEST(RowSparse, ClippedStepsFormTheBlockAndMatchTheDenseGradient) {
  const std::int64_t batch = 4, features = 200;
  const CsrMatrix x = random_csr(batch, features, 0.05, DType::f32, 33);
  const Tensor labels = ints({0, 2, 1, 2});
  BagModel sparse(batch, features, 64, TableGradient::rows), dense(batch, features, 64, TableGradient::dense);
  optim::SGD sparse_opt(nn::values_of(sparse.params()), 0.5), dense_opt(nn::values_of(dense.params()), 0.5);
  optim::TrainingStep sparse_step(sparse.loss, nn::nodes_of(sparse.g, sparse.params()), sparse_opt);
  optim::TrainingStep dense_step(dense.loss, nn::nodes_of(dense.g, dense.params()), dense_opt);
  for (optim::TrainingStep* step : {&sparse_step, &dense_step}) {
    step->set_clip_norm(0.05);  // well below the gradients' norm: every step is scaled
    step->machine().let(step == &sparse_step ? sparse.x : dense.x, x);
    step->machine().bind(step == &sparse_step ? sparse.labels : dense.labels, labels);
    for (int i = 0; i < 3; ++i) step->run();
  }
  EXPECT_LT(max_difference(sparse.bag.weight().value, dense.bag.weight().value), 1e-6);
  EXPECT_LT(max_difference(sparse.head.weight().value, dense.head.weight().value), 1e-6);
}

TEST(RowSparse, DataParallelStepsRefuseARowSparseTableByName) {
  BagModel m(4, 50, 16, TableGradient::rows);
  optim::SGD sgd(nn::values_of(m.params()), 0.1);
  optim::TrainingStep step(m.loss, nn::nodes_of(m.g, m.params()), sgd);
  const std::unique_ptr<dist::Communicator> one = dist::single_process();
  const std::string e = error_of([&] { step.distribute(*one); });
  EXPECT_NE(e.find("row-sparse gradient of a table"), std::string::npos) << e;
  EXPECT_NE(e.find("TableGradient::dense"), std::string::npos) << e;
}

TEST(RowSparse, ABagStepAllocatesNothing) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "allocation counting unavailable";
  BagModel m(16, 1000, 400, TableGradient::rows);
  optim::SGD sgd(nn::values_of(m.params()), 0.05);
  optim::TrainingStep step(m.loss, nn::nodes_of(m.g, m.params()), sgd);
  const CsrMatrix batches[] = {random_csr(16, 1000, 0.02, DType::f32, 1), random_csr(16, 1000, 0.01, DType::f32, 2)};
  const Tensor labels = ints({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
  step.machine().bind(m.labels, labels);
  const int threads_before = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    step.machine().let(m.x, batches[1]);  // the smaller batch first: scratch must not grow later
    step.run();
    stheno::testing::AllocationCounter counter;
    for (int i = 0; i < 6; ++i) {
      step.machine().let(m.x, batches[i % 2]);
      step.run();
    }
    EXPECT_EQ(counter.outside_driver_calls(), 0) << "allocations in 6 steps at " << threads << " threads";
  }
  set_num_threads(threads_before);
}

TEST(RowSparse, EmbeddingBagSumsAndAveragesItsBags) {
  Graph g(Graph::Mode::eager);
  Generator gen(4);
  for (auto mode : {nn::EmbeddingBag::Mode::sum, nn::EmbeddingBag::Mode::mean}) {
    nn::EmbeddingBag bag(6, 2, gen, mode, DType::f64);
    const Tensor& w = bag.weight().value;
    // Bags {0, 5 (weight 2)}, {} and {3, 3, 1} (3 stored once, weight 2): the mean divides by the
    // total weights 3 and 3; the empty bag is a zero row.
    const CsrMatrix bags = CsrMatrix::from_arrays(3, 6, ints({0, 2, 2, 5}), ints({0, 5, 3, 3, 1}),
                                                  Tensor::from<double>({1, 2, 1, 1, 1}));
    const Tensor y = bag(csr_constant(g, bags)).value();
    const double scale = mode == nn::EmbeddingBag::Mode::mean ? 1.0 / 3 : 1.0;
    for (std::int64_t j = 0; j < 2; ++j) {
      EXPECT_NEAR(y.at({0, j}), scale * (w.at({0, j}) + 2 * w.at({5, j})), 1e-12);
      EXPECT_EQ(y.at({1, j}), 0.0);
      EXPECT_NEAR(y.at({2, j}), scale * (2 * w.at({3, j}) + w.at({1, j})), 1e-12);
    }
    const Tensor fixed = bag(g.constant(ints({4, 2, 2, 0}).reshape({2, 2}))).value();
    for (std::int64_t j = 0; j < 2; ++j)
      EXPECT_NEAR(fixed.at({1, j}), (mode == nn::EmbeddingBag::Mode::mean ? 0.5 : 1.0) * (w.at({2, j}) + w.at({0, j})),
                  1e-12);
  }
}

TEST(RowSparse, EmbeddingLookupGradientTouchesOnlyTheRowsLookedUp) {
  // Indices (2, 3) into a 50-row table, with a repeat: SGD with the row-sparse gradient moves
  // exactly the rows looked up, and as far as the dense gradient moves them.
  const Tensor indices = Tensor::from<std::int32_t>(std::vector<std::int32_t>{7, 3, 7, 41, 0, 3}).reshape({2, 3});
  Tensor tables[2];
  for (TableGradient form : {TableGradient::rows, TableGradient::dense}) {
    Generator gen(12);
    nn::Embedding embed(50, 4, gen, DType::f32, form);
    Graph g;
    const Node ids = g.input("ids", {2, 3}, DType::i32);
    const Node loss = sum(tanh(embed(ids)));
    optim::SGD sgd({embed.weight().value}, 0.5);
    optim::TrainingStep step(loss, {g.find("weight")}, sgd);
    EXPECT_EQ(step.rows_form(0).has_value(), form == TableGradient::rows);
    step.machine().bind(ids, indices);
    const Tensor before = embed.weight().value.clone();
    step.run();
    for (std::int64_t r = 0; r < 50; ++r)
      EXPECT_EQ(rows_equal(embed.weight().value, before, r), r != 0 && r != 3 && r != 7 && r != 41) << "row " << r;
    tables[form == TableGradient::rows ? 0 : 1] = embed.weight().value;
  }
  EXPECT_LT(max_difference(tables[0], tables[1]), 1e-6);
}
