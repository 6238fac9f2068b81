// Compiled once per instruction set, like simd_kernels.cpp: the tile transforms of Winograd's
// minimal filtering (simd_kernels.hpp, WinogradTransform), with lanes across channels or filters.
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "kernels/cpu/simd/simd_kernels.hpp"
#include "kernels/cpu/simd/vectors.hpp"

namespace stheno::cpu {
namespace {

constexpr int kTile = kWinogradTile;
using Row = std::array<double, kTile>;
using Matrix = std::array<Row, kTile>;  // only the used rows and columns are set

constexpr double power(double a, int e) {
  double p = 1;
  while (e-- > 0) p *= a;
  return p;
}

constexpr double magnitude(double a) { return a < 0 ? -a : a; }

// The points at which the products of polynomials are taken: 0, ±1, ±2 and infinity. Row j < 5
// of an n×k Vandermonde matrix holds the powers 0..k-1 of point j; the last row, for the point at
// infinity, picks the leading coefficient.
constexpr Matrix vandermonde(int k) {
  constexpr double points[kTile - 1] = {0, 1, -1, 2, -2};
  Matrix v{};
  for (int j = 0; j < kTile - 1; ++j)
    for (int e = 0; e < k; ++e) v[j][e] = power(points[j], e);
  v[kTile - 1][k - 1] = 1;
  return v;
}

constexpr Matrix inverse(Matrix a) {
  Matrix inv{};
  for (int i = 0; i < kTile; ++i) inv[i][i] = 1;
  for (int col = 0; col < kTile; ++col) {
    int pivot = col;
    for (int row = col + 1; row < kTile; ++row)
      if (magnitude(a[row][col]) > magnitude(a[pivot][col])) pivot = row;
    std::swap(a[col], a[pivot]);
    std::swap(inv[col], inv[pivot]);
    const double scale = a[col][col];
    for (int j = 0; j < kTile; ++j) a[col][j] /= scale, inv[col][j] /= scale;
    for (int row = 0; row < kTile; ++row)
      if (row != col && a[row][col] != 0) {
        const double factor = a[row][col];
        for (int j = 0; j < kTile; ++j) a[row][j] -= factor * a[col][j], inv[row][j] -= factor * inv[col][j];
      }
  }
  return inv;
}

constexpr Matrix transpose(const Matrix& a) {
  Matrix t{};
  for (int i = 0; i < kTile; ++i)
    for (int j = 0; j < kTile; ++j) t[j][i] = a[i][j];
  return t;
}

// Correlating m outputs with an r-tap filter is the transpose of multiplying polynomials of
// degrees m-1 and r-1 (Toom-Cook): with V_k the 6×k Vandermonde matrices, y = Aᵀ[(G·g) ⊙ (Bᵀ·d)]
// with Aᵀ = V_mᵀ, G = V_r and Bᵀ = V_6⁻ᵀ. Bᵀ's rows are scaled to small integers and G's rows by
// the inverse, which leaves every product unchanged: the matrices are those of Lavin and Gray.
struct Matrices {
  Matrix bt, g, at;
};

constexpr Matrices matrices(int r) {
  const int m = kTile + 1 - r;
  Matrices x{transpose(inverse(vandermonde(kTile))), vandermonde(r), transpose(vandermonde(m))};
  for (int i = 0; i < kTile; ++i) {
    double smallest = 0;
    for (double b : x.bt[i])
      if (b != 0 && (smallest == 0 || magnitude(b) < smallest)) smallest = magnitude(b);
    for (double& b : x.bt[i]) b = b / smallest + 0.0;  // + 0.0: no negative zeros
    for (double& g : x.g[i]) g *= smallest;
  }
  return x;
}

// P (rows × columns) of each transform.
template <WinogradMatrix K, int R>
constexpr Matrix kMatrix = K == WinogradMatrix::input         ? matrices(R).bt
                           : K == WinogradMatrix::output      ? matrices(R).at
                           : K == WinogradMatrix::filter      ? matrices(R).g
                           : K == WinogradMatrix::output_grad ? transpose(matrices(R).at)
                                                              : transpose(matrices(R).g);
template <WinogradMatrix K, int R>
constexpr int kRows = K == WinogradMatrix::output ? kTile + 1 - R : K == WinogradMatrix::filter_grad ? R : kTile;
template <WinogradMatrix K, int R>
constexpr int kColumns = K == WinogradMatrix::filter ? R : K == WinogradMatrix::output_grad ? kTile + 1 - R : kTile;

template <int N, class F>
inline void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(std::integral_constant<int, I>{}), ...); }(std::make_integer_sequence<int, N>{});
}

