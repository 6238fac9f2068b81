
// Embeddings, LSTM and GRU layers: values against plain-loop references, gradients that touch
// only the rows used, errors that name the layer, and variable-length training on the eager
// machine. (Central-difference checks of every op are in test_grad_ops.cpp.)
#include <gtest/gtest.h>

#include <cmath>

#include "isa.hpp"
#include "stheno/kernels/gather.hpp"
#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

double sigmoid_ref(double v) { return 1 / (1 + std::exp(-v)); }

// A = x·W for row-major x (n, k), W (k, m).
std::vector<double> product(const std::vector<double>& x, const std::vector<double>& w, int n, int k, int m) {
  std::vector<double> out(static_cast<std::size_t>(n * m), 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j)
      for (int p = 0; p < k; ++p) out[static_cast<std::size_t>(i * m + j)] += x[static_cast<std::size_t>(i * k + p)] * w[static_cast<std::size_t>(p * m + j)];
  return out;
}

}  // namespace

// Every instruction set's cells (the host runs the layer as one lstm_sequence op), in both
// precisions, with 20 hidden units (whole vectors and a tail) and inputs large enough to
// saturate some gates.
TEST(Recurrent, LstmLayerMatchesAPlainLoopReference) {
  const int n = 3, steps = 4, in = 3, h = 20;
  for (const std::string& isa : stheno::testing::supported_isas())
    for (const DType dtype : {DType::f64, DType::f32}) {
      SCOPED_TRACE(isa + " " + std::string(dtype_name(dtype)));
      cpu::use_isa(isa);
      Generator gen(5);
      nn::LSTM layer(in, h, gen, dtype);
      const Tensor x = Tensor::normal({n, steps, in}, gen, 0, 30, dtype);
      Graph g(Graph::Mode::eager);
      const Node out = layer(g.input("x", x));
      ASSERT_EQ(out.shape(), (Shape{n, steps, h}));
      const Tensor got = out.value().to(DType::f64);

      auto params = layer.parameters();
      auto values = [](const Tensor& t) { return t.to(DType::f64).to_vector<double>(); };
      const auto w_ih = values(params[0]->value), w_hh = values(params[1]->value), b = values(params[2]->value);
      const double tolerance = dtype == DType::f64 ? 1e-12 : 2e-6;
      std::vector<double> hs(static_cast<std::size_t>(n * h), 0), cs(static_cast<std::size_t>(n * h), 0);
      for (int t = 0; t < steps; ++t) {
        const auto xt = values(x.select(1, t));
        const auto a = product(xt, w_ih, n, in, 4 * h), r = product(hs, w_hh, n, h, 4 * h);
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < h; ++j) {
            auto gate = [&](int q) {
              const auto idx = static_cast<std::size_t>(i * 4 * h + q * h + j);
              return a[idx] + r[idx] + b[static_cast<std::size_t>(q * h + j)];
            };
            const auto at = static_cast<std::size_t>(i * h + j);
            cs[at] = sigmoid_ref(gate(1)) * cs[at] + sigmoid_ref(gate(0)) * std::tanh(gate(2));
            hs[at] = sigmoid_ref(gate(3)) * std::tanh(cs[at]);
            EXPECT_NEAR(got.at({i, t, j}), hs[at], tolerance) << "step " << t << ", row " << i << ", unit " << j;
          }
      }
    }
  stheno::testing::supported_isas();  // leaves the best table in use
}

TEST(Recurrent, GruLayerMatchesAPlainLoopReference) {
  const int n = 2, steps = 3, in = 2, h = 3;
  Generator gen(6);
  nn::GRU layer(in, h, gen, DType::f64);
  const Tensor x = Tensor::normal({n, steps, in}, gen, 0, 1, DType::f64);
  Graph g(Graph::Mode::eager);
  const Node out = layer(g.input("x", x));
  auto params = layer.parameters();
  const auto w_ih = params[0]->value.to_vector<double>(), w_hh = params[1]->value.to_vector<double>(),
             b_ih = params[2]->value.to_vector<double>(), b_hh = params[3]->value.to_vector<double>();
  std::vector<double> hs(static_cast<std::size_t>(n * h), 0);
  for (int t = 0; t < steps; ++t) {
    const auto xt = x.select(1, t).to_vector<double>();
    const auto a = product(xt, w_ih, n, in, 3 * h), r = product(hs, w_hh, n, h, 3 * h);
    std::vector<double> next(hs.size());
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < h; ++j) {
        auto gx = [&](int q) { return a[static_cast<std::size_t>(i * 3 * h + q * h + j)] + b_ih[static_cast<std::size_t>(q * h + j)]; };
        auto gh = [&](int q) { return r[static_cast<std::size_t>(i * 3 * h + q * h + j)] + b_hh[static_cast<std::size_t>(q * h + j)]; };
        const double reset = sigmoid_ref(gx(0) + gh(0)), update = sigmoid_ref(gx(1) + gh(1));
        const double candidate = std::tanh(gx(2) + reset * gh(2));
        const auto at = static_cast<std::size_t>(i * h + j);
        next[at] = (1 - update) * candidate + update * hs[at];
        EXPECT_NEAR(out.value().at({i, t, j}), next[at], 1e-12) << "step " << t;
      }
    hs = next;
  }
}

