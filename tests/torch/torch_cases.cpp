// Writes every differentiable op's inputs, output and gradients, for compare_with_torch.py to
// recompute with PyTorch. Each case builds one op (or layer) on seeded float64 inputs, compiles
// the output and the gradients of sum(out ⊙ R) (R a seeded tensor of the output's shape) on the
// tape machine, and saves, under "<case>.": in<i>, r, out, grad<i> (for float inputs) and any
// extra tensors the case names. The file's metadata maps each case to a JSON object: "op", the
// PyTorch function to compare with, and that op's settings.
//
//   stheno_torch_cases OUT.safetensors
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

struct Case {
  std::string name, spec;      // spec: the JSON object described above
  std::vector<Tensor> inputs;  // float64 ones are differentiated; int32 ones enter as constants
  std::function<Node(const std::vector<Node>&)> build;
  // Tensors to save after the run (batch norm's running statistics).
  std::function<std::vector<io::NamedTensor>()> extras = [] { return std::vector<io::NamedTensor>{}; };
  // Runs the compiled program; the last run is the one compared.
  std::function<void(TapeMachine&)> runs = [](TapeMachine& m) { m.run(); };
};

class Table {
 public:
  Tensor u(Shape s, double low = -2, double high = 2) { return Tensor::uniform(s, gen_, low, high, DType::f64); }
  static Tensor ints(std::vector<std::int32_t> v, Shape s) { return Tensor::from<std::int32_t>(v, s); }
  void add(Case c) { cases_.push_back(std::move(c)); }
  std::vector<Case>& cases() { return cases_; }

 private:
  Generator gen_{2024};
  std::vector<Case> cases_;
};

std::string q(const std::string& s) { return "\"" + s + "\""; }
std::string pair(Size2 s) { return "[" + std::to_string(s.h) + ", " + std::to_string(s.w) + "]"; }

void elementwise(Table& t) {
  const std::map<std::string, Node (*)(const Node&)> unary{
      {"neg", [](const Node& x) { return neg(x); }},   {"abs", [](const Node& x) { return abs(x); }},
      {"exp", [](const Node& x) { return exp(x); }},   {"log", [](const Node& x) { return log(x); }},
      {"sqrt", [](const Node& x) { return sqrt(x); }}, {"square", [](const Node& x) { return square(x); }},
      {"tanh", [](const Node& x) { return tanh(x); }}, {"sigmoid", [](const Node& x) { return sigmoid(x); }},
      {"relu", [](const Node& x) { return relu(x); }}};
  for (const auto& [name, f] : unary) {
    const bool positive = name == "log" || name == "sqrt";
    t.add({name,
           "{\"op\": \"unary\", \"fn\": " + q(name) + "}",
           {positive ? t.u({3, 4}, 0.2, 3) : t.u({3, 4})},
           [f](const std::vector<Node>& p) { return f(p[0]); }});
  }
  const std::vector<std::pair<std::string, BinaryOp>> binary_ops{{"add", BinaryOp::add},
                                                                 {"sub", BinaryOp::sub},
                                                                 {"mul", BinaryOp::mul},
                                                                 {"div", BinaryOp::div},
                                                                 {"pow", BinaryOp::pow},
                                                                 {"maximum", BinaryOp::maximum},
                                                                 {"minimum", BinaryOp::minimum},
                                                                 {"sigmoid_grad", BinaryOp::sigmoid_grad},
                                                                 {"tanh_grad", BinaryOp::tanh_grad},
                                                                 {"relu_grad", BinaryOp::relu_grad}};
  for (const auto& [name, op] : binary_ops) {
    const bool positive = name == "div" || name == "pow";
    const double low = positive ? 0.5 : -2;
    BinaryOp o = op;
    const std::string spec = "{\"op\": \"binary\", \"fn\": " + q(name) + "}";
    t.add({name, spec, {t.u({3, 4}, low), t.u({3, 4}, low)}, [o](const std::vector<Node>& p) { return binary(o, p[0], p[1]); }});
    t.add({name + "_broadcast", spec, {t.u({2, 3, 4}, low), t.u({3, 1}, low)}, [o](const std::vector<Node>& p) {
             return binary(o, p[0], p[1]);
           }});
  }
  t.add({"scalar_operands", R"({"op": "scalar_operands"})", {t.u({3, 4})}, [](const std::vector<Node>& p) {
           return 2.0 - p[0] * 3.0 + 1.0 / (p[0] * p[0] + 1.0);
         }});
}

