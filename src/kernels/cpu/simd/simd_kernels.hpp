#pragma once
// The innermost loops: one row of n elements with element strides. simd_kernels.cpp is compiled
// once per instruction set (AVX-512, AVX2, SSE2); each build fills one SimdKernels table, and
// dispatch.cpp picks the best table the CPU supports. Unit-stride rows take vectorised paths.
#include <cstdint>
#include <string_view>

#include "stheno/kernels/elementwise.hpp"

namespace stheno::cpu {

// Sparse rows (kernels/sparse.hpp), A in CSR form (row offsets, columns, values) with indices of
// type I.
template <class T, class I>
struct CsrKernels {
  // Rows [begin, end) of C = A·B, B with b_rows rows of n (ldb apart), C's rows ldc apart.
  // When `check`, returns -1, or the first row whose entries end before they start, run past
  // `capacity`, or name a column outside [0, b_rows), and writes nothing; arrays the kernels built
  // themselves are passed unchecked.
  std::int64_t (*rows)(std::int64_t begin, std::int64_t end, const I* offsets, const I* columns, const T* values,
                       std::int64_t capacity, std::int64_t b_rows, std::int64_t n, const T* b, std::int64_t ldb, T* c,
                       std::int64_t ldc, bool check);
  // Columns [j0, j1) of C += Aᵀ·G for A's first `rows` rows (checked), G's rows ldg apart.
  void (*t_rows)(std::int64_t rows, const I* offsets, const I* columns, const T* values, std::int64_t j0,
                 std::int64_t j1, const T* g, std::int64_t ldg, T* c, std::int64_t ldc);
  // out[k] = (row i of A)·(row columns[k] of B) for the entries k of rows [begin, end) (checked).
  void (*sampled_dots)(std::int64_t begin, std::int64_t end, const I* offsets, const I* columns, std::int64_t n,
                       const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* out);
};

// One image (or a block of its channels) of a convolution whose windows move one pixel at a time
// along a row, computed from the zero-padded image itself rather than from its columns: for
// every filter f < filters and output pixel (oy, ox),
//   out[f·out_h·out_w + oy·out_w + ox] (+)= Σ_p weights[f·ldw + p] · padded[taps[p] + oy·row_step + ox]
// where tap p < k is one (channel, kernel row, kernel column): added to `out` when `accumulate`
// (a later block of channels), else written, plus bias[f] unless `bias` is null. Each output row is a few vectors
// read straight from the image, so there is nothing to copy and no packing; `padded` must be
// readable kMaxVectorBytes past its last tap's last pixel (lanes past a row's end are never stored).
template <class T>
struct DirectConv {
  const T* weights;
  std::int64_t ldw, filters, k;
  const std::int64_t* taps;
  const T* padded;
  std::int64_t row_step, out_h, out_w;
  T* out;
  const T* bias;
  bool accumulate;
};
inline constexpr int kMaxVectorBytes = 64;

// The weight gradient of one image of such a convolution, with the output gradient laid out by
// pixel (grad_t: out_h·out_w rows of `filters` values, ldg apart) so that no sum runs across
// lanes: for every tap p < k and filter f,
//   dweights_t[p·ldd + f] += Σ_{oy,ox} padded[taps[p] + oy·row_step + ox] · grad_t[(oy·out_w + ox)·ldg + f]
// ldg and ldd are multiples of kMaxVectorBytes / sizeof(T), and the filters past `filters` up
// to ldg hold zeros in grad_t; taps and dweights_t have room for k rounded up to a multiple of
// kTapBlock (the kernel may run a few padding taps past k: they read offset 0, and their rows are
// never read back).
template <class T>
struct DirectConvWeightGrad {
  const T* grad_t;
  std::int64_t ldg, filters;
  const std::int64_t* taps;
  std::int64_t k;
  const T* padded;
  std::int64_t row_step, out_h, out_w;
  T* dweights_t;
  std::int64_t ldd;
};
inline constexpr int kTapBlock = 24;

// Winograd's minimal filtering F(m×m, r×r) in 6×6 tiles (m + r = 7: r is 3 or 5). Per tile, the
// convolution becomes transforms of the input (Bᵀ·d·B), of each filter (G·g·Gᵀ) and of the result
// (Aᵀ·M·A) around 36 matrix products over channels; the gradients use the adjoints (A, Gᵀ; the
// input gradient is itself a convolution). Every transform is a sandwich P·X·Pᵀ of one tile,
// applied to `width` values side by side at each element of the tile (channels or filters,
// contiguous, so that they fill the lanes). Tile (ty, tx) element (i, j) reads
// in[ty·in_ty + tx·in_tx + i·in_row + j·in_col + w] and writes out likewise (w < width), plus
// bias[w] when `bias` is not null.
enum class WinogradMatrix { input, output, filter, output_grad, filter_grad };  // Bᵀ, Aᵀ, G, A, Gᵀ
inline constexpr int kWinogradTile = 6;
template <class T>
struct WinogradTransform {
  WinogradMatrix matrix;
  int r;
  std::int64_t tiles_y, tiles_x, width;
  const T* in;
  std::int64_t in_ty, in_tx, in_row, in_col;
  T* out;
  std::int64_t out_ty, out_tx, out_row, out_col;
  const T* bias;
};

// Max pooling (kernels/pool.hpp) of planes [begin, end) of h×w pixels into oh×ow maxima; a NaN in
// a window is its maximum. Padding (at most half the window) never wins.
template <class T>
struct MaxPool {
  const T* x;
  T* out;
  std::int64_t h, w, oh, ow, kh, kw, sh, sw, ph, pw;
};

// The gradient of 2×2 max pooling with stride 2 and no padding, planes [begin, end): each
// window's gradient goes to its first pixel (row-major) that holds the pooled value (or a NaN
// when that is NaN; the first pixel when none does); pixels outside every window get zero.
template <class T>
struct MaxPoolGrad2x2 {
  const T* x;
  const T* pooled;
  const T* grad;
  T* dx;
  std::int64_t h, w, oh, ow;
};

template <class T>
struct TypedKernels {
  // y[i*sy] = op(x[i*sx])
  void (*unary)(UnaryOp op, std::int64_t n, const T* x, std::int64_t sx, T* y, std::int64_t sy);
  // y[i*sy] = op(a[i*sa], b[i*sb])
  void (*binary)(BinaryOp op, std::int64_t n, const T* a, std::int64_t sa, const T* b,
                 std::int64_t sb, T* y, std::int64_t sy);
  // acc[i] = op(acc[i], rows[j·inner + i]) for each row j < r in turn (op: add or maximum, as
  // binary computes them): a reduction's rows.
  void (*combine_rows)(BinaryOp op, std::int64_t r, std::int64_t inner, const T* rows, T* acc);
  // Sum of x[0..n) (unit stride), accumulated in blocks for accuracy.
  double (*sum)(std::int64_t n, const T* x);
  // Maximum of x[0..n) (unit stride, n >= 1); NaN if any element is NaN.
  T (*max)(std::int64_t n, const T* x);
  // y[i] = exp(x[i] - shift) for unit-stride rows; returns the sum of the y[i].
  double (*exp_shift_sum)(std::int64_t n, const T* x, T shift, T* y);
  // C = alpha·A·B + beta·C for small products, where a BLAS call costs more than the arithmetic.
  // A (m×k) and B (k×n) have any element strides (rows, columns); C has unit column stride.
  void (*gemm_small)(std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t a_rs,
                     std::int64_t a_cs, const T* b, std::int64_t b_rs, std::int64_t b_cs, T beta, T* c, std::int64_t c_rs);
  void (*conv_direct)(const DirectConv<T>& job);
  void (*conv_direct_weight_grad)(const DirectConvWeightGrad<T>& job);
  void (*winograd_transform)(const WinogradTransform<T>& job);
  // dst[j·ldd + i] = src[i·lds + j] for i < rows, j < cols: in blocks of whole vectors, each
  // transposed in registers.
  void (*transpose)(std::int64_t rows, std::int64_t cols, const T* src, std::int64_t lds, T* dst, std::int64_t ldd);
  void (*max_pool)(const MaxPool<T>& job, std::int64_t begin, std::int64_t end);
  void (*max_pool_grad_2x2)(const MaxPoolGrad2x2<T>& job, std::int64_t begin, std::int64_t end);

