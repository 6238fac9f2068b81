#pragma once
// Vectors of the instruction set a per-ISA file is compiled for (src/CMakeLists.txt), and the
// loads, stores and multiply-adds on them. Included only by those files, inside their anonymous
// namespace, so that each instruction set keeps its own copies.
#include <immintrin.h>

#include <cstring>
#include <type_traits>

#define STHENO_CONCAT2(a, b) a##b
#define STHENO_CONCAT(a, b) STHENO_CONCAT2(a, b)

namespace stheno::cpu {
namespace {

#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif
typedef float VecF __attribute__((vector_size(kVectorBytes)));
typedef double VecD __attribute__((vector_size(kVectorBytes)));
template <class T>
using Vec = std::conditional_t<std::is_same_v<T, float>, VecF, VecD>;

template <class V>
inline V fused_multiply_add(V a, V b, V c) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<V, VecF>) return _mm512_fmadd_ps(a, b, c);
  else return _mm512_fmadd_pd(a, b, c);
#elif defined(__FMA__)
  if constexpr (std::is_same_v<V, VecF>) return _mm256_fmadd_ps(a, b, c);
  else return _mm256_fmadd_pd(a, b, c);
#else
  return a * b + c;
#endif
}

template <class V, class T>
inline V broadcast(T x) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) return _mm512_set1_ps(x);
  else return _mm512_set1_pd(x);
#elif defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) return _mm256_set1_ps(x);
  else return _mm256_set1_pd(x);
#else
  if constexpr (std::is_same_v<T, float>) return _mm_set1_ps(x);
  else return _mm_set1_pd(x);
#endif
}

template <class V, class T>
inline V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The first `count` lanes of a vector at p; the others are zero and p's memory past them is
// never touched (masked, or stored in pieces), so a tile can end exactly where a row of C ends.
template <class V, class T>
inline V load_first(const T* p, int count) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << count) - 1), p);
  else return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << count) - 1), p);
#elif defined(__AVX2__)
  if constexpr (std::is_same_v<T, float>)
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  else
    return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3)));
#else
  V v = {};
  std::memcpy(&v, p, static_cast<std::size_t>(count) * sizeof(T));
  return v;
#endif
}

template <class V, class T>
inline void store_first(T* p, V v, int count) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << count) - 1), v);
  else _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << count) - 1), v);
#elif defined(__AVX2__)
  // In halving pieces rather than with vmaskmov, whose store form is microcoded on AMD's cores
  // (measured on 784×10×30, whose second tile is 14 columns wide: 14 µs with it, 11 µs in
  // pieces; 784×10×32, with no partial tile, takes 8 µs).
  if (count * static_cast<int>(sizeof(T)) == 32) {
    std::memcpy(p, &v, sizeof v);
    return;
  }
  __m128 x;
  if constexpr (std::is_same_v<T, float>) x = _mm256_castps256_ps128(v);
  else x = _mm_castpd_ps(_mm256_castpd256_pd128(v));
  int floats = count * static_cast<int>(sizeof(T) / sizeof(float));
  auto* q = reinterpret_cast<float*>(p);
  if (floats >= 4) {
    _mm_storeu_ps(q, x);
    if constexpr (std::is_same_v<T, float>) x = _mm256_extractf128_ps(v, 1);
    else x = _mm_castpd_ps(_mm256_extractf128_pd(v, 1));
    q += 4, floats -= 4;
  }
  if (floats >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(q), x);
    x = _mm_movehl_ps(x, x);
    q += 2, floats -= 2;
  }
  if (floats == 1) _mm_store_ss(q, x);
#else
  std::memcpy(p, &v, static_cast<std::size_t>(count) * sizeof(T));
#endif
}

}  // namespace
}  // namespace stheno::cpu
