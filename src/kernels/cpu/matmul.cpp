#include <algorithm>
#include <cstdlib>
#include <optional>

#include "stheno/kernels/elementwise.hpp"

#include "kernels/cpu/cpu_kernels.hpp"
#include "stheno/kernels/linalg.hpp"
#include "kernels/cpu/blas.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"
#include "tensor/strided_loop.hpp"

namespace stheno {

namespace {

[[noreturn]] void inner_mismatch(const Shape& a, const Shape& b) {
  throw ShapeError("matmul: a has shape " + a.str() + " and b has shape " + b.str() +
                   ": a's last axis (" + std::to_string(a.back()) + ") must equal b's " +
                   (b.rank() == 1 ? "only" : "second-to-last") + " axis (" +
                   std::to_string(b.rank() == 1 ? b[0] : b[b.rank() - 2]) + ")");
}

// How BLAS can read a (rows x cols) matrix with element strides (s0, s1), if it can.
struct BlasLayout {
  bool ok = false;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  std::int64_t ld = 0;
};

BlasLayout blas_layout(std::int64_t rows, std::int64_t cols, std::int64_t s0, std::int64_t s1) {
  const std::int64_t min_ld_rowmajor = std::max<std::int64_t>(cols, 1);
  const std::int64_t min_ld_colmajor = std::max<std::int64_t>(rows, 1);
  if ((cols <= 1 || s1 == 1)) {
    const std::int64_t ld = rows <= 1 ? min_ld_rowmajor : s0;
    if (ld >= min_ld_rowmajor) return {true, CblasNoTrans, ld};
  }
  if ((rows <= 1 || s0 == 1)) {
    const std::int64_t ld = cols <= 1 ? min_ld_colmajor : s1;
    if (ld >= min_ld_colmajor) return {true, CblasTrans, ld};
  }
  return {};
}

// Views a rank >= 2 tensor's last two axes as a BLAS operand, copying only if it must.
Tensor blas_ready(const Tensor& t, BlasLayout& layout) {
  const int r = t.rank();
  layout = blas_layout(t.shape()[r - 2], t.shape()[r - 1], t.strides()[r - 2], t.strides()[r - 1]);
  if (layout.ok) return t;
  const Tensor c = t.contiguous();
  layout = blas_layout(c.shape()[r - 2], c.shape()[r - 1], c.strides()[r - 2], c.strides()[r - 1]);
  return c;
}

template <class T>
void blas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
               const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  // oneMKL grows a per-thread packing buffer the first time a thread runs a product that needs a
  // bigger one; since parts are claimed, that can happen to a worker many steps in.
  const DriverCall library_call;
  if constexpr (std::is_same_v<T, float>)
    cpu::blas().sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b,
                static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
  else
    cpu::blas().dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b,
                static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

// Products that stheno's register-blocked kernel (gemm_small, B's rows contiguous) runs faster
// than the library: tiny products, where the library's call costs more (bench/gemm_choice.py
// measures them on the CPU at hand), and with OpenBLAS two more kinds. Few rows of output, where
// its packing of B costs more than the arithmetic (10×784 by 784×30: about 50 against 22–26
// GFLOP/s at one thread, AVX2). oneMKL ties stheno's kernel on narrow ones (10×784×30 3.9 µs
// both), which stay with stheno's kernel, whose sums the device backends repeat bit for bit (the
// seeds' network, chaotic at its rate, trains the same on OpenCL), and is 1.2–1.9× faster on
// wider ones (Emerald Rapids, one thread: 16×512×128 12 against 20 µs, 16×128×512 12 against
// 15.5, 16×784×100 17 against 32). And a short inner axis, where the whole product
// is one pass over C (a weight gradient over a batch of 10, 784×10 by 10×30: 11 against 18 µs
// with OpenBLAS); oneMKL runs those faster when it writes C (784×10×30: 3.8 against 7.1 µs) or
// C's rows are whole vectors (784×10×32 added into C: 3.6 against 4.9 µs), but not when it adds
// into rows that end in part of a vector, as SGD's update of W1's 784×30 weight by the product
// xᵀ·δ does (8.4 against 6.0 µs; 784×16×30: 8.1 against 6.1). With OpenBLAS, also up to 64
// rows by a B of at most 1 MiB, which stays in the core's L2 cache while stheno's kernel reads it
// again for each block of rows, where OpenBLAS packs all of it on every call (an LSTM's step,
// 32×128 by 128×512: 103–112 against 81–90 GFLOP/s with OpenBLAS's AVX2 kernels, 163–171
// against 111–114 with its AVX-512 ones; one thread, Sapphire Rapids). From 1.6 MB of B
// (32×3136×128, 32×784×1000) OpenBLAS is faster. A transposed B is copied into rows first when
// it is small (gemm_small).
template <class T>
bool own_kernel_is_faster(bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T beta) {
  constexpr std::int64_t kFloatsPerVector = 64 / sizeof(T);
  constexpr std::int64_t kCachedB = (std::int64_t{1} << 20) / static_cast<std::int64_t>(sizeof(T));
  const bool openblas = cpu::blas().library == cpu::BlasLibrary::openblas;
  const bool few_rows = m <= 16 && (openblas || n < 64);
  const bool cached_b = openblas && m <= 64 && k * n <= kCachedB;
  const bool short_inner_axis = k <= 16 && (openblas || (beta != T(0) && n % kFloatsPerVector != 0));
  return (!trans_b || k * n <= cpu::kMaxPackedB) && (few_rows || cached_b || short_inner_axis || m * n * k <= 32 * 32 * 32);
}

// STHENO_SMALL_GEMM=N sends every product of at most N multiply-adds to stheno's kernel, so that
// the tests can run it on every shape and layout.
std::int64_t forced_small_gemm_limit() {
  static const std::int64_t limit = [] {
    const char* v = std::getenv("STHENO_SMALL_GEMM");
    return v ? std::atoll(v) : std::int64_t{0};
  }();
  return limit;
}

// OpenBLAS's small-matrix kernels for AVX-512 (not oneMKL's) allocate a buffer on every call when B is not
// transposed, k is at least two vectors (32 floats, 16 doubles), the product is small (at most
// 100³ multiply-adds), and the output's column count leaves a tail of 1 to half a vector after
// whole vectors (measured; tests/test_matmul.cpp scans the shapes). Those products go to
// stheno's own kernel, so that training steps stay free of heap allocations.
template <class T>
bool blas_small_path_allocates(CBLAS_TRANSPOSE b_trans, std::int64_t rows, std::int64_t cols, std::int64_t k) {
  constexpr std::int64_t lanes = 64 / sizeof(T);
  const std::int64_t tail = cols % lanes;
  return b_trans == CblasNoTrans && k >= 2 * lanes && tail >= 1 && tail <= lanes / 2 && rows * cols * k <= 100 * 100 * 100;
}

// One product C = alpha·op(A)·op(B) + beta·C, runnable in parts along the larger output axis.
template <class T>
struct GemmCall {
  BlasLayout la, lb;
  std::int64_t ldc, m, n, k;
  T alpha, beta;
  const T* a;
  const T* b;
  T* c;

