// Embedding lookup and its adjoint: rows of a (V, D) table picked by int32 indices.
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/gather.hpp"

namespace stheno {

namespace {

Shape with_row(const Shape& indices, std::int64_t d) {
  Shape s = indices;
  s.insert(s.rank(), d);
  return s;
}

// The adjoint of the lookup: a table-shaped gradient with the rows of g added at the indices
// (zero in every row not looked up).
class EmbeddingGradOp final : public Op {
 public:
  explicit EmbeddingGradOp(std::int64_t rows) : rows_(rows) {}
  std::string name() const override { return "embedding_grad"; }
  OpKind kind() const override { return OpKind::embedding_grad; }
  std::string describe() const override { return "embedding_grad(rows=" + std::to_string(rows_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    const Shape& g = in[0].shape();
    return {Shape{rows_, g.rank() > 0 ? g[g.rank() - 1] : 1}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { scatter_add_rows(in[0], in[1], out); }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    return {embedding(g, in[1]), Node()};
  }

 private:
  std::int64_t rows_;
};

class EmbeddingOp final : public Op {
 public:
  explicit EmbeddingOp(TableGradient gradient) : gradient_(gradient) {}
  std::string name() const override { return "embedding"; }
  std::string describe() const override {
    return gradient_ == TableGradient::rows ? "embedding(gradient=rows)" : "embedding";
  }
  OpKind kind() const override { return OpKind::embedding; }
  OpAttributes attributes() const override { return gradient_; }
  TypeInfo infer(std::span<const Node> in) const override {
    if (!is_floating(in[0].dtype())) op_dtype_error(*this, in, "the table must be float32 or float64");
    if (in[1].dtype() != DType::i32) op_dtype_error(*this, in, "the indices must be int32");
    if (in[0].rank() != 2) op_shape_error(*this, in, "the table must be (rows, features)");
    return {with_row(in[1].shape(), in[0].shape()[1]), in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { gather_rows(in[0], in[1], out); }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    if (gradient_ == TableGradient::rows) return {to_dense(rows_of_lookup(in[0], in[1], g)), Node()};
    return {g.graph().apply(std::make_shared<EmbeddingGradOp>(in[0].shape()[0]), {laid_out(g, Layout::contiguous), in[1]}), Node()};
  }

 private:
  // The lookup is a product with a one-hot matrix A (a row per index, a 1 at its column), and its
  // gradient Aᵀ·g; formed at the rows looked up, it is the rows form.
  static RowSparseNode rows_of_lookup(const Node& table, const Node& indices, const Node& g) {
    Graph& graph = g.graph();
    const std::int64_t n = indices.shape().numel(), d = table.shape()[1];
    const CsrNode one_hot{graph.constant(Tensor::arange(0, static_cast<double>(n + 1), 1, DType::i32)), reshape(indices, Shape{n}),
                          graph.constant(Tensor::ones(Shape{n}, table.dtype())), table.shape()[0]};
    return sparse_t_matmul_rows(one_hot, reshape(g, Shape{n, d}));
  }

  TableGradient gradient_;
};

}  // namespace

Node embedding(const Node& table, const Node& indices, TableGradient gradient) {
  return table.graph().apply(std::make_shared<EmbeddingOp>(gradient), {table, indices});
}

}  // namespace stheno
