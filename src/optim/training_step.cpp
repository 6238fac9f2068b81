#include "stheno/optim/training_step.hpp"

namespace stheno::optim {

namespace {

std::vector<Node> program_outputs(const Node& loss, const std::vector<Node>& gradients, const std::vector<Node>& extra) {
  std::vector<Node> out{loss};
  out.insert(out.end(), gradients.begin(), gradients.end());
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
  machine_ = std::make_unique<TapeMachine>(loss.graph(), program_outputs(loss, gradients_, extra_outputs), options);
}

double TrainingStep::run() {
  launch();
  return finish();
}

void TrainingStep::launch() {
  machine_->run();
  if (gradient_values_.empty())
    for (const Node& g : gradients_) gradient_values_.push_back(machine_->value(g));
  if (clip_norm_ > 0) clip_grad_norm(gradient_values_, clip_norm_);
  optimizer_.step(gradient_values_);
}

double TrainingStep::finish() {
  const Tensor& loss = machine_->value(loss_);
  return loss.dtype() == DType::f64 ? loss.item<double>() : static_cast<double>(loss.item<float>());
}

}  // namespace stheno::optim
