#pragma once
// Walks N operands of one shape, each with its own strides, one innermost row at a time.
// Axes of size 1 are dropped and axes that are contiguous for every operand are merged, so a
// dense tensor becomes a single row and a broadcast operand gets stride 0 in the row.
#include <array>
#include <cstdint>

#include "stheno/tensor/shape.hpp"

namespace stheno::detail {

template <int N>
struct StridedLoop {
  int rank = 0;
  std::array<std::int64_t, kMaxRank> shape{};
  std::array<std::array<std::int64_t, kMaxRank>, N> strides{};
  bool empty = false;

  std::int64_t inner() const { return rank == 0 ? 1 : shape[rank - 1]; }
  std::int64_t rows() const {
    if (empty) return 0;
    std::int64_t r = 1;
    for (int i = 0; i + 1 < rank; ++i) r *= shape[i];
    return r;
  }
  std::int64_t inner_stride(int operand) const {
    return rank == 0 ? 0 : strides[operand][rank - 1];
  }
};

template <int N>
StridedLoop<N> make_strided_loop(const Shape& shape, const std::array<const Strides*, N>& strides) {
  StridedLoop<N> loop;
  for (int d = 0; d < shape.rank(); ++d) {
    if (shape[d] == 0) loop.empty = true;
    if (shape[d] == 1) continue;
    const int r = loop.rank;
    bool merge = loop.rank > 0;
    for (int k = 0; k < N && merge; ++k)
      merge = loop.strides[k][r - 1] == (*strides[k])[d] * shape[d];
    if (merge) {
      loop.shape[r - 1] *= shape[d];
      for (int k = 0; k < N; ++k) loop.strides[k][r - 1] = (*strides[k])[d];
    } else {
      loop.shape[r] = shape[d];
      for (int k = 0; k < N; ++k) loop.strides[k][r] = (*strides[k])[d];
      ++loop.rank;
    }
  }
  return loop;
}

// Calls fn(offsets, n, inner_strides) for rows [row_begin, row_end); offsets are element
// offsets of each operand's first element in the row.
template <int N, class Fn>
void for_each_row(const StridedLoop<N>& loop, std::int64_t row_begin, std::int64_t row_end, Fn&& fn) {
  if (row_begin >= row_end) return;
  const int outer = loop.rank > 0 ? loop.rank - 1 : 0;
  std::array<std::int64_t, kMaxRank> index{};
  std::array<std::int64_t, N> offset{};
  std::int64_t rest = row_begin;
  for (int d = outer - 1; d >= 0; --d) {
    const int ud = d;
    index[ud] = rest % loop.shape[ud];
    rest /= loop.shape[ud];
    for (int k = 0; k < N; ++k) offset[k] += index[ud] * loop.strides[k][ud];
  }
  std::array<std::int64_t, N> inner_strides{};
  for (int k = 0; k < N; ++k) inner_strides[k] = loop.inner_stride(k);
  const std::int64_t n = loop.inner();
  for (std::int64_t row = row_begin; row < row_end; ++row) {
    fn(offset, n, inner_strides);
    for (int d = outer - 1; d >= 0; --d) {  // odometer step
      const int ud = d;
      for (int k = 0; k < N; ++k) offset[k] += loop.strides[k][ud];
      if (++index[ud] < loop.shape[ud]) break;
      for (int k = 0; k < N; ++k) offset[k] -= loop.strides[k][ud] * loop.shape[ud];
      index[ud] = 0;
    }
  }
}

}  // namespace stheno::detail
