// Strided copies (with dtype conversion and broadcasting) and fills.
#include "kernels/device_checks.hpp"
#include "kernels/opencl/opencl_backend.hpp"

namespace stheno::opencl {

const char* const kCopySource = R"CLC(
#define COPY(NAME, D, S, CONVERT)                                                                   \
kernel void NAME(global D* dst, View dv, global const S* src, View sv, long n) {                    \
  const long i = get_global_id(0);                                                                  \
  if (i < n) dst[at(&dv, i)] = CONVERT(src[at(&sv, i)]);                                            \
}
#define FILL(NAME, D)                                                                               \
kernel void NAME(global D* dst, View dv, D value, long n) {                                         \
  const long i = get_global_id(0);                                                                  \
  if (i < n) dst[at(&dv, i)] = value;                                                               \
}
COPY(copy_f32_f32, float, float, )
COPY(copy_i32_i32, int, int, )
COPY(copy_f32_i32, float, int, (float))
COPY(copy_i32_f32, int, float, convert_int_sat)
FILL(fill_f32, float)
FILL(fill_i32, int)
#ifdef USE_FP64
COPY(copy_f64_f64, double, double, )
COPY(copy_f64_f32, double, float, (double))
COPY(copy_f32_f64, float, double, (float))
COPY(copy_f64_i32, double, int, (double))
COPY(copy_i32_f64, int, double, convert_int_sat)
FILL(fill_f64, double)
#endif
)CLC";


void OpenclBackend::copy(const Tensor& src, const Tensor& dst) {
  require_not_int64("copy", src, device());
  require_not_int64("copy", dst, device());
  // Indexed by (destination, source) dtype, in DType's order (f32, f64, i32).
  static constexpr const char* kNames[3][3] = {{"copy_f32_f32", "copy_f32_f64", "copy_f32_i32"},
                                               {"copy_f64_f32", "copy_f64_f64", "copy_f64_i32"},
                                               {"copy_i32_f32", "copy_i32_f64", "copy_i32_i32"}};
  const char* name = kNames[static_cast<int>(dst.dtype())][static_cast<int>(src.dtype())];
  // The copy program holds every dtype pair; it is built once (under the float32 key).
  cl_kernel k = kernel(kCopySource, name, DType::f32);
  const View dv = view_of(dst), sv = view_of(src, dst.shape());
  const cl_mem d = buffer_of(dst), s = buffer_of(src);
  const cl_long n = dst.numel();
  launch(k, static_cast<std::size_t>(n), d, dv, s, sv, n);
}

void OpenclBackend::fill(const Tensor& dst, double value) {
  require_not_int64("fill", dst, device());
  const View dv = view_of(dst);
  const cl_mem d = buffer_of(dst);
  const cl_long n = dst.numel();
  switch (dst.dtype()) {
    case DType::f32: return launch(kernel(kCopySource, "fill_f32", DType::f32), static_cast<std::size_t>(n), d, dv,
                                   static_cast<cl_float>(value), n);
    case DType::f64: return launch(kernel(kCopySource, "fill_f64", DType::f32), static_cast<std::size_t>(n), d, dv,
                                   static_cast<cl_double>(value), n);
    case DType::i32: {
      // Saturating, NaN to 0, as on the host.
      const cl_int v = value != value ? 0 : value >= 2147483647.0 ? INT32_MAX : value <= -2147483648.0 ? INT32_MIN
                                                                                                     : static_cast<cl_int>(value);
      return launch(kernel(kCopySource, "fill_i32", DType::f32), static_cast<std::size_t>(n), d, dv, v, n);
    }
    case DType::i64: break;
  }
}

}  // namespace stheno::opencl
