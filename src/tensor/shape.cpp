#include "stheno/tensor/shape.hpp"

#include <algorithm>

#include "stheno/tensor/error.hpp"

namespace stheno {

namespace {
void check_rank(std::size_t rank) {
  if (rank > static_cast<std::size_t>(kMaxRank))
    throw ShapeError("rank " + std::to_string(rank) + " exceeds the maximum rank " +
                     std::to_string(kMaxRank));
}
}  // namespace

Dims::Dims(std::initializer_list<std::int64_t> values)
    : Dims(std::span<const std::int64_t>(values.begin(), values.size())) {}

Dims::Dims(std::span<const std::int64_t> values) {
  check_rank(values.size());
  std::copy(values.begin(), values.end(), v_.begin());
  rank_ = static_cast<int>(values.size());
}

void Dims::push_back(std::int64_t value) {
  check_rank(static_cast<std::size_t>(rank_) + 1);
  v_[static_cast<std::size_t>(rank_++)] = value;
}

void Dims::insert(int at, std::int64_t value) {
  check_rank(static_cast<std::size_t>(rank_) + 1);
  for (int i = rank_; i > at; --i) v_[static_cast<std::size_t>(i)] = v_[static_cast<std::size_t>(i - 1)];
  v_[static_cast<std::size_t>(at)] = value;
  ++rank_;
}

void Dims::erase(int at) {
  for (int i = at; i + 1 < rank_; ++i) v_[static_cast<std::size_t>(i)] = v_[static_cast<std::size_t>(i + 1)];
  --rank_;
}

std::int64_t Dims::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : *this) n *= d;
  return n;
}

std::string Dims::str() const {
  std::string s = "(";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string((*this)[i]);
  }
  if (rank_ == 1) s += ",";
  return s + ")";
}

bool operator==(const Dims& a, const Dims& b) {
  return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
}

Strides contiguous_strides(const Shape& shape) {
  Strides s = shape;
  std::int64_t step = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    s[i] = step;
    step *= std::max<std::int64_t>(shape[i], 1);
  }
  return s;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  const int rank = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank());
    const int ib = i - (rank - b.rank());
    const std::int64_t da = ia >= 0 ? a[ia] : 1;
    const std::int64_t db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(std::string(op) + ": shapes " + a.str() + " and " + b.str() +
                       " cannot be broadcast together: aligned from the right, dimension " +
                       std::to_string(i) + " is " + std::to_string(da) + " vs " +
                       std::to_string(db) + " (expected equal sizes or 1)");
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

int normalize_axis(int axis, int rank, std::string_view op) {
  const int fixed = axis < 0 ? axis + rank : axis;
  if (fixed < 0 || fixed >= rank)
    throw IndexError(std::string(op) + ": axis " + std::to_string(axis) +
                     " is out of range for a tensor of rank " + std::to_string(rank));
  return fixed;
}

Shape resolve_reshape(const Shape& requested, const Shape& from, std::string_view op) {
  const std::int64_t numel = from.numel();
  Shape s = requested;
  int unknown = -1;
  std::int64_t known = 1;
  for (int i = 0; i < s.rank(); ++i) {
    if (s[i] == -1 && unknown < 0) unknown = i;
    else if (s[i] < 0) throw ShapeError(std::string(op) + ": invalid target shape " + requested.str());
    else known *= s[i];
  }
  if (unknown >= 0 && known != 0 && numel % known == 0) s[unknown] = numel / known;
  if (unknown >= 0 && s[unknown] == -1) s[unknown] = 0;
  if (s.numel() != numel)
    throw ShapeError(std::string(op) + ": cannot reshape " + from.str() + " (" + std::to_string(numel) +
                     " elements) into " + requested.str());
  return s;
}

}  // namespace stheno
