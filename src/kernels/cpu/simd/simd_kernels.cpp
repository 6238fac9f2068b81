// Compiled once per instruction set with STHENO_SIMD_ISA naming it (see src/CMakeLists.txt).
// Everything here has internal linkage except the one table function (and what the other per-ISA
// files define in the namespace named after the instruction set), so the per-ISA copies of the
// same templates are never merged by the linker.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/cpu/simd/simd_kernels.hpp"
#include "kernels/cpu/thread_pool.hpp"
#include "kernels/cpu/simd/update_rows.hpp"
#include "kernels/cpu/simd/vectors.hpp"
#include "kernels/cpu/simd/vmath.hpp"

namespace stheno::cpu {
namespace STHENO_CONCAT(isa_, STHENO_SIMD_ISA) {
template <class T>
void transpose(std::int64_t rows, std::int64_t cols, const T* src, std::int64_t lds, T* dst, std::int64_t ldd);  // winograd_kernels.cpp
}
namespace {

template <class T>
constexpr bool kInt = std::is_same_v<T, std::int32_t>;

// Integer arithmetic wraps (two's complement) instead of overflowing into undefined behaviour.
using U32 = std::uint32_t;
inline std::int32_t wrap(U32 v) { return static_cast<std::int32_t>(v); }

template <class T>
inline T int_pow(T base, T exponent) {
  if (exponent < 0) return base == 1 ? 1 : base == -1 ? ((exponent & 1) ? -1 : 1) : 0;
  U32 result = 1, b = static_cast<U32>(base);
  for (auto e = static_cast<U32>(exponent); e; e >>= 1, b *= b)
    if (e & 1) result *= b;
  return wrap(result);
}

template <class T, class F>
inline void map1(std::int64_t n, const T* x, std::int64_t sx, T* y, std::int64_t sy, F f) {
  if (sx == 1 && sy == 1) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) y[i * sy] = f(x[i * sx]);
  }
}

template <class T, class F>
inline void map2(std::int64_t n, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* y,
                 std::int64_t sy, F f) {
  if (sy == 1 && sa == 1 && sb == 1) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = f(a[i], b[i]);
  } else if (sy == 1 && sa == 1 && sb == 0) {
    const T bv = *b;
    for (std::int64_t i = 0; i < n; ++i) y[i] = f(a[i], bv);
  } else if (sy == 1 && sa == 0 && sb == 1) {
    const T av = *a;
    for (std::int64_t i = 0; i < n; ++i) y[i] = f(av, b[i]);
  } else {
    for (std::int64_t i = 0; i < n; ++i) y[i * sy] = f(a[i * sa], b[i * sb]);
  }
}

template <class T>
void unary(UnaryOp op, std::int64_t n, const T* x, std::int64_t sx, T* y, std::int64_t sy) {
  switch (op) {
    case UnaryOp::neg:
      if constexpr (kInt<T>) map1(n, x, sx, y, sy, [](T v) { return wrap(0u - static_cast<U32>(v)); });
      else map1(n, x, sx, y, sy, [](T v) { return -v; });
      return;
    case UnaryOp::abs:
      if constexpr (kInt<T>) map1(n, x, sx, y, sy, [](T v) { return v < 0 ? wrap(0u - static_cast<U32>(v)) : v; });
      else map1(n, x, sx, y, sy, [](T v) { return std::abs(v); });
      return;
    case UnaryOp::square:
      if constexpr (kInt<T>) map1(n, x, sx, y, sy, [](T v) { return wrap(static_cast<U32>(v) * static_cast<U32>(v)); });
      else map1(n, x, sx, y, sy, [](T v) { return v * v; });
      return;
    case UnaryOp::relu:
      map1(n, x, sx, y, sy, [](T v) { return v < T(0) ? T(0) : v; });  // NaN stays NaN
      return;
    case UnaryOp::sign:  // NaN stays NaN
      map1(n, x, sx, y, sy, [](T v) { return v > T(0) ? T(1) : v < T(0) ? T(-1) : v == T(0) ? T(0) : v; });
      return;
    case UnaryOp::step:
      map1(n, x, sx, y, sy, [](T v) { return v > T(0) ? T(1) : T(0); });
      return;
    default:
      break;
  }
  if constexpr (!kInt<T>) {  // the caller rejects int32 for the ops below
    switch (op) {
      case UnaryOp::exp: map1(n, x, sx, y, sy, [](T v) { return vmath::exp(v); }); return;
      case UnaryOp::log: map1(n, x, sx, y, sy, [](T v) { return vmath::log(v); }); return;
      case UnaryOp::sqrt: map1(n, x, sx, y, sy, [](T v) { return std::sqrt(v); }); return;
      case UnaryOp::tanh: map1(n, x, sx, y, sy, [](T v) { return vmath::tanh(v); }); return;
      case UnaryOp::sigmoid: map1(n, x, sx, y, sy, [](T v) { return vmath::sigmoid(v); }); return;
      default: return;
    }
  }
}

template <class T>
void binary(BinaryOp op, std::int64_t n, const T* a, std::int64_t sa, const T* b, std::int64_t sb,
            T* y, std::int64_t sy) {
  switch (op) {
    case BinaryOp::add:
      if constexpr (kInt<T>) map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return wrap(static_cast<U32>(p) + static_cast<U32>(q)); });
      else map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return p + q; });
      return;
    case BinaryOp::sub:
      if constexpr (kInt<T>) map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return wrap(static_cast<U32>(p) - static_cast<U32>(q)); });
      else map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return p - q; });
      return;
    case BinaryOp::mul:
      if constexpr (kInt<T>) map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return wrap(static_cast<U32>(p) * static_cast<U32>(q)); });
      else map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return p * q; });
      return;
    case BinaryOp::div:
      // Integer division truncates; the caller rejects zero divisors, the guard only keeps the
      // CPU from trapping. INT32_MIN / -1 wraps.
      if constexpr (kInt<T>) map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return q == -1 ? wrap(0u - static_cast<U32>(p)) : q == 0 ? 0 : p / q; });
      else map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return p / q; });
      return;
    case BinaryOp::pow:
      if constexpr (kInt<T>) map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return int_pow(p, q); });
      else map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return std::pow(p, q); });
      return;
    case BinaryOp::maximum:  // NaN in either operand gives NaN, as in NumPy
      map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return p != p ? p : (p > q ? p : q); });
      return;
    case BinaryOp::minimum:
      map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return p != p ? p : (p < q ? p : q); });
      return;
    case BinaryOp::sigmoid_grad:
      map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return q * p * (T(1) - p); });
      return;
    case BinaryOp::tanh_grad:
      map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return q * (T(1) - p * p); });
      return;
    case BinaryOp::relu_grad:
      map2(n, a, sa, b, sb, y, sy, [](T p, T q) { return p > T(0) ? q : T(0); });
      return;
  }
}

// Chunks of four vectors' worth of elements stay in registers while every row is combined into
// them; one call for the rows instead of one per row (a bias gradient's 10 rows of 30 took
// 130 ns that way, mostly in the calls).
template <class T, class F>
void combine_rows_with(std::int64_t r, std::int64_t inner, const T* rows, T* acc, F combine) {
  constexpr std::int64_t kChunk = 4 * kVectorBytes / static_cast<std::int64_t>(sizeof(T));
  std::int64_t i = 0;
  for (; i + kChunk <= inner; i += kChunk) {
    T chunk[kChunk];
    for (std::int64_t k = 0; k < kChunk; ++k) chunk[k] = acc[i + k];
    for (std::int64_t j = 0; j < r; ++j)
      for (std::int64_t k = 0; k < kChunk; ++k) chunk[k] = combine(chunk[k], rows[j * inner + i + k]);
    for (std::int64_t k = 0; k < kChunk; ++k) acc[i + k] = chunk[k];
  }
  if constexpr (kInt<T>) {
    for (std::int64_t j = 0; j < r; ++j)
      for (std::int64_t k = i; k < inner; ++k) acc[k] = combine(acc[k], rows[j * inner + k]);
  } else {
    // The rest a vector at a time, the last one partial, each kept in a register over the rows:
    // combining in memory row after row waits on each store.
    constexpr std::int64_t L = kVectorBytes / static_cast<std::int64_t>(sizeof(T));
    for (; i < inner; i += L) {
      const int count = static_cast<int>(std::min(inner - i, L));
      Vec<T> v = load_first<Vec<T>>(acc + i, count);
      for (std::int64_t j = 0; j < r; ++j) v = combine(v, load_first<Vec<T>>(rows + j * inner + i, count));
      store_first(acc + i, v, count);
    }
  }
}