TEST(Recurrent, EmbeddingGradientTouchesOnlyTheRowsUsed) {
  Generator gen(1);
  nn::Embedding embed(6, 3, gen);
  Graph g(Graph::Mode::eager);
  const Node idx = g.input("idx", Tensor::from<std::int32_t>({4, 1, 4}, Shape{3}));
  const Node rows = embed(idx);
  ASSERT_EQ(rows.shape(), (Shape{3, 3}));
  for (int j = 0; j < 3; ++j) EXPECT_EQ(rows.value().at({0, j}), embed.weight().value.at({4, j}));
  const Node table = g.parameter("weight", embed.weight().value);
  const Tensor d = backward(sum(rows * 2.0), {table})[0];
  for (std::int64_t r = 0; r < 6; ++r)
    for (std::int64_t j = 0; j < 3; ++j) EXPECT_EQ(d.at({r, j}), r == 4 ? 4.0 : r == 1 ? 2.0 : 0.0) << "row " << r;

  Graph bad(Graph::Mode::eager);
  try {
    embed(bad.input("idx", Tensor::from<std::int32_t>({0, 6}, Shape{2})));
    FAIL() << "an index past the table was accepted";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("index 6 at position 1"), std::string::npos) << e.what();
  }
}

// An LSTM over a lookup with more lookups than table rows projects the table once and looks
// the projected rows up (recurrent_layers.cpp, project()): the same values and gradients as
// projecting the looked-up rows, with no product of all the lookups in the graph.
TEST(Recurrent, LookupsIntoASmallTableProjectTheTableOnce) {
  Generator gen(8);
  const int rows = 5, e = 3, h = 4, n = 3, steps = 4;
  const Tensor table_value = Tensor::normal({rows, e}, gen, 0, 1, DType::f64);
  const Tensor w_ih_value = Tensor::normal({e, 4 * h}, gen, 0, 0.5, DType::f64);
  const Tensor w_hh_value = Tensor::normal({h, 4 * h}, gen, 0, 0.5, DType::f64);
  const Tensor bias_value = Tensor::normal({4 * h}, gen, 0, 0.5, DType::f64);
  const Tensor indices = Tensor::from<std::int32_t>({0, 4, 4, 1, 2, 0, 3, 3, 1, 1, 2, 4}, Shape{n, steps});
  const Tensor rows_looked_up = Tensor::empty({n, steps, e}, DType::f64);
  gather_rows(table_value, indices, rows_looked_up);
  struct Run {
    Tensor out;
    std::vector<Tensor> grads;
    bool projects_every_lookup = false;
  };
  auto run = [&](bool through_lookup) {
    Graph g(Graph::Mode::eager);
    const Node table = g.parameter("table", table_value), w_ih = g.parameter("w_ih", w_ih_value);
    const Node w_hh = g.parameter("w_hh", w_hh_value), bias = g.parameter("bias", bias_value);
    const Node idx = g.input("idx", indices);
    // The plain form: the same rows, as an input that is no lookup.
    const Node x = through_lookup ? embedding(table, idx) : g.input("x", rows_looked_up);
    RecurrentState state;
    const Node out = lstm(x, w_ih, w_hh, bias, state);
    Run r{out.value(), backward(sum(out * out), {w_ih, w_hh, bias})};
    if (through_lookup) r.grads.push_back(backward(sum(out * out), {table})[0]);
    for (int id = 0; id < g.size(); ++id) {
      const Node node = g.node(id);
      if (node.kind() == NodeKind::op && node.op()->kind() == OpKind::matmul_add && node.shape()[0] == n * steps)
        r.projects_every_lookup = true;
    }
    return r;
  };
  const Run looked_up = run(true), plain = run(false);
  EXPECT_FALSE(looked_up.projects_every_lookup);
  EXPECT_TRUE(plain.projects_every_lookup);
  auto expect_close = [](const Tensor& a, const Tensor& b, const char* what) {
    const auto u = a.to_vector<double>(), v = b.to_vector<double>();
    ASSERT_EQ(u.size(), v.size()) << what;
    for (std::size_t i = 0; i < u.size(); ++i) EXPECT_NEAR(u[i], v[i], 1e-12) << what << " at " << i;
  };
  expect_close(looked_up.out, plain.out, "output");
  for (std::size_t k = 0; k < 3; ++k) expect_close(looked_up.grads[k], plain.grads[k], "weight gradient");
  // The table's gradient: the lookups' gradients per row, through the plain form's input.
  Graph g(Graph::Mode::eager);
  const Node x = g.parameter("x", rows_looked_up);
  RecurrentState state;
  const Node out = lstm(x, g.parameter("w_ih", w_ih_value), g.parameter("w_hh", w_hh_value), g.parameter("bias", bias_value),
                        state);
  const Tensor dx = backward(sum(out * out), {x})[0];
  Tensor expected = Tensor::zeros({rows, e}, DType::f64);
  scatter_add_rows(dx, indices, expected);
  expect_close(looked_up.grads[3], expected, "table gradient");
}

