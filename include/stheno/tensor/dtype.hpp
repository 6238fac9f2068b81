#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "stheno/tensor/error.hpp"

namespace stheno {

// Element types. float32 is the default everywhere; int32 holds labels and indices; int64 holds
// the indices of sparse matrices too large for int32 (tensor/csr.hpp) and is only stored, copied
// and converted: arithmetic kernels refuse it.
enum class DType : std::uint8_t { f32, f64, i32, i64 };
inline constexpr int kDTypeCount = 4;  // for tables indexed by dtype

constexpr std::size_t itemsize(DType t) {
  return t == DType::f64 || t == DType::i64 ? 8 : 4;
}

constexpr bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
  }
  return "?";
}

template <class T>
inline constexpr bool is_element_type_v = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                          std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t>;

template <class T>
constexpr DType dtype_of() {
  static_assert(is_element_type_v<T>, "stheno tensors hold float, double, int32_t or int64_t");
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  else if constexpr (std::is_same_v<T, double>) return DType::f64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DType::i32;
  else return DType::i64;
}

// Calls fn.template operator()<T>() with the C++ type of `t`.
template <class Fn>
decltype(auto) visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32: return fn.template operator()<float>();
    case DType::f64: return fn.template operator()<double>();
    case DType::i32: return fn.template operator()<std::int32_t>();
    case DType::i64: return fn.template operator()<std::int64_t>();
  }
  throw DTypeError("unknown dtype");
}

// As visit_dtype, for the arithmetic kernels: float32, float64 and int32.
template <class Fn>
decltype(auto) visit_arithmetic(DType t, std::string_view op, Fn&& fn) {
  switch (t) {
    case DType::f32: return fn.template operator()<float>();
    case DType::f64: return fn.template operator()<double>();
    case DType::i32: return fn.template operator()<std::int32_t>();
    case DType::i64: break;
  }
  throw DTypeError(std::string(op) + ": dtype int64 is not supported (int64 holds sparse matrix indices; convert with to())");
}

// Calls fn.template operator()<I>() with the C++ type of an index dtype, int32 or int64.
template <class Fn>
decltype(auto) visit_index(DType t, std::string_view op, Fn&& fn) {
  if (t == DType::i32) return fn.template operator()<std::int32_t>();
  if (t == DType::i64) return fn.template operator()<std::int64_t>();
  throw DTypeError(std::string(op) + ": indices must be int32 or int64, got " + std::string(dtype_name(t)));
}

// As visit_dtype, for operations defined only on float32 and float64.
template <class Fn>
decltype(auto) visit_floating(DType t, std::string_view op, Fn&& fn) {
  switch (t) {
    case DType::f32: return fn.template operator()<float>();
    case DType::f64: return fn.template operator()<double>();
    case DType::i32:
    case DType::i64: break;
  }
  throw DTypeError(std::string(op) + ": dtype " + std::string(dtype_name(t)) +
                   " is not supported (expected float32 or float64)");
}

}  // namespace stheno
