#include "kernels/opencl/opencl_backend.hpp"

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <memory>

#include "kernels/device_checks.hpp"
#include "stheno/tensor/dtype.hpp"

namespace stheno::opencl {

namespace {

const char* error_name(cl_int status) {
  switch (status) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL platform is installed)";
    default: return "OpenCL error";
  }
}

std::string device_string(cl_device_id id, cl_device_info what) {
  std::size_t size = 0;
  clGetDeviceInfo(id, what, 0, nullptr, &size);
  std::string s(size, '\0');
  clGetDeviceInfo(id, what, size, s.data(), nullptr);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

// Every device of every platform, in platform order: opencl:N is the N-th.
std::vector<std::pair<cl_platform_id, cl_device_id>> all_devices() {
  cl_uint platforms = 0;
  std::vector<std::pair<cl_platform_id, cl_device_id>> out;
  if (clGetPlatformIDs(0, nullptr, &platforms) != CL_SUCCESS || platforms == 0) return out;
  std::vector<cl_platform_id> ids(platforms);
  clGetPlatformIDs(platforms, ids.data(), nullptr);
  for (cl_platform_id p : ids) {
    cl_uint n = 0;
    if (clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, nullptr, &n) != CL_SUCCESS || n == 0) continue;
    std::vector<cl_device_id> devices(n);
    clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, n, devices.data(), nullptr);
    for (cl_device_id d : devices) out.emplace_back(p, d);
  }
  return out;
}

// What every kernel source starts with: the View type, the element offset of index i, and
// exp, log, tanh and sigmoid in the host's algorithm (kernels/cpu/simd/vmath.hpp, step for
// step, with the same constants, and like the host's compiled without fused multiply-adds), so
// that a device computes the same bits as the host.
constexpr const char* kPrelude = R"CLC(
#pragma OPENCL FP_CONTRACT OFF
#ifdef USE_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double ACC;
#else
typedef float ACC;
#endif
typedef struct { long offset; long size[8]; long stride[8]; } View;
inline long at(const View* v, long i) {
  long off = v->offset;
  for (int d = 7; d >= 0 && i > 0; --d) {
    const long s = v->size[d];
    if (s == 1) continue;
    const long q = i / s;
    off += (i - q * s) * v->stride[d];
    i = q;
  }
  return off;
}
#ifdef T_IS_DOUBLE
typedef ulong BITS;
typedef long SBITS;
#define AS_BITS as_ulong
#define AS_T as_double
#else
typedef uint BITS;
typedef int SBITS;
#define AS_BITS as_uint
#define AS_T as_float
#endif
constant T kExpCoeffs[] = {VM_EXP_COEFFS};
inline T vm_expm1_poly(T r) {
  T p = kExpCoeffs[VM_EXP_TERMS];
  for (int j = VM_EXP_TERMS - 1; j >= 1; --j) p = p * r + kExpCoeffs[j];
  return p * r;
}
inline T vm_pow2(SBITS k) { return AS_T((BITS)(k + VM_BIAS) << VM_MANTISSA); }
inline T vm_reduce_exp(T x, SBITS* k) {
  const T shifted = x * VM_LOG2E + VM_ROUND_MAGIC;
  const T kf = shifted - VM_ROUND_MAGIC;
  *k = (SBITS)(AS_BITS(shifted) - AS_BITS(VM_ROUND_MAGIC));
  return (x - kf * VM_LN2_HI) - kf * VM_LN2_LO;
}
inline T vm_exp(T x) {
  const T xc = x > VM_EXP_MAX ? VM_EXP_MAX : (x < VM_EXP_MIN ? VM_EXP_MIN : x);
  SBITS k;
  const T r = vm_reduce_exp(xc, &k);
  const SBITS k1 = k >> 1;
  T y = ((T)1 + vm_expm1_poly(r)) * vm_pow2(k1) * vm_pow2(k - k1);
  y = x > VM_EXP_MAX ? (T)INFINITY : y;
  y = x < VM_EXP_MIN ? (T)0 : y;
  return y;
}
inline T vm_expm1_moderate(T x) {
  SBITS k;
  const T r = vm_reduce_exp(x, &k);
  const T scale = vm_pow2(k);
  return scale * vm_expm1_poly(r) + (scale - (T)1);
}
inline T vm_log(T x) {
  const bool sub = x < VM_TINY;
  const T xs = sub ? x * VM_UPSCALE : x;
  const SBITS i = (SBITS)(AS_BITS(xs) - AS_BITS(VM_SQRT_HALF));
  const SBITS k = i >> VM_MANTISSA;
  const T m = AS_T((((BITS)i) & ((((BITS)1) << VM_MANTISSA) - 1)) + AS_BITS(VM_SQRT_HALF));
  const T ke = (T)k - (sub ? (T)VM_MANTISSA : (T)0);
  const T f = m - (T)1;
  const T s = f / ((T)2 + f);
  const T s2 = s * s;
  T p = (T)1 / (T)(2 * VM_LOG_TERMS - 1);
  for (int j = VM_LOG_TERMS - 2; j >= 0; --j) p = (T)1 / (T)(2 * j + 1) + s2 * p;
  const T log_m = (T)2 * s * p;
  T y = ke * VM_LN2_HI + (log_m + ke * VM_LN2_LO);
  y = x == (T)INFINITY ? x : y;
  y = x == (T)0 ? -(T)INFINITY : y;
  y = x < (T)0 ? (T)NAN : y;
  y = x != x ? x : y;
  return y;
}
inline T vm_tanh(T x) {
  const T a = x < (T)0 ? -x : x;
  const T ac = a > VM_TANH_CLAMP ? VM_TANH_CLAMP : a;
  const T e = vm_expm1_moderate((T)2 * ac);
  const T t = e / (e + (T)2);
  const T y = x < (T)0 ? -t : t;
  return x != x ? x : y;
}
inline T vm_sigmoid(T x) {
  const T e = vm_exp(x < (T)0 ? x : -x);
  const T s = (T)1 / ((T)1 + e);
  return x < (T)0 ? e * s : s;
}
)CLC";

