// The public kernel functions: each checks that its operands share a device and runs the host
// kernel (kernels/cpu/) or that device's backend. The allocating forms make their result on the
// operands' device.
#include "kernels/cpu/cpu_kernels.hpp"
#include "stheno/kernels/backend.hpp"
#include "stheno/kernels/compare.hpp"
#include "stheno/kernels/gather.hpp"
#include "stheno/kernels/linalg.hpp"
#include "stheno/kernels/normalization.hpp"
#include "stheno/kernels/optim_update.hpp"
#include "stheno/kernels/prepared.hpp"
#include "stheno/kernels/random.hpp"
#include "stheno/kernels/recurrent.hpp"
#include "stheno/kernels/softmax.hpp"
#include "stheno/kernels/sparse.hpp"

namespace stheno {

namespace {
using Operand = std::pair<const char*, const Tensor*>;

void require_defined(std::string_view kernel, const Tensor& t, const char* what) {
  if (!t.defined()) throw ValueError(std::string(kernel) + ": the " + what + " is undefined");
}
}  // namespace

// ---- elementwise ----------------------------------------------------------------------------

void unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  const Device d = common_device(op_name(op), {{"input", &x}, {"out", &out}});
  if (d.is_host()) return cpu::unary(op, x, out);
  backend(d).unary(op, x, out);
}

Tensor unary(UnaryOp op, const Tensor& x) {
  require_defined(op_name(op), x, "input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  unary(op, x, out);
  return out;
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Device d = common_device(op_name(op), {{"first operand", &a}, {"second operand", &b}, {"out", &out}});
  if (d.is_host()) return cpu::binary(op, a, b, out);
  backend(d).binary(op, a, b, out);
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  require_defined(op_name(op), a, "first operand");
  require_defined(op_name(op), b, "second operand");
  common_device(op_name(op), {{"first operand", &a}, {"second operand", &b}});
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), op_name(op)), a.dtype(), a.device());
  binary(op, a, b, out);
  return out;
}

// ---- comparisons ----------------------------------------------------------------------------

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  // A test's question, answered on the host whatever the devices.
  return cpu::allclose(a.defined() ? a.to(Device::cpu()) : a, b.defined() ? b.to(Device::cpu()) : b, rtol, atol,
                       equal_nan);
}

bool all_finite(const Tensor& t) {
  const Device d = common_device("all_finite", {{"tensor", &t}});
  return d.is_host() ? cpu::all_finite(t) : backend(d).all_finite(t);
}

// ---- reductions -----------------------------------------------------------------------------

void reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out) {
  const Device d = common_device("reduce", {{"input", &x}, {"out", &out}});
  if (d.is_host()) return cpu::reduce(op, x, axes, keepdims, out);
  backend(d).reduce(op, x, axes, keepdims, out);
}

Tensor reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims) {
  const char* name = op == ReduceOp::sum ? "sum" : op == ReduceOp::mean ? "mean" : "max";
  require_defined(name, x, "input");
  Tensor out = Tensor::empty(reduced_shape(x.shape(), axes, keepdims, name), x.dtype(), x.device());
  reduce(op, x, axes, keepdims, out);
  return out;
}

void argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out) {
  const Device d = common_device("argmax", {{"input", &x}, {"out", &out}});
  if (d.is_host()) return cpu::argmax(x, axis, keepdims, out);
  backend(d).argmax(x, axis, keepdims, out);
}

Tensor argmax(const Tensor& x, int axis, bool keepdims) {
  require_defined("argmax", x, "input");
  const int ax = normalize_axis(axis, x.rank(), "argmax");
  Tensor out = Tensor::empty(reduced_shape(x.shape(), Axes{ax}, keepdims, "argmax"), DType::i32, x.device());
  argmax(x, ax, keepdims, out);
  return out;
}

Tensor argmax(const Tensor& x) {
  require_defined("argmax", x, "input");
  if (x.numel() == 0) throw ValueError("argmax: the tensor is empty (shape " + x.shape().str() + ")");
  if (x.numel() > INT32_MAX) throw ValueError("argmax: tensor larger than int32 indices can count");
  return argmax(x.contiguous().reshape(Shape{x.numel()}), 0).reshape(Shape{});
}

