// The gradient-check table: every differentiable op, checked against central differences in
// float64 (including broadcasting and non-contiguous inputs), and the eager machine checked
// against the tape machine to 1e-12.
#include <gtest/gtest.h>

#include "gradient_check.hpp"

using namespace stheno;
using stheno::testing::GradientCase;

namespace {

// sum(x ⊙ r) for a fixed random r: a scalar whose gradient differs from element to element.
Node weighted(const Node& x) {
  Generator gen(static_cast<std::uint64_t>(x.shape().numel()) * 7919 + static_cast<std::uint64_t>(x.rank()));
  return sum(x * x.graph().constant(Tensor::uniform(x.shape(), gen, -1, 1, DType::f64)));
}

GradientCase unary_case(const std::string& name, Node (*f)(const Node&), double low = -2, double high = 2) {
  return {name, {{3, 4}}, [f](Graph&, const std::vector<Node>& p) { return weighted(f(p[0])); }, low, high};
}

std::vector<GradientCase> cases() {
  std::vector<GradientCase> c;
  c.push_back(unary_case("neg", [](const Node& x) { return neg(x); }));
  c.push_back(unary_case("abs", [](const Node& x) { return abs(x); }));
  c.push_back(unary_case("exp", [](const Node& x) { return exp(x); }));
  c.push_back(unary_case("log", [](const Node& x) { return log(x); }, 0.2, 3));
  c.push_back(unary_case("sqrt", [](const Node& x) { return sqrt(x); }, 0.2, 3));
  c.push_back(unary_case("square", [](const Node& x) { return square(x); }));
  c.push_back(unary_case("tanh", [](const Node& x) { return tanh(x); }));
  c.push_back(unary_case("sigmoid", [](const Node& x) { return sigmoid(x); }));
  c.push_back(unary_case("relu", [](const Node& x) { return relu(x); }));

  auto binary_case = [&](const std::string& name, Node (*f)(const Node&, const Node&), double low = -2, double high = 2) {
    c.push_back({name, {{3, 4}, {3, 4}}, [f](Graph&, const std::vector<Node>& p) { return weighted(f(p[0], p[1])); }, low, high});
    c.push_back({name + "_broadcast", {{2, 3, 4}, {3, 1}},
                 [f](Graph&, const std::vector<Node>& p) { return weighted(f(p[0], p[1])); }, low, high});
    c.push_back({name + "_broadcast_left", {{4}, {2, 3, 4}},
                 [f](Graph&, const std::vector<Node>& p) { return weighted(f(p[0], p[1])); }, low, high});
    c.push_back({name + "_transposed", {{4, 3}, {3, 4}},
                 [f](Graph&, const std::vector<Node>& p) { return weighted(f(transpose(p[0]), p[1])); }, low, high});
  };
  binary_case("add", [](const Node& a, const Node& b) { return add(a, b); });
  binary_case("sub", [](const Node& a, const Node& b) { return sub(a, b); });
  binary_case("mul", [](const Node& a, const Node& b) { return mul(a, b); });
  binary_case("div", [](const Node& a, const Node& b) { return div(a, b); }, 0.5, 2);
  binary_case("pow", [](const Node& a, const Node& b) { return pow(a, b); }, 0.5, 2);
  binary_case("maximum", [](const Node& a, const Node& b) { return maximum(a, b); });
  binary_case("minimum", [](const Node& a, const Node& b) { return minimum(a, b); });
  binary_case("sigmoid_grad", [](const Node& a, const Node& b) { return binary(BinaryOp::sigmoid_grad, a, b); });
  binary_case("tanh_grad", [](const Node& a, const Node& b) { return binary(BinaryOp::tanh_grad, a, b); });
  binary_case("relu_grad", [](const Node& a, const Node& b) { return binary(BinaryOp::relu_grad, a, b); });
  c.push_back({"scalar_operands", {{3, 4}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(2.0 - p[0] * 3.0 + 1.0 / (p[0] * p[0] + 1.0));
               }});

  for (bool keepdims : {false, true}) {
    const std::string k = keepdims ? "_keepdims" : "";
    c.push_back({"sum_all" + k, {{3, 4}}, [](Graph&, const std::vector<Node>& p) { return weighted(sum(p[0])); }});
    c.push_back({"sum_axis0" + k, {{3, 4, 2}}, [keepdims](Graph&, const std::vector<Node>& p) { return weighted(sum(p[0], 0, keepdims)); }});
    c.push_back({"sum_axes02" + k, {{3, 4, 2}}, [keepdims](Graph&, const std::vector<Node>& p) { return weighted(sum(p[0], {0, 2}, keepdims)); }});
    c.push_back({"mean_axis1" + k, {{3, 4, 2}}, [keepdims](Graph&, const std::vector<Node>& p) { return weighted(mean(p[0], 1, keepdims)); }});
    c.push_back({"max_axis1" + k, {{3, 5}}, [keepdims](Graph&, const std::vector<Node>& p) { return weighted(max(p[0], 1, keepdims)); }});
    c.push_back({"max_axes01" + k, {{3, 4, 2}}, [keepdims](Graph&, const std::vector<Node>& p) { return weighted(max(p[0], {0, 1}, keepdims)); }});
  }
  c.push_back({"mean_transposed", {{4, 3}}, [](Graph&, const std::vector<Node>& p) { return weighted(mean(transpose(p[0]), 1)); }});

  auto mm = [&](const std::string& name, Shape a, Shape b) {
    c.push_back({"matmul_" + name, {a, b}, [](Graph&, const std::vector<Node>& p) { return weighted(matmul(p[0], p[1])); }});
  };
  mm("2d", {3, 4}, {4, 5});
  mm("matvec", {5, 5}, {5});
  mm("vecmat", {4}, {4, 3});
  mm("dot", {6}, {6});
  mm("batched", {2, 3, 4}, {2, 4, 5});
  mm("batched_broadcast", {2, 3, 4}, {4, 5});
  mm("batched_broadcast_left", {3, 4}, {2, 4, 5});
  c.push_back({"matmul_transposed", {{4, 3}, {5, 4}},
               [](Graph&, const std::vector<Node>& p) { return weighted(matmul(transpose(p[0]), transpose(p[1]))); }});

  c.push_back({"outer", {{3}, {4}}, [](Graph&, const std::vector<Node>& p) { return weighted(outer(p[0], p[1])); }});
  const Conv2dGeometry geo{2, 5, 4, 3, 2, 2, 1, 1, 1, 1, 2};
  c.push_back({"im2col", {{2, 5, 4}}, [geo](Graph&, const std::vector<Node>& p) { return weighted(im2col(p[0], geo)); }});
  c.push_back({"im2col_batched", {{3, 2, 5, 4}}, [geo](Graph&, const std::vector<Node>& p) { return weighted(im2col(p[0], geo)); }});
  c.push_back({"col2im", {{12, 12}}, [geo](Graph&, const std::vector<Node>& p) { return weighted(col2im(p[0], geo)); }});
  auto conv = [&](const std::string& name, Shape x, Shape w, Conv2dOptions o, bool bias) {
    std::vector<Shape> shapes{x, w};
    if (bias) shapes.push_back(Shape{w[0]});
    c.push_back({"conv2d_" + name, shapes, [o, bias](Graph&, const std::vector<Node>& p) {
                   return weighted(conv2d(p[0], p[1], bias ? p[2] : Node(), o));
                 }});
  };
  conv("3x3_pad1_bias", {2, 3, 5, 6}, {4, 3, 3, 3}, {1, 1, 1, 1}, true);
  conv("stride2", {1, 2, 7, 5}, {3, 2, 3, 2}, {2, 0, 1, 1}, false);
  conv("dilation2_pad2", {1, 2, 6, 6}, {2, 2, 3, 3}, {1, 2, 2, 1}, true);
  conv("groups2", {2, 4, 5, 5}, {6, 2, 3, 3}, {1, 1, 1, 2}, true);
  conv("per_axis", {2, 2, 7, 6}, {3, 2, 3, 2}, {{2, 1}, {1, 0}, {1, 2}, 1}, true);
  c.push_back({"max_pool2d", {{2, 3, 4, 6}}, [](Graph&, const std::vector<Node>& p) { return weighted(max_pool2d(p[0], 2)); }});
  c.push_back({"max_pool2d_stride1", {{1, 2, 5, 5}}, [](Graph&, const std::vector<Node>& p) { return weighted(max_pool2d(p[0], 3, 1)); }});
  c.push_back({"max_pool2d_per_axis_padded", {{2, 2, 5, 6}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(max_pool2d(p[0], {3, 2}, {2, 1}, {1, 1}));
               }});
  c.push_back({"avg_pool2d_per_axis", {{1, 2, 5, 6}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(avg_pool2d(p[0], {2, 3}, {1, 2}, {1, 0}));
               }});
  c.push_back({"avg_pool2d_pad1", {{2, 2, 5, 5}}, [](Graph&, const std::vector<Node>& p) { return weighted(avg_pool2d(p[0], 3, 2, 1)); }});
  c.push_back({"flatten", {{2, 3, 4}}, [](Graph&, const std::vector<Node>& p) { return weighted(flatten(p[0])); }});
  c.push_back({"reshape", {{3, 4}}, [](Graph&, const std::vector<Node>& p) { return weighted(reshape(p[0], {2, -1, 2})); }});
  c.push_back({"reshape_of_transpose", {{3, 4}}, [](Graph&, const std::vector<Node>& p) { return weighted(reshape(transpose(p[0]), {12})); }});
  // A layout requirement that a transpose does not meet: a planned copy, whose gradient passes through.
  c.push_back({"laid_out_copy", {{3, 4}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(laid_out(transpose(p[0]), Layout::contiguous) * laid_out(transpose(p[0]), Layout::unit_rows));
               }});
  c.push_back({"permute", {{2, 3, 4}}, [](Graph&, const std::vector<Node>& p) { return weighted(permute(p[0], {2, 0, 1})); }});
  c.push_back({"slice", {{5, 4}}, [](Graph&, const std::vector<Node>& p) { return weighted(slice(p[0], 0, 1, 5, 2)); }});
  c.push_back({"slice_of_slice", {{5, 6}}, [](Graph&, const std::vector<Node>& p) { return weighted(slice(slice(p[0], 1, 1, 6), 0, 0, 3)); }});
  c.push_back({"concat", {{2, 3}, {4, 3}}, [](Graph&, const std::vector<Node>& p) { return weighted(concat({p[0], p[1], p[0]}, 0)); }});
  c.push_back({"concat_axis1", {{2, 3}, {2, 1}}, [](Graph&, const std::vector<Node>& p) { return weighted(concat({p[0], p[1]}, -1)); }});
  c.push_back({"broadcast_to", {{3, 1}}, [](Graph&, const std::vector<Node>& p) { return weighted(broadcast_to(p[0], {2, 3, 4})); }});
  c.push_back({"sum_to", {{2, 3, 4}}, [](Graph&, const std::vector<Node>& p) { return weighted(sum_to(p[0], {3, 1})); }});

  c.push_back({"softmax", {{3, 5}}, [](Graph&, const std::vector<Node>& p) { return weighted(softmax(p[0])); }});
  c.push_back({"softmax_axis0", {{3, 5}}, [](Graph&, const std::vector<Node>& p) { return weighted(softmax(p[0], 0)); }});
  c.push_back({"log_softmax", {{3, 5}}, [](Graph&, const std::vector<Node>& p) { return weighted(log_softmax(p[0])); }});
  c.push_back({"softmax_cross_entropy_labels", {{4, 5}}, [](Graph& g, const std::vector<Node>& p) {
                 return softmax_cross_entropy(p[0], g.constant(Tensor::from<std::int32_t>({0, 3, 4, 1})));
               }});
  c.push_back({"softmax_cross_entropy_targets", {{4, 5}, {4, 5}}, [](Graph&, const std::vector<Node>& p) {
                 return softmax_cross_entropy(p[0], softmax(p[1]));
               }});
  // Targets that do not sum to 1 (the loss is still linear in them).
  c.push_back({"softmax_cross_entropy_unnormalised_targets", {{4, 5}, {4, 5}}, [](Graph&, const std::vector<Node>& p) {
                 return softmax_cross_entropy(p[0], p[1]);
               }});
  c.push_back({"mse", {{3, 4}, {3, 4}}, [](Graph&, const std::vector<Node>& p) { return mse(p[0], p[1]); }});

  // Dropout: the mask generator is rewound before every evaluation, so every run sees one mask.
  auto state = std::make_shared<DropoutState>();
  state->p = 0.3;
  state->generator = Generator(5);
  const Generator::State start = state->generator.state();
  GradientCase drop{"dropout", {{4, 6}}, [state](Graph&, const std::vector<Node>& p) { return weighted(dropout(p[0], state)); }};
  drop.before_run = [state, start] { state->generator.set_state(start); };
  c.push_back(drop);

  c.push_back({"matmul_add_bias_row", {{4}, {3, 5}, {5, 4}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(matmul_add(p[0], p[1], p[2]));
               }});
  c.push_back({"matmul_add_full_transposed", {{3, 4}, {5, 3}, {5, 4}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(matmul_add(p[0], transpose(p[1]), p[2]));
               }});
  // A weight used at several steps: its gradient sums products that add into one buffer.
  c.push_back({"matmul_gradients_accumulated", {{3, 3}, {2, 3}}, [](Graph&, const std::vector<Node>& p) {
                 Node h = p[1];
                 for (int t = 0; t < 3; ++t) h = tanh(matmul(h, p[0]));
                 return weighted(h);
               }});
  // Batch normalisation in training mode, where the batch statistics depend on x, and in
  // evaluation mode, where the running statistics are constants.
  auto bn = [](const Node& x, const Node& gamma, const Node& beta, bool training = true) {
    auto state = std::make_shared<BatchNormState>();
    // On x's device: the cases run on device backends too (x is a parameter, so it has a value).
    const Device device = x.value().device();
    state->running_mean = Tensor::full({x.shape()[1]}, 0.3, DType::f64, device);
    state->running_var = Tensor::full({x.shape()[1]}, 1.7, DType::f64, device);
    state->training = training;
    return batch_norm(x, gamma, beta, state);
  };
  c.push_back({"batch_norm_evaluation", {{3, 2, 3, 2}, {2}, {2}}, [bn](Graph&, const std::vector<Node>& p) {
                 return weighted(bn(p[0], p[1], p[2], false));
               }});
  c.push_back({"batch_norm_images", {{3, 2, 3, 2}, {2}, {2}}, [bn](Graph&, const std::vector<Node>& p) {
                 return weighted(bn(p[0], p[1], p[2]));
               }});
  c.push_back({"batch_norm_features", {{5, 3}, {3}, {3}}, [bn](Graph&, const std::vector<Node>& p) {
                 return weighted(bn(p[0], p[1], p[2]));
               }});
  // Embeddings and recurrent cells and layers (gradients through time).
  auto indices = [](Graph& g, std::vector<std::int32_t> v, Shape s) {
    return g.constant(Tensor::from<std::int32_t>(std::span<const std::int32_t>(v), s));
  };
  c.push_back({"embedding_repeated_rows", {{5, 3}}, [indices](Graph& g, const std::vector<Node>& p) {
                 return weighted(embedding(p[0], indices(g, {0, 2, 2, 4, 0, 1}, {2, 3})));
               }});
  // Sparse products: a 3×4 pattern with an empty row and room for one entry more than it holds
  // (the spare value's gradient must be 0), checked through the values and the dense operands.
  auto pattern = [indices](Graph& g, const Node& values) {
    return CsrNode{indices(g, {0, 2, 2, 5}, {4}), indices(g, {0, 3, 1, 2, 3, 0}, {6}), values, 4};
  };
  c.push_back({"sparse_matmul", {{6}, {4, 5}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 return weighted(sparse_matmul(pattern(g, p[0]), p[1]));
               }});
  // The same pattern with int64 indices.
  auto pattern64 = [](Graph& g, const Node& values) {
    const auto longs = [&](std::vector<std::int64_t> v) { return g.constant(Tensor::from<std::int64_t>(v)); };
    return CsrNode{longs({0, 2, 2, 5}), longs({0, 3, 1, 2, 3, 0}), values, 4};
  };
  c.push_back({"sparse_matmul_int64_indices", {{6}, {4, 5}}, [pattern64](Graph& g, const std::vector<Node>& p) {
                 return weighted(sparse_matmul(pattern64(g, p[0]), p[1]));
               }});
  c.push_back({"embedding_bag_rows_gradient_int64_indices", {{6}, {4, 5}},
               [pattern64](Graph& g, const std::vector<Node>& p) {
                 return weighted(sparse_matmul(pattern64(g, p[0]), p[1], TableGradient::rows));
               }});
  c.push_back({"sparse_matmul_transposed_dense", {{6}, {5, 4}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 return weighted(sparse_matmul(pattern(g, p[0]), transpose(p[1])));
               }});
  c.push_back({"sparse_t_matmul", {{6}, {3, 2}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 return weighted(sparse_t_matmul(pattern(g, p[0]), p[1]));
               }});
  c.push_back({"sparse_sampled_dot", {{3, 5}, {4, 5}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 return weighted(sparse_sampled_dot(pattern(g, Node()), p[0], p[1]));
               }});
  c.push_back({"sparse_second_order", {{6}, {4, 3}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 const CsrNode a = pattern(g, p[0]);
                 const Node y = sparse_matmul(a, p[1]);
                 const Node dvalues = grad(sum(y * y), {a.values})[0];
                 return weighted(dvalues) + weighted(sparse_t_matmul(a, tanh(y)));
               }});
  // Row-sparse gradients: the table's gradient formed at the rows used (grad() returns its dense
  // form), and the row-set ops themselves, differentiated through each other.
  c.push_back({"embedding_rows_gradient", {{5, 3}}, [indices](Graph& g, const std::vector<Node>& p) {
                 return weighted(embedding(p[0], indices(g, {0, 2, 2, 4, 0, 1}, {2, 3}), TableGradient::rows));
               }});
  c.push_back({"embedding_bag_rows_gradient", {{6}, {4, 5}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 return weighted(sparse_matmul(pattern(g, p[0]), p[1], TableGradient::rows));
               }});
  c.push_back({"sparse_t_matmul_rows", {{6}, {3, 2}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 const RowSparseNode r = sparse_t_matmul_rows(pattern(g, p[0]), p[1]);
                 return weighted(r.values) + weighted(to_dense(r));
               }});
  c.push_back({"take_rows", {{5, 3}}, [indices](Graph& g, const std::vector<Node>& p) {
                 return weighted(take_rows(tanh(p[0]), indices(g, {0, 3, 4, -1}, {4})));
               }});
  c.push_back({"rows_second_order", {{6}, {4, 3}}, [pattern](Graph& g, const std::vector<Node>& p) {
                 const CsrNode a = pattern(g, p[0]);
                 const Node y = sparse_matmul(a, p[1], TableGradient::rows);
                 const Node dtable = grad(sum(tanh(y)), {p[1]})[0];
                 return weighted(dtable) + weighted(y);
               }});
  c.push_back({"slices_accumulated", {{3, 5}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(slice(p[0], 1, 0, 3)) + weighted(slice(p[0], 1, 2, 5) * 2.0) + weighted(p[0]) +
                        weighted(slice(p[0], 1, 1, 2));
               }});
  c.push_back({"lstm_cell", {{2, 12}, {2, 3}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(lstm_cell(p[0], p[1]));
               }});
  c.push_back({"gru_cell", {{2, 9}, {2, 9}, {2, 3}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(gru_cell(p[0], p[1], p[2]));
               }});
  c.push_back({"lstm_through_time", {{2, 4, 3}, {3, 8}, {2, 8}, {8}, {2, 2}, {2, 2}},
               [](Graph&, const std::vector<Node>& p) {
                 RecurrentState state{p[4], p[5]};
                 const Node hs = lstm(p[0], p[1], p[2], p[3], state);
                 return weighted(hs) + weighted(state.c);
               }, -1, 1});
  c.push_back({"lstm_zero_state", {{3, 2, 2}, {2, 12}, {3, 12}, {12}}, [](Graph&, const std::vector<Node>& p) {
                 RecurrentState state;
                 return weighted(lstm(p[0], p[1], p[2], p[3], state));
               }, -1, 1});
  // Enough rows that lstm_sequence shares them between two threads.
  c.push_back({"lstm_rows_between_threads", {{16, 4, 3}, {3, 24}, {6, 24}, {24}, {16, 6}, {16, 6}},
               [](Graph&, const std::vector<Node>& p) {
                 RecurrentState state{p[4], p[5]};
                 const Node hs = lstm(p[0], p[1], p[2], p[3], state);
                 return weighted(hs) + weighted(state.h) + weighted(state.c);
               }, -1, 1});
  c.push_back({"gru_through_time", {{2, 4, 3}, {3, 6}, {2, 6}, {6}, {6}, {2, 2}}, [](Graph&, const std::vector<Node>& p) {
                 RecurrentState state{p[5], Node()};
                 return weighted(gru(p[0], p[1], p[2], p[3], p[4], state));
               }, -1, 1});
  c.push_back({"embedding_lstm_cross_entropy", {{6, 3}, {3, 8}, {2, 8}, {8}, {2, 6}},
               [indices](Graph& g, const std::vector<Node>& p) {
                 RecurrentState state;
                 const Node x = embedding(p[0], indices(g, {1, 5, 0, 1, 2, 2, 3, 4}, {2, 4}));
                 const Node hs = lstm(x, p[1], p[2], p[3], state);
                 return softmax_cross_entropy(matmul(reshape(hs, {8, 2}), p[4]),
                                              indices(g, {5, 0, 1, 2, 2, 3, 4, 4}, {8}));
               }, -1, 1});

  // Second-order: the gradient of a gradient, for elementwise ops and matmul.
  auto second = [&](const std::string& name, Shape s, Node (*f)(const Node&)) {
    c.push_back({"grad_of_grad_" + name, {s}, [f](Graph&, const std::vector<Node>& p) {
                   return weighted(grad(weighted(f(p[0])), {p[0]})[0]);
                 }, 0.3, 2});
  };
  second("tanh", {3, 4}, [](const Node& x) { return tanh(x); });
  second("sigmoid", {3, 4}, [](const Node& x) { return sigmoid(x); });
  second("exp", {3, 4}, [](const Node& x) { return exp(x); });
  second("log", {3, 4}, [](const Node& x) { return log(x); });
  second("sqrt", {3, 4}, [](const Node& x) { return sqrt(x); });
  second("div", {3, 4}, [](const Node& x) { return 1.0 / x; });
  second("pow", {3, 4}, [](const Node& x) { return pow(x, 3.0); });
  second("relu", {3, 4}, [](const Node& x) { return relu(x - 1.0) * x; });
  c.push_back({"grad_of_grad_slice", {{5, 4}}, [](Graph&, const std::vector<Node>& p) {
                 return weighted(grad(weighted(square(slice(p[0], 0, 1, 4))), {p[0]})[0]);
               }});
  c.push_back({"grad_of_grad_matmul", {{3, 4}, {4, 2}}, [](Graph&, const std::vector<Node>& p) {
                 const Node inner = weighted(square(matmul(p[0], p[1])));
                 const std::vector<Node> d = grad(inner, {p[0], p[1]});
                 return weighted(d[0]) + weighted(d[1]);
               }});
  c.push_back({"grad_of_grad_mlp", {{4, 3}, {3, 2}}, [](Graph&, const std::vector<Node>& p) {
                 const Node inner = weighted(sigmoid(matmul(tanh(p[0]), p[1])));
                 return weighted(grad(inner, {p[1]})[0]);
               }});
  return c;
}

}  // namespace

