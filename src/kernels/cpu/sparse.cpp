#include "stheno/kernels/sparse.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <string>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/row_product.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"
#include "kernels/cpu/thread_pool.hpp"
#include "kernels/row_set_checks.hpp"

namespace stheno {

namespace {

struct CsrArrays {
  std::int64_t rows, capacity;
  DType index;
};

// The CSR arrays' own checks (dtypes, ranks, lengths); returns rows, capacity and index dtype.
CsrArrays check_arrays(const char* op, const Tensor& row_offsets, const Tensor& columns, const Tensor* values) {
  const bool ok = row_offsets.defined() && columns.defined() &&
                  (row_offsets.dtype() == DType::i32 || row_offsets.dtype() == DType::i64) &&
                  columns.dtype() == row_offsets.dtype() && row_offsets.rank() == 1 && columns.rank() == 1 &&
                  row_offsets.numel() >= 1 && row_offsets.is_contiguous() && columns.is_contiguous();
  if (!ok)
    throw ShapeError(std::string(op) + ": row offsets " + described(row_offsets) + " and columns " + described(columns) +
                     " must be contiguous vectors, both int32 or both int64, the offsets at least 1 long");
  if (values && (!values->defined() || !is_floating(values->dtype()) || values->rank() != 1 ||
                 values->numel() != columns.numel() || !values->is_contiguous()))
    throw ShapeError(std::string(op) + ": values " + described(*values) +
                     " must be a contiguous float vector as long as the columns " + columns.shape().str());
  return {row_offsets.numel() - 1, columns.numel(), row_offsets.dtype()};
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
template <class I>
std::int64_t check_structure(const char* op, const Tensor& row_offsets, const Tensor& columns, std::int64_t cols) {
  const I* o = row_offsets.data<I>();
  const I* c = columns.data<I>();
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

std::int64_t check_structure(const char* op, const Tensor& row_offsets, const Tensor& columns, std::int64_t cols) {
  return visit_index(row_offsets.dtype(), op,
                     [&]<class I>() { return check_structure<I>(op, row_offsets, columns, cols); });
}

// Row sets are int32 (kernels/sparse.hpp): a table they index has at most 2^31 - 1 rows.
void check_table_rows(const char* op, std::int64_t cols) {
  if (cols > std::numeric_limits<std::int32_t>::max())
    throw ValueError(std::string(op) + ": a table of " + std::to_string(cols) +
                     " rows is past what int32 row sets can address");
}

// Zeroes rows [begin, end) of a matrix whose rows are ld apart.
template <class T>
void zero_rows(T* m, std::int64_t ld, std::int64_t n, std::int64_t begin, std::int64_t end) {
  for (std::int64_t r = begin; r < end; ++r) std::fill(m + r * ld, m + r * ld + n, T(0));
}

// The bytes of scratch for `count` elements of T, rounded up so that the next array is aligned.
template <class T>
std::size_t scratch_bytes(std::int64_t count) {
  return (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
}

}  // namespace

void cpu::csr_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                     const Tensor& out) {
  const auto [rows, capacity, index] = check_arrays("csr_matmul", row_offsets, columns, &values);
  check_dense("csr_matmul", "dense operand", dense, -1, -1, values.dtype());
  const std::int64_t cols = dense.shape()[0], n = dense.shape()[1];
  check_dense("csr_matmul", "output", out, rows, n, values.dtype());
  std::atomic<std::int64_t> bad{-1};
  visit_index(index, "csr_matmul", [&]<class I>() {
    const I* o = row_offsets.data<I>();
    if (o[0] != 0) check_structure<I>("csr_matmul", row_offsets, columns, cols);
    const std::int64_t nnz = o[rows] >= 0 && o[rows] <= capacity ? o[rows] : capacity;
    visit_floating(values.dtype(), "csr_matmul", [&]<class T>() {
      const auto& k = cpu::typed_kernels<T>().template csr<I>();
      const I* c = columns.data<I>();
      const T* v = values.data<T>();
      const T* b = dense.data<T>();
      T* y = out.data<T>();
      const std::int64_t ldb = dense.strides()[0], ldc = out.strides()[0];
      cpu::parallel_for(rows, cpu::threads_for((nnz + rows) * n, rows), [&](std::int64_t begin, std::int64_t end, int) {
        const std::int64_t row = k.rows(begin, end, o, c, v, capacity, cols, n, b, ldb, y, ldc, true);
        if (row >= 0) bad.store(row);
      });
    });
  });
  if (bad.load() >= 0) check_structure("csr_matmul", row_offsets, columns, cols);
}

void cpu::csr_t_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                       const Tensor& out) {
  const auto [rows, capacity, index] = check_arrays("csr_t_matmul", row_offsets, columns, &values);
  check_dense("csr_t_matmul", "dense operand", dense, rows, -1, values.dtype());
  const std::int64_t n = dense.shape()[1];
  check_dense("csr_t_matmul", "output", out, -1, n, values.dtype());
  const std::int64_t cols = out.shape()[0];
  const std::int64_t nnz = check_structure("csr_t_matmul", row_offsets, columns, cols);
  out.fill(0);
  visit_index(index, "csr_t_matmul", [&]<class I>() { visit_floating(values.dtype(), "csr_t_matmul", [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>().template csr<I>();
    const I* o = row_offsets.data<I>();
    const I* c = columns.data<I>();
    const T* v = values.data<T>();
    const T* g = dense.data<T>();
    T* y = out.data<T>();
    // Threads take columns of the result, not rows: two rows of A may add into one row of it.
    // Each part's columns are a whole number of 16-element blocks, so that it vectorises.
    constexpr std::int64_t kBlock = 16;
    const std::int64_t blocks = (n + kBlock - 1) / kBlock;
    cpu::parallel_for(blocks, cpu::threads_for(nnz * n, blocks), [&](std::int64_t begin, std::int64_t end, int) {
      k.t_rows(rows, o, c, v, begin * kBlock, std::min(end * kBlock, n), g, dense.strides()[0], y, out.strides()[0]);
    });
  }); });
}

void cpu::csr_sampled_dot(const Tensor& row_offsets, const Tensor& columns, const Tensor& a, const Tensor& b,
                          const Tensor& out) {
  const auto [rows, capacity, index] = check_arrays("csr_sampled_dot", row_offsets, columns, nullptr);
  if (!a.defined() || !is_floating(a.dtype()))
    throw DTypeError("csr_sampled_dot: the left operand must be float32 or float64, got " + described(a));
  check_dense("csr_sampled_dot", "left operand", a, rows, -1, a.dtype());
  const std::int64_t n = a.shape()[1];
  check_dense("csr_sampled_dot", "right operand", b, -1, n, a.dtype());
  if (!out.defined() || out.dtype() != a.dtype() || out.rank() != 1 || out.numel() != capacity || !out.is_contiguous())
    throw ShapeError("csr_sampled_dot: the output must be a contiguous " + std::string(dtype_name(a.dtype())) +
                     " vector as long as the columns " + columns.shape().str() + ", got " + described(out));
  const std::int64_t nnz = check_structure("csr_sampled_dot", row_offsets, columns, b.shape()[0]);
  visit_index(index, "csr_sampled_dot", [&]<class I>() { visit_floating(a.dtype(), "csr_sampled_dot", [&]<class T>() {
    std::fill(out.data<T>() + nnz, out.data<T>() + capacity, T(0));
    const auto& k = cpu::typed_kernels<T>().template csr<I>();
    const I* o = row_offsets.data<I>();
    const I* c = columns.data<I>();
    cpu::parallel_for(rows, cpu::threads_for((nnz + rows) * n, rows), [&](std::int64_t begin, std::int64_t end, int) {
      k.sampled_dots(begin, end, o, c, n, a.data<T>(), a.strides()[0], b.data<T>(), b.strides()[0], out.data<T>());
    });
  }); });
}

void cpu::csr_column_set(const Tensor& row_offsets, const Tensor& columns, std::int64_t cols, const Tensor& out) {
  const DType index = check_arrays("csr_column_set", row_offsets, columns, nullptr).index;
  check_table_rows("csr_column_set", cols);
  if (!out.defined() || out.dtype() != DType::i32 || out.rank() != 1 || !out.is_contiguous())
    throw ShapeError("csr_column_set: the output must be a contiguous int32 vector, got " + described(out));
  const std::int64_t nnz = check_structure("csr_column_set", row_offsets, columns, cols);
  // A bit per column: marking and then reading the bits in order sorts the columns in
  // O(entries + columns / 64), where sorting the entries would cost O(entries · log entries).
  const std::int64_t words = (cols + 63) / 64;
  auto* bits = part_scratch<std::uint64_t>(ScratchSlot::row_set, words);
  std::fill(bits, bits + words, std::uint64_t{0});
  visit_index(index, "csr_column_set", [&]<class I>() {
    const I* c = columns.data<I>();
    for (std::int64_t e = 0; e < nnz; ++e) bits[c[e] >> 6] |= std::uint64_t{1} << (c[e] & 63);
  });
  std::int64_t count = 0;
  for (std::int64_t w = 0; w < words; ++w) count += __builtin_popcountll(bits[w]);
  if (count > out.numel())
    throw ShapeError("csr_column_set: the sparse operand uses " + std::to_string(count) +
                     " distinct columns, but the output has room for " + std::to_string(out.numel()));
  std::int32_t* r = out.data<std::int32_t>();
  std::int64_t k = 0;
  for (std::int64_t w = 0; w < words; ++w)
    for (std::uint64_t word = bits[w]; word != 0; word &= word - 1)
      r[k++] = static_cast<std::int32_t>(w * 64 + __builtin_ctzll(word));
  std::fill(r + k, r + out.numel(), -1);
}

template <class T>
void cpu::RowProduct<T>::form(std::int64_t begin, std::int64_t end, T* out, std::int64_t ldo) const {
  // The offsets are positions in dense_rows and values, so a window of them is a CSR matrix too.
  cpu::typed_kernels<T>().template csr<std::int64_t>().rows(0, end - begin, offsets + begin, dense_rows, values, entries,
                                                            dense_row_count, n, dense, ld, out, ldo, false);
}

template <class T>
cpu::RowProduct<T> cpu::prepare_row_product(const char* op, const Tensor& row_offsets, const Tensor& columns,
                                            const Tensor& values, const Tensor& dense, const Tensor& rows,
                                            std::int64_t cols) {
  const auto [a_rows, capacity, index] = check_arrays(op, row_offsets, columns, &values);
  check_table_rows(op, cols);
  if (values.dtype() != dtype_of<T>())
    throw DTypeError(std::string(op) + ": the sparse values are " + std::string(dtype_name(values.dtype())) +
                     ", the parameter " + std::string(dtype_name(dtype_of<T>())));
  check_dense(op, "dense operand", dense, a_rows, -1, values.dtype());
  const std::int64_t count = check_row_set(op, rows, cols);
  const std::int64_t nnz = check_structure(op, row_offsets, columns, cols);
  // A counting sort: entries of one column stay in row order, so every output row adds its terms
  // in one order at every thread count. Sized by the room and the capacity, not by this call's
  // rows and entries, so that the scratch stops growing after the first call whatever the
  // batches hold.
  const std::int64_t room = rows.numel();
  const std::size_t slots = scratch_bytes<std::int32_t>(cols), ints = scratch_bytes<std::int64_t>(2 * room + 1 + capacity);
  auto* scratch = static_cast<char*>(part_scratch(ScratchSlot::row_set, slots + ints + scratch_bytes<T>(capacity)));
  std::int32_t* slot = reinterpret_cast<std::int32_t*>(scratch);  // table row -> position in the set
  auto* t_offsets = reinterpret_cast<std::int64_t*>(scratch + slots);
  std::int64_t* cursor = t_offsets + room + 1;
  std::int64_t* t_rows = cursor + count;
  T* t_values = reinterpret_cast<T*>(scratch + slots + ints);
  const std::int32_t* r = rows.data<std::int32_t>();
  const T* v = values.data<T>();
  for (std::int64_t k = 0; k < count; ++k) slot[r[k]] = static_cast<std::int32_t>(k);
  std::fill(t_offsets, t_offsets + count + 1, std::int64_t{0});
  visit_index(index, op, [&]<class I>() {
    const I* o = row_offsets.data<I>();
    const I* c = columns.data<I>();
    for (std::int64_t i = 0; i < a_rows; ++i)
      for (std::int64_t e = o[i]; e < o[i + 1]; ++e) {
        const std::int32_t s = slot[c[e]];  // stale unless the check below holds
        if (s < 0 || s >= count || r[s] != c[e])
          throw IndexError(std::string(op) + ": row " + std::to_string(i) + " of the sparse operand has column " +
                           std::to_string(c[e]) + ", which the row set does not hold");
        ++t_offsets[s + 1];
      }
    for (std::int64_t k = 0; k < count; ++k) t_offsets[k + 1] += t_offsets[k];
    std::fill(t_offsets + count + 1, t_offsets + room + 1, nnz);
    std::copy(t_offsets, t_offsets + count, cursor);
    for (std::int64_t i = 0; i < a_rows; ++i)
      for (std::int64_t e = o[i]; e < o[i + 1]; ++e) {
        const std::int64_t at = cursor[slot[c[e]]]++;
        t_rows[at] = i;
        t_values[at] = v[e];
      }
  });
  return {t_offsets, t_rows, t_values, nnz, dense.data<T>(), a_rows, dense.shape()[1], dense.strides()[0]};
}

template struct cpu::RowProduct<float>;
template struct cpu::RowProduct<double>;
template cpu::RowProduct<float> cpu::prepare_row_product<float>(const char*, const Tensor&, const Tensor&, const Tensor&,
                                                                const Tensor&, const Tensor&, std::int64_t);
template cpu::RowProduct<double> cpu::prepare_row_product<double>(const char*, const Tensor&, const Tensor&,
                                                                  const Tensor&, const Tensor&, const Tensor&,
                                                                  std::int64_t);

void cpu::csr_t_matmul_at_rows(const Tensor& row_offsets, const Tensor& columns, const Tensor& values,
                               const Tensor& dense, const Tensor& rows, std::int64_t cols, const Tensor& out) {
  const char* op = "csr_t_matmul_at_rows";
  if (!values.defined() || !is_floating(values.dtype()))
    throw ShapeError(std::string(op) + ": values " + described(values) + " must be a float vector");
  // Every output row is written once, with no zero-fill and no scattered read-modify-write; the
  // rows past the set are rows with no entries, so the threads write their zeros too.
  visit_floating(values.dtype(), op, [&]<class T>() {
    const RowProduct<T> product = prepare_row_product<T>(op, row_offsets, columns, values, dense, rows, cols);
    const std::int64_t room = rows.numel(), n = product.n;
    check_dense(op, "output", out, room, n, values.dtype());
    T* y = out.data<T>();
    const std::int64_t ldy = out.strides()[0];
    cpu::parallel_for(room, cpu::threads_for((product.entries + room) * n, room),
                      [&](std::int64_t begin, std::int64_t end, int) { product.form(begin, end, y + begin * ldy, ldy); });
  });
}

void cpu::rows_to_dense(const Tensor& rows, const Tensor& values, const Tensor& out) {
  if (!values.defined() || !is_floating(values.dtype()))
    throw DTypeError("rows_to_dense: the values must be float32 or float64, got " + described(values));
  check_dense("rows_to_dense", "values", values, rows.defined() ? rows.numel() : -1, -1, values.dtype());
  const std::int64_t n = values.shape()[1];
  check_dense("rows_to_dense", "output", out, -1, n, values.dtype());
  const std::int64_t count = check_row_set("rows_to_dense", rows, out.shape()[0]);
  visit_floating(values.dtype(), "rows_to_dense", [&]<class T>() {
    const std::int32_t* r = rows.data<std::int32_t>();
    const T* v = values.data<T>();
    T* y = out.data<T>();
    const std::int64_t ldv = values.strides()[0], ldy = out.strides()[0];
    std::int64_t next = 0;  // the rows between two of the set are zeroed, each row written once
    for (std::int64_t k = 0; k < count; ++k) {
      zero_rows(y, ldy, n, next, r[k]);
      std::copy(v + k * ldv, v + k * ldv + n, y + r[k] * ldy);
      next = r[k] + 1;
    }
    zero_rows(y, ldy, n, next, out.shape()[0]);
  });
}

void cpu::take_rows(const Tensor& dense, const Tensor& rows, const Tensor& out) {
  if (!dense.defined() || !is_floating(dense.dtype()))
    throw DTypeError("take_rows: the dense operand must be float32 or float64, got " + described(dense));
  check_dense("take_rows", "dense operand", dense, -1, -1, dense.dtype());
  const std::int64_t n = dense.shape()[1];
  check_dense("take_rows", "output", out, rows.defined() ? rows.numel() : -1, n, dense.dtype());
  const std::int64_t count = check_row_set("take_rows", rows, dense.shape()[0]);
  visit_floating(dense.dtype(), "take_rows", [&]<class T>() {
    const std::int32_t* r = rows.data<std::int32_t>();
    const T* x = dense.data<T>();
    T* y = out.data<T>();
    const std::int64_t ldx = dense.strides()[0], ldy = out.strides()[0];
    for (std::int64_t k = 0; k < count; ++k) std::copy(x + r[k] * ldx, x + r[k] * ldx + n, y + k * ldy);
    zero_rows(y, ldy, n, count, rows.numel());
  });
}

}  // namespace stheno