// ---- products -------------------------------------------------------------------------------

void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  const Device d = common_device("matmul", {{"first operand", &a}, {"second operand", &b}, {"out", &out}});
  if (d.is_host()) return cpu::matmul(a, b, out, alpha, beta);
  backend(d).matmul(a, b, out, alpha, beta);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) throw ValueError("matmul: undefined tensor");
  common_device("matmul", {{"first operand", &a}, {"second operand", &b}});
  Tensor out = Tensor::empty(matmul_shape(a.shape(), b.shape()), a.dtype(), a.device());
  matmul(a, b, out);
  return out;
}

Tensor matvec(const Tensor& a, const Tensor& x) {
  if (a.rank() != 2 || x.rank() != 1)
    throw ShapeError("matvec: expected a matrix and a vector, got shapes " + a.shape().str() + " and " + x.shape().str());
  return matmul(a, x);
}

void outer(const Tensor& a, const Tensor& b, const Tensor& out) {
  if (a.rank() != 1 || b.rank() != 1)
    throw ShapeError("outer: expected two vectors, got shapes " + a.shape().str() + " and " + b.shape().str());
  mul(a.unsqueeze(1), b.unsqueeze(0), out);
}

Tensor outer(const Tensor& a, const Tensor& b) {
  if (a.rank() != 1 || b.rank() != 1)
    throw ShapeError("outer: expected two vectors, got shapes " + a.shape().str() + " and " + b.shape().str());
  return mul(a.unsqueeze(1), b.unsqueeze(0));
}

// ---- prepared kernels -----------------------------------------------------------------------
// The host's only: a device's kernels are queued, and launching one costs more than its checks.

namespace {
bool on_host(std::initializer_list<const Tensor*> operands) {
  for (const Tensor* t : operands)
    if (!t->defined() || !t->device().is_host()) return false;
  return true;
}
}  // namespace

PreparedKernel prepare_unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  return on_host({&x, &out}) ? cpu::prepare_unary(op, x, out) : PreparedKernel{};
}

PreparedKernel prepare_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  return on_host({&a, &b, &out}) ? cpu::prepare_binary(op, a, b, out) : PreparedKernel{};
}

PreparedKernel prepare_reduce(ReduceOp op, const Tensor& x, const Axes& axes, const Tensor& out) {
  return on_host({&x, &out}) ? cpu::prepare_reduce(op, x, axes, out) : PreparedKernel{};
}

PreparedKernel prepare_matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta) {
  return on_host({&a, &b, &out}) ? cpu::prepare_matmul(a, b, out, alpha, beta) : PreparedKernel{};
}

PreparedKernel prepare_copy(const Tensor& source, const Tensor& out) {
  return on_host({&source, &out}) ? cpu::prepare_copy(source, out) : PreparedKernel{};
}

// ---- softmax and losses ---------------------------------------------------------------------

void softmax(const Tensor& x, int axis, const Tensor& out) {
  const Device d = common_device("softmax", {{"input", &x}, {"out", &out}});
  if (d.is_host()) return cpu::softmax(x, axis, out);
  backend(d).softmax(x, axis, out, false);
}

void log_softmax(const Tensor& x, int axis, const Tensor& out) {
  const Device d = common_device("log_softmax", {{"input", &x}, {"out", &out}});
  if (d.is_host()) return cpu::log_softmax(x, axis, out);
  backend(d).softmax(x, axis, out, true);
}

