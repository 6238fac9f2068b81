// LSTM and GRU cells, and a whole LSTM sequence, as fused ops. Each one's gradient is a second
// fused op that returns the gradients of all its inputs side by side; views hand them out. The
// adjoints are not differentiable again: second derivatives through a recurrent layer are not
// supported.
#include "lstm_sequence.hpp"
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/recurrent.hpp"

namespace stheno {

namespace {

void require_rows(const Op& op, std::span<const Node> in, std::int64_t n, const std::vector<std::int64_t>& widths) {
  for (std::size_t k = 0; k < widths.size(); ++k)
    if (in[k].shape() != Shape{n, widths[k]})
      op_shape_error(op, in, "input " + std::to_string(k) + " must be " + Shape{n, widths[k]}.str());
}

// The row kernels need unit stride along the last axis. Views the graph hands to the cells
// already have it, so these copy only in unusual graphs.
std::vector<Node> rows(std::initializer_list<Node> nodes) {
  std::vector<Node> out;
  for (const Node& n : nodes) out.push_back(laid_out(n, Layout::unit_rows));
  return out;
}

class LstmCellGradOp final : public Op {
 public:
  std::string name() const override { return "lstm_cell_grad"; }
  OpKind kind() const override { return OpKind::lstm_cell_grad; }
  TypeInfo infer(std::span<const Node> in) const override {
    const std::int64_t n = in[1].shape()[0], h = in[1].shape()[1];
    return {Shape{n, 5 * h}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    lstm_cell_backward(in[0], in[1], in[2], in[3], out);
  }
};

class LstmCellOp final : public Op {
 public:
  std::string name() const override { return "lstm_cell"; }
  OpKind kind() const override { return OpKind::lstm_cell; }
  TypeInfo infer(std::span<const Node> in) const override {
    const DType dtype = common_dtype(*this, in);
    if (!is_floating(dtype)) op_dtype_error(*this, in, "needs float32 or float64");
    if (in[0].rank() != 2 || in[0].shape()[1] % 4 != 0) op_shape_error(*this, in, "gates must be (N, 4·hidden)");
    const std::int64_t n = in[0].shape()[0], h = in[0].shape()[1] / 4;
    require_rows(*this, in, n, {4 * h, h});
    return {Shape{n, 2 * h}, dtype};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    lstm_cell(in[0], in[1], out);
  }
  std::vector<Node> backward(const Node& self, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    const Node both = g.graph().apply(std::make_shared<LstmCellGradOp>(), rows({in[0], in[1], self, g}));
    const std::int64_t h = in[1].shape()[1];
    return {slice(both, 1, 0, 4 * h), slice(both, 1, 4 * h, 5 * h)};
  }
};

// The adjoint of a whole sequence, in one vector (kernels/recurrent.hpp): the gradients of the
// projected inputs, weight_hh, c0 and h0 (when the sequence has one), which views hand out.
class LstmSequenceGradOp final : public Op {
 public:
  std::string name() const override { return "lstm_sequence_grad"; }
  OpKind kind() const override { return OpKind::lstm_sequence_grad; }
  TypeInfo infer(std::span<const Node> in) const override {
    const std::int64_t n = in[0].shape()[0], steps = in[0].shape()[1], h = in[0].shape()[2] / kLstmRecordParts;
    return {Shape{n * steps * 4 * h + 4 * h * h + n * h + (in.size() > 4 ? n * h : 0)}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    lstm_sequence_backward(in[0], in[1], in[2], in.size() > 4 ? in[4] : Tensor(), in[3], out);
  }
};

class LstmSequenceOp final : public Op {
  // When only every step's h is used (lstm()'s usual result), g is that slice's adjoint: the
  // gradient op reads the slice's gradient itself rather than a record-sized copy that is zero
  // but for it.
  static Node h_part_only(const Node& g, std::int64_t h) {
    if (!g.op() || g.op()->kind() != OpKind::unslice) return g;
    const OpAttributes attributes = g.op()->attributes();
    const auto* s = std::get_if<SliceAttributes>(&attributes);
    const bool h_part = s && (s->axis == 2 || s->axis == -1) && s->start == 0 && s->stop == h && s->step == 1;
    return h_part ? g.input(0) : g;
  }

