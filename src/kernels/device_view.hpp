#pragma once
// A tensor as a device kernel sees it: an element offset, then the sizes and strides (in
// elements) of kMaxRank axes, leading axes padded with size 1. Every backend's kernels take this
// same struct by value (OpenCL C and CUDA alike), so it holds nothing but 64-bit integers and is
// declared without the tensor layer: CUDA sources include it alone.
#include <cstdint>

namespace stheno {

inline constexpr int kDeviceViewRank = 8;  // kMaxRank; checked where both are visible

struct DeviceView {
  std::int64_t offset;
  std::int64_t size[kDeviceViewRank];
  std::int64_t stride[kDeviceViewRank];
};

}  // namespace stheno
