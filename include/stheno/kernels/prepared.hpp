#pragma once
// Prepared kernels: a kernel's checks and choices (dtype, layout, fast path, threads) made once
// for operands whose shapes, dtypes, devices and layouts stay fixed, as a compiled program's
// registers do. Calling one reads only its operands' data pointers, so the operands may be other
// tensors of the same layouts over other memory (an input bound to a new batch each run). For a
// small network's ops of a few hundred elements the checks cost more than the arithmetic (a
// 10×10 sub: 56 ns through the checks, 20 prepared).
//
// Each prepare_* returns an empty kernel when it has no prepared form for its operands (another
// device, a layout the general kernel handles, work big enough to be shared between threads,
// whose count may change): the caller then calls the general kernel. A prepared kernel assumes
// what the general one checks: prepare only operands the general kernel has accepted.
#include <functional>
#include <span>

#include "stheno/kernels/elementwise.hpp"
#include "stheno/kernels/reduce.hpp"

namespace stheno {

// Called with the operands in the order of the prepare_* call that made it.
using PreparedKernel = std::function<void(std::span<const Tensor> inputs, const Tensor& out)>;

PreparedKernel prepare_unary(UnaryOp op, const Tensor& x, const Tensor& out);
PreparedKernel prepare_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
// out holds the result with or without the reduced axes kept (as size 1): only its elements count.
PreparedKernel prepare_reduce(ReduceOp op, const Tensor& x, const Axes& axes, const Tensor& out);
// out = alpha·a·b + beta·out for matrices.
PreparedKernel prepare_matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta);
// out.copy_from(source), where source may broadcast a block of out's trailing axes along its
// leading ones (a bias's rows); called with the source unexpanded (same first element).
PreparedKernel prepare_copy(const Tensor& source, const Tensor& out);

}  // namespace stheno