Tensor softmax(const Tensor& x, int axis) {
  require_defined("softmax", x, "input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  softmax(x, axis, out);
  return out;
}

Tensor log_softmax(const Tensor& x, int axis) {
  require_defined("log_softmax", x, "input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  log_softmax(x, axis, out);
  return out;
}

void softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out) {
  const Device d = common_device("softmax_cross_entropy", {{"logits", &logits}, {"targets", &targets}, {"out", &out}});
  if (d.is_host()) return cpu::softmax_cross_entropy(logits, targets, out);
  backend(d).softmax_cross_entropy(logits, targets, out);
}

// ---- convolution and pooling ----------------------------------------------------------------

namespace {
Shape columns_shape(const Tensor& image, const Conv2dGeometry& g) {
  Shape shape{g.channels * g.kernel_h * g.kernel_w, g.out_h() * g.out_w()};
  if (image.rank() == 4) shape.insert(0, image.size(0));
  return shape;
}
}  // namespace

void im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns) {
  const Device d = common_device("im2col", {{"image", &image}, {"columns", &columns}});
  if (d.is_host()) return cpu::im2col(image, g, columns);
  backend(d).im2col(image, g, columns);
}

Tensor im2col(const Tensor& image, const Conv2dGeometry& g) {
  require_defined("im2col", image, "image");
  g.validate("im2col");
  Tensor columns = Tensor::empty(columns_shape(image, g), image.dtype(), image.device());
  im2col(image, g, columns);
  return columns;
}

void col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image) {
  const Device d = common_device("col2im", {{"columns", &columns}, {"image", &image}});
  if (d.is_host()) return cpu::col2im(columns, g, image);
  backend(d).col2im(columns, g, image);
}

Tensor col2im(const Tensor& columns, const Conv2dGeometry& g) {
  require_defined("col2im", columns, "columns");
  Shape shape{g.channels, g.height, g.width};
  if (columns.rank() == 3) shape.insert(0, columns.size(0));
  Tensor image = Tensor::empty(shape, columns.dtype(), columns.device());
  col2im(columns, g, image);
  return image;
}

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g, const Tensor& out) {
  const Device d = common_device("conv2d", {{"input", &x}, {"weight", &weight}, {"bias", &bias}, {"out", &out}});
  if (d.is_host()) return cpu::conv2d_forward(x, weight, bias, g, out);
  backend(d).conv2d_forward(x, weight, bias, g, out);
}

void conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g, const Tensor& dx) {
  const Device d = common_device("conv2d_input_grad", {{"gradient", &grad}, {"weight", &weight}, {"out", &dx}});
  if (d.is_host()) return cpu::conv2d_backward_input(grad, weight, g, dx);
  backend(d).conv2d_backward_input(grad, weight, g, dx);
}

void conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g, const Tensor& dweight) {
  const Device d = common_device("conv2d_weight_grad", {{"input", &x}, {"gradient", &grad}, {"out", &dweight}});
  if (d.is_host()) return cpu::conv2d_backward_weight(x, grad, g, dweight);
  backend(d).conv2d_backward_weight(x, grad, g, dweight);
}

void max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out) {
  const Device d = common_device("max_pool2d", {{"input", &x}, {"out", &out}});
  if (d.is_host()) return cpu::max_pool2d(x, window, out);
  backend(d).max_pool2d(x, window, out);
}

void max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Pool2dWindow& window,
                         const Tensor& dx) {
  const Device d = common_device("max_pool2d_grad", {{"input", &x}, {"pooled", &pooled}, {"gradient", &grad}, {"out", &dx}});
  if (d.is_host()) return cpu::max_pool2d_backward(x, pooled, grad, window, dx);
  backend(d).max_pool2d_backward(x, pooled, grad, window, dx);
}

// ---- gathers --------------------------------------------------------------------------------

void gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out) {
  const Device d = common_device("gather_rows", {{"table", &table}, {"indices", &indices}, {"out", &out}});
  if (d.is_host()) return cpu::gather_rows(table, indices, out);
  backend(d).gather_rows(table, indices, out);
}

void csr_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                const Tensor& out) {
  const Device d = common_device("csr_matmul", {{"row offsets", &row_offsets}, {"columns", &columns},
                                                {"values", &values}, {"dense operand", &dense}, {"out", &out}});
  if (d.is_host()) return cpu::csr_matmul(row_offsets, columns, values, dense, out);
  backend(d).csr_matmul(row_offsets, columns, values, dense, out);
}

