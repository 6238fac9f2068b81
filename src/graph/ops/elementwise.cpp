// Elementwise ops: one shape rule (broadcasting), one forward (the kernel), and a gradient rule
// per op, each written with graph ops.
#include "stheno/graph/ops.hpp"

namespace stheno {

namespace {

class UnaryNodeOp final : public Op {
 public:
  explicit UnaryNodeOp(UnaryOp op) : op_(op) {}
  std::string name() const override { return std::string(op_name(op_)); }
  OpKind kind() const override { return OpKind::unary; }
  OpAttributes attributes() const override { return op_; }

  TypeInfo infer(std::span<const Node> in) const override {
    const bool float_only = !(op_ == UnaryOp::neg || op_ == UnaryOp::abs || op_ == UnaryOp::square ||
                              op_ == UnaryOp::relu || op_ == UnaryOp::sign || op_ == UnaryOp::step);
    if (float_only && !is_floating(in[0].dtype())) op_dtype_error(*this, in, "needs float32 or float64");
    if (in[0].dtype() == DType::i64) op_dtype_error(*this, in, kNoInt64Arithmetic);
    return {in[0].shape(), in[0].dtype()};
  }

  void forward(std::span<const Tensor> in, const Tensor& out) const override { unary(op_, in[0], out); }
  PreparedKernel prepare(std::span<const Tensor> in, const Tensor& out) const override { return prepare_unary(op_, in[0], out); }

  std::vector<Node> backward(const Node& y, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    const Node& x = in[0];
    switch (op_) {
      case UnaryOp::neg: return {-g};
      case UnaryOp::abs: return {g * sign(x)};
      case UnaryOp::exp: return {g * y};
      case UnaryOp::log: return {g / x};
      case UnaryOp::sqrt: return {g * 0.5 / y};
      case UnaryOp::square: return {g * 2.0 * x};
      case UnaryOp::tanh: return {binary(BinaryOp::tanh_grad, y, g)};
      case UnaryOp::sigmoid: return {binary(BinaryOp::sigmoid_grad, y, g)};
      case UnaryOp::relu: return {binary(BinaryOp::relu_grad, x, g)};
      case UnaryOp::sign:
      case UnaryOp::step: return {Node()};  // zero almost everywhere
    }
    return {Node()};
  }

  int inplace_input() const override { return 0; }

 private:
  UnaryOp op_;
};

class BinaryNodeOp final : public Op {
 public:
  explicit BinaryNodeOp(BinaryOp op) : op_(op) {}
  std::string name() const override { return std::string(op_name(op_)); }
  OpKind kind() const override { return OpKind::binary; }
  OpAttributes attributes() const override { return op_; }

  TypeInfo infer(std::span<const Node> in) const override {
    const DType dtype = common_dtype(*this, in);
    if (dtype == DType::i64) op_dtype_error(*this, in, kNoInt64Arithmetic);
    try {
      return {broadcast_shapes(in[0].shape(), in[1].shape(), name()), dtype};
    } catch (const ShapeError&) {
      op_shape_error(*this, in, "shapes cannot be broadcast together (NumPy rules: aligned from the right, "
                                "each pair of sizes equal or one of them 1)");
    }
  }

  void forward(std::span<const Tensor> in, const Tensor& out) const override { binary(op_, in[0], in[1], out); }
  PreparedKernel prepare(std::span<const Tensor> in, const Tensor& out) const override {
    return prepare_binary(op_, in[0], in[1], out);
  }

  std::vector<Node> backward(const Node& y, std::span<const Node> in, const Node& g, std::span<const bool> wanted) const override {
    const Node& a = in[0];
    const Node& b = in[1];
    Node ga, gb;
    switch (op_) {
      case BinaryOp::add:
        ga = g, gb = g;
        break;
      case BinaryOp::sub:
        ga = g;
        if (wanted[1]) gb = -g;
        break;
      case BinaryOp::mul:
        if (wanted[0]) ga = g * b;
        if (wanted[1]) gb = g * a;
        break;
      case BinaryOp::div:
        if (wanted[0]) ga = g / b;
        if (wanted[1]) gb = -(g * y / b);
        break;
      case BinaryOp::pow:
        if (wanted[0]) ga = g * b * pow(a, b - 1.0);
        if (wanted[1]) gb = g * y * log(a);
        break;
      case BinaryOp::sigmoid_grad:  // a = y, b = g: b·a·(1−a)
        if (wanted[0]) ga = g * b * (1.0 - 2.0 * a);
        if (wanted[1]) gb = binary(BinaryOp::sigmoid_grad, a, g);
        break;
      case BinaryOp::tanh_grad:  // b·(1−a²)
        if (wanted[0]) ga = g * b * a * -2.0;
        if (wanted[1]) gb = binary(BinaryOp::tanh_grad, a, g);
        break;
      case BinaryOp::relu_grad:  // step(a)·b; zero gradient for a almost everywhere
        if (wanted[1]) gb = binary(BinaryOp::relu_grad, a, g);
        break;
      case BinaryOp::maximum:
      case BinaryOp::minimum: {
        // The larger (smaller) operand takes the gradient; ties split it evenly.
        const Node d = op_ == BinaryOp::maximum ? a - b : b - a;
        const Node share_a = (step(d) + 1.0 - step(-d)) * 0.5;
        if (wanted[0]) ga = g * share_a;
        if (wanted[1]) gb = g * (1.0 - share_a);
        break;
      }
    }
    return {ga.defined() ? sum_to(ga, a.shape()) : Node(), gb.defined() ? sum_to(gb, b.shape()) : Node()};
  }

  // The output may overwrite a same-shaped first operand (read element by element).
  int inplace_input() const override { return 0; }

 private:
  BinaryOp op_;
};

Node scalar_like(const Node& other, double value) {
  return other.graph().scalar(value, other.dtype());
}

}  // namespace

Node unary(UnaryOp op, const Node& x) {
  return x.graph().apply(std::make_shared<UnaryNodeOp>(op), {x});
}

Node binary(BinaryOp op, const Node& a, const Node& b) {
  return a.graph().apply(std::make_shared<BinaryNodeOp>(op), {a, b});
}

Node binary(BinaryOp op, const Node& a, double b) { return binary(op, a, scalar_like(a, b)); }
Node binary(BinaryOp op, double a, const Node& b) { return binary(op, scalar_like(b, a), b); }

}  // namespace stheno