void reductions_and_products(Table& t) {
  const std::vector<std::pair<std::string, ReduceOp>> ops{
      {"sum", ReduceOp::sum}, {"mean", ReduceOp::mean}, {"max", ReduceOp::max}};
  for (const auto& [name, op] : ops)
    for (bool keep : {false, true}) {
      const ReduceOp o = op;
      const std::string k = keep ? "true" : "false";
      t.add({name + "_all" + (keep ? "_keepdims" : ""),
             "{\"op\": \"reduce\", \"fn\": " + q(name) + ", \"axes\": [0, 1, 2], \"keepdims\": " + k + "}",
             {t.u({3, 4, 2})},
             [o, keep](const std::vector<Node>& p) { return reduce(o, p[0], {}, keep); }});
      t.add({name + "_axes02" + (keep ? "_keepdims" : ""),
             "{\"op\": \"reduce\", \"fn\": " + q(name) + ", \"axes\": [0, 2], \"keepdims\": " + k + "}",
             {t.u({3, 4, 2})},
             [o, keep](const std::vector<Node>& p) {
               return reduce(o, p[0], {0, 2}, keep);
             }});
    }
  const std::vector<std::pair<std::string, std::pair<Shape, Shape>>> mm{{"2d", {{3, 4}, {4, 5}}},
                                                                        {"matvec", {{5, 5}, {5}}},
                                                                        {"vecmat", {{4}, {4, 3}}},
                                                                        {"dot", {{6}, {6}}},
                                                                        {"batched", {{2, 3, 4}, {2, 4, 5}}},
                                                                        {"batched_broadcast", {{2, 3, 4}, {4, 5}}},
                                                                        {"batched_broadcast_left", {{3, 4}, {2, 4, 5}}}};
  for (const auto& [name, shapes] : mm)
    t.add({"matmul_" + name, R"({"op": "matmul"})", {t.u(shapes.first), t.u(shapes.second)}, [](const std::vector<Node>& p) {
             return matmul(p[0], p[1]);
           }});
  t.add({"matmul_transposed", R"({"op": "matmul_transposed"})", {t.u({4, 3}), t.u({5, 4})}, [](const std::vector<Node>& p) {
           return matmul(transpose(p[0]), transpose(p[1]));
         }});
  t.add({"outer", R"({"op": "outer"})", {t.u({3}), t.u({4})}, [](const std::vector<Node>& p) { return outer(p[0], p[1]); }});
  t.add({"matmul_add", R"({"op": "matmul_add"})", {t.u({4}), t.u({3, 5}), t.u({5, 4})}, [](const std::vector<Node>& p) {
           return matmul_add(p[0], p[1], p[2]);
         }});
}

void shapes(Table& t) {
  t.add({"reshape", R"({"op": "reshape", "shape": [2, 6]})", {t.u({3, 4})}, [](const std::vector<Node>& p) {
           return reshape(p[0], {2, -1});
         }});
  t.add({"flatten", R"({"op": "reshape", "shape": [2, 12]})", {t.u({2, 3, 4})}, [](const std::vector<Node>& p) {
           return flatten(p[0]);
         }});
  t.add({"transpose", R"({"op": "transpose", "axes": [0, 2]})", {t.u({2, 3, 4})}, [](const std::vector<Node>& p) {
           return transpose(p[0], 0, 2);
         }});
  t.add({"permute", R"({"op": "permute", "order": [2, 0, 1]})", {t.u({2, 3, 4})}, [](const std::vector<Node>& p) {
           return permute(p[0], {2, 0, 1});
         }});
  t.add({"slice_step2",
         R"({"op": "slice", "axis": 0, "start": 1, "stop": 5, "step": 2})",
         {t.u({5, 4})},
         [](const std::vector<Node>& p) { return slice(p[0], 0, 1, 5, 2); }});
  t.add({"concat", R"({"op": "concat", "axis": 1})", {t.u({2, 3}), t.u({2, 1})}, [](const std::vector<Node>& p) {
           return concat({p[0], p[1], p[0]}, 1);
         }});
  t.add({"broadcast_to", R"({"op": "broadcast_to", "shape": [2, 3, 4]})", {t.u({3, 1})}, [](const std::vector<Node>& p) {
           return broadcast_to(p[0], {2, 3, 4});
         }});
  t.add({"sum_to", R"({"op": "sum_to", "shape": [3, 1]})", {t.u({2, 3, 4})}, [](const std::vector<Node>& p) {
           return sum_to(p[0], {3, 1});
         }});
}