void csr_t_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                  const Tensor& out) {
  const Device d = common_device("csr_t_matmul", {{"row offsets", &row_offsets}, {"columns", &columns},
                                                  {"values", &values}, {"dense operand", &dense}, {"out", &out}});
  if (d.is_host()) return cpu::csr_t_matmul(row_offsets, columns, values, dense, out);
  backend(d).csr_t_matmul(row_offsets, columns, values, dense, out);
}

void csr_sampled_dot(const Tensor& row_offsets, const Tensor& columns, const Tensor& a, const Tensor& b,
                     const Tensor& out) {
  const Device d = common_device("csr_sampled_dot", {{"row offsets", &row_offsets}, {"columns", &columns},
                                                     {"left operand", &a}, {"right operand", &b}, {"out", &out}});
  if (d.is_host()) return cpu::csr_sampled_dot(row_offsets, columns, a, b, out);
  backend(d).csr_sampled_dot(row_offsets, columns, a, b, out);
}

void scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out) {
  const Device d = common_device("scatter_add_rows", {{"gradient", &grad}, {"indices", &indices}, {"out", &out}});
  if (d.is_host()) return cpu::scatter_add_rows(grad, indices, out);
  backend(d).scatter_add_rows(grad, indices, out);
}

void one_hot(const Tensor& labels, const Tensor& out) {
  const Device d = common_device("one_hot", {{"labels", &labels}, {"out", &out}});
  if (d.is_host()) return cpu::one_hot(labels, out);
  backend(d).one_hot(labels, out);
}

// ---- normalisation --------------------------------------------------------------------------

void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance) {
  const Device d = common_device("channel_moments", {{"input", &x}, {"mean", &mean}, {"variance", &variance}});
  if (d.is_host()) return cpu::channel_moments(x, mean, variance);
  backend(d).channel_moments(x, mean, variance);
}

void update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                            const Tensor& running_var, double momentum, double variance_scale) {
  const Device d = common_device("update_running_moments", {{"mean", &mean}, {"variance", &variance},
                                                            {"running mean", &running_mean}, {"running variance", &running_var}});
  if (d.is_host()) return cpu::update_running_moments(mean, variance, running_mean, running_var, momentum, variance_scale);
  backend(d).update_running_moments(mean, variance, running_mean, running_var, momentum, variance_scale);
}

void csr_column_set(const Tensor& row_offsets, const Tensor& columns, std::int64_t cols, const Tensor& out) {
  const Device d = common_device("csr_column_set", {{"row offsets", &row_offsets}, {"columns", &columns}, {"out", &out}});
  if (d.is_host()) return cpu::csr_column_set(row_offsets, columns, cols, out);
  backend(d).csr_column_set(row_offsets, columns, cols, out);
}

void csr_t_matmul_at_rows(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                          const Tensor& rows, std::int64_t cols, const Tensor& out) {
  const Device d = common_device("csr_t_matmul_at_rows", {{"row offsets", &row_offsets}, {"columns", &columns},
                                                          {"values", &values}, {"dense operand", &dense},
                                                          {"rows", &rows}, {"out", &out}});
  if (d.is_host()) return cpu::csr_t_matmul_at_rows(row_offsets, columns, values, dense, rows, cols, out);
  backend(d).csr_t_matmul_at_rows(row_offsets, columns, values, dense, rows, cols, out);
}

void rows_to_dense(const Tensor& rows, const Tensor& values, const Tensor& out) {
  const Device d = common_device("rows_to_dense", {{"rows", &rows}, {"values", &values}, {"out", &out}});
  if (d.is_host()) return cpu::rows_to_dense(rows, values, out);
  backend(d).rows_to_dense(rows, values, out);
}

void take_rows(const Tensor& dense, const Tensor& rows, const Tensor& out) {
  const Device d = common_device("take_rows", {{"dense operand", &dense}, {"rows", &rows}, {"out", &out}});
  if (d.is_host()) return cpu::take_rows(dense, rows, out);
  backend(d).take_rows(dense, rows, out);
}

