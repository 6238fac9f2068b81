#include "stheno/optim/optimizer.hpp"

#include <cmath>

#include "stheno/kernels/linalg.hpp"
#include "stheno/kernels/optim_update.hpp"
#include "stheno/kernels/threads.hpp"

namespace stheno::optim {

Optimizer::Optimizer(std::vector<Tensor> params, double learning_rate) : params_(std::move(params)) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined() || !p.is_contiguous() || !is_floating(p.dtype()))
      throw ValueError("optimizer: parameter " + std::to_string(i) + " must be a defined, contiguous float tensor");
  }
  set_learning_rate(learning_rate);
}

void Optimizer::set_learning_rate(double lr) {
  if (!(lr >= 0) || !std::isfinite(lr)) throw ValueError("optimizer: the learning rate must be finite and >= 0, got " + std::to_string(lr));
  lr_ = lr;
}

std::vector<Tensor> Optimizer::add_state(const std::string& kind) {
  std::vector<Tensor> out;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    out.push_back(Tensor::zeros(params_[i].shape(), params_[i].dtype(), params_[i].device()));
    state_.push_back({std::to_string(i) + "." + kind, out.back()});
  }
  return out;
}

void Optimizer::step(std::span<const Tensor> grads) {
  if (grads.size() != params_.size())
    throw ValueError(name() + ": " + std::to_string(grads.size()) + " gradients for " + std::to_string(params_.size()) +
                     " parameters");
  ++steps_;
  const FlushSubnormals flush(flushes());
  for (std::size_t i = 0; i < params_.size(); ++i) update(i, params_[i], grads[i]);
}

void Optimizer::step(std::span<const Gradient> grads) {
  if (grads.size() != params_.size())
    throw ValueError(name() + ": " + std::to_string(grads.size()) + " gradients for " + std::to_string(params_.size()) +
                     " parameters");
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (grads[i].row_sparse() && !takes_row_sparse())
      throw ValueError(name() + ": parameter " + std::to_string(i) + " " + params_[i].shape().str() +
                       " has a row-sparse gradient, which " + name() +
                       " cannot apply to the touched rows alone; use sgd, momentum, adagrad or sparse_adam, or a "
                       "dense gradient (TableGradient::dense)");
    if (grads[i].is_product()) {
      if (!applies_products())
        throw ValueError(name() + ": parameter " + std::to_string(i) + " " + params_[i].shape().str() +
                         " has its gradient as a product a·b, which " + name() + " cannot apply; pass it formed");
      const ProductGradient& g = grads[i].product;
      if (g.a.rank() != 2 || g.b.rank() != 2 || g.a.dtype() != params_[i].dtype() || g.b.dtype() != params_[i].dtype() ||
          Shape{g.a.size(0), g.b.size(1)} != params_[i].shape() || g.a.size(1) != g.b.size(0))
        throw ValueError(name() + ": parameter " + std::to_string(i) + " " + params_[i].shape().str() + " " +
                         std::string(dtype_name(params_[i].dtype())) + " has a product gradient of " + g.a.shape().str() + " " +
                         std::string(dtype_name(g.a.dtype())) + " by " + g.b.shape().str() + " " + std::string(dtype_name(g.b.dtype())) +
                         ", which does not form a gradient of that shape and dtype");
    }
  }
  ++steps_;
  const FlushSubnormals flush(flushes());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (grads[i].row_sparse())
      update_rows(i, params_[i], grads[i].rows);
    else if (grads[i].is_product())
      update_product(i, params_[i], grads[i].product);
    else
      update(i, params_[i], grads[i].dense);
  }
}

void Optimizer::update_product(std::size_t i, const Tensor&, const ProductGradient&) {
  throw ValueError(name() + ": parameter " + std::to_string(i) + " has its gradient as a product, which " + name() +
                   " cannot apply");
}

void Optimizer::update_rows(std::size_t i, const Tensor&, const RowGradient&) {
  throw ValueError(name() + ": parameter " + std::to_string(i) + " has a row-sparse gradient, which " + name() +
                   " cannot apply");
}

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, bool nesterov, double weight_decay)
    : Optimizer(std::move(params), lr), momentum_(momentum), weight_decay_(weight_decay), nesterov_(nesterov) {
  if (momentum < 0 || momentum >= 1) throw ValueError("sgd: momentum must be in [0, 1), got " + std::to_string(momentum));
  if (nesterov && momentum == 0) throw ValueError("sgd: Nesterov momentum needs a momentum above 0");
  if (momentum != 0) velocity_ = add_state("velocity");
}

void SGD::update(std::size_t i, const Tensor& p, const Tensor& g) {
  sgd_update(p, g, momentum_ != 0 ? velocity_[i] : Tensor(), lr_, momentum_, nesterov_, weight_decay_);
}

void SGD::update_rows(std::size_t i, const Tensor& p, const RowGradient& g) {
  sgd_update_rows(p, g, momentum_ != 0 ? velocity_[i] : Tensor(), lr_, momentum_, nesterov_, weight_decay_);
}

