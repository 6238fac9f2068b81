#pragma once
// A device backend: a device's memory (DeviceRuntime) and its kernels. The public kernel
// functions (elementwise.hpp, linalg.hpp, ...) check that their operands share one device and
// call the host kernels for host tensors or that device's backend otherwise. A backend overrides
// the kernels it has; the others throw DeviceError naming the kernel and the device. Which graph
// ops it runs, and in which dtypes, it declares through supports(), so that a program that
// needs anything else fails when it is compiled, not at its first step.
#include <initializer_list>
#include <string_view>

#include "stheno/kernels/conv.hpp"
#include "stheno/kernels/elementwise.hpp"
#include "stheno/kernels/op_kind.hpp"
#include "stheno/kernels/optim_update.hpp"
#include "stheno/kernels/pool.hpp"
#include "stheno/kernels/reduce.hpp"
#include "stheno/tensor/device.hpp"
#include "stheno/tensor/random.hpp"

namespace stheno {


class Backend : public DeviceRuntime {
 public:
  virtual bool supports(OpKind kind, DType dtype) const = 0;
  // Recording a whole training step as one launch (CUDA graphs): after begin_step_record()
  // returns true, kernels are recorded, not run, until end_step_record() launches them all at
  // once (or, with launch false after an error, drops them). Nothing between the two may wait
  // for the device. A backend that cannot record returns false and runs kernels as they come.
  virtual bool begin_step_record() { return false; }
  virtual void end_step_record(bool /*launch*/) {}
  // Builds (compiles, loads) whatever the device's kernels for `dtype` need, so that a program
  // compiled for the device does that work when it is compiled, not at its first step.
  virtual void prepare(DType dtype) = 0;

  virtual void unary(UnaryOp op, const Tensor& x, const Tensor& out);
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
  virtual void reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out);
  virtual void argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out);
  virtual void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta);
  virtual void softmax(const Tensor& x, int axis, const Tensor& out, bool log_form);
  virtual void softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out);
  virtual bool all_finite(const Tensor& t);
  virtual void im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns);
  virtual void col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image);
  virtual void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g,
                              const Tensor& out);
  virtual void conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g, const Tensor& dx);
  virtual void conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g, const Tensor& dweight);
  virtual void max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out);
  virtual void max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Pool2dWindow& window,
                                   const Tensor& dx);
  virtual void gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out);
  virtual void scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out);
  virtual void one_hot(const Tensor& labels, const Tensor& out);
  virtual void csr_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                          const Tensor& out);
  virtual void csr_t_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values,
                            const Tensor& dense, const Tensor& out);
  virtual void csr_sampled_dot(const Tensor& row_offsets, const Tensor& columns, const Tensor& a, const Tensor& b,
                               const Tensor& out);
  virtual void csr_column_set(const Tensor& row_offsets, const Tensor& columns, std::int64_t cols, const Tensor& out);
  virtual void csr_t_matmul_at_rows(const Tensor& row_offsets, const Tensor& columns, const Tensor& values,
                                    const Tensor& dense, const Tensor& rows, std::int64_t cols, const Tensor& out);
  virtual void rows_to_dense(const Tensor& rows, const Tensor& values, const Tensor& out);
  virtual void take_rows(const Tensor& dense, const Tensor& rows, const Tensor& out);
  virtual void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance);
  virtual void update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                                      const Tensor& running_var, double momentum, double variance_scale);
  virtual void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                          bool nesterov, double weight_decay);
  virtual void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr, double eps,
                              double weight_decay);
  virtual void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg,
                              const Tensor& momentum_buffer, double lr, double alpha, double eps, double momentum,
                              double weight_decay);
  virtual void adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
                           double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t);
  virtual void sgd_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& velocity, double lr,
                               double momentum, bool nesterov, double weight_decay);
  virtual void adagrad_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& sum_squares, double lr,
                                   double eps, double weight_decay);
  virtual void adam_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& m, const Tensor& v,
                                double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                                std::int64_t t);
  virtual double gradient_sum_of_squares(const Tensor& grad);
  virtual void scale_gradient(const Tensor& grad, double factor);
  virtual void dropout_mask(Generator& gen, double keep, const Tensor& out);
  virtual void lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state);
  virtual void lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                                  const Tensor& out);
  virtual void gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h);
  virtual void gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh,
                                 const Tensor& out);

 protected:
  [[noreturn]] void unsupported(std::string_view kernel) const;
};

// The backend of a device other than the host (every registered device runtime is one).
Backend& backend(Device device);
// The device every operand is on (undefined tensors are skipped); throws DeviceError naming the
// kernel and two operands on different devices. Inline for the host's sake: every kernel call
// asks, and on the host the answer is a few loads.
Device operands_device(std::string_view kernel, std::initializer_list<std::pair<const char*, const Tensor*>> operands);
inline Device common_device(std::string_view kernel, std::initializer_list<std::pair<const char*, const Tensor*>> operands) {
  for (const auto& operand : operands)
    if (operand.second->defined() && !operand.second->storage()->device().is_host()) return operands_device(kernel, operands);
  return Device::cpu();
}
// Whether `device` runs ops of `kind` in `dtype` (always true on the host).
bool device_supports(Device device, OpKind kind, DType dtype);

}  // namespace stheno
