#pragma once
// stheno's own worker threads, in place of an OpenMP runtime.
//
// A job is split into a fixed number of parts, so that per-part results (partial sums, weight
// gradient accumulators) are combined the same way on every run. Parts are claimed, not
// assigned: the calling thread works through the parts itself and only waits for parts a worker
// has already started. A worker that another process keeps off its core costs the job nothing,
// where a fixed assignment (OpenMP's static schedule and its end-of-region barrier) would stall
// every call until that worker ran. Idle workers spin briefly, yielding, then sleep on a futex.
#include <cstddef>
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

// The calling thread's subnormal handling (x86: MXCSR's FTZ and DAZ bits; 0 elsewhere), the
// value that flushes subnormals, and setting it. A job's parts run in the mode of the thread that
// started it (FlushSubnormals, kernels/threads.hpp).
unsigned subnormal_mode();
unsigned flushing_subnormals();
void set_subnormal_mode(unsigned mode);

// Scratch memory for kernels that need some inside a parallel loop. It belongs to the part, not
// to the thread running it: each thread that starts jobs keeps one set of buffers per part, and
// whichever thread runs part p of its job uses set p. Since parts are claimed, the thread that
// runs a part changes from call to call, so per-thread buffers would grow (allocate) whenever a
// thread first ran a part; per-part buffers stop growing after one warm-up call. Outside a
// parallel loop, the calling thread's set 0. Each kernel uses its own slot, so a kernel called
// inside another's part does not overwrite the outer one's scratch. What a kernel prepares on the
// calling thread for all its parts, or gathers from them, takes a slot that its parts do not use
// (winograd_shared, lstm_weight_t, lstm_prev_states): that thread runs part 0 in set 0.
enum class ScratchSlot { conv_columns, softmax_row, reduce_rows, gemm_panel, gemm_packed_b, csr_cursors, row_set,
                        formed_rows, conv_padded, conv_taps, conv_flipped, conv_grad_t, pool_row, winograd_image, winograd_pixels,
                        winograd_grads, winograd_tiles, winograd_products, winograd_shared, lstm_weight_t, lstm_prev_states,
                        lstm_carried, count };
void* part_scratch(ScratchSlot slot, std::size_t bytes);

template <class T>
T* part_scratch(ScratchSlot slot, std::int64_t elements) {
  return static_cast<T*>(part_scratch(slot, static_cast<std::size_t>(elements) * sizeof(T)));
}

}  // namespace stheno::cpu
