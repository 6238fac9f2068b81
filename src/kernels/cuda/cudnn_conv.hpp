#pragma once
// Convolutions through cuDNN where they measure faster than im2col + cuBLAS. The first time a
// pass (forward, input gradient, weight gradient) meets a geometry, outside a recorded step, it
// times the columns path and lets cuDNN time its algorithms on the same operands, keeps the
// faster with its descriptors and workspace, and from then on runs it; a recorded step only
// replays decisions. Built where cuDNN is found (STHENO_HAS_CUDNN).
#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>

#include "stheno/kernels/conv.hpp"
#include "stheno/tensor/tensor.hpp"

namespace stheno::cuda {

// A callable borrowed for the length of one call (std::function would allocate for a lambda
// that captures more than two pointers, every step).
class ColumnsPath {
 public:
  template <class F>
  explicit ColumnsPath(F& f) : object_(&f), call_([](void* o) { (*static_cast<F*>(o))(); }) {}
  void operator()() const { call_(object_); }

 private:
  void* object_;
  void (*call_)(void*);
};

class CudnnConvolutions {
 public:
  enum class Pass : int { forward, input_grad, weight_grad };
  // No cuDNN handle (its libraries missing at run time) leaves every pass on columns.
  CudnnConvolutions(Device device, cudaStream_t stream, bool allow_tf32);
  ~CudnnConvolutions();
  CudnnConvolutions(const CudnnConvolutions&) = delete;
  CudnnConvolutions& operator=(const CudnnConvolutions&) = delete;

  // Runs `pass` through cuDNN and returns true where it measured faster for these operands;
  // otherwise returns false and the caller runs `by_columns` (which timing may already have run).
  // For the forward pass a = x, b = weight, out = y (bias added after); input_grad: a = grad,
  // b = weight, out = dx; weight_grad: a = x, b = grad, out = dweight.
  bool run(Pass pass, bool recording, const Tensor& a, const Tensor& b, const Tensor& bias, const Conv2dGeometry& g,
           const Tensor& out, const ColumnsPath& by_columns);

 private:
  struct Plan;
  using Key = std::array<std::int64_t, 18>;
  Key key_of(Pass pass, const Tensor& a, const Tensor& b, bool bias_defined, const Conv2dGeometry& g, const Tensor& out) const;
  std::unique_ptr<Plan> decide(Pass pass, const Tensor& a, const Tensor& b, const Tensor& bias, const Conv2dGeometry& g,
                               const Tensor& out, const ColumnsPath& by_columns);
  void execute(const Plan& plan, const Tensor& a, const Tensor& b, const Tensor& bias, const Tensor& out);
  void* workspace(std::size_t bytes);

  Device device_;
  cudaStream_t stream_;
  bool allow_tf32_;
  void* handle_ = nullptr;  // a cudnnHandle_t, kept opaque here so that this header needs no cuDNN
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
  std::map<Key, std::unique_ptr<Plan>> plans_;  // null plan: columns measured faster
};

}  // namespace stheno::cuda