template <class T>
void combine_rows(BinaryOp op, std::int64_t r, std::int64_t inner, const T* rows, T* acc) {
  if (op == BinaryOp::maximum)  // on elements and on vectors alike
    combine_rows_with(r, inner, rows, acc, [](auto p, auto q) { return p != p ? p : (p > q ? p : q); });
  else if constexpr (kInt<T>)
    combine_rows_with(r, inner, rows, acc, [](T p, T q) { return wrap(static_cast<U32>(p) + static_cast<U32>(q)); });
  else
    combine_rows_with(r, inner, rows, acc, [](auto p, auto q) { return p + q; });
}

// Independent lanes let the compiler vectorise a float sum without reassociation flags; blocks
// of 4096 are combined in double, which keeps long float sums accurate.
template <class T>
double sum(std::int64_t n, const T* x) {
  using Acc = std::conditional_t<kInt<T>, std::int64_t, T>;
  constexpr int kLanes = 32;
  constexpr std::int64_t kBlock = 4096;
  double total = 0;
  for (std::int64_t start = 0; start < n; start += kBlock) {
    const std::int64_t end = start + kBlock < n ? start + kBlock : n;
    Acc acc[kLanes] = {};
    std::int64_t i = start;
    for (; i + kLanes <= end; i += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] += x[i + k];
    Acc rest = 0;
    for (; i < end; ++i) rest += x[i];
    for (int width = kLanes / 2; width >= 1; width /= 2)
      for (int k = 0; k < width; ++k) acc[k] += acc[k + width];
    total += static_cast<double>(acc[0]) + static_cast<double>(rest);
  }
  return total;
}


// max and exp_shift_sum serve softmax rows, which are often short (10 or 86 classes): the
// elements after the last whole vector go through one padded vector instead of a scalar loop
// (which took as long as the whole vectors of an 86-wide row), and lanes are combined as a tree
// of shuffles (as a loop over lanes, the last step took longer than the row's exponentials).

// Lanes [0, count) of the vector at p, `fill` in the others.
template <class V, class T>
inline V load_filled(const T* p, int count, T fill) {
  using M = decltype(V{} < V{});
  M lane;
  for (int k = 0; k < static_cast<int>(sizeof(V) / sizeof(T)); ++k) lane[k] = k;
  return lane < (M{} + count) ? load_first<V>(p, count) : V{} + fill;
}

// combine(v, v shifted down by w lanes) for w = L/2, …, 1: lane 0 ends up combining all lanes,
// in the order of a tree.
template <class W, class F>
inline auto reduce_lanes(W v, F combine) {
  using M = decltype(W{} < W{});
  constexpr int L = sizeof(W) / sizeof(v[0]);
  for (int width = L / 2; width >= 1; width /= 2) {
    M down;
    for (int k = 0; k < L; ++k) down[k] = (k + width) % L;
    v = combine(v, __builtin_shuffle(v, down));
  }
  return v[0];
}

template <class T>
T max(std::int64_t n, const T* x) {
  if constexpr (!std::is_floating_point_v<T>) {
    return *std::max_element(x, x + n);
  } else {
    using V = Vec<T>;
    constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(T));
    // NaN wins, as in NumPy. Written on vectors: as a loop over lanes it compiled to a branch
    // per lane.
    auto pick = [](V p, V q) { return (p != p) | (p > q) ? p : q; };
    V acc = V{} + x[0];  // the first element in every lane
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) acc = pick(acc, load<V>(x + i));
    if (i < n) acc = pick(acc, load_filled<V>(x + i, static_cast<int>(n - i), x[0]));  // x[0]: already counted
    return reduce_lanes(acc, pick);
  }
}

typedef double DoublesOfFloats __attribute__((vector_size(2 * kVectorBytes)));

// y = e^(x - shift), returning Σ y, summed in double lanes: as exact as a row's own rounding
// allows, so that the row's probabilities sum to 1 as closely as float can say.
template <class T>
double exp_shift_sum(std::int64_t n, const T* x, T shift, T* y) {
  using V = Vec<T>;
  constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(T));
  using Wide = std::conditional_t<std::is_same_v<T, float>, DoublesOfFloats, VecD>;  // a double per lane
  Wide acc{};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) y[i + k] = vmath::exp(x[i + k] - shift);
    acc += __builtin_convertvector(load<V>(y + i), Wide);
  }
  if (i < n) {
    const int count = static_cast<int>(n - i);
    const T inf = std::numeric_limits<T>::infinity();
    T shifted[kLanes], e[kLanes];
    const V tail = load_filled<V>(x + i, count, inf) - shift;
    std::memcpy(shifted, &tail, sizeof tail);
    for (int k = 0; k < kLanes; ++k) shifted[k] = k < count ? shifted[k] : -inf;  // e^-inf adds 0
    for (int k = 0; k < kLanes; ++k) e[k] = vmath::exp(shifted[k]);
    const V ev = load<V>(e);
    acc += __builtin_convertvector(ev, Wide);
    store_first(y + i, ev, count);
  }
  // The tree of reduce_lanes, written out: a vector this wide is not passed to a function.
  using M = decltype(acc < acc);
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    M down;
    for (int k = 0; k < kLanes; ++k) down[k] = (k + width) % kLanes;
    acc += __builtin_shuffle(acc, down);
  }
  return acc[0];
}

// Complete unrolling of the register blocks' loops over rows, vectors and B's rows, which keeps
// their sums (and B's rows) in registers. The sanitizer builds, which only run tests, leave it to
// the compiler: forced there, it took this file's compilation from 2.5 to 11 minutes.
#if defined(__has_feature)  // clang's way of saying so
#if __has_feature(address_sanitizer)
#define STHENO_SANITIZED
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(STHENO_SANITIZED)
#define STHENO_UNROLL
#else
#define STHENO_UNROLL _Pragma("GCC unroll 16")
#endif

// C = alpha·A·B + beta·C with B's rows contiguous, register-blocked: a block of R rows of C by
// two vectors of columns stays in registers while p runs over k, each step one broadcast of
// A[i,p] and two fused multiply-adds per row against B[p, tile]. This is the shape of small
// networks' products (10×784 by 784×30), where BLAS's packing costs more than the arithmetic.
//
// Rows of C per register block: two accumulators a row, plus B's two vectors and a broadcast,
// within the 16 vector registers of AVX2 and SSE (32 with AVX-512).
constexpr int kMaxRows = kVectorBytes == 64 ? 12 : 6;

// How a block reads A[r, p]: along a row (A row-major: one pointer per row, consecutive p),
// down a column (A is a transposed view: the R values of one p are adjacent), or by two
// strides. Fixing this at compile time keeps every address in a register; with both strides
// as variables the compiler ran out of registers and reloaded row pointers in the inner loop.
enum class ALayout { rows, columns, strided };

// Where a tile's vector v starts within its `width` columns. A width that ends in part of a
// vector, but is at least one vector wide, takes its last vector as the whole vector that ends at
// the width, overlapping the one before it: every load and store then stays within the row and
// needs no mask. A store masked to the row still spans the next row's first columns, and
// reading those (the next row's tile) waits until that store has retired. 784×10 by 10×30 added
// into a weight, one thread, Sapphire Rapids kind: 5.7–6.3 -> 4.7–4.9 µs with AVX-512, 9.3–9.7
// -> 7.7 µs with AVX2 (and, with no old tile to hold, blocks of C with beta now take as many rows
// as those without). The overlapping columns are summed the same way in both vectors, so writing
// them twice writes the same numbers. Vectors past the width (in tiles wider than it) repeat the
// last one and are never stored.
template <int L>
constexpr int vector_offset(int v, int width) {
  return v * L + L <= width || width < L ? v * L : width - L;
}

