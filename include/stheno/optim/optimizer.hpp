#pragma once
// Optimizers update parameter tensors in place from gradient tensors. Their state (velocities,
// moments) is allocated when they are made, so a step allocates nothing, and it can be saved in a
// checkpoint and restored into the same tensors.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stheno/kernels/optim_update.hpp"
#include "stheno/tensor/tensor.hpp"

namespace stheno::optim {

struct StateTensor {
  std::string name;
  Tensor value;
};

// A dense gradient given as the matrix product that forms it, a·b (a weight's gradient xᵀ·δ).
// An optimizer that applies products adds it into what it updates with one GEMM, so the
// gradient is never written out and read back.
struct ProductGradient {
  Tensor a, b;
};

// A parameter's gradient: dense (the parameter's shape and dtype), or a product that forms it,
// or row-sparse for a 2-D table of which a step used some rows (graph/ops.hpp,
// TableGradient::rows): a row set and its block of values, or the product that forms the block
// (kernels/optim_update.hpp RowGradient).
struct Gradient {
  Tensor dense;
  RowGradient rows;
  ProductGradient product;
  static Gradient of_dense(Tensor dense) { return {std::move(dense), {}, {}}; }
  static Gradient of_matmul(Tensor a, Tensor b) { return {Tensor(), {}, {std::move(a), std::move(b)}}; }
  static Gradient of_rows(Tensor rows, Tensor values) { return {Tensor(), {std::move(rows), std::move(values), {}}, {}}; }
  static Gradient of_product(Tensor rows, RowGradient::Product product) {
    return {Tensor(), {std::move(rows), Tensor(), std::move(product)}, {}};
  }
  bool row_sparse() const { return rows.rows.defined(); }
  bool is_product() const { return product.a.defined(); }
  // The tensor that holds the gradient's numbers: dense, or the values block (undefined for a
  // product, whose numbers are never held whole).
  const Tensor& numbers() const { return row_sparse() ? rows.values : dense; }
};

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double learning_rate);
  virtual ~Optimizer() = default;

  // grads[i] is the gradient of params[i] (same shape and dtype).
  void step(std::span<const Tensor> grads);
  // As above, where some gradients may be row-sparse; an optimizer that cannot apply one
  // (takes_row_sparse() false) throws ValueError naming the parameter, before it changes anything.
  void step(std::span<const Gradient> grads);
  // Whether row-sparse gradients are applied to the rows they hold alone (SGD with or without
  // momentum, AdaGrad, SparseAdam); RMSprop and Adam need a dense gradient.
  virtual bool takes_row_sparse() const { return false; }
  // Whether a dense gradient may come as a product (Gradient::of_matmul), applied without being
  // formed; where not, a product is a ValueError naming the parameter.
  virtual bool applies_products() const { return false; }

  double learning_rate() const { return lr_; }
  void set_learning_rate(double lr);
  // Host updates run with subnormal numbers flushed to zero, as training programs do
  // (CompileOptions::flush_subnormals, kernels/threads.hpp); false keeps IEEE's gradual underflow.
  // A TrainingStep sets it to its program's CompileOptions::flush_subnormals.
  void set_flush_subnormals(bool flush) { flush_subnormals_ = flush; }
  std::int64_t steps_taken() const { return steps_; }
  void set_steps_taken(std::int64_t steps) { steps_ = steps; }
  const std::vector<Tensor>& params() const { return params_; }

  virtual std::string name() const = 0;
  // Per-parameter state, named "<param index>.<kind>", for checkpoints.
  std::vector<StateTensor> state() const { return state_; }

 protected:
  virtual void update(std::size_t i, const Tensor& param, const Tensor& grad) = 0;
  // Gradient row k updates row rows[k] of the parameter; only where takes_row_sparse().
  virtual void update_rows(std::size_t i, const Tensor& param, const RowGradient& grad);
  // The dense update with the gradient a·b; only where applies_products().
  virtual void update_product(std::size_t i, const Tensor& param, const ProductGradient& grad);
  // Adds one zero-filled state tensor per parameter; returns them in parameter order.
  std::vector<Tensor> add_state(const std::string& kind);

  std::vector<Tensor> params_;
  double lr_;
  std::int64_t steps_ = 0;

 private:
  bool flushes() const { return flush_subnormals_ && !params_.empty() && params_[0].device().is_host(); }

  bool flush_subnormals_ = true;
  std::vector<StateTensor> state_;
};

// With a row-sparse gradient, plain SGD is exactly the dense update; momentum, Nesterov momentum
// and weight decay act on the touched rows only (lazily: a row's velocity decays, and the row
// moves, only on the steps that use it; the dense update would keep moving it).
class SGD final : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, bool nesterov = false, double weight_decay = 0);
  std::string name() const override { return nesterov_ ? "nesterov" : momentum_ != 0 ? "momentum" : "sgd"; }
  bool takes_row_sparse() const override { return true; }
  // Plain SGD (p = (1 − lr·wd)·p − lr·a·b) and momentum without weight decay (v = μ·v + a·b,
  // then p −= lr·v): one GEMM into p or v. Nesterov momentum needs the gradient itself.
  bool applies_products() const override { return !nesterov_ && (momentum_ == 0 || weight_decay_ == 0); }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override;
  void update_rows(std::size_t i, const Tensor& p, const RowGradient& g) override;
  void update_product(std::size_t i, const Tensor& p, const ProductGradient& g) override;
  double momentum_, weight_decay_;
  bool nesterov_;
  std::vector<Tensor> velocity_;
};

// With a row-sparse gradient and no weight decay, exactly the dense update (an untouched row's
// sum of squares and value do not change); weight decay acts on the touched rows only.
class AdaGrad final : public Optimizer {
 public:
  AdaGrad(std::vector<Tensor> params, double lr = 0.01, double eps = 1e-10, double weight_decay = 0);
  std::string name() const override { return "adagrad"; }
  bool takes_row_sparse() const override { return true; }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override;
  void update_rows(std::size_t i, const Tensor& p, const RowGradient& g) override;
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

// Lazy Adam, for embedding tables trained with row-sparse gradients: a row-sparse gradient
// updates the moments and values of the rows it holds and nothing else, so a row's moments decay
// only on the steps that use it (this differs from Adam, under which every row moves at every
// step while its moments decay). Bias corrections use the optimizer's step count, as PyTorch's
// SparseAdam does. Parameters with dense gradients get plain Adam.
class SparseAdam final : public Optimizer {
 public:
  SparseAdam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);
  std::string name() const override { return "sparse_adam"; }
  bool takes_row_sparse() const override { return true; }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override;
  void update_rows(std::size_t i, const Tensor& p, const RowGradient& g) override;
  double beta1_, beta2_, eps_;
  std::vector<Tensor> m_, v_;
};

struct OptimizerOptions {
  double lr = 0.01;
  double momentum = 0.9;      // momentum and nesterov
  double weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};
// "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw" or "sparse_adam"; throws ValueError
// listing the names.
std::unique_ptr<Optimizer> make_optimizer(std::string_view name, std::vector<Tensor> params, const OptimizerOptions& o);

// Scales the gradients together so that their global L2 norm is at most max_norm; returns the
// norm before scaling. For a row-sparse gradient pass its values (Gradient::numbers()).
double clip_grad_norm(std::span<const Tensor> grads, double max_norm);

}  // namespace stheno::optim
