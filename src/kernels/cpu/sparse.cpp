#include "stheno/kernels/sparse.hpp"

#include <algorithm>
#include <atomic>
#include <string>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

namespace {

std::string described(const Tensor& t) {
  return t.defined() ? t.shape().str() + " " + std::string(dtype_name(t.dtype())) : "undefined";
}

struct CsrArrays {
  std::int64_t rows, capacity;
};

// The CSR arrays' own checks (dtypes, ranks, lengths); returns rows and capacity.
CsrArrays check_arrays(const char* op, const Tensor& row_offsets, const Tensor& columns, const Tensor* values) {
  const bool ok = row_offsets.defined() && columns.defined() && row_offsets.dtype() == DType::i32 &&
                  columns.dtype() == DType::i32 && row_offsets.rank() == 1 && columns.rank() == 1 &&
                  row_offsets.numel() >= 1 && row_offsets.is_contiguous() && columns.is_contiguous();
  if (!ok)
    throw ShapeError(std::string(op) + ": row offsets " + described(row_offsets) + " and columns " + described(columns) +
                     " must be contiguous int32 vectors, the offsets at least 1 long");
  if (values && (!values->defined() || !is_floating(values->dtype()) || values->rank() != 1 ||
                 values->numel() != columns.numel() || !values->is_contiguous()))
    throw ShapeError(std::string(op) + ": values " + described(*values) +
                     " must be a contiguous float vector as long as the columns " + columns.shape().str());
  return {row_offsets.numel() - 1, columns.numel()};
}

// A dense operand of `rows` rows (any n) with unit-stride rows, in `dtype`.
void check_dense(const char* op, const char* what, const Tensor& t, std::int64_t rows, std::int64_t n, DType dtype) {
  if (!t.defined() || t.rank() != 2 || t.dtype() != dtype || (rows >= 0 && t.shape()[0] != rows) ||
      (n >= 0 && t.shape()[1] != n) || (t.shape()[1] > 1 && t.strides()[1] != 1)) {
    const std::string extent = rows >= 0 && n >= 0 ? " (" + std::to_string(rows) + ", " + std::to_string(n) + ")"
                               : rows >= 0         ? " of " + std::to_string(rows) + " rows"
                               : n >= 0            ? " of " + std::to_string(n) + " columns"
                                                   : "";
    throw ShapeError(std::string(op) + ": the " + what + " must be a " + std::string(dtype_name(dtype)) + " matrix" +
                     extent + " with unit-stride rows, got " + described(t));
  }
}

// The structure's checks, for the kernels that scatter by column (they must check before
// writing) and for naming the fault when csr_rows finds one. Returns the number of entries.
std::int64_t check_structure(const char* op, const Tensor& row_offsets, const Tensor& columns, std::int64_t cols) {
  const std::int32_t* o = row_offsets.data<std::int32_t>();
  const std::int32_t* c = columns.data<std::int32_t>();
  const std::int64_t rows = row_offsets.numel() - 1, capacity = columns.numel();
  const auto at = [&] {  // the message's start, built only on error: the checks run every step
    return std::string(op) + ": sparse operand of " + std::to_string(rows) + " rows, " + std::to_string(cols) +
           " columns and room for " + std::to_string(capacity) + " entries: ";
  };
  if (o[0] != 0) throw IndexError(at() + "its row offsets start at " + std::to_string(o[0]) + ", not 0");
  for (std::int64_t r = 0; r < rows; ++r) {
    if (o[r + 1] < o[r] || o[r + 1] > capacity)
      throw IndexError(at() + "row " + std::to_string(r) + " spans entries [" + std::to_string(o[r]) + ", " +
                       std::to_string(o[r + 1]) + ")");
    for (std::int64_t k = o[r]; k < o[r + 1]; ++k)
      if (c[k] < 0 || c[k] >= cols)
        throw IndexError(at() + "row " + std::to_string(r) + " has column " + std::to_string(c[k]) + ", outside [0, " +
                         std::to_string(cols) + ")");
  }
  return o[rows];
}

}  // namespace