template <double C, class V>
inline V scaled(V x) {
  if constexpr (C == 1) return x;
  else if constexpr (C == -1) return -x;
  else return broadcast<V>(static_cast<decltype(x[0] + 0)>(C)) * x;
}

template <double C, class V>
inline V add_scaled(V sum, V x) {
  if constexpr (C == 1) return sum + x;
  else if constexpr (C == -1) return sum - x;
  else return fused_multiply_add(broadcast<V>(static_cast<decltype(x[0] + 0)>(C)), x, sum);
}

// Σ_i P[i]·x(i) over i < N, decided term by term at compile time: zeros are left out, ±1 needs
// no multiply, and the first term starts the sum.
template <Row P, int N, class V, class X>
inline V combine(X&& x) {
  constexpr int first = [] {
    for (int i = 0; i < N; ++i)
      if (P[i] != 0) return i;
    return N;
  }();
  static_assert(first < N, "a transform matrix has a zero row");
  V sum = scaled<P[first]>(x(std::integral_constant<int, first>{}));
  static_for<N>([&](auto i) {
    if constexpr (i > first && P[i] != 0) sum = add_scaled<P[i]>(sum, x(i));
  });
  return sum;
}

// Strides of a tile's rows and columns, in and out.
struct TileStrides {
  std::int64_t in_row, in_col, out_row, out_col;
};

// One tile, lanes [w, w + count) (count is the whole vector unless Partial): out = P·in·Pᵀ,
// plus bias when it is not null. The strides come as values, not through the job: a store
// through `out` could otherwise change them, as far as the compiler knows, and each would be
// read again after every store.
template <WinogradMatrix K, int R, bool Partial, class T>
[[gnu::always_inline]] inline void sandwich(TileStrides s, const T* in, T* out, const T* bias, std::int64_t w, int count) {
  using V = Vec<T>;
  constexpr int No = kRows<K, R>, Ni = kColumns<K, R>;
  constexpr Matrix P = kMatrix<K, R>;
  const auto read = [&](const T* p) { return Partial ? load_first<V>(p, count) : load<V>(p); };
  // Addresses advance by a stride at a time: precomputing all 36 of them ran out of registers.
  V left[No][Ni];  // P·in, a column of `in` at a time
  const T* column = in + w;
  for (int j = 0; j < Ni; ++j, column += s.in_col) {
    V x[Ni];
    const T* p = column;
    for (int i = 0; i < Ni; ++i, p += s.in_row) x[i] = read(p);
    static_for<No>([&](auto a) { left[a][j] = combine<P[a], Ni, V>([&](auto i) { return x[i]; }); });
  }
  const V shift = bias ? read(bias + w) : V{};
  T* row = out + w;
  static_for<No>([&](auto a) {
    T* p = row;
    static_for<No>([&](auto b) {
      V y = combine<P[b], Ni, V>([&](auto j) { return left[a][j]; });
      if (bias) y += shift;
      if constexpr (Partial) store_first(p, y, count);
      else std::memcpy(p, &y, sizeof y);
      p += s.out_col;
    });
    row += s.out_row;
  });
}

template <WinogradMatrix K, int R, class T>
void transform_tiles(const WinogradTransform<T>& job) {
  constexpr int L = kVectorBytes / sizeof(T);
  const TileStrides s{job.in_row, job.in_col, job.out_row, job.out_col};
  const std::int64_t width = job.width, whole = width / L * L, tiles_y = job.tiles_y, tiles_x = job.tiles_x;
  const std::int64_t in_ty = job.in_ty, in_tx = job.in_tx, out_ty = job.out_ty, out_tx = job.out_tx;
  const T* const bias = job.bias;
  for (std::int64_t ty = 0; ty < tiles_y; ++ty)
    for (std::int64_t tx = 0; tx < tiles_x; ++tx) {
      const T* in = job.in + ty * in_ty + tx * in_tx;
      T* out = job.out + ty * out_ty + tx * out_tx;
      for (std::int64_t w = 0; w < whole; w += L) sandwich<K, R, false>(s, in, out, bias, w, L);
      if (whole < width) sandwich<K, R, true>(s, in, out, bias, whole, static_cast<int>(width - whole));
    }
}