// A strip of B's columns as a block reads it: rows [0, full_rows) straight from B (`rs` apart),
// the rest from `tail`, a copy `tile` wide. A tile narrower than one vector reads on into the
// next row; those lanes are never stored, so B is copied only for the last rows, whose reads
// would run past B's end.
template <class T>
struct BPanel {
  const T* rows;
  std::int64_t rs, full_rows;
  const T* tail;
};

// A[r, p] of a block whose row pointers are `arow` (rows, strided) or whose column p starts at
// `acol` (columns).
template <ALayout kA, class T>
[[gnu::always_inline]] inline T a_element(const T* const* arow, const T* acol, int r, std::int64_t p, std::int64_t a_cs) {
  if constexpr (kA == ALayout::rows) return arow[r][p];
  else if constexpr (kA == ALayout::columns) return acol[r];
  else return arow[r][p * a_cs];
}

// How a tile's store uses C's old values: not read (beta 0), added as they are (beta 1: SGD's
// update of a weight, where multiplying by 1 would only cost time), or scaled by beta.
enum class BetaKind { zero, one, scaled };

// C's R rows of the tile = alpha·acc + beta·C, and with kWhole (a width of at least one vector)
// in whole vectors, unmasked. A row's vectors are all formed before any is written, since its
// last one may overlap the one before; C's old values are read as the sums need them, so that
// with the k rows of B held in registers (gemm_short_k) no register is left holding them (GCC
// had spilled rows of B to the stack and summed the last rows' products at the store, one after
// another: 784×10 by 10×30 added into a weight, Sapphire Rapids kind, 4.1–4.3 -> 3.5–3.9 µs).
// Narrower rows are read and written masked, and a masked store still spans the next rows' first
// columns: reading those waits until the store has retired, so then the whole tile is read first
// (30×10 added into a weight: 280 -> 137 ns). alpha·acc + C is one fused multiply-add: rounded
// once, and one instruction fewer per vector (784×10 by 10×30 added into a weight, one thread,
// Sapphire Rapids kind: AVX2 5.7–6.2 -> 5.3–5.8 µs, AVX-512 3.3–3.5 -> 3.1–3.5 µs).
template <BetaKind kBeta, bool kWhole, int R, int NB, class T>
[[gnu::always_inline]] inline void store_tile(const Vec<T> (&acc)[R][NB], T alpha, T beta, T* c, std::int64_t c_rs,
                                              int width) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  const V valpha = broadcast<V>(alpha), vbeta = broadcast<V>(beta);
  const auto old = [&](const T* cv) {
    if constexpr (kBeta == BetaKind::scaled) return vbeta * load<V>(cv);
    else return load<V>(cv);
  };
  if constexpr (kWhole) {
STHENO_UNROLL
    for (int r = 0; r < R; ++r) {
      V y[NB];
STHENO_UNROLL
      for (int v = 0; v < NB; ++v)
        y[v] = v * L >= width || kBeta == BetaKind::zero
                   ? valpha * acc[r][v]
                   : fused_multiply_add(valpha, acc[r][v], old(c + r * c_rs + vector_offset<L>(v, width)));
STHENO_UNROLL
      for (int v = 0; v < NB; ++v)
        if (v * L < width) std::memcpy(c + r * c_rs + vector_offset<L>(v, width), &y[v], sizeof y[v]);
    }
  } else {
    const int partial = std::min(width, L);  // width itself, bounded for the compiler
    V olds[R][NB];
    if constexpr (kBeta != BetaKind::zero)
STHENO_UNROLL
      for (int r = 0; r < R; ++r)
STHENO_UNROLL
        for (int v = 0; v < NB; ++v) {
          olds[r][v] = v * L >= width ? broadcast<V>(T(0)) : load_first<V>(c + r * c_rs + vector_offset<L>(v, width), partial);
          if constexpr (kBeta == BetaKind::scaled) olds[r][v] *= vbeta;
        }
STHENO_UNROLL
    for (int r = 0; r < R; ++r)
STHENO_UNROLL
      for (int v = 0; v < NB; ++v) {
        if (v * L >= width) continue;
        const V y = kBeta == BetaKind::zero ? valpha * acc[r][v] : fused_multiply_add(valpha, acc[r][v], olds[r][v]);
        store_first(c + r * c_rs + vector_offset<L>(v, width), y, partial);
      }
  }
}

// Calls f(beta_kind, whole_kind), two compile-time constants: the BetaKind of beta, and whether
// width is at least a vector, so that the decisions are made once, outside the loops.
template <class T, class F>
[[gnu::always_inline]] inline void with_store_kind(T beta, int width, F&& f) {
  constexpr int L = kVectorBytes / sizeof(T);
  const auto with_beta = [&](auto whole_kind) {
    if (beta == T(0)) f(std::integral_constant<BetaKind, BetaKind::zero>{}, whole_kind);
    else if (beta == T(1)) f(std::integral_constant<BetaKind, BetaKind::one>{}, whole_kind);
    else f(std::integral_constant<BetaKind, BetaKind::scaled>{}, whole_kind);
  };
  if (width >= L) with_beta(std::true_type{});
  else with_beta(std::false_type{});
}

// R rows of C by columns [0, NB·L) of the panel, `width` of them stored; kTail: the panel has a
// tail (B's rows run out before k). Without one the loop over p keeps no tail's pointer, step
// and row count, which with AVX-512's 10 rows of A had run out of general registers: those were
// kept in vector registers and moved back every step (10×784 by 784×30, one thread, Sapphire
// Rapids kind: 4.2 -> 3.7 µs).
template <int R, int NB, ALayout kA, bool kTail, class T>
void gemm_block(std::int64_t k, T alpha, const T* a, std::int64_t a_rs, std::int64_t a_cs, const BPanel<T>& b, T beta,
                T* c, std::int64_t c_rs, int width) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  V acc[R][NB];
STHENO_UNROLL
  for (int r = 0; r < R; ++r)
STHENO_UNROLL
    for (int v = 0; v < NB; ++v) acc[r][v] = broadcast<V>(T(0));
  const T* arow[R];
  for (int r = 0; r < R; ++r) arow[r] = a + r * a_rs;
  // One loop over p that moves from B's rows to its tail, with every loop inside unrolled:
  // written as two loops around a shared body, GCC kept the sums in memory.
  const std::int64_t full = std::min(b.full_rows, k);
  const T* brow = b.rows;
  std::int64_t b_step = b.rs;
  for (std::int64_t p = 0; p < k; ++p, brow += b_step) {
    if constexpr (kTail)
      if (p == full) brow = b.tail, b_step = NB * L;
    V bv[NB];
STHENO_UNROLL
    for (int v = 0; v < NB; ++v) bv[v] = load<V>(brow + vector_offset<L>(v, width));
    const T* acol = a + p * a_cs;
STHENO_UNROLL
    for (int r = 0; r < R; ++r) {
      // Rows of A as offsets from column p, one pointer stepped along, rather than row pointers
      // indexed by p: a general register fewer (3.68 -> 3.61 µs on the product above).
      const V av = broadcast<V>(kA == ALayout::rows ? acol[r * a_rs] : a_element<kA>(arow, acol, r, p, a_cs));
STHENO_UNROLL
      for (int v = 0; v < NB; ++v) acc[r][v] = fused_multiply_add(av, bv[v], acc[r][v]);
    }
  }
  with_store_kind(beta, width, [&](auto beta_kind, auto whole_kind) {
    store_tile<beta_kind(), whole_kind()>(acc, alpha, beta, c, c_rs, width);
  });
}

// Tiles are 2 vectors wide, 1 for rows of at most one vector (10×30 by 30×10: 174 -> 119 ns,
// with half the multiply-adds), or kWideVectors for the one or two rows of C that take wide tiles.
constexpr int kWideVectors = kVectorBytes == 64 ? 8 : 4;
template <int NB>
constexpr int kRowsFor = NB <= 2 ? kMaxRows : 2;
// Rows [0, m) in blocks of at most kRowsFor<NB>, as even as possible (10 rows: 5 and 5, not 8
// and 2), so that every block keeps enough independent multiply-adds in flight.
template <ALayout kA, int NB, class T, int R = 1>
void gemm_block_rows(int rows, std::int64_t k, T alpha, const T* a, std::int64_t a_rs, std::int64_t a_cs,
                     const BPanel<T>& b, T beta, T* c, std::int64_t c_rs, int width) {
  if constexpr (R < kRowsFor<NB>)
    if (rows > R) return gemm_block_rows<kA, NB, T, R + 1>(rows, k, alpha, a, a_rs, a_cs, b, beta, c, c_rs, width);
  // Only AVX-512's kernels, with their taller blocks, gain from the second form.
  if constexpr (kVectorBytes == 64)
    if (b.full_rows >= k) return gemm_block<R, NB, kA, false>(k, alpha, a, a_rs, a_cs, b, beta, c, c_rs, width);
  gemm_block<R, NB, kA, true>(k, alpha, a, a_rs, a_cs, b, beta, c, c_rs, width);
}

