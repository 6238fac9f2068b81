#pragma once
// Optimizers update parameter tensors in place from gradient tensors. Their state (velocities,
// moments) is allocated when they are made, so a step allocates nothing, and it can be saved in a
// checkpoint and restored into the same tensors.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stheno/tensor/tensor.hpp"

namespace stheno::optim {

struct StateTensor {
  std::string name;
  Tensor value;
};

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double learning_rate);
  virtual ~Optimizer() = default;

  // grads[i] is the gradient of params[i] (same shape and dtype).
  void step(std::span<const Tensor> grads);

  double learning_rate() const { return lr_; }
  void set_learning_rate(double lr);
  std::int64_t steps_taken() const { return steps_; }
  void set_steps_taken(std::int64_t steps) { steps_ = steps; }
  const std::vector<Tensor>& params() const { return params_; }

  virtual std::string name() const = 0;
  // Per-parameter state, named "<param index>.<kind>", for checkpoints.
  std::vector<StateTensor> state() const { return state_; }

 protected:
  virtual void update(std::size_t i, const Tensor& param, const Tensor& grad) = 0;
  // Adds one zero-filled state tensor per parameter; returns them in parameter order.
  std::vector<Tensor> add_state(const std::string& kind);

  std::vector<Tensor> params_;
  double lr_;
  std::int64_t steps_ = 0;

 private:
  std::vector<StateTensor> state_;
};

class SGD final : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, bool nesterov = false, double weight_decay = 0);
  std::string name() const override { return nesterov_ ? "nesterov" : momentum_ != 0 ? "momentum" : "sgd"; }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override;
  double momentum_, weight_decay_;
  bool nesterov_;
  std::vector<Tensor> velocity_;
};

class AdaGrad final : public Optimizer {
 public:
  AdaGrad(std::vector<Tensor> params, double lr = 0.01, double eps = 1e-10, double weight_decay = 0);
  std::string name() const override { return "adagrad"; }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override;
  double eps_, weight_decay_;
  std::vector<Tensor> sum_squares_;
};

class RMSprop final : public Optimizer {
 public:
  RMSprop(std::vector<Tensor> params, double lr = 0.01, double alpha = 0.99, double eps = 1e-8, double momentum = 0,
          double weight_decay = 0);
  std::string name() const override { return "rmsprop"; }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override;
  double alpha_, eps_, momentum_, weight_decay_;
  std::vector<Tensor> square_avg_, momentum_buffer_;
};

// Adam, with L2 weight decay added to the gradient; AdamW decays the weights directly.
class Adam final : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0, bool decoupled = false);
  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override;
  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
  std::vector<Tensor> m_, v_;
};

struct OptimizerOptions {
  double lr = 0.01;
  double momentum = 0.9;      // momentum and nesterov
  double weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};
// "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam" or "adamw"; throws ValueError
// listing the names.
std::unique_ptr<Optimizer> make_optimizer(std::string_view name, std::vector<Tensor> params, const OptimizerOptions& o);

// Scales the gradients together so that their global L2 norm is at most max_norm; returns the
// norm before scaling.
double clip_grad_norm(std::span<const Tensor> grads, double max_norm);

}  // namespace stheno::optim