// ---- optimizer updates ----------------------------------------------------------------------

void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                bool nesterov, double weight_decay) {
  const Device d = common_device("sgd_update", {{"parameter", &param}, {"gradient", &grad}, {"velocity", &velocity}});
  if (d.is_host()) return cpu::sgd_update(param, grad, velocity, lr, momentum, nesterov, weight_decay);
  backend(d).sgd_update(param, grad, velocity, lr, momentum, nesterov, weight_decay);
}

void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr, double eps,
                    double weight_decay) {
  const Device d = common_device("adagrad_update", {{"parameter", &param}, {"gradient", &grad}, {"sum of squares", &sum_squares}});
  if (d.is_host()) return cpu::adagrad_update(param, grad, sum_squares, lr, eps, weight_decay);
  backend(d).adagrad_update(param, grad, sum_squares, lr, eps, weight_decay);
}

void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& momentum_buffer,
                    double lr, double alpha, double eps, double momentum, double weight_decay) {
  const Device d = common_device("rmsprop_update", {{"parameter", &param}, {"gradient", &grad}, {"square average", &square_avg},
                                                    {"momentum buffer", &momentum_buffer}});
  if (d.is_host()) return cpu::rmsprop_update(param, grad, square_avg, momentum_buffer, lr, alpha, eps, momentum, weight_decay);
  backend(d).rmsprop_update(param, grad, square_avg, momentum_buffer, lr, alpha, eps, momentum, weight_decay);
}

void adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t) {
  const Device d = common_device("adam_update", {{"parameter", &param}, {"gradient", &grad}, {"first moment", &m}, {"second moment", &v}});
  if (d.is_host()) return cpu::adam_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, t);
  backend(d).adam_update(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, t);
}

void sgd_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& velocity, double lr, double momentum,
                     bool nesterov, double weight_decay) {
  const Device d = common_device("sgd_update_rows", {{"parameter", &param}, {"rows", &grad.rows}, {"gradient", &grad.values},
                                                     {"gradient's dense operand", &grad.product.dense}, {"velocity", &velocity}});
  if (d.is_host()) return cpu::sgd_update_rows(param, grad, velocity, lr, momentum, nesterov, weight_decay);
  backend(d).sgd_update_rows(param, grad, velocity, lr, momentum, nesterov, weight_decay);
}

void adagrad_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& sum_squares, double lr, double eps,
                         double weight_decay) {
  const Device d = common_device("adagrad_update_rows", {{"parameter", &param}, {"rows", &grad.rows}, {"gradient", &grad.values},
                                                         {"gradient's dense operand", &grad.product.dense},
                                                         {"sum of squares", &sum_squares}});
  if (d.is_host()) return cpu::adagrad_update_rows(param, grad, sum_squares, lr, eps, weight_decay);
  backend(d).adagrad_update_rows(param, grad, sum_squares, lr, eps, weight_decay);
}

void adam_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& m, const Tensor& v, double lr,
                      double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t) {
  const Device d = common_device("adam_update_rows", {{"parameter", &param}, {"rows", &grad.rows}, {"gradient", &grad.values},
                                                      {"gradient's dense operand", &grad.product.dense},
                                                      {"first moment", &m}, {"second moment", &v}});
  if (d.is_host()) return cpu::adam_update_rows(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, t);
  backend(d).adam_update_rows(param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, t);
}

double gradient_sum_of_squares(const Tensor& grad) {
  const Device d = common_device("gradient_sum_of_squares", {{"gradient", &grad}});
  return d.is_host() ? cpu::gradient_sum_of_squares(grad) : backend(d).gradient_sum_of_squares(grad);
}

void scale_gradient(const Tensor& grad, double factor) {
  const Device d = common_device("scale_gradient", {{"gradient", &grad}});
  if (d.is_host()) return cpu::scale_gradient(grad, factor);
  backend(d).scale_gradient(grad, factor);
}

// ---- random ---------------------------------------------------------------------------------

