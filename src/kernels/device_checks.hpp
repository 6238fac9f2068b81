#pragma once
// The checks every device backend makes before it launches a kernel, with the messages a user
// sees (they name the op, the device, the dtypes and shapes), and what the checks work out on
// the way (a reduction's axes, a cross-entropy's rows and classes).
#include <cstdint>
#include <string_view>

#include "kernels/device_views.hpp"
#include "stheno/kernels/reduce.hpp"
#include "stheno/tensor/device.hpp"

namespace stheno {

void require_float(std::string_view op, const Tensor& t, Device device);
void require_same_dtype(std::string_view op, const Tensor& a, const Tensor& b);
// Device backends hold float32, float64 and int32 tensors (int64 sparse indices stay on the host).
void require_not_int64(const char* op, const Tensor& t, Device device);

void check_unary(std::string_view op, const Tensor& x, const Tensor& out, Device device);
// Returns the broadcast shape of a and b (out's).
Shape check_binary(std::string_view op, const Tensor& a, const Tensor& b, const Tensor& out, Device device);

struct ReductionPlan {
  const char* name;
  AxisMask mask;
  std::int64_t r = 1;    // elements folded into each output
  bool blocked = false;  // as on the host: kept axes after the reduced ones combine rows in blocks of 64
  double scale = 1;      // 1/r for a mean
};
ReductionPlan check_reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out, Device device);
// Returns the normalised axis.
int check_argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out, Device device);
int check_softmax(const Tensor& x, int axis, const Tensor& out, bool log_form);

struct CrossEntropyShape {
  std::int64_t rows = 0, classes = 0;
  bool labels = false;  // int32 labels (N,), else float targets (N, C)
};
CrossEntropyShape check_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out);
void check_one_hot(const Tensor& labels, const Tensor& out);

// The IndexError a device raises when it finds, on synchronising, the error bits its kernels
// set: 1 cross-entropy and 2 one-hot labels out of range, 4|8 a gather or scatter index.
[[noreturn]] void throw_kernel_errors(int flags, Device device);

}  // namespace stheno