TEST(Recurrent, ErrorsNameTheLayerAndShapes) {
  Generator gen(2);
  nn::LSTM lstm_layer(4, 3, gen);
  nn::GRU gru_layer(4, 3, gen);
  Graph g;
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const ShapeError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string empty = message([&] { lstm_layer(g.input("tokens", {2, 0, 4})); });
  EXPECT_NE(empty.find("LSTM(4 -> 3)"), std::string::npos) << empty;
  EXPECT_NE(empty.find("empty sequence"), std::string::npos) << empty;
  EXPECT_NE(empty.find("(2, 0, 4)"), std::string::npos) << empty;
  const std::string features = message([&] { gru_layer(g.input("x", {2, 5, 7})); });
  EXPECT_NE(features.find("GRU(4 -> 3)"), std::string::npos) << features;
  EXPECT_NE(features.find("(2, 5, 7)"), std::string::npos) << features;
  const std::string flat = message([&] { lstm_layer(g.input("flat", {2, 4})); });
  EXPECT_NE(flat.find("(batch, steps, 4)"), std::string::npos) << flat;
}

TEST(Recurrent, TapeAndEagerMachinesAgreeOnAnUnrolledLstm) {
  Generator gen(3);
  nn::Embedding embed(7, 4, gen);
  nn::LSTM layer(4, 5, gen);
  const Tensor tokens = Tensor::from<std::int32_t>({1, 2, 3, 4, 5, 6, 0, 1}, Shape{2, 4});
  auto cost_of = [&](const Node& idx) { return sum(square(layer(embed(idx)))); };
  Graph lazy;
  const Node idx = lazy.input("tokens", {2, 4}, DType::i32);
  const Node cost = cost_of(idx);
  const Node w = lazy.find("weight_hh");
  const Node dw = grad(cost, {w})[0];
  TapeMachine m(lazy, {cost, dw});
  m.let(idx, tokens);
  m.run();
  Graph eager(Graph::Mode::eager);
  const Node ecost = cost_of(eager.input("tokens", tokens));
  const Tensor edw = backward(ecost, {eager.find("weight_hh")})[0];
  EXPECT_TRUE(allclose(m.value(cost), ecost.value(), 1e-6, 1e-6));
  EXPECT_TRUE(allclose(m.value(dw), edw, 1e-5, 1e-6));
}

// Sequences of 3 to 11 steps, each its own eager graph: the label says whether ones outnumber
// zeros, so the network must count through every step. Chance is 50%.
TEST(Recurrent, EagerMachineTrainsOnSequencesOfVaryingLength) {
  Generator gen(4);
  nn::Embedding embed(2, 4, gen);
  nn::LSTM layer(4, 8, gen);
  nn::Linear head(8, 2, gen);
  const std::vector<nn::Parameter*> params = nn::parameters_of({&embed, &layer, &head});
  optim::Adam opt(nn::values_of(params), 0.02);
  auto sample = [&](std::int64_t length, std::vector<std::int32_t>& tokens) {
    tokens.resize(static_cast<std::size_t>(length));
    for (auto& t : tokens) t = static_cast<std::int32_t>(gen.next_u64() & 1);
  };
  auto majority = [](const std::vector<std::int32_t>& tokens) {
    int ones = 0;
    for (auto t : tokens) ones += t;
    return 2 * ones > static_cast<int>(tokens.size()) ? 1 : 0;
  };
  auto run = [&](std::int64_t length, bool train) {
    std::vector<std::int32_t> tokens;
    sample(length, tokens);
    Graph g(Graph::Mode::eager);
    const Node x = g.input("tokens", Tensor::from<std::int32_t>(std::span<const std::int32_t>(tokens), Shape{1, length}));
    RecurrentState state;
    layer.forward(embed(x), state);
    const Node logits = head(state.h);
    const Node label = g.input("label", Tensor::from<std::int32_t>({majority(tokens)}, Shape{1}));
    const Node cost = softmax_cross_entropy(logits, label);
    if (train) opt.step(backward(cost, nn::nodes_of(g, params)));
    const int predicted = logits.value().at({0, 1}) > logits.value().at({0, 0}) ? 1 : 0;
    return predicted == majority(tokens);
  };
  for (int step = 0; step < 600; ++step) run(3 + 2 * static_cast<std::int64_t>(gen.next_u64() % 5), true);
  int correct = 0;
  for (int i = 0; i < 200; ++i) correct += run(3 + 2 * (i % 5), false) ? 1 : 0;
  EXPECT_GE(correct, 190) << "accuracy " << correct / 2.0 << "% on held-out sequences of 3-11 steps";
}