// The constants of the prelude's exp and log for T, as the host computes them, in hexadecimal
// so that they reach the device bit for bit.
template <class T>
std::string vmath_options() {
  const bool single = sizeof(T) == 4;
  auto hex = [&](T v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, single ? "%af" : "%a", static_cast<double>(v));
    return std::string(buf);
  };
  const int terms = single ? 7 : 13;
  std::string coeffs;
  long double f = 1;
  for (int j = 0; j <= terms; ++j) {
    if (j > 0) f *= j;
    coeffs += (j ? "," : "") + hex(static_cast<T>(1.0L / f));
  }
  std::string o = " -D VM_EXP_COEFFS=" + coeffs + " -D VM_EXP_TERMS=" + std::to_string(terms);
  o += " -D VM_LOG_TERMS=" + std::to_string(single ? 5 : 11);
  o += " -D VM_MANTISSA=" + std::to_string(single ? 23 : 52) + " -D VM_BIAS=" + std::to_string(single ? 127 : 1023);
  o += " -D VM_LOG2E=" + hex(static_cast<T>(1.4426950408889634));
  o += " -D VM_ROUND_MAGIC=" + hex(single ? T(12582912.0f) : T(6755399441055744.0));
  o += " -D VM_LN2_HI=" + hex(single ? T(0.693145751953125f) : T(6.93147180369123816490e-01));
  o += " -D VM_LN2_LO=" + hex(single ? T(1.428606765330187e-06f) : T(1.90821492927058770002e-10));
  o += " -D VM_EXP_MAX=" + hex(single ? T(88.72283f) : T(709.782712893384));
  o += " -D VM_EXP_MIN=" + hex(single ? T(-103.97208f) : T(-745.1332191019412));
  o += " -D VM_TANH_CLAMP=" + hex(single ? T(9.5f) : T(19.5));
  o += " -D VM_TINY=" + hex(std::numeric_limits<T>::min());
  o += " -D VM_UPSCALE=" + hex(single ? T(8388608.0) : T(4503599627370496.0));
  o += " -D VM_SQRT_HALF=" + hex(static_cast<T>(0.70710678118654752440));
  return o;
}

constexpr std::size_t kGroup = 64;

}  // namespace

void check(cl_int status, const char* what, Device device) {
  if (status != CL_SUCCESS)
    throw DeviceError(std::string(what) + " failed on " + device.str() + ": " + error_name(status) + " (" +
                      std::to_string(status) + ")");
}

