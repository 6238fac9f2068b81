#pragma once
// Counts every heap allocation in the process (malloc, calloc, realloc, the aligned variants,
// and so operator new) while a counter is alive. The test executable replaces glibc's malloc
// family with counting wrappers (which also keep a per-thread count of allocations made outside
// DriverCalls); sanitizer builds keep their own allocator and count nothing.
#include <cstdint>
#include <string>

namespace stheno::testing {

bool allocation_counting_available();

class AllocationCounter {
 public:
  AllocationCounter();
  ~AllocationCounter();
  AllocationCounter(const AllocationCounter&) = delete;
  AllocationCounter& operator=(const AllocationCounter&) = delete;
  // Allocations made by any thread since this counter was created.
  std::int64_t count() const;
  // Allocations made since then by any thread outside DriverCalls (on the host, all but the
  // BLAS library's).
  std::int64_t outside_driver_calls() const;
  // Allocations made since then by the thread that created the counter (call it there), outside
  // any DriverCall: stheno's own, where that thread does all of a device program's host work;
  // the rest of count() is the driver's (inside its calls, or on its threads).
  std::int64_t outside_driver_calls_on_this_thread() const;

 private:
  std::int64_t start_, start_own_, start_on_thread_;
};

// Allocations summed over measured steps, as the CLI and the benchmarks report them: stheno's own
// apart from the driver's on a device, or from the BLAS library's on the host (oneMKL grows a
// thread's packing buffer the first time that thread runs a bigger product, which under load, as
// threads claim parts, can be many steps in).
class StepAllocations {
 public:
  explicit StepAllocations(bool on_device) : on_device_(on_device) {}
  // Adds what `counter` saw over `steps` steps (call on the thread that made the counter).
  void add(const AllocationCounter& counter, std::int64_t steps = 1);
  // '"allocations_per_step": X' (stheno's own; null where allocations cannot be counted or no
  // step was measured), then ', "driver_allocations_per_step": Y' on a device or
  // ', "blas_allocations_per_step": Y' on the host.
  std::string json() const;

 private:
  bool on_device_;
  std::int64_t steps_ = 0, own_ = 0, driver_ = 0;
};

}  // namespace stheno::testing
