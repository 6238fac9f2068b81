#include "stheno/graph/ops.hpp"
#include "stheno/kernels/linalg.hpp"

#include "recurrent_product.hpp"

namespace stheno {

namespace {

// c + a·b for matrices as one product that accumulates into the result's buffer (BLAS beta = 1):
// a bias (broadcast from (n,) or (1, n)) costs no pass of its own, and the gradient of a weight
// used at many time steps is summed without a pass per step.
class MatmulAddOp final : public Op {
 public:
  // With `transposed`, b's transpose is read from a contiguous copy shared with other products
  // (recurrent_product.hpp).
  explicit MatmulAddOp(std::shared_ptr<Node> transposed = nullptr) : transposed_(std::move(transposed)) {}
  std::string name() const override { return "matmul_add"; }
  OpKind kind() const override { return OpKind::matmul_add; }
  TypeInfo infer(std::span<const Node> in) const override {
    const DType dtype = common_dtype(*this, in);
    if (!is_floating(dtype)) op_dtype_error(*this, in, "needs float32 or float64");
    if (in[1].rank() != 2 || in[2].rank() != 2) op_shape_error(*this, in, "a and b must be matrices");
    try {
      const Shape out = matmul_shape(in[1].shape(), in[2].shape());
      if (broadcast_shapes(in[0].shape(), out, name()) != out) op_shape_error(*this, in, "c must broadcast to a·b " + out.str());
      return {out, dtype};
    } catch (const ShapeError& e) {
      op_shape_error(*this, in, e.what());
    }
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    const bool in_place = out.same_elements(in[0]);
    if (!in_place) out.copy_from(in[0].expand(out.shape()));
    matmul(in[1], in[2], out, 1.0, 1.0);
  }
  PreparedKernel prepare(std::span<const Tensor> in, const Tensor& out) const override {
    const bool in_place = out.same_elements(in[0]);
    PreparedKernel copy = in_place ? PreparedKernel{} : prepare_copy(in[0].expand(out.shape()), out);
    PreparedKernel product = prepare_matmul(in[1], in[2], out, 1.0, 1.0);
    if ((!in_place && !copy) || !product) return {};
    return [copy = std::move(copy), product = std::move(product)](std::span<const Tensor> operands, const Tensor& y) {
      if (copy) copy(operands.first(1), y);
      product(operands.subspan(1), y);
    };
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool> wanted) const override {
    return {wanted[0] ? sum_to(g, in[0].shape()) : Node(), wanted[1] ? matmul(g, transpose_of(in[2])) : Node(),
            wanted[2] ? matmul(transpose(in[1]), g) : Node()};
  }
  // Every element of c is read just before the product adds into it.
  int inplace_input() const override { return 0; }

 private:
  Node transpose_of(const Node& b) const {
    if (!transposed_) return transpose(b);
    if (!transposed_->defined() || &transposed_->graph() != &b.graph() || transposed_->input(0).input(0) != b)
      *transposed_ = laid_out(transpose(b), Layout::contiguous);
    return *transposed_;
  }
  std::shared_ptr<Node> transposed_;
};

class MatmulOp final : public Op {
 public:
  Node add_to(const Node& self, const Node& sum) const override {
    const Node a = self.input(0), b = self.input(1);
    if (a.rank() != 2 || b.rank() != 2) return Node();
    return matmul_add(sum, a, b);
  }
  std::string name() const override { return "matmul"; }
  OpKind kind() const override { return OpKind::matmul; }
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
  PreparedKernel prepare(std::span<const Tensor> in, const Tensor& out) const override {
    return prepare_matmul(in[0], in[1], out, 1.0, 0.0);
  }

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

Node matmul_add(const Node& c, const Node& a, const Node& b) {
  return a.graph().apply(std::make_shared<MatmulAddOp>(), {c, a, b});
}

Node recurrent_product(const Node& c, const Node& h, const Node& w, const std::shared_ptr<Node>& transposed) {
  return h.graph().apply(std::make_shared<MatmulAddOp>(transposed), {c, h, w});
}

Node outer(const Node& a, const Node& b) {
  if (a.rank() != 1 || b.rank() != 1)
    throw ShapeError("outer of " + a.describe() + ", " + b.describe() + ": needs two vectors");
  return matmul(reshape(a, {a.shape()[0], 1}), reshape(b, {1, b.shape()[0]}));
}

}  // namespace stheno
