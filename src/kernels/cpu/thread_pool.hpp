#pragma once
// stheno's own worker threads, in place of an OpenMP runtime.
//
// A job is split into a fixed number of parts, so that per-part results (partial sums, weight
// gradient accumulators) are combined the same way on every run. Parts are claimed, not
// assigned: the calling thread works through the parts itself and only waits for parts a worker
// has already started. A worker that another process keeps off its core costs the job nothing,
// where a fixed assignment (OpenMP's static schedule and its end-of-region barrier) would stall
// every call until that worker ran. Idle workers spin briefly, yielding, then sleep on a futex.
#include <cstdint>

namespace stheno::cpu {

// A borrowed callable: runs `fn(context, part)`. No allocation, unlike std::function.
struct PartTask {
  void (*fn)(void* context, int part);
  void* context;
};

// Runs task for every part in [0, parts) on the calling thread and up to parts − 1 workers.
// Called from inside a part, or while another thread's job is running, it runs every part on the
// calling thread, in order.
void run_parts(int parts, PartTask task);

// True on a thread while it is running a part of a job.
bool in_parallel_part();

}  // namespace stheno::cpu
