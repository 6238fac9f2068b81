// Views: new shape and strides over the same storage, never a copy (except reshape's fallback).
#include <algorithm>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

Tensor Tensor::slice(int axis, std::int64_t start, std::int64_t stop, std::int64_t step) const {
  require_defined("slice");
  const int ax = normalize_axis(axis, rank(), "slice");
  if (step <= 0) throw ValueError("slice: step must be positive, got " + std::to_string(step));
  const std::int64_t n = shape_[ax];
  auto clamp = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
  const std::int64_t lo = clamp(start), hi = std::max(clamp(stop), clamp(start));
  Tensor v = *this;
  v.shape_[ax] = (hi - lo + step - 1) / step;
  v.strides_[ax] = strides_[ax] * step;
  if (v.shape_[ax] > 0) v.offset_ += lo * strides_[ax];
  return v;
}

Tensor Tensor::select(int axis, std::int64_t index) const {
  require_defined("select");
  const int ax = normalize_axis(axis, rank(), "select");
  const std::int64_t i = index < 0 ? index + shape_[ax] : index;
  if (i < 0 || i >= shape_[ax])
    throw IndexError("select: index " + std::to_string(index) + " is out of range for axis " +
                     std::to_string(ax) + " of shape " + shape_.str());
  Tensor v = *this;
  v.offset_ += i * strides_[ax];
  v.shape_.erase(ax);
  v.strides_.erase(ax);
  return v;
}

Tensor Tensor::transpose(int axis0, int axis1) const {
  require_defined("transpose");
  const int a = normalize_axis(axis0, rank(), "transpose");
  const int b = normalize_axis(axis1, rank(), "transpose");
  Tensor v = *this;
  std::swap(v.shape_[a], v.shape_[b]);
  std::swap(v.strides_[a], v.strides_[b]);
  return v;
}

Tensor Tensor::permute(std::span<const int> order) const {
  require_defined("permute");
  if (static_cast<int>(order.size()) != rank())
    throw ShapeError("permute: " + std::to_string(order.size()) + " axes given for shape " + shape_.str());
  bool seen[kMaxRank] = {};
  Tensor v = *this;
  for (int i = 0; i < rank(); ++i) {
    const int ax = normalize_axis(order[static_cast<std::size_t>(i)], rank(), "permute");
    if (seen[ax]) throw ValueError("permute: axis " + std::to_string(ax) + " appears twice");
    seen[ax] = true;
    v.shape_[i] = shape_[ax];
    v.strides_[i] = strides_[ax];
  }
  return v;
}

Tensor Tensor::t() const {
  if (rank() < 2) throw ShapeError("t: needs at least 2 axes, got shape " + shape_.str());
  return transpose(-2, -1);
}

namespace {

// Strides for viewing (shape, strides) as `target` without copying, if they exist: each group of
// old axes that maps to a group of new axes must be contiguous within itself.
bool view_strides(const Shape& shape, const Strides& strides, const Shape& target, Strides& out) {
  out = target;
  int i = 0, j = 0;
  const int n = shape.rank(), m = target.rank();
  while (i < n || j < m) {
    if (i < n && shape[i] == 1) { ++i; continue; }
    if (j < m && target[j] == 1) { out[j++] = 1; continue; }
    if (i >= n || j >= m) return false;
    // Grow a group of old axes [i, i2) and new axes [j, j2) with equal element counts.
    std::int64_t a = shape[i], b = target[j];
    int i2 = i + 1, j2 = j + 1;
    while (a != b) {
      if (a < b) { if (i2 >= n) return false; a *= shape[i2++]; }
      else { if (j2 >= m) return false; b *= target[j2++]; }
    }
    std::int64_t step = 0, expect = -1;  // expect: the stride the next axis to the left needs
    for (int k = i2 - 1; k >= i; --k) {
      if (shape[k] == 1) continue;
      if (expect < 0) step = strides[k];
      else if (strides[k] != expect) return false;
      expect = strides[k] * shape[k];
    }
    for (int k = j2 - 1; k >= j; --k) { out[k] = step; step *= target[k]; }
    i = i2;
    j = j2;
  }
  return true;
}
}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  require_defined("view");
  const Shape target = resolve_reshape(shape, shape_, "view");
  Strides st;
  if (numel() == 0) st = contiguous_strides(target);
  else if (!view_strides(shape_, strides_, target, st))
    throw ShapeError("view: a tensor of shape " + shape_.str() + " and strides " + strides_.str() +
                     " cannot be viewed as " + target.str() + " without a copy; use reshape");
  Tensor v = *this;
  v.shape_ = target;
  v.strides_ = st;
  return v;
}

