// Matrix products through CLBlast. Operands with unit stride along one of their last two axes
// go to it as they are (transposed when the unit stride is the rows'); others are copied first.
// CLBlast's temporary buffer comes from the backend's scratch, so a warm product allocates
// nothing on the device.
#include "kernels/opencl/opencl_backend.hpp"

#include <clblast.h>

#include "stheno/kernels/linalg.hpp"

namespace stheno::opencl {

namespace {
constexpr int kGemmScratch = 2;

// A matrix as CLBlast takes it: row-major with leading dimension ld, possibly transposed.
struct Operand {
  Tensor t;  // (..., rows, cols) with unit stride along one of the last two axes
  clblast::Transpose trans = clblast::Transpose::kNo;
  std::size_t ld = 1;
};

Operand operand(const Tensor& x) {
  const int r = x.rank();
  const std::int64_t rows = x.shape()[r - 2], cols = x.shape()[r - 1];
  const std::int64_t s0 = x.strides()[r - 2], s1 = x.strides()[r - 1];
  if ((s1 == 1 || cols == 1) && s0 >= std::max<std::int64_t>(cols, 1))
    return {x, clblast::Transpose::kNo, static_cast<std::size_t>(s0)};
  if (rows == 1 && (s1 == 1 || cols == 1)) return {x, clblast::Transpose::kNo, static_cast<std::size_t>(std::max<std::int64_t>(cols, 1))};
  if ((s0 == 1 || rows == 1) && s1 >= std::max<std::int64_t>(rows, 1))
    return {x, clblast::Transpose::kYes, static_cast<std::size_t>(s1)};
  const Tensor c = x.contiguous();
  return {c, clblast::Transpose::kNo, static_cast<std::size_t>(std::max<std::int64_t>(cols, 1))};
}

// The element offset of batch item `index` of x (batch axes: all but the last two).
cl_long batch_offset(const Tensor& x, std::int64_t index) {
  cl_long off = view_of(x).offset;
  for (int d = x.rank() - 3; d >= 0; --d) {
    const std::int64_t s = x.shape()[d];
    off += (index % s) * x.strides()[d];
    index /= s;
  }
  return off;
}

const char* status_text(clblast::StatusCode s) {
  switch (s) {
    case clblast::StatusCode::kOpenCLCompilerNotAvailable: return "no OpenCL compiler";
    case clblast::StatusCode::kOpenCLBuildProgramFailure: return "its kernels did not build";
    case clblast::StatusCode::kInvalidLocalMemUsage: return "too much local memory";
    case clblast::StatusCode::kOpenCLOutOfResources: return "out of resources";
    case clblast::StatusCode::kOpenCLOutOfHostMemory: return "out of host memory";
    default: return "error";
  }
}
}  // namespace

void OpenclBackend::matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  if (a.dtype() != b.dtype() || a.dtype() != out.dtype() || !is_floating(a.dtype()))
    throw DTypeError("matmul: " + device().str() + " multiplies float32 or float64 matrices of one dtype, got " +
                     std::string(dtype_name(a.dtype())) + ", " + std::string(dtype_name(b.dtype())) + " and out " +
                     std::string(dtype_name(out.dtype())));
  const Shape shape = matmul_shape(a.shape(), b.shape());
  if (out.shape() != shape)
    throw ShapeError("matmul: out has shape " + out.shape().str() + " but " + a.shape().str() + "·" + b.shape().str() +
                     " is " + shape.str());
  if (out.numel() == 0) return;
  // 1-D operands as a row (left) or a column (right), and out with that axis put back.
  Tensor a2 = a.rank() == 1 ? a.unsqueeze(0) : a, b2 = b.rank() == 1 ? b.unsqueeze(1) : b, c2 = out;
  if (a.rank() == 1) c2 = c2.unsqueeze(c2.rank() - (b.rank() == 1 ? 0 : 1));
  if (b.rank() == 1) c2 = c2.unsqueeze(c2.rank());
  const std::int64_t m = c2.shape()[c2.rank() - 2], n = c2.shape()[c2.rank() - 1], k = a2.shape()[a2.rank() - 1];
  if (k == 0) {  // an empty sum: out = beta·out
    if (beta == 0) fill(c2, 0.0);
    else binary(BinaryOp::mul, c2, Tensor::scalar(beta, c2.dtype(), device()), c2);
    return;
  }
  Shape batch = c2.shape();
  batch.erase(batch.rank() - 1);
  batch.erase(batch.rank() - 1);
  auto with_batch = [&](const Tensor& t, std::int64_t rows, std::int64_t cols) {
    Shape full = batch;
    full.push_back(rows);
    full.push_back(cols);
    return t.expand(full);
  };
  const Operand pa = operand(with_batch(a2, m, k)), pb = operand(with_batch(b2, k, n));
  // CLBlast writes C row-major with unit column stride; anything else is computed aside.
  const bool direct_c = (c2.strides()[c2.rank() - 1] == 1 || n == 1) && c2.strides()[c2.rank() - 2] >= n;
  const Tensor c = direct_c ? c2 : Tensor::empty(c2.shape(), c2.dtype(), device());
  if (!direct_c && beta != 0) c.copy_from(c2);
  const std::size_t ldc = static_cast<std::size_t>(m > 1 ? c.strides()[c.rank() - 2] : n);
  const std::int64_t items = batch.numel();
  cl_command_queue q = queue();
  for (std::int64_t i = 0; i < items; ++i) {
    const auto ao = static_cast<std::size_t>(batch_offset(pa.t, i)), bo = static_cast<std::size_t>(batch_offset(pb.t, i)),
               co = static_cast<std::size_t>(batch_offset(c, i));
    std::size_t temp = 0;
    clblast::StatusCode s{};
    const auto M = static_cast<std::size_t>(m), N = static_cast<std::size_t>(n), K = static_cast<std::size_t>(k);
    const bool f32 = a.dtype() == DType::f32;
    {
      DriverCall driver;
      s = f32 ? clblast::GemmTempBufferSize<float>(clblast::Layout::kRowMajor, pa.trans, pb.trans, M, N, K, ao, pa.ld, bo,
                                                   pb.ld, co, ldc, &q, temp)
              : clblast::GemmTempBufferSize<double>(clblast::Layout::kRowMajor, pa.trans, pb.trans, M, N, K, ao, pa.ld, bo,
                                                    pb.ld, co, ldc, &q, temp);
    }
    const cl_mem temp_buffer = s == clblast::StatusCode::kSuccess && temp ? scratch(kGemmScratch, temp) : nullptr;
    if (s == clblast::StatusCode::kSuccess) {
      DriverCall driver;
      s = f32 ? clblast::Gemm<float>(clblast::Layout::kRowMajor, pa.trans, pb.trans, M, N, K, static_cast<float>(alpha),
                                     buffer_of(pa.t), ao, pa.ld, buffer_of(pb.t), bo, pb.ld, static_cast<float>(beta),
                                     buffer_of(c), co, ldc, &q, nullptr, temp_buffer)
              : clblast::Gemm<double>(clblast::Layout::kRowMajor, pa.trans, pb.trans, M, N, K, alpha, buffer_of(pa.t), ao,
                                      pa.ld, buffer_of(pb.t), bo, pb.ld, beta, buffer_of(c), co, ldc, &q, nullptr,
                                      temp_buffer);
    }
    if (s != clblast::StatusCode::kSuccess)
      throw DeviceError("matmul " + a.shape().str() + "·" + b.shape().str() + " on " + device().str() + ": CLBlast " +
                        status_text(s) + " (status " + std::to_string(static_cast<int>(s)) + ")");
    count_launch();
  }
  if (!direct_c) c2.copy_from(c);
}

}  // namespace stheno::opencl