// A short inner axis (a weight gradient over a small batch: 784×10 by 10×30) gives each block
// only k steps between its zeroed sums and its stores. With 32 vector registers, the tile's k rows
// of B stay in registers for the whole sweep down C instead of being loaded again for every block,
// in blocks of 4 rows with 2-vector tiles for k <= 10 (2·10 rows of B + 8 sums + a broadcast =
// 29 registers), 3 for k <= 12, or 6 with 1-vector ones. Added into the 784×30 weight, one
// thread, Sapphire Rapids kind: 4.8–5.2 -> 4.0 µs, and with 4 rows 3.8–4.0 µs (8 sums in flight,
// as two multiply-add units of latency 4 need; 3 rows gave 6). Its multiply-adds need 2.5 µs at
// this core's measured peak. With AVX2's 16 registers B's rows are loaded again at every step,
// as gemm_block loads them, but the sweep still gains: its blocks run in one loop, with the store's
// kind decided once and the k steps unrolled, instead of one call per block of 6 rows (the same
// product with AVX2: 7.0–7.6 -> 5.5–6.0 µs, W1's epoch 0.084–0.085 -> 0.075–0.079 s). The sums
// are formed in the same order as gemm_block's.
constexpr int kShortK = 12;
constexpr int kShortKInBlocksOf4 = 10;
constexpr bool kShortKHoldsB = kVectorBytes == 64;

template <ALayout kA, int NB, int kRowsOfB, class T>
void gemm_short_k(std::int64_t m, std::int64_t k, T alpha, const T* a, std::int64_t a_rs, std::int64_t a_cs,
                  const BPanel<T>& b, T beta, T* c, std::int64_t c_rs, int width) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  constexpr int R = !kShortKHoldsB ? kMaxRows : NB == 2 ? (kRowsOfB <= kShortKInBlocksOf4 ? 4 : 3) : 6;
  const auto row_of_b = [&](int p) {
    return p >= k ? nullptr : p < b.full_rows ? b.rows + p * b.rs : b.tail + (p - b.full_rows) * (NB * L);
  };
  V bv[kShortKHoldsB ? kRowsOfB : 1][NB];
  if constexpr (kShortKHoldsB)
STHENO_UNROLL
    for (int p = 0; p < kRowsOfB; ++p) {
      const T* brow = row_of_b(p);
STHENO_UNROLL
      for (int v = 0; v < NB; ++v) bv[p][v] = brow ? load<V>(brow + vector_offset<L>(v, width)) : broadcast<V>(T(0));
    }
  std::int64_t i = 0;
  with_store_kind(beta, width, [&](auto beta_kind, auto whole_kind) {
    for (; i + R <= m; i += R) {
      const T* arow[R];
      for (int r = 0; r < R; ++r) arow[r] = a + (i + r) * a_rs;
      V acc[R][NB];
STHENO_UNROLL
      for (int r = 0; r < R; ++r)
STHENO_UNROLL
        for (int v = 0; v < NB; ++v) acc[r][v] = broadcast<V>(T(0));
      // Column p of the block's A by one pointer stepped down A, not one pointer per p: those ran
      // out of general registers.
      const T* acol = a + i * a_rs;
STHENO_UNROLL
      for (int p = 0; p < kRowsOfB; ++p, acol += a_cs) {
        if (p >= k) break;
        V loaded[NB];
        if constexpr (!kShortKHoldsB) {
          const T* brow = row_of_b(p);
STHENO_UNROLL
          for (int v = 0; v < NB; ++v) loaded[v] = load<V>(brow + vector_offset<L>(v, width));
        }
        const V(&row)[NB] = kShortKHoldsB ? bv[p] : loaded;
STHENO_UNROLL
        for (int r = 0; r < R; ++r) {
          const V av = broadcast<V>(a_element<kA>(arow, acol, r, p, a_cs));
STHENO_UNROLL
          for (int v = 0; v < NB; ++v) acc[r][v] = fused_multiply_add(av, row[v], acc[r][v]);
        }
      }
      store_tile<beta_kind(), whole_kind()>(acc, alpha, beta, c + i * c_rs, c_rs, width);
    }
  });
  if (i < m)
    gemm_block_rows<kA, NB, T>(static_cast<int>(m - i), k, alpha, a + i * a_rs, a_rs, a_cs, b, beta, c + i * c_rs, c_rs, width);
}

// Tiles of NB vectors of columns. One or two rows of C (a layer applied to one sample) take wide
// tiles, so that B streams through once in order instead of in 2-vector strips that each touch a
// quarter of every row (the CNN's 3136×128 layer at batch 1, weights in cache: 35 → 22–27 µs).
template <ALayout kA, int NB, class T>
void gemm_rows_tiled(std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t a_rs,
                     std::int64_t a_cs, const T* b, std::int64_t b_rs, T beta, T* c, std::int64_t c_rs) {
  constexpr int L = kVectorBytes / sizeof(T), kTile = NB * L, kRows = kRowsFor<NB>;
  // A few padded rows fit here; more (rows of B much narrower than a tile) go to the thread's
  // scratch.
  constexpr std::int64_t kPaddedRows = 4;
  T padded[kPaddedRows * kTile];
  for (std::int64_t j0 = 0; j0 < n; j0 += kTile) {
    const int width = static_cast<int>(n - j0 < kTile ? n - j0 : kTile);
    BPanel<T> panel{b + j0, b_rs, k, nullptr};
    if (width < L && k > 0) {
      // Row p's tile ends (k - 1 - p)·b_rs + kTile - width elements past B's last element.
      const std::int64_t overhang = kTile - width;
      const std::int64_t copied = b_rs > 0 ? std::min(k, (overhang + b_rs - 1) / b_rs) : k;
      T* tail = copied <= kPaddedRows ? padded : part_scratch<T>(ScratchSlot::gemm_panel, copied * kTile);
      using V = Vec<T>;
      for (std::int64_t p = k - copied; p < k; ++p)
        for (int v = 0; v < NB; ++v) {
          const V x = v == 0 ? load_first<V>(b + j0 + p * b_rs, width) : broadcast<V>(T(0));
          std::memcpy(tail + (p - (k - copied)) * kTile + v * L, &x, sizeof x);
        }
      panel.full_rows = k - copied;
      panel.tail = tail;
    }
    if constexpr (NB <= 2)
      if (k <= kShortK) {
        if (k <= kShortKInBlocksOf4)
          gemm_short_k<kA, NB, kShortKInBlocksOf4>(m, k, alpha, a, a_rs, a_cs, panel, beta, c + j0, c_rs, width);
        else gemm_short_k<kA, NB, kShortK>(m, k, alpha, a, a_rs, a_cs, panel, beta, c + j0, c_rs, width);
        continue;
      }
    const std::int64_t blocks = (m + kRows - 1) / kRows;
    for (std::int64_t block = 0, i = 0; block < blocks; ++block) {
      const std::int64_t end = m * (block + 1) / blocks;
      gemm_block_rows<kA, NB, T>(static_cast<int>(end - i), k, alpha, a + i * a_rs, a_rs, a_cs, panel, beta,
                                 c + i * c_rs + j0, c_rs, width);
      i = end;
    }
  }
}

template <ALayout kA, class T>
void gemm_rows(std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t a_rs, std::int64_t a_cs,
               const T* b, std::int64_t b_rs, T beta, T* c, std::int64_t c_rs) {
  constexpr int L = kVectorBytes / sizeof(T);
  // Rows of B narrower than a wide tile would be copied into padded rows on every call: only
  // B's with rows at least that long take wide tiles.
  if (m <= 2 && n > 2 * L && b_rs >= kWideVectors * L) gemm_rows_tiled<kA, kWideVectors>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, c_rs);
  else if (n <= L) gemm_rows_tiled<kA, 1>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, c_rs);
  else gemm_rows_tiled<kA, 2>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, c_rs);
}

