// Softmax, losses, one-hot and dropout.
#include <cmath>

#include "layer_record.hpp"
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/gather.hpp"
#include "stheno/kernels/random.hpp"
#include "stheno/kernels/softmax.hpp"

namespace stheno {

namespace {

void require_float(const Op& op, std::span<const Node> in, int i) {
  if (!is_floating(in[static_cast<std::size_t>(i)].dtype())) op_dtype_error(op, in, "needs float32 or float64");
}

class SoftmaxOp final : public Op {
 public:
  SoftmaxOp(int axis, bool log_form) : axis_(axis), log_(log_form) {}
  std::string name() const override { return log_ ? "log_softmax" : "softmax"; }
  OpKind kind() const override { return log_ ? OpKind::log_softmax : OpKind::softmax; }
  OpAttributes attributes() const override { return AxisAttribute{axis_}; }
  std::string describe() const override { return name() + "(axis=" + std::to_string(axis_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    require_float(*this, in, 0);
    try {
      normalize_axis(axis_, in[0].rank(), name());
    } catch (const IndexError& e) {
      op_shape_error(*this, in, e.what());
    }
    return {in[0].shape(), in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    if (log_) log_softmax(in[0], axis_, out);
    else softmax(in[0], axis_, out);
  }
  std::vector<Node> backward(const Node& y, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    if (log_) return {g - exp(y) * sum(g, axis_, true)};
    return {y * (g - sum(g * y, axis_, true))};
  }

 private:
  int axis_;
  bool log_;
};

class OneHotOp final : public Op {
 public:
  OneHotOp(std::int64_t classes, DType dtype) : classes_(classes), dtype_(dtype) {}
  std::string name() const override { return "one_hot"; }
  OpKind kind() const override { return OpKind::one_hot; }
  std::string describe() const override { return "one_hot(" + std::to_string(classes_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    if (in[0].dtype() != DType::i32) op_dtype_error(*this, in, "labels must be int32");
    if (in[0].rank() != 1) op_shape_error(*this, in, "labels must be a vector (N,)");
    if (classes_ < 1) op_shape_error(*this, in, "needs at least one class");
    return {Shape{in[0].shape()[0], classes_}, dtype_};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { stheno::one_hot(in[0], out); }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node&, std::span<const bool>) const override { return {Node()}; }

 private:
  std::int64_t classes_;
  DType dtype_;
};

// -mean_i sum_c target[i,c] * log_softmax(logits)[i,c], from int32 labels or float targets.
class SoftmaxCrossEntropyOp final : public Op {
 public:
  std::string name() const override { return "softmax_cross_entropy"; }
  OpKind kind() const override { return OpKind::softmax_cross_entropy; }
  TypeInfo infer(std::span<const Node> in) const override {
    require_float(*this, in, 0);
    const Node& logits = in[0];
    const Node& labels = in[1];
    if (logits.rank() != 2) op_shape_error(*this, in, "logits must be (N, C)");
    if (labels.dtype() == DType::i32) {
      if (labels.shape() != Shape{logits.shape()[0]}) op_shape_error(*this, in, "int32 labels must be (N,) for (N, C) logits");
    } else if (labels.dtype() != logits.dtype() || labels.shape() != logits.shape()) {
      op_shape_error(*this, in, "float targets must have the logits' shape and dtype");
    }
    return {Shape{}, logits.dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    stheno::softmax_cross_entropy(in[0], in[1], out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    const Node& logits = in[0];
    const Node& labels = in[1];
    const double inv_n = 1.0 / static_cast<double>(std::max<std::int64_t>(logits.shape()[0], 1));
    const bool int_labels = labels.dtype() == DType::i32;
    const Node scale = g * inv_n;
    if (int_labels) return {(softmax(logits, 1) - one_hot(labels, logits.shape()[1], logits.dtype())) * scale, Node()};
    // Each row's loss is -Σ t·logits + Σt·logsumexp(logits), so softmax enters scaled by the
    // row's target mass (1 for probabilities, but targets need not be normalised).
    const Node g_logits = (softmax(logits, 1) * sum(labels, 1, true) - labels) * scale;
    return {g_logits, -log_softmax(logits, 1) * scale};
  }
};

class DropoutMaskOp final : public Op {
 public:
  DropoutMaskOp(std::shared_ptr<DropoutState> state, TypeInfo type) : state_(std::move(state)), type_(type) {}
  std::string name() const override { return "dropout_mask"; }
  OpKind kind() const override { return OpKind::dropout_mask; }
  std::string describe() const override { return "dropout_mask(p=" + std::to_string(state_->p) + ")"; }
  TypeInfo infer(std::span<const Node>) const override { return type_; }
  void forward(std::span<const Tensor>, const Tensor& out) const override {
    if (!state_->training || state_->p == 0) {
      out.fill(1);
      return;
    }
    stheno::dropout_mask(state_->generator, 1.0 - state_->p, out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node&, std::span<const bool>) const override { return {}; }

 private:
  std::shared_ptr<DropoutState> state_;
  TypeInfo type_;
};

}  // namespace

Node softmax(const Node& x, int axis) { return x.graph().apply(std::make_shared<SoftmaxOp>(axis, false), {x}); }
Node log_softmax(const Node& x, int axis) { return x.graph().apply(std::make_shared<SoftmaxOp>(axis, true), {x}); }

Node one_hot(const Node& labels, std::int64_t classes, DType dtype) {
  return labels.graph().apply(std::make_shared<OneHotOp>(classes, dtype), {labels});
}

Node softmax_cross_entropy(const Node& logits, const Node& labels) {
  return logits.graph().apply(std::make_shared<SoftmaxCrossEntropyOp>(), {logits, labels});
}

Node mse(const Node& prediction, const Node& target) {
  if (prediction.shape() != target.shape())
    throw ShapeError("mse of " + prediction.describe() + ", " + target.describe() + ": prediction and target must have the same shape");
  return mean(square(prediction - target));
}

Node dropout(const Node& x, std::shared_ptr<DropoutState> state) {
  if (!is_floating(x.dtype())) throw DTypeError("dropout of " + x.describe() + ": needs float32 or float64");
  if (!(state->p >= 0 && state->p < 1)) throw ValueError("dropout: p must be in [0, 1), got " + std::to_string(state->p));
  const int first = x.graph().size();
  const Node mask = x.graph().apply(std::make_shared<DropoutMaskOp>(state, TypeInfo{x.shape(), x.dtype()}), {});
  const Node out = x * mask;
  record_layer(LayerKind::dropout, {x}, {out}, first).dropout = std::move(state);
  return out;
}

Node dropout(const Node& x, double p, std::uint64_t seed) {
  auto state = std::make_shared<DropoutState>();
  state->p = p;
  state->generator = Generator(seed);
  return dropout(x, state);
}

}  // namespace stheno
