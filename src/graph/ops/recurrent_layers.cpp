// LSTM and GRU layers as compositions: one input projection for all steps, then an LSTM's
// whole sequence as one op on the host, or per step a recurrent product and a fused cell.
// Gradients come from the ops' rules.
#include "layer_record.hpp"
#include "lstm_sequence.hpp"
#include "recurrent_product.hpp"
#include "stheno/graph/ops.hpp"

namespace stheno {

namespace {

// Checks x (N, T, input) with T >= 1 and the state's shapes; returns (N, T).
std::pair<std::int64_t, std::int64_t> check_sequence(const char* op, const Node& x, const Node& w_ih, const Node& w_hh,
                                                     std::int64_t gates, const RecurrentState& state) {
  auto fail = [&](const std::string& why) {
    throw ShapeError(std::string(op) + " of " + x.describe() + ", weight_ih " + w_ih.describe() + ", weight_hh " +
                     w_hh.describe() + ": " + why);
  };
  if (w_hh.rank() != 2 || w_hh.shape()[1] != gates * w_hh.shape()[0])
    fail("weight_hh must be (hidden, " + std::to_string(gates) + "·hidden)");
  const std::int64_t hidden = w_hh.shape()[0];
  if (w_ih.rank() != 2 || w_ih.shape()[1] != gates * hidden)
    fail("weight_ih must be (input, " + std::to_string(gates * hidden) + ")");
  if (x.rank() != 3 || x.shape()[2] != w_ih.shape()[0])
    fail("the input must be (batch, steps, " + std::to_string(w_ih.shape()[0]) + ")");
  const std::int64_t n = x.shape()[0], t = x.shape()[1];
  if (t == 0) fail("empty sequence: the input has no steps");
  for (const Node* s : {&state.h, &state.c})
    if (s->defined() && s->shape() != Shape{n, hidden}) fail("state " + s->describe() + " must be " + Shape{n, hidden}.str());
  return {n, t};
}

// Whether x is a lookup (embedding, dense gradient) with more lookups than its table has rows.
bool looks_up_more_rows_than_its_table(const Node& x) {
  if (x.kind() != NodeKind::op || x.op()->kind() != OpKind::embedding) return false;
  const OpAttributes attributes = x.op()->attributes();
  const auto* gradient = std::get_if<TableGradient>(&attributes);
  return gradient && *gradient == TableGradient::dense && x.input(1).shape().numel() > x.input(0).shape()[0];
}

// The input projection of every step in one product: x (N, T, in) -> (N, T, out). When x looks
// rows up in a table, x·W + b = (table·W + b)[indices]: with more lookups than table rows, the
// product of the table is the smaller one, and its adjoint adds the lookups' gradients per table
// row first, so the two products behind the weights' gradients are table-sized too (W4's byte
// LSTM, 1,024 lookups of an 86-row table: three 1024×64×512 products become 86-row ones).
// The layer's input then has no gradient of its own: grad() asked for one refuses, as for any
// node the cost does not depend on.
Node project(const Node& x, const Node& weight, const Node& bias) {
  if (looks_up_more_rows_than_its_table(x)) return embedding(matmul_add(bias, x.input(0), weight), x.input(1));
  const std::int64_t n = x.shape()[0], t = x.shape()[1];
  const Node flat = matmul_add(bias, reshape(x, {n * t, x.shape()[2]}), weight);
  return reshape(flat, {n, t, weight.shape()[1]});
}

Node step_of(const Node& sequence, std::int64_t t) {
  return reshape(slice(sequence, 1, t, t + 1), {sequence.shape()[0], sequence.shape()[2]});
}

Node zeros(const Node& x, std::int64_t n, std::int64_t hidden) {
  return x.graph().constant(Tensor::zeros({n, hidden}, x.dtype()));
}

// lstm_sequence has host kernels only; a layer whose recurrent weight is on a device runs as
// its step-by-step ops, which every backend has. A weight with no value yet (an input of a
// deferred graph) is taken to be on the host, where such graphs run unless told otherwise.
bool weight_on_host(const Node& w) {
  const bool has_value = w.graph().eager() || w.kind() == NodeKind::parameter || w.kind() == NodeKind::constant;
  return !has_value || w.value().device().is_host();
}

}  // namespace

Node lstm(const Node& x, const Node& w_ih, const Node& w_hh, const Node& bias, RecurrentState& state) {
  const auto [n, steps] = check_sequence("lstm", x, w_ih, w_hh, 4, state);
  const int first = x.graph().size();
  const RecurrentState initial = state;
  const std::int64_t hidden = w_hh.shape()[0];
  const Node projected = project(x, w_ih, bias);
  Node h = state.h, c = state.c.defined() ? state.c : zeros(x, n, hidden);
  if (weight_on_host(w_hh)) {
    // One op for the whole sequence (see lstm_sequence in kernels/recurrent.hpp for why).
    const Node record = lstm_sequence(projected, w_hh, c, h);
    const Node last = reshape(slice(record, 1, steps - 1, steps), {n, kLstmRecordParts * hidden});
    state = {slice(last, 1, 0, hidden), slice(last, 1, hidden, 2 * hidden)};
    const Node out = slice(record, 2, 0, hidden);
    record_layer(LayerKind::lstm, {x, w_ih, w_hh, bias, initial.h, initial.c}, {out, state.h, state.c}, first);
    return out;
  }
  std::vector<Node> outputs;
  const auto w_hh_transposed = std::make_shared<Node>();
  for (std::int64_t t = 0; t < steps; ++t) {
    // A zero initial h contributes nothing: the first step skips its product.
    const Node gates = h.defined() ? recurrent_product(step_of(projected, t), h, w_hh, w_hh_transposed) : step_of(projected, t);
    const Node both = lstm_cell(gates, c);
    h = slice(both, 1, 0, hidden);
    c = slice(both, 1, hidden, 2 * hidden);
    outputs.push_back(h);
  }
  state = {h, c};
  const Node out = reshape(concat(outputs, 1), {n, steps, hidden});
  record_layer(LayerKind::lstm, {x, w_ih, w_hh, bias, initial.h, initial.c}, {out, h, c}, first);
  return out;
}

Node gru(const Node& x, const Node& w_ih, const Node& w_hh, const Node& b_ih, const Node& b_hh, RecurrentState& state) {
  const auto [n, steps] = check_sequence("gru", x, w_ih, w_hh, 3, state);
  const int first = x.graph().size();
  const Node initial_h = state.h;
  const std::int64_t hidden = w_hh.shape()[0];
  const Node projected = project(x, w_ih, b_ih);
  Node h = state.h.defined() ? state.h : zeros(x, n, hidden);
  std::vector<Node> outputs;
  const auto w_hh_transposed = std::make_shared<Node>();
  for (std::int64_t t = 0; t < steps; ++t) {
    h = gru_cell(step_of(projected, t), recurrent_product(b_hh, h, w_hh, w_hh_transposed), h);
    outputs.push_back(h);
  }
  state = {h, Node()};
  const Node out = reshape(concat(outputs, 1), {n, steps, hidden});
  record_layer(LayerKind::gru, {x, w_ih, w_hh, b_ih, b_hh, initial_h}, {out, h}, first);
  return out;
}

}  // namespace stheno
