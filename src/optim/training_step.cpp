#include "stheno/optim/training_step.hpp"

namespace stheno::optim {

namespace {

std::vector<Node> program_outputs(const Node& loss, const std::vector<Node>& gradients,
                                  const std::vector<std::optional<RowSparseNode>>& rows_forms,
                                  const std::vector<Node>& extra) {
  std::vector<Node> out{loss};
  for (std::size_t i = 0; i < gradients.size(); ++i) {
    if (rows_forms[i]) {
      out.push_back(rows_forms[i]->rows);
      out.push_back(rows_forms[i]->values);
    } else {
      out.push_back(gradients[i]);
    }
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

}  // namespace

TrainingStep::TrainingStep(const Node& loss, const std::vector<Node>& parameters, Optimizer& optimizer,
                           const std::vector<Node>& extra_outputs, CompileOptions options)
    : loss_(loss), optimizer_(optimizer) {
  if (parameters.size() != optimizer.params().size())
    throw ValueError("TrainingStep: " + std::to_string(parameters.size()) + " parameter nodes but the optimizer holds " +
                     std::to_string(optimizer.params().size()) + " tensors");
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& held = optimizer.params()[i];
    if (parameters[i].kind() != NodeKind::parameter || !parameters[i].value().shares_storage(held) ||
        parameters[i].shape() != held.shape())
      throw ValueError("TrainingStep: " + parameters[i].describe() + " is not the parameter the optimizer holds at index " +
                       std::to_string(i));
  }
  gradients_ = grad(loss, parameters);
  for (std::size_t i = 0; i < gradients_.size(); ++i) {
    rows_forms_.push_back(row_sparse_form(gradients_[i]));
    if (rows_forms_.back() && !optimizer.takes_row_sparse())
      throw ValueError("TrainingStep: " + parameters[i].describe() + " has a row-sparse gradient (TableGradient::rows), "
                       "which " + optimizer.name() + " cannot apply to the touched rows alone; use sgd, momentum, "
                       "adagrad or sparse_adam, or TableGradient::dense");
  }
  machine_ = std::make_unique<TapeMachine>(loss.graph(), program_outputs(loss, gradients_, rows_forms_, extra_outputs),
                                           options);
}

double TrainingStep::run() {
  launch();
  return finish();
}

void TrainingStep::launch() {
  machine_->run();
  if (gradient_values_.empty()) {
    for (std::size_t i = 0; i < gradients_.size(); ++i)
      gradient_values_.push_back(rows_forms_[i] ? Gradient::of_rows(machine_->value(rows_forms_[i]->rows),
                                                                    machine_->value(rows_forms_[i]->values))
                                                : Gradient::of_dense(machine_->value(gradients_[i])));
    for (const Gradient& g : gradient_values_) gradient_numbers_.push_back(g.numbers());
  }
  if (clip_norm_ > 0) clip_grad_norm(gradient_numbers_, clip_norm_);
  optimizer_.step(gradient_values_);
}

double TrainingStep::finish() {
  const Tensor& loss = machine_->value(loss_);
  return loss.dtype() == DType::f64 ? loss.item<double>() : static_cast<double>(loss.item<float>());
}

}  // namespace stheno::optim
