#pragma once
// How device backends turn tensors into DeviceViews: whole tensors, broadcast operands, and the
// two halves of a reduction (the kept elements, and the reduced ones relative to a kept one).
#include <array>
#include <string_view>
#include <utility>

#include "kernels/device_view.hpp"
#include "stheno/kernels/reduce.hpp"
#include "stheno/tensor/tensor.hpp"

namespace stheno {

static_assert(kDeviceViewRank == kMaxRank);

// `t`'s elements; `shape` (default: t's) must be t's shape or one t broadcasts to. The offset
// counts from the start of t's buffer (its storage's byte offset included).
DeviceView device_view(const Tensor& t, const Shape& shape);
inline DeviceView device_view(const Tensor& t) { return device_view(t, t.shape()); }

// Which axes a reduction folds, kept in place so that a reduction allocates nothing on the host.
using AxisMask = std::array<bool, kMaxRank>;
// `axes` (empty: all) of a rank-`rank` tensor; an axis out of range throws naming `op`.
AxisMask reduced_axes(const Axes& axes, int rank, std::string_view op);

// x's kept and reduced axes as two views: the first walks the kept elements in row-major order
// (the output's order), the second the reduced elements relative to a kept one.
std::pair<DeviceView, DeviceView> split_axes(const Tensor& x, const AxisMask& reduced);
// x's rows along `axis`: one element per row, and the row relative to it.
std::pair<DeviceView, DeviceView> rows_along(const Tensor& x, int axis);

// A kernel that reads one layout of a buffer and writes another layout of it would race: such
// an input is read from a copy.
inline Tensor unaliased(const Tensor& in, const Tensor& out) {
  return in.shares_storage(out) && !in.same_elements(out) ? in.clone() : in;
}

}  // namespace stheno