template <class T>
void gemm_rows(std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t a_rs,
               std::int64_t a_cs, const T* b, std::int64_t b_rs, T beta, T* c, std::int64_t c_rs) {
  if (a_cs == 1) gemm_rows<ALayout::rows>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, c_rs);
  else if (a_rs == 1) gemm_rows<ALayout::columns>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, c_rs);
  else gemm_rows<ALayout::strided>(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, c_rs);
}

// With B's columns contiguous (B is a transposed view), every C[i,j] is a dot product of a row
// of A and a column of B; dots over contiguous A rows vectorise, others run as plain loops.
template <class T>
void gemm_dots(std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t a_rs,
               std::int64_t a_cs, const T* b, std::int64_t b_cs, T beta, T* c, std::int64_t c_rs) {
  constexpr int kLanes = 16;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      const T* arow = a + i * a_rs;
      const T* bcol = b + j * b_cs;
      T acc[kLanes] = {};
      std::int64_t p = 0;
      if (a_cs == 1)
        for (; p + kLanes <= k; p += kLanes)
          for (int l = 0; l < kLanes; ++l) acc[l] += arow[p + l] * bcol[p + l];
      T dot = T(0);
      for (; p < k; ++p) dot += arow[p * a_cs] * bcol[p];
      for (int l = 0; l < kLanes; ++l) dot += acc[l];
      T& out = c[i * c_rs + j];
      out = beta == T(0) ? alpha * dot : alpha * dot + beta * out;
    }
}

template <class T>
void gemm_small(std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t a_rs, std::int64_t a_cs,
                const T* b, std::int64_t b_rs, std::int64_t b_cs, T beta, T* c, std::int64_t c_rs) {
  if (b_cs == 1 || n == 1) gemm_rows(m, n, k, alpha, a, a_rs, a_cs, b, b_rs, beta, c, c_rs);
  else if (k * n <= kMaxPackedB) {
    T* packed = part_scratch<T>(ScratchSlot::gemm_packed_b, k * n);
    // B's columns as rows: a transposed matrix (the input gradient's g·Wᵀ) in blocks transposed
    // in registers (10×10 by Wᵀ of 30×10: 282 -> 110 ns), any other layout element by element.
    if (b_rs == 1) STHENO_CONCAT(isa_, STHENO_SIMD_ISA)::transpose(n, k, b, b_cs, packed, n);
    else
      for (std::int64_t p = 0; p < k; ++p)
        for (std::int64_t j = 0; j < n; ++j) packed[p * n + j] = b[p * b_rs + j * b_cs];
    gemm_rows(m, n, k, alpha, a, a_rs, a_cs, packed, n, beta, c, c_rs);
  } else if (b_rs == 1) gemm_dots(m, n, k, alpha, a, a_rs, a_cs, b, b_cs, beta, c, c_rs);
  else {  // neither axis of B is contiguous: gather nothing, just loop
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        T dot = T(0);
        for (std::int64_t p = 0; p < k; ++p) dot += a[i * a_rs + p * a_cs] * b[p * b_rs + j * b_cs];
        T& out = c[i * c_rs + j];
        out = beta == T(0) ? alpha * dot : alpha * dot + beta * out;
      }
  }
}

// Direct convolution (DirectConv): a register block is R filters by NV output vectors, each
// vector up to L pixels of one output row. Per tap, NV loads from the image and R broadcasts of
// weights feed R·NV multiply-adds: 6 × 4 with AVX-512's 32 registers, 4 × 2 with 16.
constexpr int kConvRows = kVectorBytes == 64 ? 6 : 4;
constexpr int kConvVectors = kVectorBytes == 64 ? 4 : 2;

struct ConvSlot {
  std::int64_t in, out;  // the vector's first pixel: offset into the padded image (tap 0), into an output plane
  int width;             // pixels stored
};

template <int R, int NV, class T>
void conv_block(const DirectConv<T>& job, std::int64_t f0, const ConvSlot* slots) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  V acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = broadcast<V>(T(0));
  const T* w[R];
  for (int r = 0; r < R; ++r) w[r] = job.weights + (f0 + r) * job.ldw;
  const T* base[NV];
  for (int v = 0; v < NV; ++v) base[v] = job.padded + slots[v].in;
  for (std::int64_t p = 0; p < job.k; ++p) {
    const std::int64_t tap = job.taps[p];
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load<V>(base[v] + tap);
    for (int r = 0; r < R; ++r) {
      const V a = broadcast<V>(w[r][p]);
      for (int v = 0; v < NV; ++v) acc[r][v] = fused_multiply_add(a, b[v], acc[r][v]);
    }
  }
  const std::int64_t plane = job.out_h * job.out_w;
  for (int r = 0; r < R; ++r) {
    const V bias = broadcast<V>(job.bias ? job.bias[f0 + r] : T(0));
    for (int v = 0; v < NV; ++v) {
      T* y = job.out + (f0 + r) * plane + slots[v].out;
      const int width = slots[v].width;
      if (width == L) {
        const V sum = (job.accumulate ? load<V>(y) : bias) + acc[r][v];
        std::memcpy(y, &sum, sizeof sum);
      } else {
        store_first(y, (job.accumulate ? load_first<V>(y, width) : bias) + acc[r][v], width);
      }
    }
  }
}

// The block with `rows` filters and `vectors` slots, both fixed at compile time.
template <class T, int R = 1, int NV = 1>
void conv_block_sized(int rows, int vectors, const DirectConv<T>& job, std::int64_t f0, const ConvSlot* slots) {
  if constexpr (R < kConvRows)
    if (rows > R) return conv_block_sized<T, R + 1, NV>(rows, vectors, job, f0, slots);
  if constexpr (NV < kConvVectors)
    if (vectors > NV) return conv_block_sized<T, R, NV + 1>(rows, vectors, job, f0, slots);
  conv_block<R, NV>(job, f0, slots);
}

// Filters and slots are split into blocks as even as possible (14 rows of one vector: 3, 4, 3, 4),
// filter blocks outermost, so that a block's weights stay in L1 while it sweeps the image.
template <class T>
void conv_direct(const DirectConv<T>& job) {
  constexpr int L = kVectorBytes / sizeof(T);
  const std::int64_t chunks = (job.out_w + L - 1) / L, slot_count = job.out_h * chunks;
  const std::int64_t groups = (slot_count + kConvVectors - 1) / kConvVectors;
  const std::int64_t blocks = (job.filters + kConvRows - 1) / kConvRows;
  for (std::int64_t block = 0, f0 = 0; block < blocks; ++block) {
    const std::int64_t f1 = job.filters * (block + 1) / blocks;
    for (std::int64_t group = 0, s0 = 0; group < groups; ++group) {
      const std::int64_t s1 = slot_count * (group + 1) / groups;
      ConvSlot slots[kConvVectors];
      for (std::int64_t s = s0; s < s1; ++s) {
        const std::int64_t oy = s / chunks, x0 = s % chunks * L;
        slots[s - s0] = {oy * job.row_step + x0, oy * job.out_w + x0, static_cast<int>(std::min<std::int64_t>(L, job.out_w - x0))};
      }
      conv_block_sized<T>(static_cast<int>(f1 - f0), static_cast<int>(s1 - s0), job, f0, slots);
      s0 = s1;
    }
    f0 = f1;
  }
}

// The weight gradient (DirectConvWeightGrad): a register block is TP taps by FV vectors of
// filters; per output pixel, FV loads of the pixel's gradients and TP broadcasts of the taps'
// pixels feed TP·FV multiply-adds, accumulated over the whole image and then added to its rows
// of dweights_t. TP·FV is at most the accumulator count (24 with AVX-512, 12 with 16 registers).
constexpr int kGradAccumulators = kVectorBytes == 64 ? 24 : 12;
constexpr int kGradMaxVectors = kVectorBytes == 64 ? 4 : 2;
constexpr std::int64_t kGradPixelRun = 256;

