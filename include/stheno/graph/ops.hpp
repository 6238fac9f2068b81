#pragma once
// Graph-building functions: each adds one node (or a few) to the graph of its inputs, checks
// shapes and dtypes at once, and names both input nodes and their shapes in any error.
// Elementwise ops broadcast like their tensor kernels; scalars become constant nodes of the
// other operand's dtype.
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "stheno/graph/graph.hpp"
#include "stheno/graph/op_attributes.hpp"
#include "stheno/kernels/conv.hpp"
#include "stheno/kernels/elementwise.hpp"
#include "stheno/kernels/pool.hpp"
#include "stheno/kernels/reduce.hpp"
#include "stheno/tensor/csr.hpp"

namespace stheno {

// --- elementwise ------------------------------------------------------------------------------
Node unary(UnaryOp op, const Node& x);
Node binary(BinaryOp op, const Node& a, const Node& b);
Node binary(BinaryOp op, const Node& a, double b);
Node binary(BinaryOp op, double a, const Node& b);

inline Node neg(const Node& x) { return unary(UnaryOp::neg, x); }
inline Node abs(const Node& x) { return unary(UnaryOp::abs, x); }
inline Node exp(const Node& x) { return unary(UnaryOp::exp, x); }
inline Node log(const Node& x) { return unary(UnaryOp::log, x); }
inline Node sqrt(const Node& x) { return unary(UnaryOp::sqrt, x); }
inline Node square(const Node& x) { return unary(UnaryOp::square, x); }
inline Node tanh(const Node& x) { return unary(UnaryOp::tanh, x); }
inline Node sigmoid(const Node& x) { return unary(UnaryOp::sigmoid, x); }
inline Node relu(const Node& x) { return unary(UnaryOp::relu, x); }
// Not differentiable (their gradient is zero almost everywhere).
inline Node sign(const Node& x) { return unary(UnaryOp::sign, x); }
inline Node step(const Node& x) { return unary(UnaryOp::step, x); }

#define STHENO_GRAPH_BINARY(name)                                                                  \
  inline Node name(const Node& a, const Node& b) { return binary(BinaryOp::name, a, b); }          \
  inline Node name(const Node& a, double b) { return binary(BinaryOp::name, a, b); }               \
  inline Node name(double a, const Node& b) { return binary(BinaryOp::name, a, b); }
STHENO_GRAPH_BINARY(add)
STHENO_GRAPH_BINARY(sub)
STHENO_GRAPH_BINARY(mul)
STHENO_GRAPH_BINARY(div)
STHENO_GRAPH_BINARY(pow)
STHENO_GRAPH_BINARY(maximum)
STHENO_GRAPH_BINARY(minimum)
#undef STHENO_GRAPH_BINARY

inline Node operator-(const Node& x) { return neg(x); }
inline Node operator+(const Node& a, const Node& b) { return add(a, b); }
inline Node operator-(const Node& a, const Node& b) { return sub(a, b); }
inline Node operator*(const Node& a, const Node& b) { return mul(a, b); }
inline Node operator/(const Node& a, const Node& b) { return div(a, b); }
inline Node operator+(const Node& a, double b) { return add(a, b); }
inline Node operator-(const Node& a, double b) { return sub(a, b); }
inline Node operator*(const Node& a, double b) { return mul(a, b); }
inline Node operator/(const Node& a, double b) { return div(a, b); }
inline Node operator+(double a, const Node& b) { return add(a, b); }
inline Node operator-(double a, const Node& b) { return sub(a, b); }
inline Node operator*(double a, const Node& b) { return mul(a, b); }
inline Node operator/(double a, const Node& b) { return div(a, b); }

// --- reductions -------------------------------------------------------------------------------
Node reduce(ReduceOp op, const Node& x, const Axes& axes = {}, bool keepdims = false);
inline Node sum(const Node& x, const Axes& axes = {}, bool keepdims = false) { return reduce(ReduceOp::sum, x, axes, keepdims); }
inline Node mean(const Node& x, const Axes& axes = {}, bool keepdims = false) { return reduce(ReduceOp::mean, x, axes, keepdims); }
inline Node max(const Node& x, const Axes& axes = {}, bool keepdims = false) { return reduce(ReduceOp::max, x, axes, keepdims); }
inline Node sum(const Node& x, int axis, bool keepdims = false) { return sum(x, Axes{axis}, keepdims); }
inline Node mean(const Node& x, int axis, bool keepdims = false) { return mean(x, Axes{axis}, keepdims); }
inline Node max(const Node& x, int axis, bool keepdims = false) { return max(x, Axes{axis}, keepdims); }
// int32 indices; not differentiable.
Node argmax(const Node& x, int axis);

// --- linear algebra ---------------------------------------------------------------------------
// NumPy's matmul (see kernels/linalg.hpp): matrix·matrix, matrix·vector, batched.
Node matmul(const Node& a, const Node& b);

// (m,)⊗(n,) -> (m, n)
Node outer(const Node& a, const Node& b);
// c + a·b for matrices a, b, with c broadcast to the product's shape (a bias row, or an
// accumulator): one product that adds into the result, no separate pass for the sum.
Node matmul_add(const Node& c, const Node& a, const Node& b);

// --- convolution data movement (kernels/conv.hpp); each is the other's gradient -----------------
Node im2col(const Node& image, const Conv2dGeometry& geometry);
Node col2im(const Node& columns, const Conv2dGeometry& geometry);

// The direct convolution: x (N, C, H, W), weight (F, C·kh·kw), optional bias (F,) ->
// (N, F, out_h·out_w). Gradients are direct kernels too (not differentiable again).
Node conv2d_columns(const Node& x, const Node& weight, const Node& bias, const Conv2dGeometry& geometry);

// --- convolutional layers -------------------------------------------------------------------
// One number for both axes, or {height, width}.
struct Conv2dOptions {
  Size2 stride = 1, padding = 0, dilation = 1;
  std::int64_t groups = 1;
};
// x (N, C, H, W), weight (F, C/groups, kh, kw), optional bias (F,) -> (N, F, out_h, out_w).
Node conv2d(const Node& x, const Node& weight, const Node& bias = Node(), const Conv2dOptions& options = {});
// Maximum (or mean) over kernel windows moved by stride (0: the kernel's size), per channel:
// (N, C, H, W) -> (N, C, out_h, out_w), with `padding` on each side. Max pooling never picks a
// padded position and takes padding up to half the kernel; average pooling counts padding as
// zeros (PyTorch's defaults for both).
Node max_pool2d(const Node& x, Size2 kernel, Size2 stride = 0, Size2 padding = 0);
Node avg_pool2d(const Node& x, Size2 kernel, Size2 stride = 0, Size2 padding = 0);
// (N, ...) -> (N, product of the rest).
Node flatten(const Node& x);

// --- shapes -------------------------------------------------------------------------------------
Node reshape(const Node& x, const Shape& shape);
Node transpose(const Node& x, int axis0 = -2, int axis1 = -1);
Node permute(const Node& x, std::vector<int> order);
Node slice(const Node& x, int axis, std::int64_t start, std::int64_t stop, std::int64_t step = 1);
Node concat(const std::vector<Node>& parts, int axis);
Node broadcast_to(const Node& x, const Shape& shape);
// What a kernel needs of an operand's memory: contiguous; each image of a batch contiguous (a
// channel slice of a batch qualifies); or rows of unit stride.
enum class Layout { contiguous, contiguous_images, unit_rows };
// x itself, as a free view, when its layout meets `layout` in the compiled program (or the eager
// value); otherwise a contiguous copy that the tape machine plans like any other instruction,
// rather than a copy made inside an op at every run.
Node laid_out(const Node& x, Layout layout);
// Sums x over the axes along which `shape` was broadcast to x's shape (the adjoint of broadcast_to).
Node sum_to(const Node& x, const Shape& shape);

// --- neural-network ops -------------------------------------------------------------------------
Node softmax(const Node& x, int axis = -1);
Node log_softmax(const Node& x, int axis = -1);
// Mean over the batch of -log softmax(logits)[label]. logits (N, C); labels int32 (N,) class
// indices, or float (N, C) targets: -mean_i Σ_c t[i,c]·log softmax(logits)[i,c], with rows that
// need not sum to 1 (as in PyTorch). Stable for any logits.
Node softmax_cross_entropy(const Node& logits, const Node& labels);
// Mean of (prediction - target)^2 over all elements.
Node mse(const Node& prediction, const Node& target);
// (N,) int32 labels -> (N, classes) one-hot rows of `dtype`; not differentiable.
Node one_hot(const Node& labels, std::int64_t classes, DType dtype = DType::f32);
// Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
// The mask is drawn anew for every run from the state's own generator; with training off the
// op passes x through. Layers keep the state to switch between training and evaluation.
struct DropoutState {
  double p = 0.5;
  Generator generator{0};
  bool training = true;
};
Node dropout(const Node& x, std::shared_ptr<DropoutState> state);
Node dropout(const Node& x, double p, std::uint64_t seed);

// Batch normalisation over the channel axis (1) of x (N, C) or (N, C, H, W):
// y = (x - mean) / sqrt(var + eps) · gamma + beta. In training mode mean and var are the batch's
// (biased) statistics and are folded into the running averages with weight `momentum`; in
// evaluation mode the running averages are used. The mode is read at every run, so one compiled
// program serves both. The running statistics are plain tensors that layers keep (and save).
struct BatchNormState {
  Tensor running_mean, running_var;  // (C,), updated in place
  double momentum = 0.1;
  double eps = 1e-5;
  bool training = true;
  // Data-parallel training with statistics synchronised over `replicas` processes, each holding
  // an equal share of the batch (nn::BatchNorm::synchronise sets these, before or after the
  // graph is built: they are read at every run). In training mode, share_statistics turns this
  // process's (2, C) means and variances into the whole batch's, in place and the same on every
  // process, and backward passes the statistics' (2, C) gradient through average_gradients,
  // which averages it over the processes. Unset, each process normalises with its own share's
  // statistics.
  int replicas = 1;
  std::function<void(const Tensor&)> share_statistics, average_gradients;
};
Node batch_norm(const Node& x, const Node& gamma, const Node& beta, std::shared_ptr<BatchNormState> state);
// The statistics alone: (2, C), row 0 the means and row 1 the variances used.
Node batch_norm_stats(const Node& x, std::shared_ptr<BatchNormState> state);

// How the gradient of a lookup table (an embedding's, or the dense operand of sparse_matmul) is
// formed: as a dense tensor of the table's shape, or as the rows a step used (a RowSparseNode,
// below), for large tables of which a step touches few rows. Either way grad() returns a node of
// the table's shape; with `rows` that node is to_dense(rows form), and row_sparse_form() finds
// the rows form in it, which optim::TrainingStep computes instead of the dense tensor.
// TableGradient { dense, rows } is declared in op_attributes.hpp, as embedding's attribute.

// Rows of a (V, D) table picked by int32 indices of any shape: (indices..., D). Its gradient
// adds into the rows looked up and leaves every other row zero.
Node embedding(const Node& table, const Node& indices, TableGradient gradient = TableGradient::dense);

// --- sparse matrices (tensor/csr.hpp, kernels/sparse.hpp) -------------------------------------
// A sparse (rows, cols) matrix in a graph, as the nodes of its CSR arrays: row offsets (rows + 1),
// columns and values (capacity; the first row_offsets[rows] entries are used), the offsets and
// columns both int32 or both int64 (tensor/csr.hpp). The values are differentiable, at the matrix's pattern; offsets and columns are not.
struct CsrNode {
  Node row_offsets, columns, values;
  std::int64_t cols = 0;
  std::int64_t rows() const { return row_offsets.shape().numel() - 1; }
};
// A sparse input with room for `capacity` entries; TapeMachine::let(CsrNode, CsrMatrix) fills it
// with a matrix of at most that many. The nodes are named name.row_offsets, .columns, .values.
CsrNode csr_input(Graph& g, const std::string& name, std::int64_t rows, std::int64_t cols, std::int64_t capacity,
                  DType dtype = DType::f32, DType index_dtype = DType::i32);
// A sparse matrix held by the graph (in an eager graph: a batch's value). Named name.row_offsets,
// .columns and .values when a name is given, numbered otherwise.
CsrNode csr_constant(Graph& g, const CsrMatrix& m, const std::string& name = "");
// A·b: (rows, cols)·(cols, n) -> (rows, n). Its gradients: Aᵀ·g for b (with TableGradient::rows,
// at the columns A uses: an embedding bag), and g·bᵀ at A's pattern for A's values (computed
// only when asked for).
Node sparse_matmul(const CsrNode& a, const Node& b, TableGradient gradient_of_b = TableGradient::dense);
// Aᵀ·b: (cols, rows)·(rows, n) -> (cols, n).
Node sparse_t_matmul(const CsrNode& a, const Node& b);
// x·yᵀ at A's pattern: (capacity,), entry k = x[i]·y[j] for A's stored entry k at (i, j), and 0
// in the spare room. x (rows, n), y (cols, n).
Node sparse_sampled_dot(const CsrNode& a, const Node& x, const Node& y);

// --- row-sparse gradients (kernels/sparse.hpp) -------------------------------------------------
// A (table_rows, n) value that is zero outside some rows: rows (capacity,) int32, the rows held,
// distinct and ascending, then -1 to the end; values (capacity, n), row k belonging at table row
// rows[k] and zero past the last one.
struct RowSparseNode {
  Node rows, values;
  std::int64_t table_rows = 0;
};
// Aᵀ·b at the columns A uses: rows = A's distinct columns, values row k = (Aᵀ·b) row rows[k];
// room for min(A's capacity, A's columns) rows.
RowSparseNode sparse_t_matmul_rows(const CsrNode& a, const Node& b);
// The dense (table_rows, n) tensor.
Node to_dense(const RowSparseNode& r);
// (rows.numel(), n): row k = row rows[k] of dense, zero past the last row of the set.
Node take_rows(const Node& dense, const Node& rows);
// The rows form of a gradient that grad() formed from rows (TableGradient::rows, the table used
// by one lookup); nullopt for any other node. A table used by two lookups gets the sum of two
// such gradients, which is dense.
std::optional<RowSparseNode> row_sparse_form(const Node& gradient);

// --- recurrent cells ----------------------------------------------------------------------------
// LSTM: gates (N, 4H) pre-activations (input, forget, cell, output), c_prev (N, H) ->
// (N, 2H) = [h, c]: c = σ(f)·c_prev + σ(i)·tanh(g), h = σ(o)·tanh(c).
Node lstm_cell(const Node& gates, const Node& c_prev);
// GRU: gx = x·W_ih + b_ih, gh = h_prev·W_hh + b_hh, both (N, 3H) (reset, update, new), h_prev
// (N, H) -> h (N, H): n = tanh(gx_n + σ(r)·gh_n), h = (1 - σ(z))·n + σ(z)·h_prev.
Node gru_cell(const Node& gx, const Node& gh, const Node& h_prev);

// The state carried between steps, (N, hidden) each. Undefined nodes stand for zeros; a GRU
// uses h alone.
struct RecurrentState {
  Node h, c;
};
// Multi-step layers over batch-first sequences x (N, T, input), T >= 1 -> every step's h
// (N, T, hidden). `state` gives the initial state and receives the last one. The input
// projection of all steps is one product; each step adds h·weight_hh and applies the cell.
// LSTM: weight_ih (input, 4H), weight_hh (H, 4H), bias (4H).
Node lstm(const Node& x, const Node& weight_ih, const Node& weight_hh, const Node& bias, RecurrentState& state);
// GRU: weight_ih (input, 3H), weight_hh (H, 3H), bias_ih and bias_hh (3H).
Node gru(const Node& x, const Node& weight_ih, const Node& weight_hh, const Node& bias_ih, const Node& bias_hh,
         RecurrentState& state);

// --- layers as units ----------------------------------------------------------------------------
// conv2d, batch_norm, avg_pool2d, dropout, lstm and gru each build several ops; each call is also
// recorded in its graph as one layer (Graph::layers), so that an exporter can write it as one
// node (ONNX's Conv, BatchNormalization, AveragePool, Dropout, LSTM, GRU) while both machines run
// its ops as usual.
enum class LayerKind { conv2d, batch_norm, avg_pool2d, dropout, lstm, gru };
struct LayerRecord {
  LayerKind kind = LayerKind::conv2d;
  // conv2d: x, weight, bias; batch_norm: x, gamma, beta; avg_pool2d and dropout: x; lstm: x,
  // weight_ih, weight_hh, bias, initial h, initial c; gru: x, weight_ih, weight_hh, bias_ih,
  // bias_hh, initial h. Undefined where not given (no bias, zero initial state).
  std::vector<Node> inputs;
  // The layer's result; lstm: every step's h, the last h, the last c; gru: every step's h, the last h.
  std::vector<Node> outputs;
  // The nodes the layer made are those with ids in [first_node, end_node).
  int first_node = 0, end_node = 0;
  Conv2dOptions conv;        // conv2d
  Pool2dWindow window;       // avg_pool2d
  std::shared_ptr<BatchNormState> norm;  // batch_norm
  std::shared_ptr<DropoutState> dropout;  // dropout
};

}  // namespace stheno
