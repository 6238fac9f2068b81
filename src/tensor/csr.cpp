#include "stheno/tensor/csr.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <numeric>
#include <vector>

namespace stheno {

namespace {

constexpr std::int64_t kMaxInt32 = std::numeric_limits<std::int32_t>::max();

std::string where(std::int64_t rows, std::int64_t cols) {
  return "csr (" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}

void check_extent(std::int64_t rows, std::int64_t cols, std::int64_t entries, DType index_dtype) {
  if (rows < 0 || cols < 0) throw ValueError(where(rows, cols) + ": negative size");
  if (index_dtype == DType::i32 && (rows > kMaxInt32 || cols > kMaxInt32 || entries > kMaxInt32))
    throw ValueError(where(rows, cols) + " with " + std::to_string(entries) +
                     " entries: more rows, columns or entries than int32 indices can address; use int64 indices");
}

template <class T>
Tensor vector_tensor(const std::vector<T>& v) {
  Tensor t = Tensor::empty(Shape{static_cast<std::int64_t>(v.size())}, dtype_of<T>());
  std::copy(v.begin(), v.end(), t.data<T>());
  return t;
}

// Sorts each row's entries by column and sums repeated columns, in place (the arrays shrink).
template <class I, class T>
void canonicalise(std::int64_t rows, std::vector<I>& offsets, std::vector<I>& columns, std::vector<T>& values) {
  std::vector<std::pair<I, T>> row;
  std::int64_t write = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t begin = offsets[r], end = offsets[r + 1];
    row.clear();
    for (std::int64_t k = begin; k < end; ++k) row.emplace_back(columns[k], values[k]);
    std::stable_sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    offsets[r] = static_cast<I>(write);
    for (std::size_t k = 0; k < row.size(); ++k) {
      if (k > 0 && row[k].first == row[k - 1].first) {
        values[write - 1] += row[k].second;
        continue;
      }
      columns[write] = row[k].first;
      values[write] = row[k].second;
      ++write;
    }
  }
  offsets[rows] = static_cast<I>(write);
  columns.resize(write);
  values.resize(write);
}

// Whether every row's columns are sorted and unique already.
template <class I>
bool canonical(std::int64_t rows, const std::vector<I>& offsets, const std::vector<I>& columns) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t k = offsets[r] + 1; k < offsets[r + 1]; ++k)
      if (columns[k] <= columns[k - 1]) return false;
  return true;
}

template <class I>
void check_structure(const std::string& at, std::int64_t rows, std::int64_t cols, std::int64_t nnz, const I* o,
                     const I* c) {
  if (o[0] != 0) throw ValueError(at + ": row offsets must start at 0, got " + std::to_string(o[0]));
  for (std::int64_t r = 0; r < rows; ++r) {
    if (o[r + 1] < o[r])
      throw ValueError(at + ": row " + std::to_string(r) + " ends (offset " + std::to_string(o[r + 1]) +
                       ") before it starts (offset " + std::to_string(o[r]) + ")");
    if (o[r + 1] > nnz)
      throw ValueError(at + ": row " + std::to_string(r) + " ends at offset " + std::to_string(o[r + 1]) +
                       ", past the " + std::to_string(nnz) + " stored entries");
    for (std::int64_t k = o[r]; k < o[r + 1]; ++k)
      if (c[k] < 0 || c[k] >= cols)
        throw IndexError(at + ": row " + std::to_string(r) + " has column " + std::to_string(c[k]) +
                         ", outside [0, " + std::to_string(cols) + ")");
  }
  if (o[rows] != nnz)
    throw ValueError(at + ": the last row ends at offset " + std::to_string(o[rows]) + ", but " + std::to_string(nnz) +
                     " entries are stored");
}