cl_mem buffer_of(const Tensor& t) { return static_cast<cl_mem>(t.storage()->handle()); }

OpenclBackend& backend_of(const Tensor& t) { return static_cast<OpenclBackend&>(backend(t.device())); }

OpenclBackend::OpenclBackend(int index) : index_(index) {
  const auto devices = all_devices();
  if (devices.empty())
    throw DeviceError("opencl:" + std::to_string(index) +
                      ": no OpenCL platform found (install an ICD, e.g. Debian's pocl-opencl-icd, or a GPU driver)");
  if (index >= static_cast<int>(devices.size()))
    throw DeviceError("opencl:" + std::to_string(index) + ": there are only " + std::to_string(devices.size()) +
                      " OpenCL devices (opencl:0 to opencl:" + std::to_string(devices.size() - 1) + ")");
  device_id_ = devices[static_cast<std::size_t>(index)].second;
  name_ = device_string(device_id_, CL_DEVICE_NAME) + " (" + device_string(device_id_, CL_DEVICE_VERSION) + ")";
  fp64_ = device_string(device_id_, CL_DEVICE_EXTENSIONS).find("cl_khr_fp64") != std::string::npos;
  cl_int status = CL_SUCCESS;
  context_ = clCreateContext(nullptr, 1, &device_id_, nullptr, nullptr, &status);
  check(status, "clCreateContext", device());
  queue_ = clCreateCommandQueue(context_, device_id_, 0, &status);
  check(status, "clCreateCommandQueue", device());
  copy_queue_ = clCreateCommandQueue(context_, device_id_, 0, &status);
  check(status, "clCreateCommandQueue", device());
  uploads_.reserve(16);
  error_flags_ = static_cast<cl_mem>(allocate(sizeof(cl_int)));
  const cl_int none = 0;
  upload(error_flags_, 0, &none, sizeof none);
}

OpenclBackend::~OpenclBackend() {
  for (auto& [key, k] : kernels_) clReleaseKernel(k);
  for (auto& [key, p] : programs_) clReleaseProgram(p);
  for (auto& [buffer, size] : scratch_)
    if (buffer) clReleaseMemObject(buffer);
  if (error_flags_) clReleaseMemObject(error_flags_);
  for (cl_event e : uploads_) clReleaseEvent(e);
  if (copy_queue_) clReleaseCommandQueue(copy_queue_);
  if (queue_) clReleaseCommandQueue(queue_);
  if (context_) clReleaseContext(context_);
}

void* OpenclBackend::allocate(std::size_t bytes) {
  cl_int status = CL_SUCCESS;
  // A zero-byte buffer is invalid in OpenCL; views of empty tensors still need a handle.
  cl_mem m = clCreateBuffer(context_, CL_MEM_READ_WRITE, bytes == 0 ? 64 : bytes, nullptr, &status);
  if (status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES || status == CL_OUT_OF_HOST_MEMORY ||
      status == CL_INVALID_BUFFER_SIZE)
    throw OutOfMemoryError(bytes, "a buffer on " + device().str() + " (" + name_ + ")");
  check(status, "clCreateBuffer", device());
  allocations_.fetch_add(1, std::memory_order_relaxed);
  return m;
}

void OpenclBackend::deallocate(void* handle) noexcept { clReleaseMemObject(static_cast<cl_mem>(handle)); }

void OpenclBackend::upload(void* handle, std::size_t offset, const void* host, std::size_t bytes) {
  DriverCall driver;
  // Blocking: the caller may reuse its host memory as soon as this returns.
  check(clEnqueueWriteBuffer(queue_, static_cast<cl_mem>(handle), CL_TRUE, offset, bytes, host, 0, nullptr, nullptr),
        "clEnqueueWriteBuffer", device());
}

void OpenclBackend::upload_async(void* handle, std::size_t offset, const void* host, std::size_t bytes) {
  cl_event done = nullptr;
  {
    DriverCall driver;
    check(clEnqueueWriteBuffer(copy_queue_, static_cast<cl_mem>(handle), CL_FALSE, offset, bytes, host, 0, nullptr, &done),
          "clEnqueueWriteBuffer", device());
  }
  uploads_.push_back(done);  // the vector keeps its capacity across steps
  DriverCall driver;
  check(clFlush(copy_queue_), "clFlush", device());
}

