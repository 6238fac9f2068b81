#pragma once
// Counts every heap allocation in the process (malloc, calloc, realloc, the aligned variants,
// and so operator new) while a counter is alive. The test executable replaces glibc's malloc
// family with counting wrappers; sanitizer builds keep their own allocator and count nothing.
#include <cstdint>

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

 private:
  std::int64_t start_;
};

}  // namespace stheno::testing
