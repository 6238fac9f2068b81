#include "stheno/kernels/gather.hpp"

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/gather_checks.hpp"

#include <cstring>
#include <string>

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

namespace {


// The indices, contiguous, after checking each lies in [0, table_rows).
Tensor checked_indices(const char* op, const Tensor& indices, std::int64_t table_rows) {
  const Tensor idx = indices.contiguous();
  const std::int32_t* ix = idx.data<std::int32_t>();
  for (std::int64_t i = 0; i < idx.numel(); ++i)
    if (ix[i] < 0 || ix[i] >= table_rows)
      throw IndexError(std::string(op) + ": index " + std::to_string(ix[i]) + " at position " + std::to_string(i) +
                       " is outside the table's " + std::to_string(table_rows) + " rows");
  return idx;
}

}  // namespace

void cpu::gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out) {
  const std::int64_t d = check_gather("gather_rows", table, indices, out);
  const Tensor idx = checked_indices("gather_rows", indices, table.shape()[0]);
  const std::int32_t* ix = idx.data<std::int32_t>();
  const std::int64_t n = idx.numel();
  const auto bytes = static_cast<std::size_t>(d) * itemsize(table.dtype());
  const auto* src = static_cast<const unsigned char*>(table.raw_data());
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  cpu::parallel_for(n, cpu::threads_for(n * d, n), [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t i = begin; i < end; ++i)
      std::memcpy(dst + static_cast<std::size_t>(i) * bytes, src + static_cast<std::size_t>(ix[i]) * bytes, bytes);
  });
}

void cpu::scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out) {
  const std::int64_t d = check_gather("scatter_add_rows", out, indices, grad);
  const Tensor idx = checked_indices("scatter_add_rows", indices, out.shape()[0]);
  const std::int32_t* ix = idx.data<std::int32_t>();
  const std::int64_t n = idx.numel();
  out.fill(0);
  // Serial: two indices may name the same row, and summing in index order keeps results
  // identical at every thread count.
  visit_floating(out.dtype(), "scatter_add_rows", [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    const T* g = grad.data<T>();
    T* o = out.data<T>();
    for (std::int64_t i = 0; i < n; ++i) k.binary(BinaryOp::add, d, o + ix[i] * d, 1, g + i * d, 1, o + ix[i] * d, 1);
  });
}

void cpu::one_hot(const Tensor& labels, const Tensor& out) {
  if (!labels.defined() || !out.defined()) throw ValueError("one_hot: undefined tensor");
  if (labels.dtype() != DType::i32 || labels.rank() != 1)
    throw DTypeError("one_hot: labels must be an int32 vector, got " + labels.shape().str() + " " +
                     std::string(dtype_name(labels.dtype())));
  if (!is_floating(out.dtype()) || out.rank() != 2 || out.shape()[0] != labels.shape()[0] || !out.is_contiguous())
    throw ShapeError("one_hot: out must be a contiguous float (N, C) for " + labels.shape().str() + " labels, got " +
                     out.shape().str() + " " + std::string(dtype_name(out.dtype())));
  const std::int64_t n = labels.shape()[0], classes = out.shape()[1], stride = labels.strides()[0];
  const std::int32_t* l = labels.data<std::int32_t>();
  out.fill(0);
  visit_floating(out.dtype(), "one_hot", [&]<class T>() {
    T* o = out.data<T>();
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t c = l[i * stride];
      if (c < 0 || c >= classes)
        throw IndexError("one_hot: label " + std::to_string(c) + " at row " + std::to_string(i) + " is outside [0, " +
                         std::to_string(classes) + ")");
      o[i * classes + c] = T(1);
    }
  });
}

}  // namespace stheno