void OpenclBackend::order_after_uploads() {
  DriverCall driver;
  if (uploads_.empty()) return;
  check(clEnqueueBarrierWithWaitList(queue_, static_cast<cl_uint>(uploads_.size()), uploads_.data(), nullptr),
        "clEnqueueBarrierWithWaitList", device());
}

void OpenclBackend::finish_uploads() {
  if (uploads_.empty()) return;
  cl_int status = CL_SUCCESS;
  {
    DriverCall driver;
    status = clWaitForEvents(static_cast<cl_uint>(uploads_.size()), uploads_.data());
    for (cl_event e : uploads_) clReleaseEvent(e);
  }
  uploads_.clear();
  check(status, "clWaitForEvents (uploads)", device());
}

void OpenclBackend::download(const void* handle, std::size_t offset, void* host, std::size_t bytes) {
  read(static_cast<cl_mem>(const_cast<void*>(handle)), offset, host, bytes);
}

void OpenclBackend::read(cl_mem buffer, std::size_t offset, void* host, std::size_t bytes) {
  synchronizations_.fetch_add(1, std::memory_order_relaxed);
  {
    DriverCall driver;
    check(clEnqueueReadBuffer(queue_, buffer, CL_TRUE, offset, bytes, host, 0, nullptr, nullptr), "clEnqueueReadBuffer",
          device());
  }
  check_error_flags();
}

void OpenclBackend::synchronize() {
  synchronizations_.fetch_add(1, std::memory_order_relaxed);
  {
    DriverCall driver;
    check(clFinish(queue_), "clFinish", device());
  }
  check_error_flags();
}

void OpenclBackend::check_error_flags() {
  if (!errors_possible_) return;
  // The queue has just drained, so this read waits for nothing.
  cl_int flags = 0;
  DriverCall driver;
  check(clEnqueueReadBuffer(queue_, error_flags_, CL_TRUE, 0, sizeof flags, &flags, 0, nullptr, nullptr),
        "clEnqueueReadBuffer", device());
  if (flags == 0) return;
  const cl_int none = 0;
  upload(error_flags_, 0, &none, sizeof none);
  throw_kernel_errors(flags, device());
}

void OpenclBackend::require_dtype(std::string_view kernel, DType dtype) const {
  if (dtype == DType::f64 && !fp64_)
    throw DeviceError(std::string(kernel) + ": " + device().str() + " (" + name_ +
                      ") has no cl_khr_fp64, so no float64; use float32");
}

cl_kernel OpenclBackend::kernel(const char* source, const char* name, DType dtype) {
  std::lock_guard lock(mutex_);
  const auto key = std::make_pair(name, dtype);
  if (auto it = kernels_.find(key); it != kernels_.end()) return it->second;
  require_dtype(name, dtype);
  cl_int status = CL_SUCCESS;
  cl_kernel k = clCreateKernel(program(source, name, dtype), name, &status);
  check(status, (std::string("clCreateKernel ") + name).c_str(), device());
  kernels_.emplace(key, k);
  return k;
}

cl_program OpenclBackend::program(const char* source, const char* name, DType dtype) {
  cl_program& program = programs_[{source, dtype}];
  if (!program) {
    const char* parts[] = {kPrelude, source};
    cl_int status = CL_SUCCESS;
    cl_program p = clCreateProgramWithSource(context_, 2, parts, nullptr, &status);
    check(status, "clCreateProgramWithSource", device());
    // Correctly rounded float division and square root, as on the host.
    std::string options = "-cl-std=CL1.2 -cl-fp32-correctly-rounded-divide-sqrt -D I=int";
    options += dtype == DType::f64 ? " -D T=double -D T_IS_DOUBLE" + vmath_options<double>() : " -D T=float" + vmath_options<float>();
    if (fp64_) options += " -D USE_FP64";
    status = clBuildProgram(p, 1, &device_id_, options.c_str(), nullptr, nullptr);
    if (status != CL_SUCCESS) {
      std::size_t size = 0;
      clGetProgramBuildInfo(p, device_id_, CL_PROGRAM_BUILD_LOG, 0, nullptr, &size);
      std::string log(size, '\0');
      clGetProgramBuildInfo(p, device_id_, CL_PROGRAM_BUILD_LOG, size, log.data(), nullptr);
      clReleaseProgram(p);
      throw DeviceError("building the OpenCL program with kernel " + std::string(name) + " for " +
                        std::string(dtype_name(dtype)) + " failed on " + device().str() + " (" + name_ + "): " +
                        error_name(status) + "\nbuild log:\n" + log);
    }
    program = p;
  }
  return program;
}

