#include "stheno/kernels/threads.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "kernels/cpu/thread_pool.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno {

namespace {

// The cores this process may run on (its affinity mask, which taskset and container limits
// narrow), unless STHENO_NUM_THREADS or OMP_NUM_THREADS says otherwise.
int default_threads() {
  for (const char* name : {"STHENO_NUM_THREADS", "OMP_NUM_THREADS"})
    if (const char* v = std::getenv(name)) {
      char* end = nullptr;
      const long n = std::strtol(v, &end, 10);
      if (end != v && *end == '\0' && n >= 1 && n <= 1024) return static_cast<int>(n);
    }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 1) return 1;
  const int cores = CPU_COUNT(&set);
  // Ranks of a data-parallel run that mpirun left unbound (as with --oversubscribe) all see
  // every core: they share them out rather than each spinning up a thread per core.
  if (const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
      local && cores == static_cast<int>(std::thread::hardware_concurrency())) {
    const long ranks = std::strtol(local, nullptr, 10);
    if (ranks > 1) return std::max(1, cores / static_cast<int>(std::min<long>(ranks, cores)));
  }
  return cores;
}

std::atomic<int>& thread_count() {
  static std::atomic<int> count{default_threads()};
  return count;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: need at least 1 thread, got " + std::to_string(n));
  if (n > 65535) throw ValueError("set_num_threads: at most 65535 threads, got " + std::to_string(n));
  thread_count().store(n, std::memory_order_relaxed);
}

int num_threads() {
  return thread_count().load(std::memory_order_relaxed);
}

FlushSubnormals::FlushSubnormals(bool wanted) {
  if (!wanted) return;
  saved_ = cpu::subnormal_mode();
  const unsigned flushing = cpu::flushing_subnormals();
  changed_ = saved_ != flushing;
  if (changed_) cpu::set_subnormal_mode(flushing);
}

FlushSubnormals::~FlushSubnormals() {
  if (changed_) cpu::set_subnormal_mode(saved_);
}

}  // namespace stheno