template <int FV, int TP, class T>
void conv_weight_grad_block(const DirectConvWeightGrad<T>& job, std::int64_t p0, std::int64_t v0) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  V acc[TP][FV];
  const T* x[TP];
  for (int t = 0; t < TP; ++t) x[t] = job.padded + job.taps[p0 + t];
  // Sums are flushed to dweights_t every few rows (about kGradPixelRun pixels): one chain of
  // multiply-adds over a whole large image lost enough precision that a batch-normalised layer,
  // whose weight gradient is a difference of nearly equal sums, trained measurably differently.
  const std::int64_t rows_per_run = std::max<std::int64_t>(1, kGradPixelRun / job.out_w);
  for (std::int64_t y0 = 0; y0 < job.out_h; y0 += rows_per_run) {
    for (int t = 0; t < TP; ++t)
      for (int v = 0; v < FV; ++v) acc[t][v] = broadcast<V>(T(0));
    for (std::int64_t oy = y0; oy < std::min(job.out_h, y0 + rows_per_run); ++oy) {
      const T* g = job.grad_t + oy * job.out_w * job.ldg + v0 * L;
      const std::int64_t row = oy * job.row_step;
      for (std::int64_t ox = 0; ox < job.out_w; ++ox, g += job.ldg) {
        V gv[FV];
        for (int v = 0; v < FV; ++v) gv[v] = load<V>(g + v * L);
        for (int t = 0; t < TP; ++t) {
          const V a = broadcast<V>(x[t][row + ox]);
          for (int v = 0; v < FV; ++v) acc[t][v] = fused_multiply_add(a, gv[v], acc[t][v]);
        }
      }
    }
    for (int t = 0; t < TP; ++t)
      for (int v = 0; v < FV; ++v) {
        T* d = job.dweights_t + (p0 + t) * job.ldd + (v0 + v) * L;
        const V sum = load<V>(d) + acc[t][v];
        std::memcpy(d, &sum, sizeof sum);
      }
  }
}

// Taps [p0, k) in blocks of TP, the rest in blocks of TP/2, TP/4, …; the last block, of 2 or 3
// taps, may run past k onto padding taps (at most to k rounded up to a multiple of 3).
template <int FV, int TP, class T>
void conv_weight_grad_taps(const DirectConvWeightGrad<T>& job, std::int64_t p0, std::int64_t v0) {
  for (; p0 + TP <= job.k; p0 += TP) conv_weight_grad_block<FV, TP>(job, p0, v0);
  if (p0 == job.k) return;
  if constexpr (TP % 2 == 0 && TP > 2) conv_weight_grad_taps<FV, TP / 2>(job, p0, v0);
  else conv_weight_grad_block<FV, TP>(job, p0, v0);
}

template <class T>
void conv_direct_weight_grad(const DirectConvWeightGrad<T>& job) {
  constexpr int L = kVectorBytes / sizeof(T);
  const std::int64_t vectors = (job.filters + L - 1) / L;
  for (std::int64_t v0 = 0; v0 < vectors;) {
    const int fv = static_cast<int>(std::min<std::int64_t>(kGradMaxVectors, vectors - v0));
    if (fv == 1) conv_weight_grad_taps<1, kGradAccumulators>(job, 0, v0);
    else if (fv == 2) conv_weight_grad_taps<2, kGradAccumulators / 2>(job, 0, v0);
    else if constexpr (kGradMaxVectors == 4) {
      if (fv == 3) conv_weight_grad_taps<3, kGradAccumulators / 3>(job, 0, v0);
      else conv_weight_grad_taps<4, kGradAccumulators / 4>(job, 0, v0);
    }
    v0 += fv;
  }
}

// Max pooling, one output row at a time: the maximum down the window's rows, a unit-stride pass
// over whole vectors into a row with -inf on both sides (the padding), then across each window
// of that row: by unaligned loads for a stride of 1, by splitting even and odd pixels for 2 (the
// usual 2×2 windows), element by element otherwise.
// For vectors and scalars alike; both tests are always evaluated, so nothing branches.
template <class X>
inline X max_nan(X a, X b) {
  return (b > a) | (b != b) ? b : a;
}

// Lanes First, First + 2, First + 4, … of the 2L values lo, hi: the even (0) or odd (1) pixels.
template <int First, class V>
inline V alternate_lanes(V lo, V hi) {
  using M = decltype(lo < hi);
  constexpr int L = sizeof(V) / sizeof(lo[0]);
  M mask;
  for (int i = 0; i < L; ++i) mask[i] = 2 * i + First;
  return __builtin_shuffle(lo, hi, mask);
}

template <class T>
void max_pool(const MaxPool<T>& job, std::int64_t begin, std::int64_t end) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  constexpr T kLow = -std::numeric_limits<T>::infinity();
  const std::int64_t padded_w = job.w + 2 * job.pw, row_size = padded_w + 2 * L + job.kw;
  T* row = part_scratch<T>(ScratchSlot::pool_row, row_size);
  std::fill(row, row + row_size, kLow);
  T* interior = row + job.pw;
  for (std::int64_t plane = begin; plane < end; ++plane) {
    const T* x = job.x + plane * job.h * job.w;
    T* out = job.out + plane * job.oh * job.ow;
    for (std::int64_t oy = 0; oy < job.oh; ++oy, out += job.ow) {
      const std::int64_t y0 = std::max<std::int64_t>(oy * job.sh - job.ph, 0);
      const std::int64_t y1 = std::min(oy * job.sh - job.ph + job.kh, job.h);
      for (std::int64_t j = 0; j < job.w; j += L) {
        const int count = static_cast<int>(std::min<std::int64_t>(L, job.w - j));
        V m = load_first<V>(x + y0 * job.w + j, count);
        for (std::int64_t y = y0 + 1; y < y1; ++y) m = max_nan(m, load_first<V>(x + y * job.w + j, count));
        store_first(interior + j, m, count);
      }
      if (job.sw == 1 || job.sw == 2) {
        for (std::int64_t ox = 0; ox < job.ow; ox += L) {
          const T* from = row + ox * job.sw;
          V m = broadcast<V>(kLow);
          for (std::int64_t k = 0; k < job.kw; ++k)
            m = max_nan(m, job.sw == 1 ? load<V>(from + k) : alternate_lanes<0>(load<V>(from + k), load<V>(from + k + L)));
          store_first(out + ox, m, static_cast<int>(std::min<std::int64_t>(L, job.ow - ox)));
        }
      } else {
        for (std::int64_t ox = 0; ox < job.ow; ++ox) {
          T m = kLow;
          for (std::int64_t k = 0; k < job.kw; ++k) m = max_nan(m, row[ox * job.sw + k]);
          out[ox] = m;
        }
      }
    }
  }
}

// The inverse of splitting into even and odd lanes: the first (low) or last (high) L lanes of
// e0, o0, e1, o1, ….
template <class V>
inline V interleave(V even, V odd, bool high) {
  using M = decltype(even < odd);
  constexpr int L = sizeof(V) / sizeof(even[0]);
  M mask;
  for (int i = 0; i < L; ++i) mask[i] = (i + (high ? L : 0)) / 2 + (i % 2) * L;
  return __builtin_shuffle(even, odd, mask);
}

