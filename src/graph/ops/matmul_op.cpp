#include "stheno/graph/ops.hpp"
#include "stheno/kernels/linalg.hpp"

namespace stheno {

namespace {

class MatmulOp final : public Op {
 public:
  std::string name() const override { return "matmul"; }
  TypeInfo infer(std::span<const Node> in) const override {
    const DType dtype = common_dtype(*this, in);
    if (!is_floating(dtype)) op_dtype_error(*this, in, "needs float32 or float64");
    try {
      return {matmul_shape(in[0].shape(), in[1].shape()), dtype};
    } catch (const ShapeError& e) {
      op_shape_error(*this, in, e.what());
    }
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { matmul(in[0], in[1], out); }

  // With 1-D operands made 2-D (a row, b a column): dA = g·Bᵀ and dB = Aᵀ·g, summed over any
  // broadcast batch axes. Transposes are views, which matmul reads without copying.
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool> wanted) const override {
    const Node& a = in[0];
    const Node& b = in[1];
    const Node a2 = a.rank() == 1 ? reshape(a, {1, a.shape()[0]}) : a;
    const Node b2 = b.rank() == 1 ? reshape(b, {b.shape()[0], 1}) : b;
    Shape full = g.shape();
    if (a.rank() == 1) full.insert(full.rank() - (b.rank() > 1 ? 1 : 0), 1);
    if (b.rank() == 1) full.push_back(1);
    const Node g2 = reshape(g, full);
    Node ga, gb;
    if (wanted[0]) ga = reshape(sum_to(matmul(g2, transpose(b2)), a2.shape()), a.shape());
    if (wanted[1]) gb = reshape(sum_to(matmul(transpose(a2), g2), b2.shape()), b.shape());
    return {ga, gb};
  }
};

}  // namespace

Node matmul(const Node& a, const Node& b) { return a.graph().apply(std::make_shared<MatmulOp>(), {a, b}); }

Node outer(const Node& a, const Node& b) {
  if (a.rank() != 1 || b.rank() != 1)
    throw ShapeError("outer of " + a.describe() + ", " + b.describe() + ": needs two vectors");
  return matmul(reshape(a, {a.shape()[0], 1}), reshape(b, {1, b.shape()[0]}));
}

}  // namespace stheno