 public:
  std::string name() const override { return "lstm_sequence"; }
  OpKind kind() const override { return OpKind::lstm_sequence; }
  TypeInfo infer(std::span<const Node> in) const override {
    const DType dtype = common_dtype(*this, in);
    if (!is_floating(dtype)) op_dtype_error(*this, in, "needs float32 or float64");
    if (in[0].rank() != 3 || in[0].shape()[2] % 4 != 0) op_shape_error(*this, in, "projected inputs must be (N, T, 4·hidden)");
    const std::int64_t n = in[0].shape()[0], steps = in[0].shape()[1], h = in[0].shape()[2] / 4;
    if (in[1].shape() != Shape{h, 4 * h}) op_shape_error(*this, in, "weight_hh must be " + Shape{h, 4 * h}.str());
    for (std::size_t k = 2; k < in.size(); ++k)
      if (in[k].shape() != Shape{n, h}) op_shape_error(*this, in, "the initial state must be " + Shape{n, h}.str());
    return {Shape{n, steps, kLstmRecordParts * h}, dtype};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    lstm_sequence(in[0], in[1], in.size() > 3 ? in[3] : Tensor(), in[2], out);
  }
  std::vector<Node> backward(const Node& self, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    std::vector<Node> operands = rows({self, h_part_only(g, in[1].shape()[0]), in[1], in[2]});
    if (in.size() > 3) operands.push_back(laid_out(in[3], Layout::unit_rows));
    const Node all = g.graph().apply(std::make_shared<LstmSequenceGradOp>(), operands);
    const std::int64_t n = in[0].shape()[0], steps = in[0].shape()[1], h = in[0].shape()[2] / 4;
    std::int64_t at = 0;
    auto next = [&](const Shape& shape) {
      const Node part = reshape(slice(all, 0, at, at + shape.numel()), shape);
      at += shape.numel();
      return part;
    };
    std::vector<Node> grads{next({n, steps, 4 * h}), next({h, 4 * h}), next({n, h})};
    if (in.size() > 3) grads.push_back(next({n, h}));
    return grads;
  }
};

class GruCellGradOp final : public Op {
 public:
  std::string name() const override { return "gru_cell_grad"; }
  OpKind kind() const override { return OpKind::gru_cell_grad; }
  TypeInfo infer(std::span<const Node> in) const override {
    const std::int64_t n = in[2].shape()[0], h = in[2].shape()[1];
    return {Shape{n, 7 * h}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    gru_cell_backward(in[0], in[1], in[2], in[3], out);
  }
};

class GruCellOp final : public Op {
 public:
  std::string name() const override { return "gru_cell"; }
  OpKind kind() const override { return OpKind::gru_cell; }
  TypeInfo infer(std::span<const Node> in) const override {
    const DType dtype = common_dtype(*this, in);
    if (!is_floating(dtype)) op_dtype_error(*this, in, "needs float32 or float64");
    if (in[0].rank() != 2 || in[0].shape()[1] % 3 != 0) op_shape_error(*this, in, "gx must be (N, 3·hidden)");
    const std::int64_t n = in[0].shape()[0], h = in[0].shape()[1] / 3;
    require_rows(*this, in, n, {3 * h, 3 * h, h});
    return {Shape{n, h}, dtype};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    gru_cell(in[0], in[1], in[2], out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    const Node all = g.graph().apply(std::make_shared<GruCellGradOp>(), rows({in[0], in[1], in[2], g}));
    const std::int64_t h = in[2].shape()[1];
    return {slice(all, 1, 0, 3 * h), slice(all, 1, 3 * h, 6 * h), slice(all, 1, 6 * h, 7 * h)};
  }
};

}  // namespace

Node lstm_cell(const Node& gates, const Node& c_prev) {
  return gates.graph().apply(std::make_shared<LstmCellOp>(), rows({gates, c_prev}));
}

Node lstm_sequence(const Node& projected, const Node& weight_hh, const Node& c0, const Node& h0) {
  std::vector<Node> in = rows({projected, weight_hh, c0});
  if (h0.defined()) in.push_back(laid_out(h0, Layout::unit_rows));
  return projected.graph().apply(std::make_shared<LstmSequenceOp>(), in);
}

Node gru_cell(const Node& gx, const Node& gh, const Node& h_prev) {
  return gx.graph().apply(std::make_shared<GruCellOp>(), rows({gx, gh, h_prev}));
}

}  // namespace stheno