  void run_part(int part, int parts) const {
    const bool by_rows = m >= n;
    const std::int64_t total = by_rows ? m : n;
    // Block edges on multiples of 16 keep each part's SIMD panels whole.
    auto edge = [&](int p) { return p == parts ? total : std::min(total, total * p / parts / 16 * 16); };
    const std::int64_t lo = edge(part), hi = edge(part + 1);
    if (hi <= lo) return;
    if (by_rows) {
      const T* a_part = a + lo * (la.trans == CblasNoTrans ? la.ld : 1);
      run(hi - lo, n, a_part, b, c + lo * ldc);
    } else {
      const T* b_part = b + lo * (lb.trans == CblasNoTrans ? 1 : lb.ld);
      run(m, hi - lo, a, b_part, c + lo);
    }
  }

  void run(std::int64_t rows, std::int64_t cols, const T* a_part, const T* b_part, T* c_part) const {
    cpu::gemm<T>(la.trans == CblasTrans, lb.trans == CblasTrans, rows, cols, k, alpha, a_part, la.ld, b_part, lb.ld, beta,
                 c_part, ldc);
  }
};

}  // namespace

namespace cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
          const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  // Small products (and k = 0, which BLAS rejects) skip BLAS's packing and call overhead.
  if (k == 0 || own_kernel_is_faster(trans_b, m, n, k, beta) || m * n * k <= forced_small_gemm_limit() ||
      blas_small_path_allocates<T>(tb, m, n, k)) {
    typed_kernels<T>().gemm_small(m, n, k, alpha, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, trans_b ? 1 : ldb,
                                  trans_b ? ldb : 1, beta, c, ldc);
    return;
  }
  blas_gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                          const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                           const double*, std::int64_t, double, double*, std::int64_t);

}  // namespace cpu