  // One row of h hidden units of an LSTM cell. gates holds the pre-activations in the order
  // input, forget, cell, output (4h values); h_out and c_out get the new state.
  void (*lstm_cell)(std::int64_t h, const T* gates, const T* c_prev, T* h_out, T* c_out);
  // Its adjoint: given the new cell state c and the gradients dh, dc of the new state, writes the
  // gradients of the pre-activations (4h) and of c_prev (h).
  void (*lstm_cell_backward)(std::int64_t h, const T* gates, const T* c_prev, const T* c, const T* dh, const T* dc,
                             T* dgates, T* dc_prev);
  // lstm_cell for lstm_sequence: the pre-activations are projected + gates (4h each), and gates
  // is replaced by the activations i, f, g, o.
  void (*lstm_cell_keeping)(std::int64_t h, const T* projected, T* gates, const T* c_prev, T* h_out, T* c_out);
  // Its adjoint from those activations: the new state's gradients are dh_in + dh_carried and
  // dc_in + dc_carried; writes the pre-activations' gradients (4h) and replaces dc_carried by
  // the gradient of c_prev.
  void (*lstm_cell_backward_kept)(std::int64_t h, const T* acts, const T* c_prev, const T* c, const T* dh_in,
                                  const T* dc_in, const T* dh_carried, T* dc_carried, T* dgates);
  // One row of a GRU cell: gx = x·W_ih + b_ih and gh = h_prev·W_hh + b_hh (3h values each, in
  // the order reset, update, new).
  void (*gru_cell)(std::int64_t h, const T* gx, const T* gh, const T* h_prev, T* h_out);
  void (*gru_cell_backward)(std::int64_t h, const T* gx, const T* gh, const T* h_prev, const T* dh, T* dgx, T* dgh,
                            T* dh_prev);

