// Batch normalisation: one op for the per-channel statistics (which, in training mode, also
// updates the running averages), and the normalisation itself as a composition.
#include "layer_record.hpp"
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/normalization.hpp"

namespace stheno {

namespace {

// (C,) values viewed to broadcast against x (N, C, ...): (1, C, 1, ...).
Shape channel_shape(const Node& x) {
  Shape s(std::vector<std::int64_t>(static_cast<std::size_t>(x.rank()), 1));
  s[1] = x.shape()[1];
  return s;
}

Node training_gate(const Node& x, std::shared_ptr<BatchNormState> state);

// x in training mode, zeros in evaluation mode (read at every run). Linear, so its gradient is
// the same gate applied to the incoming gradient.
class TrainingGateOp final : public Op {
 public:
  explicit TrainingGateOp(std::shared_ptr<BatchNormState> state) : state_(std::move(state)) {}
  std::string name() const override { return "batch_norm_training_gate"; }
  OpKind kind() const override { return OpKind::batch_norm_training_gate; }
  TypeInfo infer(std::span<const Node> in) const override { return {in[0].shape(), in[0].dtype()}; }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    if (!state_->training) out.fill(0);
    else if (!out.same_elements(in[0])) out.copy_from(in[0]);
  }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    return {training_gate(g, state_)};
  }
  int inplace_input() const override { return 0; }

 private:
  std::shared_ptr<BatchNormState> state_;
};

Node training_gate(const Node& x, std::shared_ptr<BatchNormState> state) {
  return x.graph().apply(std::make_shared<TrainingGateOp>(std::move(state)), {x});
}

Node replica_mean(const Node& x, std::shared_ptr<BatchNormState> state);

// Synchronised statistics (read at run time): the (2, C) gradient of the whole batch's
// statistics, averaged over the processes; otherwise x as it is. An average over processes is
// linear and its own adjoint.
class ReplicaMeanOp final : public Op {
 public:
  explicit ReplicaMeanOp(std::shared_ptr<BatchNormState> state) : state_(std::move(state)) {}
  std::string name() const override { return "batch_norm_replica_mean"; }
  OpKind kind() const override { return OpKind::batch_norm_replica_mean; }
  TypeInfo infer(std::span<const Node> in) const override { return {in[0].shape(), in[0].dtype()}; }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    if (!out.same_elements(in[0])) out.copy_from(in[0]);
    if (state_->training && state_->average_gradients) state_->average_gradients(out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    return {replica_mean(g, state_)};
  }
  int inplace_input() const override { return 0; }

 private:
  std::shared_ptr<BatchNormState> state_;
};

Node replica_mean(const Node& x, std::shared_ptr<BatchNormState> state) {
  return x.graph().apply(std::make_shared<ReplicaMeanOp>(std::move(state)), {x});
}

// x -> (2, C): row 0 the mean, row 1 the biased variance of each channel. In training mode they
// come from the batch and fold into the running averages; in evaluation mode they are the
// running averages.
class BatchNormStatsOp final : public Op {
 public:
  explicit BatchNormStatsOp(std::shared_ptr<BatchNormState> state) : state_(std::move(state)) {}
  std::string name() const override { return "batch_norm_stats"; }
  OpKind kind() const override { return OpKind::batch_norm_stats; }
  std::string describe() const override {
    return "batch_norm_stats(momentum=" + std::to_string(state_->momentum) + ")";
  }
  TypeInfo infer(std::span<const Node> in) const override {
    if (!is_floating(in[0].dtype())) op_dtype_error(*this, in, "needs float32 or float64");
    if (in[0].rank() < 2) op_shape_error(*this, in, "expects (batch, channels, ...)");
    const std::int64_t c = in[0].shape()[1];
    for (const Tensor* t : {&state_->running_mean, &state_->running_var})
      if (t->shape() != Shape{c} || t->dtype() != in[0].dtype())
        op_shape_error(*this, in, "the running statistics are " + t->shape().str() + " " + std::string(dtype_name(t->dtype())) +
                                      " but the input has " + std::to_string(c) + " channels of " +
                                      std::string(dtype_name(in[0].dtype())));
    return {Shape{2, c}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    const Tensor mean = out.select(0, 0), variance = out.select(0, 1);
    BatchNormState& s = *state_;
    if (!s.training) {
      mean.copy_from(s.running_mean);
      variance.copy_from(s.running_var);
      return;
    }
    channel_moments(in[0], mean, variance);
    if (s.share_statistics) s.share_statistics(out);
    const std::int64_t count = in[0].numel() / in[0].shape()[1] * s.replicas;
    // The running variance is the unbiased estimate, as the layer will see it at evaluation.
    const double unbias = count > 1 ? static_cast<double>(count) / static_cast<double>(count - 1) : 1.0;
    update_running_moments(mean, variance, s.running_mean, s.running_var, s.momentum, unbias);
  }
  // In training mode d mean/dx = 1/M and d var/dx = 2(x - mean)/M over each channel's M values;
  // in evaluation mode the statistics are constants. The mode is only known at run time, so the
  // incoming gradient passes a gate that zeroes it in evaluation mode. Synchronised over R
  // processes, each holding M of the batch's R·M values, the statistics' gradient is the sum of
  // every process's, and d/dx has 1/(R·M) for 1/M: the same as this process's M with the
  // gradients averaged over the processes.
  std::vector<Node> backward(const Node& self, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    const Node& x = in[0];
    const Shape cs = channel_shape(x);
    const double count = static_cast<double>(x.shape().numel() / x.shape()[1]);
    const Node gated = replica_mean(training_gate(g, state_), state_);
    const Node mean = reshape(slice(self, 0, 0, 1), cs);
    const Node g_mean = reshape(slice(gated, 0, 0, 1), cs), g_var = reshape(slice(gated, 0, 1, 2), cs);
    return {(x - mean) * (g_var * (2.0 / count)) + g_mean * (1.0 / count)};
  }

 private:
  std::shared_ptr<BatchNormState> state_;
};

}  // namespace

Node batch_norm_stats(const Node& x, std::shared_ptr<BatchNormState> state) {
  if (!state || !state->running_mean.defined() || !state->running_var.defined())
    throw ValueError("batch_norm_stats of " + x.describe() + ": needs a state with running statistics");
  return x.graph().apply(std::make_shared<BatchNormStatsOp>(std::move(state)), {x});
}

Node batch_norm(const Node& x, const Node& gamma, const Node& beta, std::shared_ptr<BatchNormState> state) {
  if (x.rank() < 2) throw ShapeError("batch_norm of " + x.describe() + ": expects (batch, channels, ...)");
  const Shape cs = channel_shape(x);
  const std::int64_t c = x.shape()[1];
  if (gamma.shape() != Shape{c} || beta.shape() != Shape{c})
    throw ShapeError("batch_norm of " + x.describe() + ": gamma " + gamma.describe() + " and beta " + beta.describe() +
                     " must be (" + std::to_string(c) + ",), one per channel");
  const int first = x.graph().size();
  const Node stats = batch_norm_stats(x, state);
  const Node mean = reshape(slice(stats, 0, 0, 1), cs), var = reshape(slice(stats, 0, 1, 2), cs);
  const Node scale = reshape(gamma, cs) / sqrt(var + state->eps);
  const Node out = (x - mean) * scale + reshape(beta, cs);
  record_layer(LayerKind::batch_norm, {x, gamma, beta}, {out}, first).norm = std::move(state);
  return out;
}

}  // namespace stheno
