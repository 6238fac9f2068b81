#include "allocation_counter.hpp"

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>

#include "stheno/tensor/device.hpp"

namespace {
std::atomic<std::int64_t> allocations{0}, own_allocations{0};
thread_local std::int64_t own_allocations_on_thread = 0;
}  // namespace

#if defined(__SANITIZE_ADDRESS__)

namespace stheno::testing {
bool allocation_counting_available() { return false; }
}  // namespace stheno::testing

#else

namespace {
void count_allocation() {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (stheno::driver_call_depth() == 0) {
    own_allocations.fetch_add(1, std::memory_order_relaxed);
    ++own_allocations_on_thread;
  }
}
}  // namespace

// glibc supports replacing its allocator this way; the originals stay reachable as __libc_*.
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

void* malloc(std::size_t n) {
  count_allocation();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  count_allocation();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  count_allocation();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t alignment, std::size_t n) {
  count_allocation();
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count_allocation();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  count_allocation();
  *out = __libc_memalign(alignment, n);
  return *out ? 0 : ENOMEM;
}
void free(void* p) { __libc_free(p); }
}

namespace stheno::testing {
bool allocation_counting_available() { return true; }
}  // namespace stheno::testing

#endif

namespace stheno::testing {
AllocationCounter::AllocationCounter()
    : start_(allocations.load()), start_own_(own_allocations.load()), start_on_thread_(own_allocations_on_thread) {}
AllocationCounter::~AllocationCounter() = default;
std::int64_t AllocationCounter::count() const { return allocations.load() - start_; }
std::int64_t AllocationCounter::outside_driver_calls() const { return own_allocations.load() - start_own_; }
std::int64_t AllocationCounter::outside_driver_calls_on_this_thread() const {
  return own_allocations_on_thread - start_on_thread_;
}

void StepAllocations::add(const AllocationCounter& counter, std::int64_t steps) {
  const std::int64_t all = counter.count(),
                     own = on_device_ ? counter.outside_driver_calls_on_this_thread() : counter.outside_driver_calls();
  own_ += own;
  driver_ += all - own;
  steps_ += steps;
}

std::string StepAllocations::json() const {
  if (steps_ <= 0 || !allocation_counting_available()) return "\"allocations_per_step\": null";
  const double n = static_cast<double>(steps_);
  char buf[128];
  if (on_device_)
    std::snprintf(buf, sizeof buf, "\"allocations_per_step\": %.3f, \"driver_allocations_per_step\": %.1f",
                  static_cast<double>(own_) / n, static_cast<double>(driver_) / n);
  else
    std::snprintf(buf, sizeof buf, "\"allocations_per_step\": %.3f, \"blas_allocations_per_step\": %.3f",
                  static_cast<double>(own_) / n, static_cast<double>(driver_) / n);
  return buf;
}

}  // namespace stheno::testing
