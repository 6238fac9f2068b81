#pragma once
// Dropout masks on a device: drawn on the host from the caller's Generator, in element order as
// the host backend draws them (so a seed gives the same mask on every device), into host staging
// memory, then copied up in queue order behind the kernels queued before it (the mask's buffer
// may share arena bytes with a temporary those kernels still use). The copy reads the staging
// memory when it runs, which on CUDA may be when a recorded step replays, so every mask gets its
// own region until the device next synchronises.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "stheno/tensor/random.hpp"
#include "stheno/tensor/tensor.hpp"

namespace stheno {

class MaskStaging {
 public:
  // Host memory for `bytes`, not handed out again before the device next synchronises.
  // `synchronizations()` is the runtime's count; `reserve(capacity)` gives new memory of at least
  // `capacity` bytes, after waiting until no queued copy reads the old.
  template <class Count, class Reserve>
  void* take(std::size_t bytes, Count&& synchronizations, Reserve&& reserve) {
    constexpr std::size_t kAlign = 64;
    const std::size_t size = (std::max<std::size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
    if (synchronizations() != synced_) used_ = 0;
    if (used_ + size > capacity_) {
      capacity_ = std::max(used_ + size, 2 * capacity_);
      memory_ = static_cast<char*>(reserve(capacity_));
      used_ = 0;
    }
    synced_ = synchronizations();
    void* region = memory_ + used_;
    used_ += size;
    return region;
  }

 private:
  char* memory_ = nullptr;
  std::size_t capacity_ = 0, used_ = 0;
  std::int64_t synced_ = -1;
};

// A mask's destination must be a defined, contiguous float tensor; returns its bytes.
std::size_t check_dropout_out(const Tensor& out);
// Draws `out`'s mask into `host` (as many bytes as out has).
void draw_dropout_mask(Generator& gen, double keep, const Tensor& out, void* host);

}  // namespace stheno