void dropout_mask(Generator& gen, double keep, const Tensor& out) {
  const Device d = common_device("dropout_mask", {{"out", &out}});
  if (d.is_host()) return cpu::dropout_mask(gen, keep, out);
  backend(d).dropout_mask(gen, keep, out);
}

// ---- recurrent cells ------------------------------------------------------------------------

void lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state) {
  const Device d = common_device("lstm_cell", {{"gates", &gates}, {"previous cell", &c_prev}, {"state", &state}});
  if (d.is_host()) return cpu::lstm_cell(gates, c_prev, state);
  backend(d).lstm_cell(gates, c_prev, state);
}

void lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                        const Tensor& out) {
  const Device d = common_device("lstm_cell_grad", {{"gates", &gates}, {"previous cell", &c_prev}, {"state", &state},
                                                    {"state gradient", &dstate}, {"out", &out}});
  if (d.is_host()) return cpu::lstm_cell_backward(gates, c_prev, state, dstate, out);
  backend(d).lstm_cell_backward(gates, c_prev, state, dstate, out);
}

// Host only: on a device an LSTM layer runs as its step-by-step ops (recurrent_layers.cpp).
void lstm_sequence(const Tensor& projected, const Tensor& w_hh, const Tensor& h0, const Tensor& c0, const Tensor& record) {
  const Device d = common_device("lstm_sequence", {{"projected inputs", &projected}, {"weight_hh", &w_hh}, {"h0", &h0},
                                                   {"c0", &c0}, {"record", &record}});
  if (!d.is_host()) throw DeviceError("lstm_sequence runs on the host, not on " + d.str());
  cpu::lstm_sequence(projected, w_hh, h0, c0, record);
}

void lstm_sequence_backward(const Tensor& record, const Tensor& grad, const Tensor& w_hh, const Tensor& h0,
                            const Tensor& c0, const Tensor& out) {
  const Device d = common_device("lstm_sequence_grad", {{"record", &record}, {"gradient", &grad}, {"weight_hh", &w_hh},
                                                        {"h0", &h0}, {"c0", &c0}, {"out", &out}});
  if (!d.is_host()) throw DeviceError("lstm_sequence_grad runs on the host, not on " + d.str());
  cpu::lstm_sequence_backward(record, grad, w_hh, h0, c0, out);
}

void gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h) {
  const Device d = common_device("gru_cell", {{"input gates", &gx}, {"hidden gates", &gh}, {"previous state", &h_prev}, {"out", &h}});
  if (d.is_host()) return cpu::gru_cell(gx, gh, h_prev, h);
  backend(d).gru_cell(gx, gh, h_prev, h);
}

void gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh, const Tensor& out) {
  const Device d = common_device("gru_cell_grad", {{"input gates", &gx}, {"hidden gates", &gh}, {"previous state", &h_prev},
                                                   {"state gradient", &dh}, {"out", &out}});
  if (d.is_host()) return cpu::gru_cell_backward(gx, gh, h_prev, dh, out);
  backend(d).gru_cell_backward(gx, gh, h_prev, dh, out);
}

Tensor csr_matmul(const CsrMatrix& a, const Tensor& dense) {
  if (!a.defined() || !dense.defined() || dense.rank() != 2) throw ShapeError("csr_matmul: expected a CSR matrix and a 2-D dense operand");
  Tensor out = Tensor::empty(Shape{a.rows(), dense.shape()[1]}, a.dtype(), dense.device());
  csr_matmul(a.row_offsets().to(dense.device()), a.columns().to(dense.device()), a.values().to(dense.device()), dense, out);
  return out;
}

Tensor csr_t_matmul(const CsrMatrix& a, const Tensor& dense) {
  if (!a.defined() || !dense.defined() || dense.rank() != 2) throw ShapeError("csr_t_matmul: expected a CSR matrix and a 2-D dense operand");
  Tensor out = Tensor::empty(Shape{a.cols(), dense.shape()[1]}, a.dtype(), dense.device());
  csr_t_matmul(a.row_offsets().to(dense.device()), a.columns().to(dense.device()), a.values().to(dense.device()), dense, out);
  return out;
}

}  // namespace stheno
