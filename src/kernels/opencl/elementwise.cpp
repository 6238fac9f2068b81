// Unary and binary elementwise kernels with NumPy broadcasting, float32 and float64.
#include "kernels/device_checks.hpp"
#include "kernels/opencl/opencl_backend.hpp"

namespace stheno::opencl {

// Op codes are the UnaryOp and BinaryOp enumerators' values.
const char* const kElementwiseSource = R"CLC(
inline T unary_op(int op, T x) {
  switch (op) {
    case 0: return -x;
    case 1: return fabs(x);
    case 2: return vm_exp(x);
    case 3: return vm_log(x);
    case 4: return sqrt(x);
    case 5: return x * x;
    case 6: return vm_tanh(x);
    case 7: return vm_sigmoid(x);
    case 8: return x > (T)0 ? x : (T)0;
    case 9: return x > (T)0 ? (T)1 : x < (T)0 ? (T)-1 : (T)0;
    default: return x > (T)0 ? (T)1 : (T)0;
  }
}
inline T binary_op(int op, T a, T b) {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return pow(a, b);
    case 5: return a != a ? a : (a > b ? a : b);
    case 6: return a != a ? a : (a < b ? a : b);
    case 7: return b * a * ((T)1 - a);
    case 8: return b * ((T)1 - a * a);
    default: return a > (T)0 ? b : (T)0;
  }
}
kernel void unary(int op, global T* y, View yv, global const T* x, View xv, long n) {
  const long i = get_global_id(0);
  if (i < n) y[at(&yv, i)] = unary_op(op, x[at(&xv, i)]);
}
kernel void binary(int op, global T* y, View yv, global const T* a, View av, global const T* b, View bv, long n) {
  const long i = get_global_id(0);
  if (i < n) y[at(&yv, i)] = binary_op(op, a[at(&av, i)], b[at(&bv, i)]);
}
)CLC";


void OpenclBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  check_unary(op_name(op), x, out, device());
  const Tensor in = unaliased(x, out);
  const cl_int code = static_cast<cl_int>(op);
  const cl_long n = out.numel();
  launch(kernel(kElementwiseSource, "unary", x.dtype()), static_cast<std::size_t>(n), code, buffer_of(out), view_of(out),
         buffer_of(in), view_of(in), n);
}

void OpenclBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Shape shape = check_binary(op_name(op), a, b, out, device());
  const Tensor pa = unaliased(a, out), pb = unaliased(b, out);
  const cl_int code = static_cast<cl_int>(op);
  const cl_long n = out.numel();
  launch(kernel(kElementwiseSource, "binary", a.dtype()), static_cast<std::size_t>(n), code, buffer_of(out), view_of(out),
         buffer_of(pa), view_of(pa, shape), buffer_of(pb), view_of(pb, shape), n);
}

}  // namespace stheno::opencl
