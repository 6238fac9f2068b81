#pragma once
// The one place that starts OpenMP parallel regions.
//
// A region is entered only with two or more threads: libgomp allocates (and frees) a new team
// for every one-thread region, which would cost an allocation per kernel call.
#include <omp.h>

#include "stheno/kernels/threads.hpp"
#include "tensor/strided_loop.hpp"

namespace stheno::cpu {

// Below this much work (elements × cost weight) a loop runs on the calling thread: waking the
// pool costs more than it saves.
inline constexpr std::int64_t kParallelGrain = 1 << 15;

inline void chunk_of(std::int64_t total, int part, int parts, std::int64_t& begin, std::int64_t& end) {
  begin = total * part / parts;
  end = total * (part + 1) / parts;
}

// Threads worth using for `work` units of work spread over `items` independent items.
// Inside a parallel region it is always 1: a nested region would run on one thread anyway, and
// entering it would allocate.
inline int threads_for(std::int64_t work, std::int64_t items) {
  if (work < kParallelGrain || items < 2 || omp_in_parallel()) return 1;
  const int n = num_threads();
  return items < n ? static_cast<int>(items) : n;
}

// Calls body(begin, end, thread) on consecutive chunks of [0, n), one chunk per thread.
template <class Body>
void parallel_for(std::int64_t n, int threads, Body&& body) {
  if (threads <= 1) {
    if (n > 0) body(std::int64_t{0}, n, 0);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    std::int64_t begin, end;
    chunk_of(n, omp_get_thread_num(), omp_get_num_threads(), begin, end);
    if (end > begin) body(begin, end, omp_get_thread_num());
  }
}

// Runs row_fn(offsets, n, inner_strides) over every row of `loop`, in parallel for big loops.
// Rows are split between threads; a loop with fewer rows than threads has its rows split instead.
template <int N, class RowFn>
void parallel_rows(const detail::StridedLoop<N>& loop, std::int64_t cost_per_element, RowFn&& row_fn) {
  const std::int64_t rows = loop.rows();
  const std::int64_t work = rows * loop.inner() * cost_per_element;
  if (rows >= num_threads() || rows == 0) {
    parallel_for(rows, threads_for(work, rows), [&](std::int64_t begin, std::int64_t end, int) {
      detail::for_each_row(loop, begin, end, row_fn);
    });
    return;
  }
  detail::for_each_row(loop, 0, rows, [&](const auto& offset, std::int64_t n, const auto& strides) {
    parallel_for(n, threads_for(work, n), [&](std::int64_t begin, std::int64_t end, int) {
      auto part = offset;
      for (int k = 0; k < N; ++k) part[k] += begin * strides[k];
      row_fn(part, end - begin, strides);
    });
  });
}

}  // namespace stheno::cpu