void losses(Table& t) {
  t.add({"softmax", R"({"op": "softmax", "axis": 1})", {t.u({3, 5})}, [](const std::vector<Node>& p) { return softmax(p[0]); }});
  t.add({"softmax_axis0", R"({"op": "softmax", "axis": 0})", {t.u({3, 5})}, [](const std::vector<Node>& p) {
           return softmax(p[0], 0);
         }});
  t.add({"log_softmax", R"({"op": "log_softmax", "axis": 1})", {t.u({3, 5})}, [](const std::vector<Node>& p) {
           return log_softmax(p[0]);
         }});
  t.add({"cross_entropy_labels",
         R"({"op": "cross_entropy"})",
         {t.u({4, 5}), Table::ints({0, 3, 4, 1}, {4})},
         [](const std::vector<Node>& p) { return softmax_cross_entropy(p[0], p[1]); }});
  const Tensor probabilities = softmax(t.u({4, 5}), 1);
  t.add(
      {"cross_entropy_probabilities", R"({"op": "cross_entropy"})", {t.u({4, 5}), probabilities}, [](const std::vector<Node>& p) {
         return softmax_cross_entropy(p[0], p[1]);
       }});
  t.add({"cross_entropy_unnormalised_targets",
         R"({"op": "cross_entropy"})",
         {t.u({4, 5}), t.u({4, 5}, 0, 1)},
         [](const std::vector<Node>& p) { return softmax_cross_entropy(p[0], p[1]); }});
  t.add({"mse", R"({"op": "mse"})", {t.u({3, 4}), t.u({3, 4})}, [](const std::vector<Node>& p) { return mse(p[0], p[1]); }});
  t.add({"dropout_evaluation", R"({"op": "dropout_evaluation", "p": 0.3})", {t.u({4, 6})}, [](const std::vector<Node>& p) {
           auto state = std::make_shared<DropoutState>();
           state->p = 0.3;
           state->training = false;
           return dropout(p[0], state);
         }});
}

void convolutions(Table& t) {
  const Conv2dGeometry g{2, 5, 4, 3, 2, 2, 1, 1, 1, 1, 2};
  const std::string geometry = "\"kernel\": [3, 2], \"stride\": [2, 1], \"padding\": [1, 1], \"dilation\": [1, 2]";
  t.add({"im2col", "{\"op\": \"im2col\", " + geometry + "}", {t.u({3, 2, 5, 4})}, [g](const std::vector<Node>& p) {
           return im2col(p[0], g);
         }});
  t.add(
      {"col2im", "{\"op\": \"col2im\", \"size\": [5, 4], " + geometry + "}", {t.u({3, 12, 12})}, [g](const std::vector<Node>& p) {
         return col2im(p[0], g);
       }});
  t.add({"conv2d_columns",
         "{\"op\": \"conv2d_columns\", \"weight\": [3, 2, 3, 2], " + geometry + "}",
         {t.u({2, 2, 5, 4}), t.u({3, 12}), t.u({3})},
         [g](const std::vector<Node>& p) { return conv2d_columns(p[0], p[1], p[2], g); }});

  auto conv = [&](const std::string& name, Shape x, Shape w, Conv2dOptions o, bool bias) {
    std::vector<Tensor> in{t.u(x), t.u(w)};
    if (bias) in.push_back(t.u({w[0]}));
    t.add({"conv2d_" + name,
           "{\"op\": \"conv2d\", \"stride\": " + pair(o.stride) + ", \"padding\": " + pair(o.padding) +
               ", \"dilation\": " + pair(o.dilation) + ", \"groups\": " + std::to_string(o.groups) + "}",
           in, [o, bias](const std::vector<Node>& p) { return conv2d(p[0], p[1], bias ? p[2] : Node(), o); }});
  };
  conv("3x3_pad1_bias", {2, 3, 5, 6}, {4, 3, 3, 3}, {1, 1, 1, 1}, true);
  conv("rectangular_stride2", {1, 2, 7, 5}, {3, 2, 3, 2}, {2, 0, 1, 1}, false);
  conv("dilation2_pad2", {1, 2, 6, 6}, {2, 2, 3, 3}, {1, 2, 2, 1}, true);
  conv("groups2", {2, 4, 5, 5}, {6, 2, 3, 3}, {1, 1, 1, 2}, true);
  conv("per_axis", {2, 2, 7, 6}, {3, 2, 3, 2}, {{2, 1}, {1, 0}, {1, 2}, 1}, true);
  conv("per_axis_groups3", {1, 6, 6, 7}, {3, 2, 2, 3}, {{1, 2}, {0, 2}, {2, 1}, 3}, true);

  auto pool = [&](const std::string& kind, const std::string& name, Shape x, Size2 k, Size2 s, Size2 pad) {
    const bool max_pool = kind == "max_pool2d";
    const Pool2dWindow w = Pool2dWindow::of(k, s, pad);
    // Negative images: a padded position read as 0 would win every border window.
    t.add({kind + "_" + name,
           "{\"op\": " + q(kind) + ", \"kernel\": " + pair(w.kernel) + ", \"stride\": " + pair(w.stride) +
               ", \"padding\": " + pair(w.padding) + "}",
           {t.u(x, -3, -0.5)},
           [max_pool, k, s, pad](const std::vector<Node>& p) {
             return max_pool ? max_pool2d(p[0], k, s, pad) : avg_pool2d(p[0], k, s, pad);
           }});
  };
  pool("max_pool2d", "2x2", {2, 3, 4, 6}, 2, 0, 0);
  pool("max_pool2d", "3x3_stride1", {1, 2, 5, 5}, 3, 1, 0);
  pool("max_pool2d", "padded", {2, 2, 5, 5}, 3, 2, 1);
  pool("max_pool2d", "per_axis_padded", {2, 2, 5, 6}, {3, 2}, {2, 1}, {1, 1});
  pool("avg_pool2d", "padded", {2, 2, 5, 5}, 3, 2, 1);
  pool("avg_pool2d", "per_axis_padded", {1, 2, 5, 6}, {2, 3}, {1, 2}, {1, 0});
}

