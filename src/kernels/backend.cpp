#include "stheno/kernels/backend.hpp"

#include <array>

#include "stheno/kernels/compare.hpp"

namespace stheno {

namespace {
constexpr std::array<std::string_view, 45> kOpKindNames = {
    "unary", "binary", "matmul", "matmul_add", "reduce", "argmax", "softmax", "log_softmax", "one_hot",
    "softmax_cross_entropy", "dropout_mask", "im2col", "col2im", "conv2d", "conv2d_input_grad", "conv2d_weight_grad",
    "max_pool2d", "max_pool2d_grad", "embedding", "embedding_grad", "batch_norm_stats", "batch_norm_training_gate",
    "batch_norm_replica_mean", "lstm_cell", "lstm_cell_grad", "lstm_sequence", "lstm_sequence_grad", "gru_cell", "gru_cell_grad", "reshape", "permute", "slice", "unslice",
    "unslice_add", "concat", "broadcast", "sum_to", "laid_out", "csr_matmul", "csr_t_matmul", "csr_sampled_dot",
    "csr_column_set", "csr_t_matmul_at_rows", "rows_to_dense", "take_rows"};
static_assert(kOpKindNames.size() == static_cast<std::size_t>(OpKind::take_rows) + 1);
}  // namespace

std::string_view op_kind_name(OpKind kind) { return kOpKindNames[static_cast<std::size_t>(kind)]; }

Backend& backend(Device device) { return static_cast<Backend&>(device_runtime(device)); }

Device operands_device(std::string_view kernel, std::initializer_list<std::pair<const char*, const Tensor*>> operands) {
  const std::pair<const char*, const Tensor*>* first = nullptr;
  for (const auto& operand : operands) {
    if (!operand.second->defined()) continue;
    if (!first) {
      first = &operand;
    } else if (operand.second->device() != first->second->device()) {
      throw DeviceError(std::string(kernel) + ": operands on different devices: the " + first->first + " is on " +
                        first->second->device().str() + ", the " + operand.first + " on " + operand.second->device().str() +
                        "; move one with to(device)");
    }
  }
  return first ? first->second->device() : Device::cpu();
}

bool device_supports(Device device, OpKind kind, DType dtype) {
  return device.is_host() || backend(device).supports(kind, dtype);
}

void Backend::unsupported(std::string_view kernel) const {
  throw DeviceError(std::string(kernel) + " is not implemented on " + device().str() + " (" + name() + ")");
}

void Backend::unary(UnaryOp op, const Tensor&, const Tensor&) { unsupported(op_name(op)); }
void Backend::binary(BinaryOp op, const Tensor&, const Tensor&, const Tensor&) { unsupported(op_name(op)); }
void Backend::reduce(ReduceOp, const Tensor&, const Axes&, bool, const Tensor&) { unsupported("reduce"); }
void Backend::argmax(const Tensor&, int, bool, const Tensor&) { unsupported("argmax"); }
void Backend::matmul(const Tensor&, const Tensor&, const Tensor&, double, double) { unsupported("matmul"); }
void Backend::softmax(const Tensor&, int, const Tensor&, bool log_form) { unsupported(log_form ? "log_softmax" : "softmax"); }
void Backend::softmax_cross_entropy(const Tensor&, const Tensor&, const Tensor&) { unsupported("softmax_cross_entropy"); }
bool Backend::all_finite(const Tensor& t) { return stheno::all_finite(t.to(Device::cpu())); }
void Backend::im2col(const Tensor&, const Conv2dGeometry&, const Tensor&) { unsupported("im2col"); }
void Backend::col2im(const Tensor&, const Conv2dGeometry&, const Tensor&) { unsupported("col2im"); }
void Backend::conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Conv2dGeometry&, const Tensor&) { unsupported("conv2d"); }
void Backend::conv2d_backward_input(const Tensor&, const Tensor&, const Conv2dGeometry&, const Tensor&) { unsupported("conv2d_input_grad"); }
void Backend::conv2d_backward_weight(const Tensor&, const Tensor&, const Conv2dGeometry&, const Tensor&) { unsupported("conv2d_weight_grad"); }
void Backend::max_pool2d(const Tensor&, const Pool2dWindow&, const Tensor&) { unsupported("max_pool2d"); }
void Backend::max_pool2d_backward(const Tensor&, const Tensor&, const Tensor&, const Pool2dWindow&, const Tensor&) { unsupported("max_pool2d_grad"); }
void Backend::gather_rows(const Tensor&, const Tensor&, const Tensor&) { unsupported("gather_rows"); }
void Backend::scatter_add_rows(const Tensor&, const Tensor&, const Tensor&) { unsupported("scatter_add_rows"); }
void Backend::csr_matmul(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("csr_matmul");
}
void Backend::csr_t_matmul(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("csr_t_matmul");
}
void Backend::csr_sampled_dot(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  unsupported("csr_sampled_dot");
}
void Backend::csr_column_set(const Tensor&, const Tensor&, std::int64_t, const Tensor&) { unsupported("csr_column_set"); }
void Backend::csr_t_matmul_at_rows(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                   std::int64_t, const Tensor&) {
  unsupported("csr_t_matmul_at_rows");
}
void Backend::rows_to_dense(const Tensor&, const Tensor&, const Tensor&) { unsupported("rows_to_dense"); }
void Backend::take_rows(const Tensor&, const Tensor&, const Tensor&) { unsupported("take_rows"); }
void Backend::one_hot(const Tensor&, const Tensor&) { unsupported("one_hot"); }
void Backend::channel_moments(const Tensor&, const Tensor&, const Tensor&) { unsupported("channel_moments"); }
void Backend::update_running_moments(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, double) { unsupported("update_running_moments"); }
void Backend::sgd_update(const Tensor&, const Tensor&, const Tensor&, double, double, bool, double) { unsupported("sgd_update"); }
void Backend::adagrad_update(const Tensor&, const Tensor&, const Tensor&, double, double, double) { unsupported("adagrad_update"); }
void Backend::rmsprop_update(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, double, double, double, double) { unsupported("rmsprop_update"); }
void Backend::adam_update(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double, double, double, double, double, bool, std::int64_t) { unsupported("adam_update"); }
void Backend::sgd_update_rows(const Tensor&, const RowGradient&, const Tensor&, double, double, bool, double) {
  unsupported("sgd_update_rows");
}
void Backend::adagrad_update_rows(const Tensor&, const RowGradient&, const Tensor&, double, double, double) {
  unsupported("adagrad_update_rows");
}
void Backend::adam_update_rows(const Tensor&, const RowGradient&, const Tensor&, const Tensor&, double, double, double,
                               double, double, bool, std::int64_t) {
  unsupported("adam_update_rows");
}
double Backend::gradient_sum_of_squares(const Tensor&) { unsupported("gradient_sum_of_squares"); }
void Backend::scale_gradient(const Tensor&, double) { unsupported("scale_gradient"); }
void Backend::dropout_mask(Generator&, double, const Tensor&) { unsupported("dropout_mask"); }
void Backend::lstm_cell(const Tensor&, const Tensor&, const Tensor&) { unsupported("lstm_cell"); }
void Backend::lstm_cell_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) { unsupported("lstm_cell_grad"); }
void Backend::gru_cell(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { unsupported("gru_cell"); }
void Backend::gru_cell_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&) { unsupported("gru_cell_grad"); }

}  // namespace stheno
