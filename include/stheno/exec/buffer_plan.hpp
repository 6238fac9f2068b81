#pragma once
// The tape machine's memory planner, on its own: buffers with lifetimes (instruction indices)
// go in, offsets in one arena come out, such that two buffers alive at the same instruction
// never share a byte. Greedy by size: the largest buffer first, each at the lowest offset that
// clears every already placed buffer whose lifetime overlaps its own.
//
//   BufferPlan plan;
//   int a = plan.add(0, 2, 4096), b = plan.add(1, 3, 1024), c = plan.add(3, 5, 4096);
//   plan.place();   // a and c share bytes; b does not overlap either
#include <cstddef>
#include <vector>

namespace stheno {

class BufferPlan {
 public:
  // Every buffer's size is rounded up to this, so that each starts aligned for SIMD loads.
  static constexpr std::size_t kAlignment = 64;

  // A buffer written at instruction `first` and last read at instruction `last` (inclusive;
  // last >= first); returns its id.
  int add(int first, int last, std::size_t bytes);
  // Buffer `id` lives on until `last` (a result computed in place over it takes it over).
  void extend(int id, int last);
  // Assigns offsets; call after the last add() or extend().
  void place();

  std::size_t offset(int id) const;
  std::size_t bytes(int id) const;
  int size() const { return static_cast<int>(buffers_.size()); }
  // The arena that holds every buffer at its offset.
  std::size_t arena_bytes() const { return arena_; }
  // What the buffers would take if none shared memory.
  std::size_t unshared_bytes() const;

 private:
  struct Buffer {
    int first, last;
    std::size_t bytes, offset;
  };
  std::vector<Buffer> buffers_;
  std::size_t arena_ = 0;
  bool placed_ = false;
};

}  // namespace stheno
