// Products of a sparse matrix (its CSR arrays as three nodes) with dense ones. The three ops are
// each other's gradients, so every order of derivative exists.
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/sparse.hpp"

namespace stheno {

namespace {

// The CSR arrays among an op's inputs: row offsets, columns and (where given) values.
void check_csr(const Op& op, std::span<const Node> in, bool with_values) {
  if ((in[0].dtype() != DType::i32 && in[0].dtype() != DType::i64) || in[1].dtype() != in[0].dtype() ||
      in[0].rank() != 1 || in[0].shape()[0] < 1 || in[1].rank() != 1)
    op_dtype_error(op, in, "row offsets and columns must be vectors, both int32 or both int64");
  if (with_values && (!is_floating(in[2].dtype()) || in[2].rank() != 1 || in[2].shape()[0] != in[1].shape()[0]))
    op_shape_error(op, in, "values must be a float vector as long as the columns");
}

void check_dense(const Op& op, std::span<const Node> in, const Node& x, std::int64_t rows, DType dtype) {
  if (x.rank() != 2) op_shape_error(op, in, "the dense operands must be matrices");
  if (x.dtype() != dtype) op_dtype_error(op, in, "the dense operands must have the values' dtype");
  if (rows >= 0 && x.shape()[0] != rows)
    op_shape_error(op, in, "a dense operand has " + std::to_string(x.shape()[0]) + " rows where " +
                               std::to_string(rows) + " are needed");
}

CsrNode csr_of(std::span<const Node> in, const Node& values, std::int64_t cols) {
  return {in[0], in[1], values, cols};
}

// A·B, inputs (row offsets, columns, values, B).
class SparseMatmulOp final : public Op {
 public:
  explicit SparseMatmulOp(TableGradient gradient_of_b) : gradient_of_b_(gradient_of_b) {}
  std::string name() const override { return "csr_matmul"; }
  OpKind kind() const override { return OpKind::csr_matmul; }
  std::string describe() const override {
    return gradient_of_b_ == TableGradient::rows ? "csr_matmul(gradient=rows)" : "csr_matmul";
  }
  TypeInfo infer(std::span<const Node> in) const override {
    check_csr(*this, in, true);
    check_dense(*this, in, in[3], -1, in[2].dtype());
    return {Shape{in[0].shape()[0] - 1, in[3].shape()[1]}, in[2].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    csr_matmul(in[0], in[1], in[2], in[3], out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g,
                             std::span<const bool> wanted) const override {
    const CsrNode a = csr_of(in, in[2], in[3].shape()[0]);
    Node db;
    if (wanted[3]) db = gradient_of_b_ == TableGradient::rows ? to_dense(sparse_t_matmul_rows(a, g)) : sparse_t_matmul(a, g);
    return {Node(), Node(), wanted[2] ? sparse_sampled_dot(a, g, in[3]) : Node(), db};
  }

 private:
  TableGradient gradient_of_b_;
};

// Aᵀ·B, inputs (row offsets, columns, values, B); A has `cols` columns.
class SparseTMatmulOp final : public Op {
 public:
  explicit SparseTMatmulOp(std::int64_t cols) : cols_(cols) {}
  std::string name() const override { return "csr_t_matmul"; }
  OpKind kind() const override { return OpKind::csr_t_matmul; }
  std::string describe() const override { return "csr_t_matmul(cols=" + std::to_string(cols_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    check_csr(*this, in, true);
    check_dense(*this, in, in[3], in[0].shape()[0] - 1, in[2].dtype());
    return {Shape{cols_, in[3].shape()[1]}, in[2].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    csr_t_matmul(in[0], in[1], in[2], in[3], out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g,
                             std::span<const bool> wanted) const override {
    const CsrNode a = csr_of(in, in[2], cols_);
    return {Node(), Node(), wanted[2] ? sparse_sampled_dot(a, in[3], g) : Node(),
            wanted[3] ? sparse_matmul(a, g) : Node()};
  }

 private:
  std::int64_t cols_;
};

// x·yᵀ at A's pattern, inputs (row offsets, columns, x, y).
class SparseSampledDotOp final : public Op {
 public:
  std::string name() const override { return "csr_sampled_dot"; }
  OpKind kind() const override { return OpKind::csr_sampled_dot; }
  TypeInfo infer(std::span<const Node> in) const override {
    check_csr(*this, in, false);
    if (!is_floating(in[2].dtype())) op_dtype_error(*this, in, "the dense operands must be float32 or float64");
    check_dense(*this, in, in[2], in[0].shape()[0] - 1, in[2].dtype());
    check_dense(*this, in, in[3], -1, in[2].dtype());
    if (in[3].shape()[1] != in[2].shape()[1]) op_shape_error(*this, in, "the dense operands must have one width");
    return {Shape{in[1].shape()[0]}, in[2].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    csr_sampled_dot(in[0], in[1], in[2], in[3], out);
  }
  // out[k] = x[i]·y[j]: x gets Σ_k g[k]·y[j] over row i's entries, y gets Σ_k g[k]·x[i].
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g,
                             std::span<const bool> wanted) const override {
    const CsrNode weighted = csr_of(in, g, in[3].shape()[0]);
    return {Node(), Node(), wanted[2] ? sparse_matmul(weighted, in[3]) : Node(),
            wanted[3] ? sparse_t_matmul(weighted, in[2]) : Node()};
  }
};

std::vector<Node> operands(const CsrNode& a, const Node& x, const Node& y) {
  if (!a.row_offsets.defined() || !a.columns.defined() || !x.defined() || !y.defined())
    throw ValueError("sparse product: undefined operand");
  return {a.row_offsets, a.columns, x, laid_out(y, Layout::unit_rows)};
}

// The kernels read values as one contiguous vector (a gradient arriving as a broadcast is not).
Node values_of(const CsrNode& a) {
  if (!a.values.defined()) throw ValueError("sparse product: undefined values");
  return laid_out(a.values, Layout::contiguous);
}

}  // namespace

CsrNode csr_input(Graph& g, const std::string& name, std::int64_t rows, std::int64_t cols, std::int64_t capacity,
                  DType dtype, DType index_dtype) {
  if (rows < 0 || cols < 0 || capacity < 0)
    throw ShapeError("csr_input " + name + ": negative size (" + std::to_string(rows) + ", " + std::to_string(cols) +
                     ") with room for " + std::to_string(capacity));
  if (!is_floating(dtype)) throw DTypeError("csr_input " + name + ": values must be float32 or float64");
  if (index_dtype != DType::i32 && index_dtype != DType::i64)
    throw DTypeError("csr_input " + name + ": indices must be int32 or int64, not " + std::string(dtype_name(index_dtype)));
  constexpr std::int64_t kMaxInt32 = 2147483647;
  if (index_dtype == DType::i32 && (rows > kMaxInt32 || cols > kMaxInt32 || capacity > kMaxInt32))
    throw ValueError("csr_input " + name + ": (" + std::to_string(rows) + ", " + std::to_string(cols) + ") with room for " +
                     std::to_string(capacity) + " entries is past what int32 indices can address; use int64 indices");
  return {g.input(name + ".row_offsets", Shape{rows + 1}, index_dtype),
          g.input(name + ".columns", Shape{capacity}, index_dtype), g.input(name + ".values", Shape{capacity}, dtype),
          cols};
}

CsrNode csr_constant(Graph& g, const CsrMatrix& m, const std::string& name) {
  if (!m.defined()) throw ValueError("csr_constant " + name + ": undefined matrix");
  const auto named = [&](const char* part) { return name.empty() ? std::string() : name + part; };
  return {g.constant(m.row_offsets(), named(".row_offsets")), g.constant(m.columns(), named(".columns")),
          g.constant(m.values(), named(".values")), m.cols()};
}

Node sparse_matmul(const CsrNode& a, const Node& b, TableGradient gradient_of_b) {
  if (b.defined() && b.rank() == 2 && b.shape()[0] != a.cols)
    throw ShapeError("csr_matmul: the sparse operand has " + std::to_string(a.cols) + " columns, " + b.describe() +
                     " has " + std::to_string(b.shape()[0]) + " rows");
  std::vector<Node> in = operands(a, values_of(a), b);
  return b.graph().apply(std::make_shared<SparseMatmulOp>(gradient_of_b), std::move(in));
}

Node sparse_t_matmul(const CsrNode& a, const Node& b) {
  std::vector<Node> in = operands(a, values_of(a), b);
  return b.graph().apply(std::make_shared<SparseTMatmulOp>(a.cols), std::move(in));
}

Node sparse_sampled_dot(const CsrNode& a, const Node& x, const Node& y) {
  if (x.defined() && y.defined() && x.rank() == 2 && y.rank() == 2 && y.shape()[0] != a.cols)
    throw ShapeError("csr_sampled_dot: the sparse operand has " + std::to_string(a.cols) + " columns, " + y.describe() +
                     " has " + std::to_string(y.shape()[0]) + " rows");
  if (!x.defined()) throw ValueError("csr_sampled_dot: undefined operand");
  std::vector<Node> in = operands(a, laid_out(x, Layout::unit_rows), y);
  return x.graph().apply(std::make_shared<SparseSampledDotOp>(), std::move(in));
}

}  // namespace stheno
