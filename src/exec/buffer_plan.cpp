#include "stheno/exec/buffer_plan.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "stheno/tensor/error.hpp"

namespace stheno {

int BufferPlan::add(int first, int last, std::size_t bytes) {
  if (last < first)
    throw ValueError("BufferPlan: a buffer last read at instruction " + std::to_string(last) + " before its write at " +
                     std::to_string(first));
  buffers_.push_back({first, last, (bytes + kAlignment - 1) / kAlignment * kAlignment, 0});
  placed_ = false;
  return size() - 1;
}

void BufferPlan::extend(int id, int last) {
  Buffer& b = buffers_.at(static_cast<std::size_t>(id));
  b.last = std::max(b.last, last);
  placed_ = false;
}

void BufferPlan::place() {
  std::vector<std::size_t> order(buffers_.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return buffers_[a].bytes > buffers_[b].bytes; });
  std::vector<std::size_t> placed;
  std::vector<std::pair<std::size_t, std::size_t>> taken;  // (offset, end) of overlapping buffers
  arena_ = 0;
  for (std::size_t i : order) {
    Buffer& x = buffers_[i];
    taken.clear();
    for (std::size_t j : placed) {
      const Buffer& y = buffers_[j];
      if (x.first <= y.last && y.first <= x.last) taken.emplace_back(y.offset, y.offset + y.bytes);
    }
    std::sort(taken.begin(), taken.end());
    std::size_t at = 0;
    for (const auto& [begin, end] : taken) {
      if (begin >= at + x.bytes) break;
      at = std::max(at, end);
    }
    x.offset = at;
    arena_ = std::max(arena_, at + x.bytes);
    placed.push_back(i);
  }
  placed_ = true;
}

std::size_t BufferPlan::offset(int id) const {
  if (!placed_) throw ValueError("BufferPlan: offsets are known after place()");
  return buffers_.at(static_cast<std::size_t>(id)).offset;
}

std::size_t BufferPlan::bytes(int id) const { return buffers_.at(static_cast<std::size_t>(id)).bytes; }

std::size_t BufferPlan::unshared_bytes() const {
  std::size_t total = 0;
  for (const Buffer& b : buffers_) total += b.bytes;
  return total;
}

}  // namespace stheno