void SGD::update_product(std::size_t i, const Tensor& p, const ProductGradient& g) {
  if (momentum_ == 0) return matmul(g.a, g.b, p, -lr_, 1 - lr_ * weight_decay_);
  matmul(g.a, g.b, velocity_[i], 1.0, momentum_);
  sgd_update(p, velocity_[i], Tensor(), lr_, 0, false, 0);
}

AdaGrad::AdaGrad(std::vector<Tensor> params, double lr, double eps, double weight_decay)
    : Optimizer(std::move(params), lr), eps_(eps), weight_decay_(weight_decay), sum_squares_(add_state("sum_squares")) {}

void AdaGrad::update(std::size_t i, const Tensor& p, const Tensor& g) {
  adagrad_update(p, g, sum_squares_[i], lr_, eps_, weight_decay_);
}

void AdaGrad::update_rows(std::size_t i, const Tensor& p, const RowGradient& g) {
  adagrad_update_rows(p, g, sum_squares_[i], lr_, eps_, weight_decay_);
}

RMSprop::RMSprop(std::vector<Tensor> params, double lr, double alpha, double eps, double momentum, double weight_decay)
    : Optimizer(std::move(params), lr), alpha_(alpha), eps_(eps), momentum_(momentum), weight_decay_(weight_decay),
      square_avg_(add_state("square_avg")) {
  if (momentum != 0) momentum_buffer_ = add_state("momentum");
}

void RMSprop::update(std::size_t i, const Tensor& p, const Tensor& g) {
  rmsprop_update(p, g, square_avg_[i], momentum_ != 0 ? momentum_buffer_[i] : Tensor(), lr_, alpha_, eps_, momentum_,
                 weight_decay_);
}

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled)
    : Optimizer(std::move(params), lr), beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay),
      decoupled_(decoupled), m_(add_state("m")), v_(add_state("v")) {
  if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1)
    throw ValueError("adam: betas must be in [0, 1), got " + std::to_string(beta1) + ", " + std::to_string(beta2));
}

void Adam::update(std::size_t i, const Tensor& p, const Tensor& g) {
  adam_update(p, g, m_[i], v_[i], lr_, beta1_, beta2_, eps_, weight_decay_, decoupled_, steps_);
}

SparseAdam::SparseAdam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps)
    : Optimizer(std::move(params), lr), beta1_(beta1), beta2_(beta2), eps_(eps), m_(add_state("m")), v_(add_state("v")) {
  if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1)
    throw ValueError("sparse_adam: betas must be in [0, 1), got " + std::to_string(beta1) + ", " + std::to_string(beta2));
}

void SparseAdam::update(std::size_t i, const Tensor& p, const Tensor& g) {
  adam_update(p, g, m_[i], v_[i], lr_, beta1_, beta2_, eps_, 0.0, false, steps_);
}

void SparseAdam::update_rows(std::size_t i, const Tensor& p, const RowGradient& g) {
  adam_update_rows(p, g, m_[i], v_[i], lr_, beta1_, beta2_, eps_, 0.0, false, steps_);
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view name, std::vector<Tensor> params, const OptimizerOptions& o) {
  if (name == "sgd") return std::make_unique<SGD>(std::move(params), o.lr, 0.0, false, o.weight_decay);
  if (name == "momentum") return std::make_unique<SGD>(std::move(params), o.lr, o.momentum, false, o.weight_decay);
  if (name == "nesterov") return std::make_unique<SGD>(std::move(params), o.lr, o.momentum, true, o.weight_decay);
  if (name == "adagrad") return std::make_unique<AdaGrad>(std::move(params), o.lr, 1e-10, o.weight_decay);
  if (name == "rmsprop") return std::make_unique<RMSprop>(std::move(params), o.lr, 0.99, o.eps, 0.0, o.weight_decay);
  if (name == "adam") return std::make_unique<Adam>(std::move(params), o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, false);
  if (name == "adamw") return std::make_unique<Adam>(std::move(params), o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, true);
  if (name == "sparse_adam") return std::make_unique<SparseAdam>(std::move(params), o.lr, o.beta1, o.beta2, o.eps);
  throw ValueError("unknown optimizer '" + std::string(name) +
                   "' (expected sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw or sparse_adam)");
}

double clip_grad_norm(std::span<const Tensor> grads, double max_norm) {
  if (!(max_norm > 0)) throw ValueError("clip_grad_norm: max_norm must be positive, got " + std::to_string(max_norm));
  double total = 0;
  for (const Tensor& g : grads) {
    if (!g.defined() || !g.is_contiguous()) throw ValueError("clip_grad_norm: gradients must be defined and contiguous");
    total += gradient_sum_of_squares(g);
  }
  const double norm = std::sqrt(total);
  if (norm > max_norm)
    for (const Tensor& g : grads) scale_gradient(g, max_norm / (norm + 1e-12));
  return norm;
}

}  // namespace stheno::optim