// Each output vector's windows: the two input rows split into even and odd lanes give the four
// taps in row-major order; a tap takes the gradient where it equals the pooled value and no
// earlier tap did (the first tap when none does), and the taps are interleaved back into rows.
template <class T>
void max_pool_grad_2x2(const MaxPoolGrad2x2<T>& job, std::int64_t begin, std::int64_t end) {
  using V = Vec<T>;
  using M = decltype(V{} < V{});
  constexpr int L = kVectorBytes / sizeof(T);
  const V zero = broadcast<V>(T(0));
  for (std::int64_t plane = begin; plane < end; ++plane) {
    const T* x = job.x + plane * job.h * job.w;
    T* dx = job.dx + plane * job.h * job.w;
    const T* pooled = job.pooled + plane * job.oh * job.ow;
    const T* grad = job.grad + plane * job.oh * job.ow;
    for (std::int64_t oy = 0; oy < job.oh; ++oy) {
      for (std::int64_t ox = 0; ox < job.ow; ox += L) {
        const int count = static_cast<int>(std::min<std::int64_t>(L, job.ow - ox));
        const int first = std::min(2 * count, L), second = 2 * count - first;
        const std::int64_t at = 2 * oy * job.w + 2 * ox;
        const V y = load_first<V>(pooled + oy * job.ow + ox, count), g = load_first<V>(grad + oy * job.ow + ox, count);
        V taps[4];
        for (int r = 0; r < 2; ++r) {
          const V lo = load_first<V>(x + at + r * job.w, first);
          const V hi = second > 0 ? load_first<V>(x + at + r * job.w + L, second) : zero;
          taps[2 * r] = alternate_lanes<0>(lo, hi);
          taps[2 * r + 1] = alternate_lanes<1>(lo, hi);
        }
        const M y_nan = y != y;
        M taken = M{} != M{};  // all false
        V d[4];
        for (int t = 0; t < 4; ++t) {
          const M hit = ((taps[t] == y) | ((taps[t] != taps[t]) & y_nan)) & ~taken;
          taken |= hit;
          d[t] = hit ? g : zero;
        }
        d[0] = ~taken ? g : d[0];
        for (int r = 0; r < 2; ++r) {
          store_first(dx + at + r * job.w, interleave(d[2 * r], d[2 * r + 1], false), first);
          if (second > 0) store_first(dx + at + r * job.w + L, interleave(d[2 * r], d[2 * r + 1], true), second);
        }
      }
      if (job.w % 2) dx[(2 * oy + 1) * job.w - 1] = dx[(2 * oy + 2) * job.w - 1] = T(0);
    }
    if (job.h % 2) std::fill(dx + (job.h - 1) * job.w, dx + job.h * job.w, T(0));
  }
}

// Recurrent cells, one batch row at a time: every loop runs over the h hidden units with unit
// stride, so each vectorises with the vmath functions. Outputs never overlap inputs (the ops
// are not in place), and saying so (__restrict) is what lets these loops vectorise.
template <class T>
void lstm_cell(std::int64_t h, const T* __restrict gates, const T* __restrict c_prev, T* __restrict h_out,
               T* __restrict c_out) {
  const T *__restrict gi = gates, *__restrict gf = gates + h;
  const T *__restrict gg = gates + 2 * h, *__restrict go = gates + 3 * h;
  for (std::int64_t j = 0; j < h; ++j) {
    const T c = vmath::sigmoid(gf[j]) * c_prev[j] + vmath::sigmoid(gi[j]) * vmath::tanh(gg[j]);
    c_out[j] = c;
    h_out[j] = vmath::sigmoid(go[j]) * vmath::tanh(c);
  }
}

template <class T>
void lstm_cell_backward(std::int64_t h, const T* __restrict gates, const T* __restrict c_prev, const T* __restrict c,
                        const T* __restrict dh, const T* __restrict dc, T* __restrict dgates, T* __restrict dc_prev) {
  const T *__restrict gi = gates, *__restrict gf = gates + h;
  const T *__restrict gg = gates + 2 * h, *__restrict go = gates + 3 * h;
  T *__restrict di = dgates, *__restrict df = dgates + h, *__restrict dg = dgates + 2 * h;
  T* __restrict d_o = dgates + 3 * h;
  for (std::int64_t j = 0; j < h; ++j) {
    const T i = vmath::sigmoid(gi[j]), f = vmath::sigmoid(gf[j]), g = vmath::tanh(gg[j]), o = vmath::sigmoid(go[j]);
    const T tc = vmath::tanh(c[j]);
    const T dcell = dc[j] + dh[j] * o * (T(1) - tc * tc);
    di[j] = dcell * g * i * (T(1) - i);
    df[j] = dcell * c_prev[j] * f * (T(1) - f);
    dg[j] = dcell * i * (T(1) - g * g);
    d_o[j] = dh[j] * tc * o * (T(1) - o);
    dc_prev[j] = dcell * f;
  }
}

template <class T>
void gru_cell(std::int64_t h, const T* __restrict gx, const T* __restrict gh, const T* __restrict h_prev,
              T* __restrict h_out) {
  for (std::int64_t j = 0; j < h; ++j) {
    const T r = vmath::sigmoid(gx[j] + gh[j]), z = vmath::sigmoid(gx[h + j] + gh[h + j]);
    const T n = vmath::tanh(gx[2 * h + j] + r * gh[2 * h + j]);
    h_out[j] = n + z * (h_prev[j] - n);
  }
}

template <class T>
void gru_cell_backward(std::int64_t h, const T* __restrict gx, const T* __restrict gh, const T* __restrict h_prev,
                       const T* __restrict dh, T* __restrict dgx, T* __restrict dgh, T* __restrict dh_prev) {
  for (std::int64_t j = 0; j < h; ++j) {
    const T r = vmath::sigmoid(gx[j] + gh[j]), z = vmath::sigmoid(gx[h + j] + gh[h + j]);
    const T n = vmath::tanh(gx[2 * h + j] + r * gh[2 * h + j]);
    const T dn = dh[j] * (T(1) - z) * (T(1) - n * n);
    const T dz = dh[j] * (h_prev[j] - n) * z * (T(1) - z);
    const T dr = dn * gh[2 * h + j] * r * (T(1) - r);
    dgx[j] = dgh[j] = dr;
    dgx[h + j] = dgh[h + j] = dz;
    dgx[2 * h + j] = dn;
    dgh[2 * h + j] = dn * r;
    dh_prev[j] = dh[j] * z;
  }
}

// Sparse rows (kernels/cpu/sparse.cpp). A CSR row's product with B is a sum of B's rows, scaled:
// a tile of up to eight vectors of C's row stays in registers while the row's entries stream
// past, each one broadcast and a fused multiply-add per vector against a row of B. B's rows are
// visited in no order the hardware can predict, so they are taken a block at a time: for a
// chunk of C's rows, every row adds its entries that fall in the block, then the next block.
// Block and chunk together fit in a core's L2 cache, so each block comes from memory once per
// chunk and C's rows stay near; the B rows a few entries ahead are fetched early.
constexpr int kCsrTileVectors = 8;
constexpr std::int64_t kPrefetch = 8;
// B's rows per block, and C's rows per chunk, in bytes of the tile's columns: measured best on
// both S1 products (bench/README.md, "Sparse") among blocks of 128 KiB to 2 MiB and chunks of
// 128 KiB to all of C, on a core with 2 MiB of L2.
constexpr std::size_t kCsrBlockBytes = 1024 * 1024, kCsrChunkBytes = 512 * 1024;

// Columns [0, NV·L) of C's row (the last vector holding `last` lanes) = (or +=, when
// `accumulate`) the entries from k0 on times B's rows, up to k1 or to the first entry whose
// column is `stop` or more; returns where it stopped.
template <int NV, class T, class I>
inline std::int64_t csr_tile(std::int64_t k0, std::int64_t k1, std::int64_t stop, const I* columns,
                             const T* values, const T* b, std::int64_t ldb, T* crow, int last, bool accumulate) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  // The loops over the tile's vectors are unrolled so that acc lives in registers (left to
  // itself, GCC keeps an eight-vector tile on the stack and zeroes it with rep stos).
  V acc[NV];
STHENO_UNROLL
  for (int v = 0; v < NV - 1; ++v) acc[v] = accumulate ? load<V>(crow + v * L) : broadcast<V>(T(0));
  acc[NV - 1] = !accumulate ? broadcast<V>(T(0))
                : last == L ? load<V>(crow + (NV - 1) * L)
                            : load_first<V>(crow + (NV - 1) * L, last);
  std::int64_t k = k0;
  for (; k < k1 && columns[k] < stop; ++k) {
    if (k + kPrefetch < k1) {
      const T* ahead = b + columns[k + kPrefetch] * ldb;
STHENO_UNROLL
      for (int v = 0; v < NV; v += kVectorBytes >= 64 ? 1 : 64 / kVectorBytes) __builtin_prefetch(ahead + v * L);
    }
    const T* brow = b + columns[k] * ldb;
    const V x = broadcast<V>(values[k]);
STHENO_UNROLL
    for (int v = 0; v < NV - 1; ++v) acc[v] = fused_multiply_add(x, load<V>(brow + v * L), acc[v]);
    const V tail = last == L ? load<V>(brow + (NV - 1) * L) : load_first<V>(brow + (NV - 1) * L, last);
    acc[NV - 1] = fused_multiply_add(x, tail, acc[NV - 1]);
  }