Shape matmul_shape(const Shape& a, const Shape& b) {
  if (a.rank() == 0 || b.rank() == 0)
    throw ShapeError("matmul: operands must have at least 1 axis, got shapes " + a.str() + " and " + b.str());
  const Shape a2 = a.rank() == 1 ? Shape{1, a[0]} : a;
  const Shape b2 = b.rank() == 1 ? Shape{b[0], 1} : b;
  if (a2.back() != b2[b2.rank() - 2]) inner_mismatch(a, b);
  Shape batch_a(a2.span().first(static_cast<std::size_t>(a2.rank() - 2)));
  Shape batch_b(b2.span().first(static_cast<std::size_t>(b2.rank() - 2)));
  Shape out = broadcast_shapes(batch_a, batch_b, "matmul (batch axes)");
  if (a.rank() > 1) out.push_back(a2[a2.rank() - 2]);
  if (b.rank() > 1) out.push_back(b2.back());
  return out;
}

namespace {

// Threads for `count` products of m·n·k multiply-adds each: products are shared out whole, and
// a single big one is split into one block of rows (or columns) per thread.
int product_threads(std::int64_t count, std::int64_t macs) {
  return cpu::threads_for(count * macs / 8, std::max<std::int64_t>(count, macs >= (1 << 18) ? 2 : 1));
}

// One product, split between threads when it is big enough.
template <class T>
void run_product(const GemmCall<T>& call) {
  const int threads = product_threads(1, call.m * call.n * call.k);
  if (threads <= 1) return call.run_part(0, 1);
  cpu::parallel_for(threads, threads, [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t part = begin; part < end; ++part) call.run_part(static_cast<int>(part), threads);
  });
}

// The common case, a matrix by a matrix into a separate matrix, all readable by BLAS as they
// are: straight to the product, without the batch machinery below (which costs about half a
// microsecond, as much as a 10×30×10 product itself).
struct PlainProduct {
  BlasLayout la, lb;
  std::int64_t ldc, m, n, k;
};
std::optional<PlainProduct> plain_product(const Tensor& a, const Tensor& b, const Tensor& out) {
  if (a.rank() != 2 || b.rank() != 2 || out.rank() != 2) return std::nullopt;
  const std::int64_t m = a.shape()[0], k = a.shape()[1], n = b.shape()[1];
  if (b.shape()[0] != k || out.shape()[0] != m || out.shape()[1] != n || m * n == 0) return std::nullopt;
  const BlasLayout la = blas_layout(m, k, a.strides()[0], a.strides()[1]);
  const BlasLayout lb = blas_layout(k, n, b.strides()[0], b.strides()[1]);
  const BlasLayout lc = blas_layout(m, n, out.strides()[0], out.strides()[1]);
  if (!la.ok || !lb.ok || !lc.ok || lc.trans != CblasNoTrans || out.shares_storage(a) || out.shares_storage(b))
    return std::nullopt;
  return PlainProduct{la, lb, lc.ld, m, n, k};
}

template <class T>
GemmCall<T> call_of(const PlainProduct& p, double alpha, double beta, const Tensor& a, const Tensor& b, const Tensor& out) {
  return {p.la, p.lb, p.ldc, p.m, p.n, p.k, static_cast<T>(alpha), static_cast<T>(beta), a.data<T>(), b.data<T>(), out.data<T>()};
}

}  // namespace

