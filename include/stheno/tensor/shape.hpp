#pragma once
// Shapes and strides live inline (no heap), so building views and planning loops never allocates.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stheno {

inline constexpr int kMaxRank = 8;

// A short list of int64 values: a tensor's shape or its strides (in elements).
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<std::int64_t> values);
  explicit Dims(std::span<const std::int64_t> values);
  explicit Dims(const std::vector<std::int64_t>& values)
      : Dims(std::span<const std::int64_t>(values)) {}

  int rank() const { return rank_; }
  bool empty() const { return rank_ == 0; }
  std::int64_t operator[](int i) const { return v_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return v_[static_cast<std::size_t>(i)]; }
  const std::int64_t* begin() const { return v_.data(); }
  const std::int64_t* end() const { return v_.data() + rank_; }
  std::int64_t* begin() { return v_.data(); }
  std::int64_t* end() { return v_.data() + rank_; }
  std::int64_t back() const { return v_[static_cast<std::size_t>(rank_ - 1)]; }
  std::span<const std::int64_t> span() const { return {v_.data(), static_cast<std::size_t>(rank_)}; }

  void push_back(std::int64_t value);
  void insert(int at, std::int64_t value);
  void erase(int at);

  // Product of the values (1 for rank 0): the element count of a shape.
  std::int64_t numel() const;

  // "(2, 3)" for a shape, "()" for a scalar.
  std::string str() const;

  friend bool operator==(const Dims& a, const Dims& b);

 private:
  std::array<std::int64_t, kMaxRank> v_{};
  int rank_ = 0;
};

using Shape = Dims;
using Strides = Dims;

// Row-major strides of a dense tensor of this shape.
Strides contiguous_strides(const Shape& shape);

// NumPy broadcasting of two shapes; throws ShapeError naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);

// The shape `requested` (one axis may be -1) for the elements of `from`; throws ShapeError
// naming `op` when the counts differ.
Shape resolve_reshape(const Shape& requested, const Shape& from, std::string_view op);

// Maps a possibly negative axis into [0, rank); throws IndexError naming `op`.
int normalize_axis(int axis, int rank, std::string_view op);

}  // namespace stheno