class GradientTable : public ::testing::TestWithParam<GradientCase> {};

TEST_P(GradientTable, MatchesCentralDifferencesAndEagerMatchesTape) {
  const auto report = stheno::testing::check_gradients(GetParam());
  EXPECT_LT(report.max_error, 1e-6) << report.worst;
  EXPECT_LT(report.eager_vs_tape, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Ops, GradientTable, ::testing::ValuesIn(cases()), [](const auto& info) { return info.param.name; });

// The same table on every device backend against the host, in float64: the comparison suite's
// graph-level half (forward and gradient of every op, through both machines).
class BackendsGradientTable : public ::testing::TestWithParam<GradientCase> {};

TEST_P(BackendsGradientTable, DevicesMatchTheHost) {
  const Device opencl{DeviceKind::opencl, 0};
  if (!is_available(opencl)) GTEST_SKIP() << "no device backend here (no OpenCL platform or built without OpenCL)";
  try {
    EXPECT_LT(stheno::testing::device_vs_host(GetParam(), opencl), 1e-9);
  } catch (const DeviceError& e) {
    // An op the device does not run is refused when the program is compiled; say which.
    if (std::string(e.what()).find("cannot run") == std::string::npos) throw;
    GTEST_SKIP() << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, BackendsGradientTable, ::testing::ValuesIn(cases()), [](const auto& info) { return info.param.name; });