Tensor Tensor::reshape(const Shape& shape) const {
  require_defined("reshape");
  const Shape target = resolve_reshape(shape, shape_, "reshape");
  Strides st;
  if (numel() != 0 && view_strides(shape_, strides_, target, st)) {
    Tensor v = *this;
    v.shape_ = target;
    v.strides_ = st;
    return v;
  }
  return clone().view(target);
}

Tensor Tensor::expand(const Shape& shape) const {
  require_defined("expand");
  if (shape.rank() < rank())
    throw ShapeError("expand: cannot expand shape " + shape_.str() + " to fewer axes " + shape.str());
  Tensor v = *this;
  v.shape_ = shape;
  const int lead = shape.rank() - rank();
  for (int i = 0; i < shape.rank(); ++i) {
    const int src = i - lead;
    const std::int64_t have = src >= 0 ? shape_[src] : 1;
    if (have == shape[i]) v.strides_[i] = src >= 0 ? strides_[src] : 0;
    else if (have == 1) v.strides_[i] = 0;
    else
      throw ShapeError("expand: cannot broadcast shape " + shape_.str() + " to " + shape.str() +
                       ": axis " + std::to_string(i) + " has size " + std::to_string(have) +
                       " (expected " + std::to_string(shape[i]) + " or 1)");
  }
  return v;
}

Tensor Tensor::as_strided(const Shape& shape, const Strides& strides, std::int64_t offset) const {
  require_defined("as_strided");
  if (strides.rank() != shape.rank())
    throw ShapeError("as_strided: " + std::to_string(strides.rank()) + " strides for shape " + shape.str());
  // Every element must lie inside the storage: the lowest and the highest offset reached.
  std::int64_t low = offset, high = offset;
  for (int i = 0; i < shape.rank(); ++i) {
    if (shape[i] < 0) throw ShapeError("as_strided: shape " + shape.str() + " has a negative dimension");
    if (shape[i] == 0) low = high = offset;
    const std::int64_t reach = (shape[i] - 1) * strides[i];
    (reach < 0 ? low : high) += reach;
  }
  const auto elements = static_cast<std::int64_t>(storage_->bytes() / itemsize(dtype_));
  if (shape.numel() > 0 && (low < 0 || high >= elements))
    throw ShapeError("as_strided: shape " + shape.str() + " with strides " + strides.str() + " from element " +
                     std::to_string(offset) + " reaches outside the storage's " + std::to_string(elements) + " elements");
  Tensor v = *this;
  v.shape_ = shape;
  v.strides_ = strides;
  v.offset_ = offset;
  return v;
}

Tensor Tensor::unsqueeze(int axis) const {
  require_defined("unsqueeze");
  const int ax = normalize_axis(axis, rank() + 1, "unsqueeze");
  Tensor v = *this;
  const std::int64_t stride = ax < rank() ? strides_[ax] * shape_[ax] : 1;
  v.shape_.insert(ax, 1);
  v.strides_.insert(ax, stride);
  return v;
}

Tensor Tensor::squeeze(int axis) const {
  require_defined("squeeze");
  const int ax = normalize_axis(axis, rank(), "squeeze");
  if (shape_[ax] != 1)
    throw ShapeError("squeeze: axis " + std::to_string(ax) + " of shape " + shape_.str() + " is not of size 1");
  Tensor v = *this;
  v.shape_.erase(ax);
  v.strides_.erase(ax);
  return v;
}

}  // namespace stheno