void batch_norm_cases(Table& t) {
  // mode: "training", "evaluation", or "evaluation_after_training" (one compiled program run in
  // training mode, then switched to evaluation: the mode is read at run time).
  auto bn = [&](const std::string& name, Shape x, const std::string& mode, bool stats_only) {
    auto state = std::make_shared<BatchNormState>();
    const std::int64_t c = x[1];
    state->running_mean = t.u({c}, -0.5, 0.5);
    state->running_var = t.u({c}, 0.5, 2);
    state->momentum = 0.2;
    state->eps = 1e-3;
    state->training = mode == "training";
    // The running statistics as the compared run found them.
    const Tensor mean_before = state->running_mean.clone(), var_before = state->running_var.clone();
    std::vector<Tensor> in{t.u(x)};
    if (!stats_only) in.insert(in.end(), {t.u({c}, 0.5, 2), t.u({c})});
    Case bn_case{name,
                 std::string("{\"op\": \"") + (stats_only ? "batch_norm_stats" : "batch_norm") +
                     "\", \"training\": " + (state->training ? "true" : "false") + ", \"momentum\": 0.2, \"eps\": 0.001}",
                 in,
                 [state, stats_only](const std::vector<Node>& p) {
                   return stats_only ? batch_norm_stats(p[0], state) : batch_norm(p[0], p[1], p[2], state);
                 },
                 [state, mean_before, var_before] {
                   return std::vector<io::NamedTensor>{{"running_mean_before", mean_before},
                                                       {"running_var_before", var_before},
                                                       {"running_mean", state->running_mean},
                                                       {"running_var", state->running_var}};
                 }};
    if (mode == "evaluation_after_training")
      bn_case.runs = [state, mean_before, var_before](TapeMachine& m) {
        state->training = true;
        m.run();
        mean_before.copy_from(state->running_mean);
        var_before.copy_from(state->running_var);
        state->training = false;
        m.run();
      };
    t.add(bn_case);
  };
  bn("batch_norm_training_images", {3, 2, 3, 2}, "training", false);
  bn("batch_norm_training_features", {5, 3}, "training", false);
  bn("batch_norm_evaluation_images", {3, 2, 3, 2}, "evaluation", false);
  bn("batch_norm_evaluation_features", {5, 3}, "evaluation", false);
  bn("batch_norm_evaluation_after_training", {4, 3, 2, 2}, "evaluation_after_training", false);
  bn("batch_norm_stats_training", {4, 3, 2, 2}, "training", true);
  bn("batch_norm_stats_evaluation", {4, 3, 2, 2}, "evaluation", true);
}

