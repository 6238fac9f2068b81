#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "stheno/tensor/error.hpp"

namespace stheno {

// Element types. float32 is the default everywhere; int32 holds labels and indices.
enum class DType : std::uint8_t { f32, f64, i32 };

constexpr std::size_t itemsize(DType t) {
  return t == DType::f64 ? 8 : 4;
}

constexpr bool is_floating(DType t) {
  return t != DType::i32;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
  }
  return "?";
}

template <class T>
inline constexpr bool is_element_type_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int32_t>;

template <class T>
constexpr DType dtype_of() {
  static_assert(is_element_type_v<T>, "stheno tensors hold float, double or int32_t");
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  else if constexpr (std::is_same_v<T, double>) return DType::f64;
  else return DType::i32;
}

// Calls fn.template operator()<T>() with the C++ type of `t`.
template <class Fn>
decltype(auto) visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32: return fn.template operator()<float>();
    case DType::f64: return fn.template operator()<double>();
    case DType::i32: return fn.template operator()<std::int32_t>();
  }
  throw DTypeError("unknown dtype");
}

// As visit_dtype, for operations defined only on float32 and float64.
template <class Fn>
decltype(auto) visit_floating(DType t, std::string_view op, Fn&& fn) {
  switch (t) {
    case DType::f32: return fn.template operator()<float>();
    case DType::f64: return fn.template operator()<double>();
    case DType::i32: break;
  }
  throw DTypeError(std::string(op) + ": dtype int32 is not supported (expected float32 or float64)");
}

}  // namespace stheno
