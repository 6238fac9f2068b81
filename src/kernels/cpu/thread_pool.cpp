#include "kernels/cpu/thread_pool.hpp"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/cpu/blas.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define STHENO_CPU_RELAX() _mm_pause()
#else
#define STHENO_CPU_RELAX() ((void)0)
#endif

namespace stheno::cpu {

namespace {

thread_local bool running_part = false;

struct ScratchSet {
  std::vector<std::byte> slots[static_cast<int>(ScratchSlot::count)];
};

// The sets of the parts of the jobs this thread starts (set 0 also serves its serial code), and
// the set of the part this thread is running, if any.
thread_local std::vector<std::unique_ptr<ScratchSet>> own_sets;
thread_local std::vector<ScratchSet*> own_set_pointers;  // own_sets' pointers, for the workers
thread_local ScratchSet* current_set = nullptr;

ScratchSet* const* owned_sets(int parts) {
  while (static_cast<int>(own_sets.size()) < parts) {
    own_sets.push_back(std::make_unique<ScratchSet>());
    own_set_pointers.push_back(own_sets.back().get());
  }
  return own_set_pointers.data();
}

// Runs one part with its scratch set as the current one.
void run_part(const PartTask& task, int part, ScratchSet* set) {
  ScratchSet* const outer = current_set;
  const bool outer_running = running_part;
  current_set = set;
  running_part = true;
  task.fn(task.context, part);
  running_part = outer_running;
  current_set = outer;
}

// How long an idle worker keeps polling for the next job before it sleeps. Kernels of one
// training step follow each other within microseconds, and a futex wake-up costs several, so
// workers poll through such gaps; past this they sleep, and leave a busy machine's cores alone.
constexpr auto kPollFor = std::chrono::microseconds(100);

void relax(int round) {
  // Mostly pause; now and then give the core to whatever else is runnable, in case that is the
  // thread this one waits for.
  if (round % 16 == 15) sched_yield();
  else
    for (int i = 0; i < 16; ++i) STHENO_CPU_RELAX();
}

// One word holds the job's generation, its part count and the next unclaimed part, so that a
// claim (one compare-exchange) can only succeed on the job it was meant for.
struct Claim {
  static std::uint64_t pack(std::uint32_t generation, std::uint32_t parts, std::uint32_t next) {
    return (std::uint64_t{generation} << 32) | (std::uint64_t{parts} << 16) | next;
  }
  static std::uint32_t generation(std::uint64_t w) { return static_cast<std::uint32_t>(w >> 32); }
  static std::uint32_t parts(std::uint64_t w) { return static_cast<std::uint32_t>(w >> 16) & 0xffff; }
  static std::uint32_t next(std::uint64_t w) { return static_cast<std::uint32_t>(w) & 0xffff; }
};

class Pool {
 public:
  void run(int parts, PartTask task) {
    std::unique_lock lock(job_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {  // another thread's job is running: do not queue behind it
      run_inline(parts, task);
      return;
    }
    ensure_workers(parts - 1);
    task_ = task;
    mode_ = subnormal_mode();
    sets_ = owned_sets(parts);
    done_.store(0, std::memory_order_relaxed);
    const std::uint32_t generation = ++generation_;
    claim_.store(Claim::pack(generation, static_cast<std::uint32_t>(parts), 0), std::memory_order_seq_cst);
    wake_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_.notify_all();

    work_on(generation);
    for (int round = 0; done_.load(std::memory_order_acquire) != parts; ++round) relax(round);
  }

 private:
  static void run_inline(int parts, PartTask task) {
    ScratchSet* const* sets = owned_sets(parts);
    for (int p = 0; p < parts; ++p) run_part(task, p, sets[p]);
  }

  // Claims and runs parts of job `generation` until none is left.
  void work_on(std::uint32_t generation) {
    std::uint64_t w = claim_.load(std::memory_order_acquire);
    while (Claim::generation(w) == generation && Claim::next(w) < Claim::parts(w)) {
      if (!claim_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      // The job cannot end while this part is unfinished, so task_ and sets_ are still this job's.
      const int part = static_cast<int>(Claim::next(w));
      if (subnormal_mode() != mode_) set_subnormal_mode(mode_);  // a worker takes the starter's mode
      run_part(task_, part, sets_[part]);
      done_.fetch_add(1, std::memory_order_release);
      w = claim_.load(std::memory_order_acquire);
    }
  }

  // New workers are ready (their per-thread set-up done) before this returns, so that nothing
  // they allocate for themselves happens later, in the middle of someone's measured steps.
  void ensure_workers(int wanted) {
    while (static_cast<int>(workers_.size()) < wanted) {
      std::atomic<bool> ready{false};
      workers_.emplace_back([this, seen = generation_, &ready] {
        prepare_thread_for_blas();
        ready.store(true, std::memory_order_release);
        worker_loop(seen);
      });
      workers_.back().detach();  // lives as long as the process; sleeps when idle
      for (int round = 0; !ready.load(std::memory_order_acquire); ++round) relax(round);
    }
  }

  // `seen`: the last job published before this worker existed.
  void worker_loop(std::uint32_t seen) {
    for (;;) {
      seen = wait_for_job(seen);
      work_on(seen);
    }
  }

  std::uint32_t wait_for_job(std::uint32_t seen) {
    const auto give_up = std::chrono::steady_clock::now() + kPollFor;
    for (int round = 0;; ++round) {
      const std::uint32_t g = Claim::generation(claim_.load(std::memory_order_acquire));
      if (g != seen) return g;
      if (round % 64 == 63 && std::chrono::steady_clock::now() > give_up) break;
      relax(round);
    }
    for (;;) {
      const std::uint32_t ticket = wake_.load(std::memory_order_seq_cst);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      const std::uint32_t g = Claim::generation(claim_.load(std::memory_order_seq_cst));
      if (g == seen) wake_.wait(ticket, std::memory_order_seq_cst);
      sleepers_.fetch_sub(1, std::memory_order_seq_cst);
      if (g != seen) return g;
    }
  }

  std::mutex job_mutex_;  // one job at a time; held only by the thread that started it
  std::vector<std::thread> workers_;
  PartTask task_{};
  unsigned mode_ = 0;                  // the starting thread's subnormal mode
  ScratchSet* const* sets_ = nullptr;  // the starting thread's scratch, one set per part
  std::uint32_t generation_ = 0;
  std::atomic<std::uint64_t> claim_{0};
  std::atomic<int> done_{0};
  std::atomic<std::uint32_t> wake_{0};
  std::atomic<int> sleepers_{0};
};

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
namespace {
constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;
}
unsigned subnormal_mode() { return _mm_getcsr() & (kFlushToZero | kDenormalsAreZero); }
unsigned flushing_subnormals() { return kFlushToZero | kDenormalsAreZero; }
void set_subnormal_mode(unsigned mode) {
  _mm_setcsr((_mm_getcsr() & ~(kFlushToZero | kDenormalsAreZero)) | mode);
}
#else
unsigned subnormal_mode() { return 0; }
unsigned flushing_subnormals() { return 0; }
void set_subnormal_mode(unsigned) {}
#endif

namespace {
Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: detached workers may still be polling it at exit
  return *p;
}

}  // namespace

bool in_parallel_part() {
  return running_part;
}

void* part_scratch(ScratchSlot slot, std::size_t bytes) {
  ScratchSet* set = current_set ? current_set : owned_sets(1)[0];
  std::vector<std::byte>& buffer = set->slots[static_cast<int>(slot)];
  // Aligned to a cache line: a 64-byte vector stored across two lines costs two stores.
  constexpr std::size_t kLine = 64;
  if (buffer.size() < bytes + kLine) buffer.resize(bytes + kLine);
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + ((kLine - address % kLine) % kLine);
}

void run_parts(int parts, PartTask task) {
  if (parts <= 1 || running_part) {  // inline, inside the enclosing part's scratch
    for (int p = 0; p < parts; ++p) task.fn(task.context, p);
    return;
  }
  pool().run(parts, task);
}

}  // namespace stheno::cpu