STHENO_UNROLL
  for (int v = 0; v < NV - 1; ++v) std::memcpy(crow + v * L, &acc[v], sizeof(V));
  if (last == L) std::memcpy(crow + (NV - 1) * L, &acc[NV - 1], sizeof(V));
  else store_first(crow + (NV - 1) * L, acc[NV - 1], last);
  return k;
}

template <class T, int NV = 1, class I>
inline std::int64_t csr_tile_of(int vectors, std::int64_t k0, std::int64_t k1, std::int64_t stop, const I* columns, const T* values, const T* b, std::int64_t ldb, T* crow,
                                int last, bool accumulate) {
  if constexpr (NV < kCsrTileVectors)
    if (vectors > NV)
      return csr_tile_of<T, NV + 1>(vectors, k0, k1, stop, columns, values, b, ldb, crow, last, accumulate);
  return csr_tile<NV>(k0, k1, stop, columns, values, b, ldb, crow, last, accumulate);
}

template <class T, class I>
std::int64_t csr_rows(std::int64_t begin, std::int64_t end, const I* offsets, const I* columns,
                      const T* values, std::int64_t capacity, std::int64_t b_rows, std::int64_t n, const T* b,
                      std::int64_t ldb, T* c, std::int64_t ldc, bool check) {
  constexpr int L = kVectorBytes / sizeof(T), kTile = kCsrTileVectors * L;
  for (std::int64_t row = begin; check && row < end; ++row) {
    const std::int64_t k0 = offsets[row], k1 = offsets[row + 1];
    if (k0 < 0 || k1 < k0 || k1 > capacity) return row;
    for (std::int64_t k = k0; k < k1; ++k)
      if (static_cast<std::uint64_t>(columns[k]) >= static_cast<std::uint64_t>(b_rows)) return row;
  }
  std::int64_t* cursor = part_scratch<std::int64_t>(ScratchSlot::csr_cursors, end - begin);
  for (std::int64_t j0 = 0; j0 < n; j0 += kTile) {
    const int width = static_cast<int>(n - j0 < kTile ? n - j0 : kTile);
    const int vectors = (width + L - 1) / L, last = width - (vectors - 1) * L;
    const std::size_t row_bytes = static_cast<std::size_t>(width) * sizeof(T);
    const auto block = std::max<std::int64_t>(256, static_cast<std::int64_t>(kCsrBlockBytes / row_bytes));
    const auto chunk = std::max<std::int64_t>(64, static_cast<std::int64_t>(kCsrChunkBytes / row_bytes));
    for (std::int64_t chunk_begin = begin; chunk_begin < end; chunk_begin += chunk) {
      const std::int64_t chunk_end = std::min(end, chunk_begin + chunk);
      for (std::int64_t row = chunk_begin; row < chunk_end; ++row) cursor[row - begin] = offsets[row];
      for (std::int64_t first = 0; first < b_rows || first == 0; first += block) {
        const std::int64_t stop = first + block;
        for (std::int64_t row = chunk_begin; row < chunk_end; ++row) {
          // The row's entries in this block are taken as the tile goes (a row's columns ascend in a
          // CsrMatrix; were they not, each entry would still be taken once, by this block or a
          // later one). A row with nothing in the block is not loaded and stored again.
          const std::int64_t k0 = cursor[row - begin], row_end = offsets[row + 1];
          if (first == 0 || (k0 < row_end && columns[k0] < stop))
            cursor[row - begin] = csr_tile_of<T>(vectors, k0, row_end, stop, columns, values, b + j0, ldb,
                                                 c + row * ldc + j0, last, first > 0);
        }
      }
    }
  }
  return -1;
}

// Columns [j0, j1) of C += Aᵀ·G over rows [0, rows) of A (entries already checked): row i of G,
// scaled by each entry (i, col), adds into row col of C.
template <class T, class I>
void csr_t_rows(std::int64_t rows, const I* offsets, const I* columns, const T* values,
                std::int64_t j0, std::int64_t j1, const T* g, std::int64_t ldg, T* c, std::int64_t ldc) {
  for (std::int64_t i = 0; i < rows; ++i) {
    const T* __restrict grow = g + i * ldg;
    for (std::int64_t k = offsets[i]; k < offsets[i + 1]; ++k) {
      T* __restrict crow = c + columns[k] * ldc;
      const T x = values[k];
      for (std::int64_t j = j0; j < j1; ++j) crow[j] += x * grow[j];
    }
  }
}

// out[k] = (row i of A) · (row col of B) for the entries k of rows [begin, end), each row n long.
template <class T, class I>
void csr_sampled_dots(std::int64_t begin, std::int64_t end, const I* offsets, const I* columns,
                      std::int64_t n, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* out) {
  constexpr int kLanes = 16;
  for (std::int64_t i = begin; i < end; ++i) {
    const T* arow = a + i * lda;
    for (std::int64_t k = offsets[i]; k < offsets[i + 1]; ++k) {
      const T* brow = b + columns[k] * ldb;
      T acc[kLanes] = {};
      std::int64_t j = 0;
      for (; j + kLanes <= n; j += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += arow[j + l] * brow[j + l];
      T dot = T(0);
      for (; j < n; ++j) dot += arow[j] * brow[j];
      for (int l = 0; l < kLanes; ++l) dot += acc[l];
      out[k] = dot;
    }
  }
}

}  // namespace

namespace STHENO_CONCAT(isa_, STHENO_SIMD_ISA) {
template <class T>
void winograd_transform(const WinogradTransform<T>& job);  // winograd_kernels.cpp
template <class T>
void lstm_cell_keeping(std::int64_t h, const T* projected, T* gates, const T* c_prev, T* h_out, T* c_out);
template <class T>
void lstm_cell_backward_kept(std::int64_t h, const T* acts, const T* c_prev, const T* c, const T* dh_in, const T* dc_in,
                             const T* dh_carried, T* dc_carried, T* dgates);  // lstm_sequence_cells.cpp
}
using STHENO_CONCAT(isa_, STHENO_SIMD_ISA)::winograd_transform;

namespace {

template <class T>
constexpr TypedKernels<T> typed() {
  if constexpr (kInt<T>) {
    TypedKernels<T> t{};  // the float-only entries stay null
    t.unary = &unary<T>, t.binary = &binary<T>, t.combine_rows = &combine_rows<T>, t.sum = &sum<T>, t.max = &max<T>;
    return t;
  } else
    return {&unary<T>,     &binary<T>,    &combine_rows<T>, &sum<T>,
            &max<T>,       &exp_shift_sum<T>, &gemm_small<T>, &conv_direct<T>, &conv_direct_weight_grad<T>, &winograd_transform<T>, &STHENO_CONCAT(isa_, STHENO_SIMD_ISA)::transpose<T>, &max_pool<T>, &max_pool_grad_2x2<T>,
            &lstm_cell<T>, &lstm_cell_backward<T>, &STHENO_CONCAT(isa_, STHENO_SIMD_ISA)::lstm_cell_keeping<T>,
            &STHENO_CONCAT(isa_, STHENO_SIMD_ISA)::lstm_cell_backward_kept<T>, &gru_cell<T>,
            &gru_cell_backward<T>, &update_rows::sgd<T>, &update_rows::adagrad<T>,
            &update_rows::rmsprop<T>, &update_rows::adam<T>,
            {&csr_rows<T, std::int32_t>, &csr_t_rows<T, std::int32_t>, &csr_sampled_dots<T, std::int32_t>},
            {&csr_rows<T, std::int64_t>, &csr_t_rows<T, std::int64_t>, &csr_sampled_dots<T, std::int64_t>}};
}

}  // namespace

#define STHENO_STRINGIFY2(a) #a
#define STHENO_STRINGIFY(a) STHENO_STRINGIFY2(a)

const SimdKernels& STHENO_CONCAT(kernels_, STHENO_SIMD_ISA)() {
  static const SimdKernels table{STHENO_STRINGIFY(STHENO_SIMD_ISA), typed<float>(), typed<double>(),
                                 typed<std::int32_t>()};
  return table;
}

}  // namespace stheno::cpu
