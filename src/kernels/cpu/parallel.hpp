#pragma once
// The one place that shares a loop between threads (through thread_pool.hpp).
#include "kernels/cpu/thread_pool.hpp"
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
// Inside a part of a parallel loop it is always 1: nested loops run on the thread they are in.
inline int threads_for(std::int64_t work, std::int64_t items) {
  if (work < kParallelGrain || items < 2 || in_parallel_part()) return 1;
  const int n = num_threads();
  return items < n ? static_cast<int>(items) : n;
}

// Calls body(begin, end, part) on `threads` consecutive chunks of [0, n). The chunks depend only
// on n and threads, and `part` (< threads) names the chunk, so per-part results combine the
// same way whichever thread ran which part.
template <class Body>
void parallel_for(std::int64_t n, int threads, Body&& body) {
  if (threads <= 1) {
    if (n > 0) body(std::int64_t{0}, n, 0);
    return;
  }
  struct Context {
    std::int64_t n;
    int parts;
    Body* body;
  } context{n, threads, &body};
  run_parts(threads, {[](void* c, int part) {
                        const auto& ctx = *static_cast<Context*>(c);
                        std::int64_t begin, end;
                        chunk_of(ctx.n, part, ctx.parts, begin, end);
                        if (end > begin) (*ctx.body)(begin, end, part);
                      },
                      &context});
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
