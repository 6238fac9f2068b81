#include "kernels/device_views.hpp"

#include "stheno/tensor/shape.hpp"

namespace stheno {

DeviceView device_view(const Tensor& t, const Shape& shape) {
  const Tensor e = t.shape() == shape ? t : t.expand(shape);
  DeviceView v{};
  v.offset = static_cast<std::int64_t>(t.storage()->byte_offset() / itemsize(t.dtype())) + t.offset();
  const int pad = kMaxRank - e.rank();
  for (int d = 0; d < kMaxRank; ++d) {
    v.size[d] = d < pad ? 1 : e.shape()[d - pad];
    v.stride[d] = d < pad ? 0 : e.strides()[d - pad];
  }
  return v;
}

AxisMask reduced_axes(const Axes& axes, int rank, std::string_view op) {
  AxisMask mask{};
  mask.fill(axes.empty());
  for (int a : axes) mask[static_cast<std::size_t>(normalize_axis(a, rank, op))] = true;
  return mask;
}

std::pair<DeviceView, DeviceView> split_axes(const Tensor& x, const AxisMask& reduced) {
  DeviceView kept = device_view(x), along = device_view(x);
  along.offset = 0;
  const int pad = kMaxRank - x.rank();
  for (int d = 0; d < x.rank(); ++d) (reduced[static_cast<std::size_t>(d)] ? kept : along).size[pad + d] = 1;
  return {kept, along};
}

std::pair<DeviceView, DeviceView> rows_along(const Tensor& x, int axis) {
  AxisMask mask{};
  mask[static_cast<std::size_t>(axis)] = true;
  return split_axes(x, mask);
}

}  // namespace stheno
