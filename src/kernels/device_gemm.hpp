#pragma once
// What every device BLAS needs before its GEMM calls: the checks, 1-D operands as rows or
// columns, batch axes broadcast, each operand as a row-major matrix (transposed or not, with its
// leading dimension; a layout no BLAS takes is copied first), and where C is written (aside,
// when out's layout is one no BLAS writes). A backend then calls its BLAS once per batch item.
#include <cstdint>

#include "stheno/kernels/backend.hpp"

namespace stheno {

struct GemmOperand {
  Tensor t;  // (..., rows, cols) with unit stride along one of the last two axes
  bool transposed = false;
  std::int64_t ld = 1;
};

struct GemmPlan {
  std::int64_t m = 0, n = 0, k = 0, items = 0;  // items: batch items, one GEMM each
  GemmOperand a, b;
  Tensor c;        // written row-major with unit column stride, leading dimension ldc
  Tensor result;   // out as (..., m, n); c is it, or a copy to land in it afterwards
  std::int64_t ldc = 1;
  bool done = false;  // nothing left for the BLAS: out is empty, or k is 0 and out was scaled
  // The element offset (storage offset included) of batch item `index` of an operand.
  static std::int64_t item_offset(const Tensor& x, std::int64_t index);
  // After the BLAS calls: out receives C if C was computed aside.
  void finish() const;
};

// Checks a·b → out for `backend`'s device (names it in errors) and plans the calls.
GemmPlan plan_gemm(Backend& backend, const Tensor& a, const Tensor& b, const Tensor& out, double beta);

}  // namespace stheno