void cpu::csr_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                     const Tensor& out) {
  const auto [rows, capacity] = check_arrays("csr_matmul", row_offsets, columns, &values);
  check_dense("csr_matmul", "dense operand", dense, -1, -1, values.dtype());
  const std::int64_t cols = dense.shape()[0], n = dense.shape()[1];
  check_dense("csr_matmul", "output", out, rows, n, values.dtype());
  const std::int32_t* o = row_offsets.data<std::int32_t>();
  if (o[0] != 0) check_structure("csr_matmul", row_offsets, columns, cols);
  const std::int64_t nnz = o[rows] >= 0 && o[rows] <= capacity ? o[rows] : capacity;
  std::atomic<std::int64_t> bad{-1};
  visit_floating(values.dtype(), "csr_matmul", [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    const std::int32_t* c = columns.data<std::int32_t>();
    const T* v = values.data<T>();
    const T* b = dense.data<T>();
    T* y = out.data<T>();
    const std::int64_t ldb = dense.strides()[0], ldc = out.strides()[0];
    cpu::parallel_for(rows, cpu::threads_for((nnz + rows) * n, rows), [&](std::int64_t begin, std::int64_t end, int) {
      const std::int64_t row = k.csr_rows(begin, end, o, c, v, capacity, cols, n, b, ldb, y, ldc);
      if (row >= 0) bad.store(row);
    });
  });
  if (bad.load() >= 0) check_structure("csr_matmul", row_offsets, columns, cols);
}

void cpu::csr_t_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                       const Tensor& out) {
  const auto [rows, capacity] = check_arrays("csr_t_matmul", row_offsets, columns, &values);
  check_dense("csr_t_matmul", "dense operand", dense, rows, -1, values.dtype());
  const std::int64_t n = dense.shape()[1];
  check_dense("csr_t_matmul", "output", out, -1, n, values.dtype());
  const std::int64_t cols = out.shape()[0];
  const std::int64_t nnz = check_structure("csr_t_matmul", row_offsets, columns, cols);
  out.fill(0);
  visit_floating(values.dtype(), "csr_t_matmul", [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    const std::int32_t* o = row_offsets.data<std::int32_t>();
    const std::int32_t* c = columns.data<std::int32_t>();
    const T* v = values.data<T>();
    const T* g = dense.data<T>();
    T* y = out.data<T>();
    // Threads take columns of the result, not rows: two rows of A may add into one row of it.
    // Each part's columns are a whole number of 16-element blocks, so that it vectorises.
    constexpr std::int64_t kBlock = 16;
    const std::int64_t blocks = (n + kBlock - 1) / kBlock;
    cpu::parallel_for(blocks, cpu::threads_for(nnz * n, blocks), [&](std::int64_t begin, std::int64_t end, int) {
      k.csr_t_rows(rows, o, c, v, begin * kBlock, std::min(end * kBlock, n), g, dense.strides()[0], y,
                   out.strides()[0]);
    });
  });
}

void cpu::csr_sampled_dot(const Tensor& row_offsets, const Tensor& columns, const Tensor& a, const Tensor& b,
                          const Tensor& out) {
  const auto [rows, capacity] = check_arrays("csr_sampled_dot", row_offsets, columns, nullptr);
  if (!a.defined() || !is_floating(a.dtype()))
    throw DTypeError("csr_sampled_dot: the left operand must be float32 or float64, got " + described(a));
  check_dense("csr_sampled_dot", "left operand", a, rows, -1, a.dtype());
  const std::int64_t n = a.shape()[1];
  check_dense("csr_sampled_dot", "right operand", b, -1, n, a.dtype());
  if (!out.defined() || out.dtype() != a.dtype() || out.rank() != 1 || out.numel() != capacity || !out.is_contiguous())
    throw ShapeError("csr_sampled_dot: the output must be a contiguous " + std::string(dtype_name(a.dtype())) +
                     " vector as long as the columns " + columns.shape().str() + ", got " + described(out));
  const std::int64_t nnz = check_structure("csr_sampled_dot", row_offsets, columns, b.shape()[0]);
  visit_floating(a.dtype(), "csr_sampled_dot", [&]<class T>() {
    std::fill(out.data<T>() + nnz, out.data<T>() + capacity, T(0));
    const auto& k = cpu::typed_kernels<T>();
    const std::int32_t* o = row_offsets.data<std::int32_t>();
    const std::int32_t* c = columns.data<std::int32_t>();
    cpu::parallel_for(rows, cpu::threads_for((nnz + rows) * n, rows), [&](std::int64_t begin, std::int64_t end, int) {
      k.csr_sampled_dots(begin, end, o, c, n, a.data<T>(), a.strides()[0], b.data<T>(), b.strides()[0], out.data<T>());
    });
  });
}

}  // namespace stheno
