#include "stheno/graph/ops.hpp"

namespace stheno {

namespace {

std::string_view reduce_name(ReduceOp op) {
  return op == ReduceOp::sum ? "sum" : op == ReduceOp::mean ? "mean" : "max";
}

class ReduceNodeOp final : public Op {
 public:
  ReduceNodeOp(ReduceOp op, Axes axes, bool keepdims) : op_(op), axes_(axes), keepdims_(keepdims) {}
  std::string name() const override { return std::string(reduce_name(op_)); }
  OpKind kind() const override { return OpKind::reduce; }
  OpAttributes attributes() const override { return ReduceAttributes{op_, axes_, keepdims_}; }
  std::string describe() const override {
    return name() + (axes_.empty() ? "" : "(axes=" + axes_.str() + (keepdims_ ? ", keepdims)" : ")"));
  }
  TypeInfo infer(std::span<const Node> in) const override {
    if (op_ == ReduceOp::mean && !is_floating(in[0].dtype())) op_dtype_error(*this, in, "needs float32 or float64");
    if (in[0].dtype() == DType::i64) op_dtype_error(*this, in, kNoInt64Arithmetic);
    try {
      return {reduced_shape(in[0].shape(), axes_, keepdims_, name()), in[0].dtype()};
    } catch (const Error& e) {
      op_shape_error(*this, in, e.what());
    }
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { reduce(op_, in[0], axes_, keepdims_, out); }
  PreparedKernel prepare(std::span<const Tensor> in, const Tensor& out) const override {
    return prepare_reduce(op_, in[0], axes_, out);
  }

  std::vector<Node> backward(const Node& y, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    const Node& x = in[0];
    const Shape kept = reduced_shape(x.shape(), axes_, true, name());
    const Node g_wide = broadcast_to(reshape(g, kept), x.shape());
    switch (op_) {
      case ReduceOp::sum: return {g_wide};
      case ReduceOp::mean: return {g_wide * (static_cast<double>(kept.numel()) / static_cast<double>(x.shape().numel()))};
      case ReduceOp::max: {
        // Every element equal to the maximum shares the gradient evenly.
        const Node is_max = 1.0 - step(broadcast_to(reshape(y, kept), x.shape()) - x);
        const Node count = broadcast_to(sum(is_max, axes_, true), x.shape());
        return {g_wide * is_max / count};
      }
    }
    return {Node()};
  }

 private:
  ReduceOp op_;
  Axes axes_;
  bool keepdims_;
};

class ArgmaxOp final : public Op {
 public:
  explicit ArgmaxOp(int axis) : axis_(axis) {}
  std::string name() const override { return "argmax"; }
  OpKind kind() const override { return OpKind::argmax; }
  OpAttributes attributes() const override { return AxisAttribute{axis_}; }
  std::string describe() const override { return "argmax(axis=" + std::to_string(axis_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    try {
      return {reduced_shape(in[0].shape(), Axes{axis_}, false, "argmax"), DType::i32};
    } catch (const Error& e) {
      op_shape_error(*this, in, e.what());
    }
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { argmax(in[0], axis_, false, out); }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node&, std::span<const bool>) const override { return {Node()}; }

 private:
  int axis_;
};

}  // namespace

Node reduce(ReduceOp op, const Node& x, const Axes& axes, bool keepdims) {
  return x.graph().apply(std::make_shared<ReduceNodeOp>(op, axes, keepdims), {x});
}

Node argmax(const Node& x, int axis) { return x.graph().apply(std::make_shared<ArgmaxOp>(axis), {x}); }

}  // namespace stheno