void cpu::matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  if (!a.defined() || !b.defined() || !out.defined()) throw ValueError("matmul: undefined tensor");
  if (a.dtype() != b.dtype() || a.dtype() != out.dtype())
    throw DTypeError("matmul: dtypes differ: a is " + std::string(dtype_name(a.dtype())) + ", b is " +
                     std::string(dtype_name(b.dtype())) + ", out is " + std::string(dtype_name(out.dtype())));
  if (!is_floating(a.dtype())) throw DTypeError("matmul: dtype int32 is not supported (expected float32 or float64)");
  if (const std::optional<PlainProduct> p = plain_product(a, b, out)) {
    visit_floating(a.dtype(), "matmul", [&]<class T>() { run_product(call_of<T>(*p, alpha, beta, a, b, out)); });
    return;
  }
  const Shape result = matmul_shape(a.shape(), b.shape());
  if (out.shape() != result)
    throw ShapeError("matmul: out has shape " + out.shape().str() + " but a" + a.shape().str() + "·b" +
                     b.shape().str() + " has shape " + result.str());

  // Bring everything to (batch..., m, k)·(batch..., k, n) -> (batch..., m, n).
  const Tensor a2 = a.rank() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.rank() == 1 ? b.unsqueeze(1) : b;
  const std::int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1);
  Shape full = result;
  if (a.rank() == 1) full.insert(full.rank() - (b.rank() > 1 ? 1 : 0), 1);
  if (b.rank() == 1) full.push_back(1);
  Tensor c = out.view(full);
  Shape batch(full.span().first(static_cast<std::size_t>(full.rank() - 2)));
  Shape a_full = batch, b_full = batch;
  a_full.push_back(m); a_full.push_back(k);
  b_full.push_back(k); b_full.push_back(n);
  BlasLayout la, lb, lc;
  const Tensor pa = blas_ready(a2.expand(a_full), la);
  const Tensor pb = blas_ready(b2.expand(b_full), lb);
  lc = blas_layout(m, n, c.strides()[full.rank() - 2], c.strides()[full.rank() - 1]);
  const bool direct = lc.ok && lc.trans == CblasNoTrans && !c.shares_storage(a) && !c.shares_storage(b);
  const Tensor dst = direct ? c : c.clone();
  if (!direct) lc = blas_layout(m, n, dst.strides()[full.rank() - 2], dst.strides()[full.rank() - 1]);

  if (m * n != 0) {
    Strides sa(pa.strides().span().first(static_cast<std::size_t>(batch.rank())));
    Strides sb(pb.strides().span().first(static_cast<std::size_t>(batch.rank())));
    Strides sc(dst.strides().span().first(static_cast<std::size_t>(batch.rank())));
    const auto loop = detail::make_strided_loop<3>(batch, {&sc, &sa, &sb});
    visit_floating(a.dtype(), "matmul", [&]<class T>() {
      T* pc = dst.data<T>();
      const T* xa = pa.data<T>();
      const T* xb = pb.data<T>();
      const std::int64_t count = batch.numel();
      // BLAS itself always runs on the calling thread.
      const int threads = product_threads(count, m * n * k);
      const std::int64_t parts = count >= threads ? 1 : threads;
      cpu::parallel_for(count * parts, threads, [&](std::int64_t begin, std::int64_t end, int) {
        for (std::int64_t unit = begin; unit < end; ++unit) {
          const std::int64_t i = unit / parts;
          detail::for_each_row(loop, i / loop.inner(), i / loop.inner() + 1,
                               [&](const auto& off, std::int64_t, const auto& st) {
            const std::int64_t j = i % loop.inner();
            const GemmCall<T> call{la, lb, lc.ld, m, n, k, static_cast<T>(alpha), static_cast<T>(beta),
                                   xa + off[1] + j * st[1], xb + off[2] + j * st[2], pc + off[0] + j * st[0]};
            call.run_part(static_cast<int>(unit % parts), static_cast<int>(parts));
          });
        }
      });
    });
  }
  if (!direct) c.copy_from(dst);
}

PreparedKernel cpu::prepare_matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  const std::optional<PlainProduct> p = plain_product(a, b, out);
  if (!p) return {};
  return visit_floating(a.dtype(), "matmul", [&]<class T>() -> PreparedKernel {
    return [p = *p, alpha, beta](std::span<const Tensor> in, const Tensor& y) {
      run_product(call_of<T>(p, alpha, beta, in[0], in[1], y));
    };
  });
}

}  // namespace stheno
