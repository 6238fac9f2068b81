#pragma once
// Splits strided-loop work across the OpenMP pool when it is large enough to pay for the threads.
#include <omp.h>

#include "stheno/kernels/threads.hpp"
#include "tensor/strided_loop.hpp"

namespace stheno::cpu {

// Below this many elements a loop runs on the calling thread: waking the pool costs more.
inline constexpr std::int64_t kParallelGrain = 1 << 15;

inline void chunk_of(std::int64_t total, int part, int parts, std::int64_t& begin, std::int64_t& end) {
  begin = total * part / parts;
  end = total * (part + 1) / parts;
}

// Runs row_fn(offsets, n, inner_strides) over every row of `loop`, in parallel for big loops.
// Rows are split between threads; a loop with fewer rows than threads has its rows split instead.
template <int N, class RowFn>
void parallel_rows(const detail::StridedLoop<N>& loop, std::int64_t cost_per_element, RowFn&& row_fn) {
  const std::int64_t rows = loop.rows();
  const std::int64_t work = rows * loop.inner() * cost_per_element;
  const int threads = work >= kParallelGrain ? num_threads() : 1;
  if (threads <= 1) {
    detail::for_each_row(loop, 0, rows, row_fn);
  } else if (rows >= threads) {
#pragma omp parallel num_threads(threads)
    {
      std::int64_t begin, end;
      chunk_of(rows, omp_get_thread_num(), omp_get_num_threads(), begin, end);
      detail::for_each_row(loop, begin, end, row_fn);
    }
  } else {
    detail::for_each_row(loop, 0, rows, [&](const auto& offset, std::int64_t n, const auto& strides) {
#pragma omp parallel num_threads(threads)
      {
        std::int64_t begin, end;
        chunk_of(n, omp_get_thread_num(), omp_get_num_threads(), begin, end);
        auto part = offset;
        for (int k = 0; k < N; ++k) part[k] += begin * strides[k];
        if (end > begin) row_fn(part, end - begin, strides);
      }
    });
  }
}

}  // namespace stheno::cpu
