// Row-sparse gradients of lookup tables: the rows a step used (a row set) and a block of values,
// in place of a table-shaped tensor that is zero almost everywhere. rows_to_dense and take_rows
// are each other's gradients, and csr_t_matmul_at_rows differentiates through csr_matmul and
// csr_sampled_dot, so every order of derivative exists.
#include <algorithm>

#include "stheno/graph/ops.hpp"
#include "stheno/kernels/sparse.hpp"

namespace stheno {

namespace {

void check_row_set_node(const Op& op, std::span<const Node> in, const Node& rows) {
  if (rows.dtype() != DType::i32 || rows.rank() != 1) op_dtype_error(op, in, "the rows must be an int32 vector");
}

void check_block(const Op& op, std::span<const Node> in, const Node& x, std::int64_t rows) {
  if (!is_floating(x.dtype()) || x.rank() != 2) op_dtype_error(op, in, "the values must be a float matrix");
  if (rows >= 0 && x.shape()[0] != rows)
    op_shape_error(op, in, "the values have " + std::to_string(x.shape()[0]) + " rows where " + std::to_string(rows) +
                               " are needed");
}

// The distinct columns of A, ascending, then -1; inputs (row offsets, columns).
class ColumnSetOp final : public Op {
 public:
  ColumnSetOp(std::int64_t cols, std::int64_t room) : cols_(cols), room_(room) {}
  std::string name() const override { return "csr_column_set"; }
  OpKind kind() const override { return OpKind::csr_column_set; }
  std::string describe() const override { return "csr_column_set(cols=" + std::to_string(cols_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    if ((in[0].dtype() != DType::i32 && in[0].dtype() != DType::i64) || in[1].dtype() != in[0].dtype() ||
        in[0].rank() != 1 || in[1].rank() != 1)
      op_dtype_error(*this, in, "row offsets and columns must be vectors, both int32 or both int64");
    return {Shape{room_}, DType::i32};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    csr_column_set(in[0], in[1], cols_, out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node&, std::span<const bool>) const override {
    return {};
  }

 private:
  std::int64_t cols_, room_;
};

// Aᵀ·B at a row set; inputs (row offsets, columns, values, B, rows); A has `cols` columns.
class TMatmulAtRowsOp final : public Op {
 public:
  explicit TMatmulAtRowsOp(std::int64_t cols) : cols_(cols) {}
  std::string name() const override { return "csr_t_matmul_at_rows"; }
  OpKind kind() const override { return OpKind::csr_t_matmul_at_rows; }
  std::string describe() const override { return "csr_t_matmul_at_rows(cols=" + std::to_string(cols_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    check_row_set_node(*this, in, in[4]);
    check_block(*this, in, in[3], in[0].shape()[0] - 1);
    if (in[2].dtype() != in[3].dtype()) op_dtype_error(*this, in, "values and the dense operand must share a dtype");
    return {Shape{in[4].shape()[0], in[3].shape()[1]}, in[3].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    csr_t_matmul_at_rows(in[0], in[1], in[2], in[3], in[4], cols_, out);
  }
  // out = take_rows(Aᵀ·B, rows), and every column of A is in the set: the gradients are those of
  // Aᵀ·B given the dense form of g.
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g,
                             std::span<const bool> wanted) const override {
    const CsrNode a{in[0], in[1], in[2], cols_};
    const Node dense_g = to_dense(RowSparseNode{in[4], g, cols_});
    return {Node(), Node(), wanted[2] ? sparse_sampled_dot(a, in[3], dense_g) : Node(),
            wanted[3] ? sparse_matmul(a, dense_g) : Node(), Node()};
  }

 private:
  std::int64_t cols_;
};

// The (table_rows, n) tensor of a row set and its values; inputs (rows, values).
class RowsToDenseOp final : public Op {
 public:
  explicit RowsToDenseOp(std::int64_t table_rows) : table_rows_(table_rows) {}
  std::string name() const override { return "rows_to_dense"; }
  OpKind kind() const override { return OpKind::rows_to_dense; }
  std::string describe() const override { return "rows_to_dense(rows=" + std::to_string(table_rows_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    check_row_set_node(*this, in, in[0]);
    check_block(*this, in, in[1], in[0].shape()[0]);
    return {Shape{table_rows_, in[1].shape()[1]}, in[1].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { rows_to_dense(in[0], in[1], out); }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    return {Node(), take_rows(g, in[0])};
  }
  std::int64_t table_rows() const { return table_rows_; }

 private:
  std::int64_t table_rows_;
};

// Rows of a dense matrix at a row set; inputs (dense, rows).
class TakeRowsOp final : public Op {
 public:
  std::string name() const override { return "take_rows"; }
  OpKind kind() const override { return OpKind::take_rows; }
  TypeInfo infer(std::span<const Node> in) const override {
    check_block(*this, in, in[0], -1);
    check_row_set_node(*this, in, in[1]);
    return {Shape{in[1].shape()[0], in[0].shape()[1]}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { take_rows(in[0], in[1], out); }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    return {to_dense(RowSparseNode{in[1], g, in[0].shape()[0]}), Node()};
  }
};

}  // namespace

RowSparseNode sparse_t_matmul_rows(const CsrNode& a, const Node& b) {
  if (!a.row_offsets.defined() || !a.columns.defined() || !a.values.defined() || !b.defined())
    throw ValueError("sparse_t_matmul_rows: undefined operand");
  Graph& g = b.graph();
  const std::int64_t room = std::min(a.columns.shape().numel(), a.cols);
  const Node rows = g.apply(std::make_shared<ColumnSetOp>(a.cols, room), {a.row_offsets, a.columns});
  const Node values = g.apply(std::make_shared<TMatmulAtRowsOp>(a.cols),
                              {a.row_offsets, a.columns, laid_out(a.values, Layout::contiguous),
                               laid_out(b, Layout::unit_rows), rows});
  return {rows, values, a.cols};
}

Node to_dense(const RowSparseNode& r) {
  if (!r.rows.defined() || !r.values.defined()) throw ValueError("to_dense: undefined row set or values");
  return r.values.graph().apply(std::make_shared<RowsToDenseOp>(r.table_rows),
                                {r.rows, laid_out(r.values, Layout::unit_rows)});
}

Node take_rows(const Node& dense, const Node& rows) {
  if (!dense.defined() || !rows.defined()) throw ValueError("take_rows: undefined operand");
  return dense.graph().apply(std::make_shared<TakeRowsOp>(), {laid_out(dense, Layout::unit_rows), rows});
}

std::optional<RowSparseNode> row_sparse_form(const Node& gradient) {
  if (!gradient.defined() || !gradient.op()) return std::nullopt;
  const auto* op = dynamic_cast<const RowsToDenseOp*>(gradient.op());
  if (!op) return std::nullopt;
  return RowSparseNode{gradient.input(0), gradient.input(1), op->table_rows()};
}

}  // namespace stheno
