// Matrix products through CLBlast. Operands with unit stride along one of their last two axes
// go to it as they are (transposed when the unit stride is the rows'); others are copied first.
// CLBlast's temporary buffer comes from the backend's scratch, so a warm product allocates
// nothing on the device.
#include "kernels/opencl/opencl_backend.hpp"

#include <clblast.h>

#include "kernels/device_gemm.hpp"

namespace stheno::opencl {

namespace {
constexpr int kGemmScratch = 2;

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
  const GemmPlan plan = plan_gemm(*this, a, b, out, beta);
  if (plan.done) return;
  auto trans = [](const GemmOperand& o) { return o.transposed ? clblast::Transpose::kYes : clblast::Transpose::kNo; };
  const auto M = static_cast<std::size_t>(plan.m), N = static_cast<std::size_t>(plan.n), K = static_cast<std::size_t>(plan.k);
  const auto lda = static_cast<std::size_t>(plan.a.ld), ldb = static_cast<std::size_t>(plan.b.ld),
             ldc = static_cast<std::size_t>(plan.ldc);
  const clblast::Transpose ta = trans(plan.a), tb = trans(plan.b);
  const cl_mem A = buffer_of(plan.a.t), B = buffer_of(plan.b.t), C = buffer_of(plan.c);
  cl_command_queue q = queue();
  for (std::int64_t i = 0; i < plan.items; ++i) {
    const auto ao = static_cast<std::size_t>(GemmPlan::item_offset(plan.a.t, i)),
               bo = static_cast<std::size_t>(GemmPlan::item_offset(plan.b.t, i)),
               co = static_cast<std::size_t>(GemmPlan::item_offset(plan.c, i));
    std::size_t temp = 0;
    clblast::StatusCode s{};
    const bool f32 = a.dtype() == DType::f32;
    {
      DriverCall driver;
      s = f32 ? clblast::GemmTempBufferSize<float>(clblast::Layout::kRowMajor, ta, tb, M, N, K, ao, lda, bo, ldb, co, ldc, &q, temp)
              : clblast::GemmTempBufferSize<double>(clblast::Layout::kRowMajor, ta, tb, M, N, K, ao, lda, bo, ldb, co, ldc, &q,
                                                    temp);
    }
    const cl_mem temp_buffer = s == clblast::StatusCode::kSuccess && temp ? scratch(kGemmScratch, temp) : nullptr;
    if (s == clblast::StatusCode::kSuccess) {
      DriverCall driver;
      s = f32 ? clblast::Gemm<float>(clblast::Layout::kRowMajor, ta, tb, M, N, K, static_cast<float>(alpha), A, ao, lda, B, bo,
                                     ldb, static_cast<float>(beta), C, co, ldc, &q, nullptr, temp_buffer)
              : clblast::Gemm<double>(clblast::Layout::kRowMajor, ta, tb, M, N, K, alpha, A, ao, lda, B, bo, ldb, beta, C, co,
                                      ldc, &q, nullptr, temp_buffer);
    }
    if (s != clblast::StatusCode::kSuccess)
      throw DeviceError("matmul " + a.shape().str() + "·" + b.shape().str() + " on " + device().str() + ": CLBlast " +
                        status_text(s) + " (status " + std::to_string(static_cast<int>(s)) + ")");
    count_launch();
  }
  plan.finish();
}

}  // namespace stheno::opencl