  // Optimizer updates of n contiguous parameters in place (update_rows.hpp has the formulas).
  // A null velocity (sgd) or momentum buffer (rmsprop) means no momentum.
  void (*sgd)(std::int64_t n, T* p, const T* g, T* velocity, T rate, T momentum, bool nesterov, T weight_decay);
  void (*adagrad)(std::int64_t n, T* p, const T* g, T* sum_squares, T rate, T eps, T weight_decay);
  void (*rmsprop)(std::int64_t n, T* p, const T* g, T* square_avg, T* momentum_buffer, T rate, T alpha, T eps,
                  T momentum, T weight_decay);
  void (*adam)(std::int64_t n, T* p, const T* g, T* m, T* v, T rate, T beta1, T beta2, T eps, T inv_c1,
               T inv_sqrt_c2, T shrink, T l2);

  // Sparse rows (kernels/sparse.hpp), for each index type of the CSR arrays.
  CsrKernels<T, std::int32_t> csr32;
  CsrKernels<T, std::int64_t> csr64;

  template <class I>
  const CsrKernels<T, I>& csr() const {
    if constexpr (sizeof(I) == 4) return csr32;
    else return csr64;
  }
};

// gemm_small copies a B whose rows are not contiguous (B transposed: the input gradient g·Wᵀ of
// a small layer) into rows when it has at most this many elements, so that it runs on the
// register-blocked kernel; past this size the copy costs more than it saves.
inline constexpr std::int64_t kMaxPackedB = 16384;

struct SimdKernels {
  std::string_view isa;
  TypedKernels<float> f32;
  TypedKernels<double> f64;
  TypedKernels<std::int32_t> i32;  // only the elementwise and reduction entries: the rest is float-only
};

const SimdKernels& kernels_avx512();
const SimdKernels& kernels_avx2();
const SimdKernels& kernels_sse2();

// The table in use: the best the CPU supports, unless STHENO_ISA (avx512, avx2, sse2) or
// use_isa() names another.
const SimdKernels& simd();
// Switches to the named table; throws ValueError if the CPU lacks it. Used by tests.
void use_isa(std::string_view isa);

template <class T>
const TypedKernels<T>& typed_kernels() {
  if constexpr (std::is_same_v<T, float>) return simd().f32;
  else if constexpr (std::is_same_v<T, double>) return simd().f64;
  else return simd().i32;
}

}  // namespace stheno::cpu