void sequences(Table& t) {
  t.add({"embedding",
         R"({"op": "embedding"})",
         {t.u({5, 3}), Table::ints({0, 2, 2, 4, 0, 1}, {2, 3})},
         [](const std::vector<Node>& p) { return embedding(p[0], p[1]); }});
  t.add({"lstm_cell", R"({"op": "lstm_cell"})", {t.u({2, 12}), t.u({2, 3})}, [](const std::vector<Node>& p) {
           return lstm_cell(p[0], p[1]);
         }});
  t.add({"gru_cell", R"({"op": "gru_cell"})", {t.u({2, 9}), t.u({2, 9}), t.u({2, 3})}, [](const std::vector<Node>& p) {
           return gru_cell(p[0], p[1], p[2]);
         }});
  // Layers: every step's h, then the last state, side by side (N, T·H + H [+ H]).
  auto joined = [](const Node& hs, const RecurrentState& s) {
    std::vector<Node> parts{reshape(hs, {hs.shape()[0], hs.shape()[1] * hs.shape()[2]}), s.h};
    if (s.c.defined()) parts.push_back(s.c);
    return concat(parts, 1);
  };
  t.add({"lstm",
         R"({"op": "lstm"})",
         {t.u({2, 4, 3}, -1, 1), t.u({3, 8}, -1, 1), t.u({2, 8}, -1, 1), t.u({8}, -1, 1), t.u({2, 2}, -1, 1), t.u({2, 2}, -1, 1)},
         [joined](const std::vector<Node>& p) {
           RecurrentState state{p[4], p[5]};
           const Node hs = lstm(p[0], p[1], p[2], p[3], state);
           return joined(hs, state);
         }});
  t.add({"lstm_zero_state",
         R"({"op": "lstm"})",
         {t.u({3, 2, 2}, -1, 1), t.u({2, 12}, -1, 1), t.u({3, 12}, -1, 1), t.u({12}, -1, 1)},
         [joined](const std::vector<Node>& p) {
           RecurrentState state;
           const Node hs = lstm(p[0], p[1], p[2], p[3], state);
           return joined(hs, state);
         }});
  t.add({"gru",
         R"({"op": "gru"})",
         {t.u({2, 4, 3}, -1, 1), t.u({3, 6}, -1, 1), t.u({2, 6}, -1, 1), t.u({6}, -1, 1), t.u({6}, -1, 1), t.u({2, 2}, -1, 1)},
         [joined](const std::vector<Node>& p) {
           RecurrentState state{p[5], Node()};
           const Node hs = gru(p[0], p[1], p[2], p[3], p[4], state);
           return joined(hs, state);
         }});
}

// Runs one case and appends its tensors to `out`.
void run(Case& c, Generator& gen, std::vector<io::NamedTensor>& out) {
  Graph g;
  std::vector<Node> nodes, wrt;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    const bool differentiable = c.inputs[i].dtype() == DType::f64;
    nodes.push_back(differentiable ? g.parameter("in" + std::to_string(i), c.inputs[i]) : g.constant(c.inputs[i]));
    if (differentiable) wrt.push_back(nodes.back());
  }
  const Node y = c.build(nodes);
  const Tensor r = Tensor::uniform(y.shape(), gen, -1, 1, DType::f64);
  const std::vector<Node> grads = grad(sum(y * g.constant(r)), wrt);
  std::vector<Node> outputs = grads;
  outputs.push_back(y);
  TapeMachine machine(g, outputs);
  c.runs(machine);
  for (std::size_t i = 0; i < c.inputs.size(); ++i) out.push_back({c.name + ".in" + std::to_string(i), c.inputs[i]});
  out.push_back({c.name + ".r", r});
  out.push_back({c.name + ".out", machine.value(y).clone()});
  for (std::size_t i = 0, k = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].dtype() == DType::f64)
      out.push_back({c.name + ".grad" + std::to_string(i), machine.value(grads[k++]).clone()});
  for (io::NamedTensor& e : c.extras()) out.push_back({c.name + "." + e.name, e.tensor.clone()});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.safetensors\n", argv[0]);
    return 2;
  }
  try {
    Table t;
    elementwise(t);
    reductions_and_products(t);
    shapes(t);
    losses(t);
    convolutions(t);
    batch_norm_cases(t);
    sequences(t);
    Generator gen(7);
    std::vector<io::NamedTensor> tensors;
    std::map<std::string, std::string> specs;
    for (Case& c : t.cases()) {
      run(c, gen, tensors);
      specs[c.name] = c.spec;
    }
    io::save_safetensors(argv[1], tensors, specs);
    std::printf("%zu cases written to %s\n", t.cases().size(), argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stheno_torch_cases: %s\n", e.what());
    return 1;
  }
  return 0;
}