void OpenclBackend::set_arg(cl_kernel k, cl_uint index, std::size_t size, const void* value) {
  DriverCall driver;
  check(clSetKernelArg(k, index, size, value), "clSetKernelArg", device());
}

void OpenclBackend::enqueue(cl_kernel k, std::size_t global) {
  DriverCall driver;
  // OpenCL 1.2 needs the global size to be a multiple of the work-group size; kernels guard
  // their index against the true count.
  const std::size_t rounded = (global + kGroup - 1) / kGroup * kGroup;
  const std::size_t local = kGroup;
  check(clEnqueueNDRangeKernel(queue_, k, 1, nullptr, &rounded, &local, 0, nullptr, nullptr), "clEnqueueNDRangeKernel",
        device());
  count_launch();
}

cl_mem OpenclBackend::scratch(int slot, std::size_t bytes) {
  std::lock_guard lock(mutex_);
  auto& [buffer, size] = scratch_[static_cast<std::size_t>(slot)];
  if (size < bytes) {
    if (buffer) clReleaseMemObject(buffer);
    buffer = nullptr;
    buffer = static_cast<cl_mem>(allocate(bytes));
    size = bytes;
  }
  return buffer;
}

void OpenclBackend::prepare(DType dtype) {
  require_dtype("prepare", dtype);
  std::lock_guard lock(mutex_);
  // The copy program holds every dtype pair and is built under the float32 key.
  program(kCopySource, "prepare", DType::f32);
  for (const char* source : {kConvSource, kElementwiseSource, kRecurrentSource, kReduceSource, kSoftmaxSource, kUpdateSource})
    program(source, "prepare", dtype == DType::i32 ? DType::f32 : dtype);
}

bool OpenclBackend::supports(OpKind kind, DType dtype) const {
  if (dtype == DType::f64 && !fp64_) return false;
  switch (kind) {
    case OpKind::unary: case OpKind::binary: case OpKind::matmul: case OpKind::matmul_add: case OpKind::reduce:
    case OpKind::argmax: case OpKind::softmax: case OpKind::log_softmax: case OpKind::one_hot:
    case OpKind::softmax_cross_entropy: case OpKind::reshape: case OpKind::permute: case OpKind::slice:
    case OpKind::unslice: case OpKind::unslice_add: case OpKind::concat: case OpKind::broadcast: case OpKind::sum_to:
    case OpKind::laid_out: case OpKind::dropout_mask:
    case OpKind::im2col: case OpKind::col2im: case OpKind::conv2d: case OpKind::conv2d_input_grad:
    case OpKind::conv2d_weight_grad: case OpKind::max_pool2d: case OpKind::max_pool2d_grad: case OpKind::batch_norm_stats:
    case OpKind::batch_norm_training_gate: case OpKind::batch_norm_replica_mean: case OpKind::lstm_cell:
    case OpKind::lstm_cell_grad: case OpKind::gru_cell:
    case OpKind::gru_cell_grad: case OpKind::embedding: case OpKind::embedding_grad:
      return true;
    default:
      return false;
  }
}

namespace {
// Started on first use and kept for the life of the process, as the host's thread pool is.
const bool registered = [] {
  register_device_kind(DeviceKind::opencl, [](int index) -> DeviceRuntime& {
    // Never destroyed: tensors in static storage may outlive any destructor order.
    static std::mutex mutex;
    static auto* started = new std::map<int, OpenclBackend*>;
    std::lock_guard lock(mutex);
    OpenclBackend*& b = (*started)[index];
    if (!b) b = new OpenclBackend(index);
    return *b;
  });
  return true;
}();
}  // namespace

}  // namespace stheno::opencl