// Buckets triplets by row, keeping their order within a row; from_arrays then checks the
// columns, sorts them and sums repeats.
template <class I>
CsrMatrix triplets_to_csr(std::int64_t rows, std::int64_t cols, std::span<const I> row_indices,
                          std::span<const I> column_indices, std::span<const double> values, DType dtype) {
  const std::string at = where(rows, cols);
  if (row_indices.size() != column_indices.size() || row_indices.size() != values.size())
    throw ShapeError(at + ": " + std::to_string(row_indices.size()) + " row indices, " +
                     std::to_string(column_indices.size()) + " column indices and " + std::to_string(values.size()) +
                     " values: the triplets must have one length");
  check_extent(rows, cols, static_cast<std::int64_t>(values.size()), dtype_of<I>());
  std::vector<I> offsets(static_cast<std::size_t>(rows) + 1, 0);
  for (std::size_t k = 0; k < row_indices.size(); ++k) {
    if (row_indices[k] < 0 || row_indices[k] >= rows)
      throw IndexError(at + ": triplet " + std::to_string(k) + " has row " + std::to_string(row_indices[k]) +
                       ", outside [0, " + std::to_string(rows) + ")");
    ++offsets[static_cast<std::size_t>(row_indices[k]) + 1];
  }
  std::partial_sum(offsets.begin(), offsets.end(), offsets.begin());
  std::vector<I> next(offsets.begin(), offsets.end() - 1), cs(values.size());
  std::vector<double> vs(values.size());
  for (std::size_t k = 0; k < row_indices.size(); ++k) {
    const I slot = next[static_cast<std::size_t>(row_indices[k])]++;
    cs[static_cast<std::size_t>(slot)] = column_indices[k];
    vs[static_cast<std::size_t>(slot)] = values[k];
  }
  return CsrMatrix::from_arrays(rows, cols, vector_tensor(offsets), vector_tensor(cs), vector_tensor(vs).to(dtype));
}

}  // namespace

CsrMatrix CsrMatrix::from_arrays(std::int64_t rows, std::int64_t cols, const Tensor& row_offsets,
                                 const Tensor& columns, const Tensor& values) {
  const std::string at = where(rows, cols);
  if (!row_offsets.defined() || !columns.defined() || !values.defined()) throw ValueError(at + ": undefined array");
  const DType index = row_offsets.dtype();
  if ((index != DType::i32 && index != DType::i64) || columns.dtype() != index)
    throw DTypeError(at + ": row offsets and columns must both be int32 or both int64, got " +
                     std::string(dtype_name(row_offsets.dtype())) + " and " + std::string(dtype_name(columns.dtype())));
  if (!is_floating(values.dtype()))
    throw DTypeError(at + ": values must be float32 or float64, got " + std::string(dtype_name(values.dtype())));
  if (row_offsets.rank() != 1 || row_offsets.numel() != rows + 1)
    throw ShapeError(at + ": row offsets must be a vector of rows + 1 = " + std::to_string(rows + 1) + ", got " +
                     row_offsets.shape().str());
  if (columns.rank() != 1 || values.rank() != 1 || columns.numel() != values.numel())
    throw ShapeError(at + ": columns " + columns.shape().str() + " and values " + values.shape().str() +
                     " must be vectors of one length");
  const std::int64_t nnz = columns.numel();
  check_extent(rows, cols, nnz, index);
  CsrMatrix m;
  m.rows_ = rows;
  m.cols_ = cols;
  visit_index(index, "csr", [&]<class I>() {
    const Tensor host_offsets = row_offsets.to(Device::cpu()).contiguous();
    const Tensor host_columns = columns.to(Device::cpu()).contiguous();
    const I* o = host_offsets.data<I>();
    const I* c = host_columns.data<I>();
    check_structure(at, rows, cols, nnz, o, c);
    std::vector<I> offs(o, o + rows + 1), cs(c, c + nnz);
    visit_floating(values.dtype(), "csr", [&]<class T>() {
      const Tensor host_values = values.to(Device::cpu()).contiguous();
      std::vector<T> vs(host_values.data<T>(), host_values.data<T>() + nnz);
      if (!canonical(rows, offs, cs)) canonicalise(rows, offs, cs, vs);
      m.values_ = vector_tensor(vs);
    });
    m.row_offsets_ = vector_tensor(offs);
    m.columns_ = vector_tensor(cs);
  });
  return m;
}

CsrMatrix CsrMatrix::from_triplets(std::int64_t rows, std::int64_t cols, std::span<const std::int32_t> row_indices,
                                   std::span<const std::int32_t> column_indices, std::span<const double> values,
                                   DType dtype) {
  return triplets_to_csr(rows, cols, row_indices, column_indices, values, dtype);
}

CsrMatrix CsrMatrix::from_triplets(std::int64_t rows, std::int64_t cols, std::span<const std::int64_t> row_indices,
                                   std::span<const std::int64_t> column_indices, std::span<const double> values,
                                   DType dtype) {
  return triplets_to_csr(rows, cols, row_indices, column_indices, values, dtype);
}

