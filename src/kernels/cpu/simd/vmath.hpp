#pragma once
// exp, expm1, log, tanh and sigmoid written as plain arithmetic on one value, so that loops
// calling them vectorise (libm calls do not). Accuracy is within a few ulp of libm; NaN, ±inf,
// overflow and underflow follow IEEE/libm behaviour. Results are identical on every machine
// with the same instruction set, as they do not depend on the C library.
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <type_traits>

// Internal linkage: this header is compiled once per instruction set (simd_kernels.cpp), and
// the copies must not be merged by the linker.
namespace stheno::cpu {
namespace {
namespace vmath {

template <class T>
struct Consts;

template <>
struct Consts<float> {
  using Bits = std::uint32_t;
  static constexpr int kMantissa = 23;
  static constexpr int kBias = 127;
  static constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to integer
  static constexpr float kLn2Hi = 0.693145751953125f;
  static constexpr float kLn2Lo = 1.428606765330187e-06f;
  static constexpr float kExpMax = 88.72283f;   // exp overflows above
  static constexpr float kExpMin = -103.97208f; // exp is 0 below
  static constexpr float kTanhClamp = 9.5f;     // tanh rounds to ±1 beyond
  static constexpr int kExpTerms = 7;           // Taylor terms of expm1 on |r| <= ln2/2
  static constexpr int kLogTerms = 5;           // odd terms of atanh series on |s| <= 0.1716
};

template <>
struct Consts<double> {
  using Bits = std::uint64_t;
  static constexpr int kMantissa = 52;
  static constexpr int kBias = 1023;
  static constexpr double kRoundMagic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr double kLn2Hi = 6.93147180369123816490e-01;
  static constexpr double kLn2Lo = 1.90821492927058770002e-10;
  static constexpr double kExpMax = 709.782712893384;
  static constexpr double kExpMin = -745.1332191019412;
  static constexpr double kTanhClamp = 19.5;
  static constexpr int kExpTerms = 13;
  static constexpr int kLogTerms = 11;
};

template <class T>
constexpr T kLog2e = T(1.4426950408889634);

// 1/j! for j = 0..n, computed at compile time in long double.
template <class T, int n>
constexpr std::array<T, n + 1> inverse_factorials() {
  std::array<T, n + 1> c{};
  long double f = 1;
  for (int j = 0; j <= n; ++j) {
    if (j > 0) f *= j;
    c[static_cast<std::size_t>(j)] = static_cast<T>(1.0L / f);
  }
  return c;
}

// r + r^2/2! + ... + r^n/n! (n = kExpTerms), by Horner's rule.
template <class T>
inline T expm1_poly(T r) {
  constexpr int n = Consts<T>::kExpTerms;
  constexpr auto c = inverse_factorials<T, n>();
  T p = c[n];
  for (int j = n - 1; j >= 1; --j) p = p * r + c[static_cast<std::size_t>(j)];
  return p * r;
}

template <class T>
using SignedBits = std::make_signed_t<typename Consts<T>::Bits>;

// 2^k for k in the normal exponent range.
template <class T>
inline T pow2(SignedBits<T> k) {
  using C = Consts<T>;
  using Bits = typename C::Bits;
  return std::bit_cast<T>(static_cast<Bits>(k + C::kBias) << C::kMantissa);
}

// Splits x = k*ln2 + r with |r| <= ln2/2 and returns r; k comes back as an integer.
template <class T>
inline T reduce_exp(T x, SignedBits<T>& k) {
  using C = Consts<T>;
  using Bits = typename C::Bits;
  const T shifted = x * kLog2e<T> + C::kRoundMagic;
  const T kf = shifted - C::kRoundMagic;
  // The low mantissa bits of `shifted` hold k (two's complement, offset by the magic number).
  k = static_cast<SignedBits<T>>(std::bit_cast<Bits>(shifted) - std::bit_cast<Bits>(C::kRoundMagic));
  return (x - kf * C::kLn2Hi) - kf * C::kLn2Lo;
}

template <class T>
inline T exp(T x) {
  using C = Consts<T>;
  const T xc = x > C::kExpMax ? C::kExpMax : (x < C::kExpMin ? C::kExpMin : x);
  SignedBits<T> k;
  const T r = reduce_exp(xc, k);
  // 2^k as two factors, so that k beyond the normal exponent range (subnormal results) works;
  // multiplying by powers of two adds no rounding of its own.
  const SignedBits<T> k1 = k >> 1;
  T y = (T(1) + expm1_poly(r)) * pow2<T>(k1) * pow2<T>(k - k1);
  y = x > C::kExpMax ? std::numeric_limits<T>::infinity() : y;
  y = x < C::kExpMin ? T(0) : y;
  return y;  // NaN propagates through r
}

// e^x - 1 without cancellation near 0; for |x| <= 40, which is all tanh needs.
template <class T>
inline T expm1_moderate(T x) {
  SignedBits<T> k;
  const T r = reduce_exp(x, k);
  const T scale = pow2<T>(k);
  return scale * expm1_poly(r) + (scale - T(1));  // 2^k (1 + q) - 1, exact when k = 0
}

template <class T>
inline T log(T x) {
  using C = Consts<T>;
  using Bits = typename C::Bits;
  constexpr T kTiny = std::numeric_limits<T>::min();
  constexpr T kUpscale = T(C::kMantissa == 23 ? 8388608.0 : 4503599627370496.0);  // 2^mantissa
  // Subnormals are scaled into the normal range first.
  const bool sub = x < kTiny;
  const T xs = sub ? x * kUpscale : x;
  // xs = m * 2^k with m in [sqrt(1/2), sqrt(2)): subtracting sqrt(1/2)'s bits makes the exponent
  // field carry k and leaves the mantissa relative to sqrt(1/2).
  using SBits = std::make_signed_t<Bits>;
  constexpr Bits kSqrtHalfBits = std::bit_cast<Bits>(T(0.70710678118654752440));
  constexpr Bits kMantissaMask = (Bits(1) << C::kMantissa) - 1;
  const auto i = static_cast<SBits>(std::bit_cast<Bits>(xs) - kSqrtHalfBits);
  const SBits k = i >> C::kMantissa;
  const T m = std::bit_cast<T>((static_cast<Bits>(i) & kMantissaMask) + kSqrtHalfBits);
  const T ke = static_cast<T>(k) - (sub ? T(C::kMantissa) : T(0));
  const T f = m - T(1);
  const T s = f / (T(2) + f);
  const T s2 = s * s;
  T p = T(1) / T(2 * C::kLogTerms - 1);
  for (int j = C::kLogTerms - 2; j >= 0; --j) p = T(1) / T(2 * j + 1) + s2 * p;
  const T log_m = T(2) * s * p;
  T y = ke * C::kLn2Hi + (log_m + ke * C::kLn2Lo);
  y = x == std::numeric_limits<T>::infinity() ? x : y;
  y = x == T(0) ? -std::numeric_limits<T>::infinity() : y;
  y = x < T(0) ? std::numeric_limits<T>::quiet_NaN() : y;
  y = x != x ? x : y;
  return y;
}

// tanh and sigmoid as a numerator and a denominator, so that a kernel computing several of them
// can share one division between them (a division costs as much as the rest of the function).
template <class T>
struct Fraction {
  T num, den;  // den >= 1
};

template <class T>
inline Fraction<T> tanh_fraction(T x) {
  const T a = x < T(0) ? -x : x;
  const T ac = a > Consts<T>::kTanhClamp ? Consts<T>::kTanhClamp : a;
  const T e = expm1_moderate(T(2) * ac);
  return {x < T(0) ? -e : e, e + T(2)};
}

template <class T>
inline T tanh(T x) {
  const Fraction<T> t = tanh_fraction(x);
  const T y = t.num / t.den;
  return x != x ? x : y;
}

// Written with e^-|x| so that large negative x gives a tiny (even subnormal) result with full
// relative accuracy instead of 1/(1+inf) = 0.
template <class T>
inline Fraction<T> sigmoid_fraction(T x) {
  const T e = exp(x < T(0) ? x : -x);
  return {x < T(0) ? e : T(1), T(1) + e};
}

template <class T>
inline T sigmoid(T x) {
  const Fraction<T> s = sigmoid_fraction(x);
  return s.num * (T(1) / s.den);
}

}  // namespace vmath
}  // namespace
}  // namespace stheno::cpu