template <int R, class T>
void transform_for(const WinogradTransform<T>& job) {
  switch (job.matrix) {
    case WinogradMatrix::input: return transform_tiles<WinogradMatrix::input, R>(job);
    case WinogradMatrix::output: return transform_tiles<WinogradMatrix::output, R>(job);
    case WinogradMatrix::filter: return transform_tiles<WinogradMatrix::filter, R>(job);
    case WinogradMatrix::output_grad: return transform_tiles<WinogradMatrix::output_grad, R>(job);
    case WinogradMatrix::filter_grad: return transform_tiles<WinogradMatrix::filter_grad, R>(job);
  }
}

// Rows and lanes of an L×L block swap one bit of their index per step: with bit s, lane j of
// row i (bit s clear) and of row i + s trade places with lane j ^ s of the other row where
// j's bit s differs from the row's. Four steps of 16 two-source permutes transpose 16×16 floats.
template <class V, int L>
inline void transpose_in_registers(V (&r)[L]) {
  using M = decltype(r[0] < r[0]);
  static_for<L>([&](auto level) {
    constexpr int s = L >> (level + 1);
    if constexpr (s >= 1) {
      M lo, hi;
      for (int j = 0; j < L; ++j) {
        lo[j] = (j & s) ? L + j - s : j;
        hi[j] = (j & s) ? L + j : j + s;
      }
      for (int i = 0; i < L; ++i)
        if (!(i & s)) {
          const V a = r[i], b = r[i + s];
          r[i] = __builtin_shuffle(a, b, lo);
          r[i + s] = __builtin_shuffle(a, b, hi);
        }
    }
  });
}

}  // namespace

namespace STHENO_CONCAT(isa_, STHENO_SIMD_ISA) {

template <class T>
void winograd_transform(const WinogradTransform<T>& job) {
  if (job.r == 3) transform_for<3>(job);
  else transform_for<5>(job);
}

// In L×L blocks; those at the edges (h rows by w columns) are read and written masked, the rows
// past h transposed as zeros and never stored.
template <class T>
void transpose(std::int64_t rows, std::int64_t cols, const T* src, std::int64_t lds, T* dst, std::int64_t ldd) {
  using V = Vec<T>;
  constexpr int L = kVectorBytes / sizeof(T);
  for (std::int64_t i0 = 0; i0 < rows; i0 += L)
    for (std::int64_t j0 = 0; j0 < cols; j0 += L) {
      const int h = static_cast<int>(std::min<std::int64_t>(L, rows - i0)), w = static_cast<int>(std::min<std::int64_t>(L, cols - j0));
      V r[L];
      if (h == L && w == L) {
        for (int i = 0; i < L; ++i) r[i] = load<V>(src + (i0 + i) * lds + j0);
        transpose_in_registers(r);
        for (int j = 0; j < L; ++j) std::memcpy(dst + (j0 + j) * ldd + i0, &r[j], sizeof(V));
      } else {
        for (int i = 0; i < L; ++i) r[i] = i < h ? load_first<V>(src + (i0 + i) * lds + j0, w) : broadcast<V>(T(0));
        transpose_in_registers(r);
        for (int j = 0; j < w; ++j) store_first(dst + (j0 + j) * ldd + i0, r[j], h);
      }
    }
}

template void winograd_transform<float>(const WinogradTransform<float>&);
template void transpose<float>(std::int64_t, std::int64_t, const float*, std::int64_t, float*, std::int64_t);
template void transpose<double>(std::int64_t, std::int64_t, const double*, std::int64_t, double*, std::int64_t);
template void winograd_transform<double>(const WinogradTransform<double>&);

}  // namespace STHENO_CONCAT(isa_, STHENO_SIMD_ISA)
}  // namespace stheno::cpu