CsrMatrix CsrMatrix::from_dense(const Tensor& dense, DType index_dtype) {
  if (!dense.defined() || dense.rank() != 2 || !is_floating(dense.dtype()))
    throw ShapeError("csr from_dense: expected a 2-D float tensor, got " +
                     (dense.defined() ? dense.shape().str() + " " + std::string(dtype_name(dense.dtype())) : "undefined"));
  const std::int64_t rows = dense.shape()[0], cols = dense.shape()[1];
  check_extent(rows, cols, 0, index_dtype);
  const Tensor host = dense.to(Device::cpu()).contiguous();
  CsrMatrix m;
  m.rows_ = rows;
  m.cols_ = cols;
  visit_index(index_dtype, "csr from_dense", [&]<class I>() {
    std::vector<I> offsets{0}, cs;
    visit_floating(dense.dtype(), "csr from_dense", [&]<class T>() {
      const T* x = host.data<T>();
      std::vector<T> vs;
      for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < cols; ++c)
          if (const T v = x[r * cols + c]; v != T(0)) {
            cs.push_back(static_cast<I>(c));
            vs.push_back(v);
          }
        check_extent(rows, cols, static_cast<std::int64_t>(cs.size()), index_dtype);
        offsets.push_back(static_cast<I>(cs.size()));
      }
      m.values_ = vector_tensor(vs);
    });
    m.row_offsets_ = vector_tensor(offsets);
    m.columns_ = vector_tensor(cs);
  });
  return m;
}

CsrMatrix CsrMatrix::with_index_dtype(DType index_dtype) const {
  visit_index(index_dtype, "csr with_index_dtype", []<class I>() {});
  check_extent(rows_, cols_, nnz(), index_dtype);
  if (!defined() || index_dtype == this->index_dtype()) return *this;
  CsrMatrix m = *this;
  m.row_offsets_ = row_offsets_.to(index_dtype);  // in range: check_extent bounds every offset and column
  m.columns_ = columns_.to(index_dtype);
  return m;
}

double CsrMatrix::density() const {
  const double all = static_cast<double>(rows_) * static_cast<double>(cols_);
  return all > 0 ? static_cast<double>(nnz()) / all : 0.0;
}

CsrMatrix CsrMatrix::rows_slice(std::int64_t begin, std::int64_t end) const {
  if (begin < 0 || end < begin || end > rows_)
    throw IndexError(where(rows_, cols_) + ": rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") are outside [0, " + std::to_string(rows_) + ")");
  CsrMatrix m;
  m.rows_ = end - begin;
  m.cols_ = cols_;
  visit_index(index_dtype(), "csr rows_slice", [&]<class I>() {
    const I* o = row_offsets_.data<I>();
    const std::int64_t first = o[begin], last = o[end];
    m.row_offsets_ = Tensor::empty(Shape{end - begin + 1}, index_dtype());
    I* mo = m.row_offsets_.data<I>();
    for (std::int64_t r = begin; r <= end; ++r) mo[r - begin] = static_cast<I>(o[r] - first);
    m.columns_ = columns_.slice(0, first, last).clone();
    m.values_ = values_.slice(0, first, last).clone();
  });
  return m;
}

Tensor CsrMatrix::to_dense() const {
  Tensor out = Tensor::zeros(Shape{rows_, cols_}, values_.defined() ? dtype() : DType::f32);
  if (!values_.defined()) return out;
  visit_index(index_dtype(), "csr to_dense", [&]<class I>() {
    const I* o = row_offsets_.data<I>();
    const I* c = columns_.data<I>();
    visit_floating(dtype(), "csr to_dense", [&]<class T>() {
      const T* v = values_.data<T>();
      T* d = out.data<T>();
      for (std::int64_t r = 0; r < rows_; ++r)
        for (std::int64_t k = o[r]; k < o[r + 1]; ++k) d[r * cols_ + c[k]] = v[k];
    });
  });
  return out;
}

std::string CsrMatrix::str(std::int64_t max_rows) const {
  char head[160];
  std::snprintf(head, sizeof head, "csr (%lld, %lld) %s, %lld stored (%.3g%%)", static_cast<long long>(rows_),
                static_cast<long long>(cols_), values_.defined() ? std::string(dtype_name(dtype())).c_str() : "float32",
                static_cast<long long>(nnz()), 100.0 * density());
  std::string s = head;
  if (index_dtype() == DType::i64) s += ", int64 indices";
  if (!values_.defined()) return s;
  visit_index(index_dtype(), "csr str", [&]<class I>() {
    const I* o = row_offsets_.data<I>();
    const I* c = columns_.data<I>();
    for (std::int64_t r = 0; r < std::min(rows_, max_rows); ++r) {
      s += "\n  row " + std::to_string(r) + ":";
      for (std::int64_t k = o[r]; k < o[r + 1]; ++k) {
        char entry[64];
        std::snprintf(entry, sizeof entry, " %lld:%.6g", static_cast<long long>(c[k]), values_.at({k}));
        s += entry;
      }
    }
  });
  if (rows_ > max_rows) s += "\n  ... " + std::to_string(rows_ - max_rows) + " more rows";
  return s;
}

}  // namespace stheno
