#include <gtest/gtest.h>

#include <algorithm>

#include "allocation_counter.hpp"
#include "reference.hpp"

using namespace stheno;
using stheno::testing::AllocationCounter;
using stheno::testing::message_of;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct Mlp {
  Node x, labels, cost;
  std::vector<Node> params, grads;
};

// A float32 MLP with sigmoid hidden layers and softmax cross-entropy; sizes e.g. {784, 30, 10}.
Mlp build_mlp(Graph& g, const std::vector<std::int64_t>& sizes, std::int64_t batch, DType dtype = DType::f32,
              std::uint64_t seed = 1) {
  Generator gen(seed);
  Mlp m;
  m.x = g.input("x", {batch, sizes[0]}, dtype);
  m.labels = g.input("labels", {batch}, DType::i32);
  Node h = m.x;
  for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
    const Node w = g.parameter("w" + std::to_string(i), Tensor::normal({sizes[i], sizes[i + 1]}, gen, 0, 0.1, dtype));
    const Node b = g.parameter("b" + std::to_string(i), Tensor::zeros({sizes[i + 1]}, dtype));
    m.params.push_back(w);
    m.params.push_back(b);
    h = matmul(h, w) + b;
    if (i + 2 < sizes.size()) h = sigmoid(h);
  }
  m.cost = softmax_cross_entropy(h, m.labels);
  m.grads = grad(m.cost, m.params);
  return m;
}

}  // namespace

// The example of the Gorgonia talk: d/dw Σ σ(xw) = xᵀ(σ(xw) ⊙ (1 − σ(xw))).
TEST(Graph, TalkExampleGradientIsTheAnalyticOne) {
  Graph g;
  const Node x = g.input("x", {5, 5}, DType::f64);
  const Node w = g.input("w", {5}, DType::f64);
  const Node act = sigmoid(matmul(x, w));
  const Node cost = sum(act);
  const std::vector<Node> grads = grad(cost, {w});
  TapeMachine m(g, {cost, grads[0]});
  Generator gen(3);
  const Tensor xv = Tensor::normal({5, 5}, gen, 0, 1, DType::f64), wv = Tensor::normal({5}, gen, 0, 1, DType::f64);
  m.let(x, xv);
  m.let(w, wv);
  m.run();
  const Tensor s = sigmoid(matmul(xv, wv));
  const Tensor expected = matmul(xv.t(), mul(s, sub(Tensor::ones({5}, DType::f64), s)));
  EXPECT_TRUE(allclose(m.value(grads[0]), expected, 1e-14, 1e-14));
  EXPECT_NEAR(m.value(cost).item<double>(), sum(s).item<double>(), 1e-14);
  // Runs again with new values.
  const Tensor w2 = Tensor::normal({5}, gen, 0, 1, DType::f64);
  m.let(w, w2);
  m.run();
  const Tensor s2 = sigmoid(matmul(xv, w2));
  EXPECT_TRUE(allclose(m.value(grads[0]), matmul(xv.t(), mul(s2, sub(Tensor::ones({5}, DType::f64), s2))), 1e-14, 1e-14));
}

TEST(Graph, NodesAreTypedNamedAndPrintable) {
  Graph g;
  const Node x = g.input("x", {2, 3}, DType::f64);
  const Node y = exp(x).set_name("y");
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.dtype(), DType::f64);
  EXPECT_EQ(y.name(), "y");
  EXPECT_EQ(g.find("y"), y);
  EXPECT_EQ(y.input(0), x);
  EXPECT_TRUE(contains(g.str(), "%1 y = exp(%0 x) : float64 (2, 3)"));
  EXPECT_THROW(g.find("nope"), ValueError);
  const Node generated = log(x);
  EXPECT_EQ(g.find(generated.name()), generated);  // generated names are found too
  EXPECT_THROW(exp(x).set_name(generated.name()), ValueError);
  // grad on the same cost twice is fine.
  const Node c = sum(y);
  grad(c, {x});
  EXPECT_NO_THROW(grad(c, {x}));
  EXPECT_THROW(g.input("x", {1}), ValueError);  // names are unique
}

TEST(Graph, DotExportIncludesGradientNodes) {
  Graph g;
  const Node w = g.parameter("w", Tensor::ones({3}, DType::f64));
  const Node cost = sum(tanh(w));
  grad(cost, {w});
  const std::string dot = g.to_dot();
  EXPECT_TRUE(contains(dot, "digraph stheno {"));
  EXPECT_TRUE(contains(dot, "n0 -> n1"));
  EXPECT_TRUE(contains(dot, "style=dashed"));  // gradient nodes
  EXPECT_TRUE(contains(dot, "tanh"));
  EXPECT_EQ(dot.back(), '\n');
}

TEST(Graph, ConstructionErrorsNameNodesShapesAndOp) {
  Graph g;
  const Node x = g.input("x", {5, 5}, DType::f64);
  const Node v = g.input("v", {4}, DType::f64);
  const Node f = g.input("f", {5}, DType::f32);
  const Node labels = g.input("labels", {5}, DType::i32);
  std::string msg = message_of([&] { matmul(x, v); });
  EXPECT_TRUE(contains(msg, "matmul") && contains(msg, "x (5, 5) float64") && contains(msg, "v (4,) float64")) << msg;
  msg = message_of([&] { add(x, v); });
  EXPECT_TRUE(contains(msg, "add") && contains(msg, "x (5, 5)") && contains(msg, "v (4,)") && contains(msg, "broadcast")) << msg;
  msg = message_of([&] { mul(f, v); });
  EXPECT_TRUE(contains(msg, "mul") && contains(msg, "f (5,) float32") && contains(msg, "same dtype")) << msg;
  msg = message_of([&] { exp(labels); });
  EXPECT_TRUE(contains(msg, "exp") && contains(msg, "labels (5,) int32")) << msg;
  msg = message_of([&] { reshape(x, {4, 7}); });
  EXPECT_TRUE(contains(msg, "reshape") && contains(msg, "x (5, 5)")) << msg;
  msg = message_of([&] { sum(x, 2); });
  EXPECT_TRUE(contains(msg, "sum") && contains(msg, "axis 2")) << msg;
  msg = message_of([&] { concat({x, v}, 0); });
  EXPECT_TRUE(contains(msg, "concat") && contains(msg, "same rank")) << msg;
  msg = message_of([&] { softmax_cross_entropy(x, g.input("bad", {4}, DType::i32)); });
  EXPECT_TRUE(contains(msg, "softmax_cross_entropy") && contains(msg, "bad (4,) int32")) << msg;
  msg = message_of([&] { mse(x, v); });
  EXPECT_TRUE(contains(msg, "mse") && contains(msg, "x (5, 5)") && contains(msg, "v (4,)")) << msg;
  msg = message_of([&] { broadcast_to(v, {3, 5}); });
  EXPECT_TRUE(contains(msg, "broadcast") && contains(msg, "(3, 5)")) << msg;
  Graph other;
  const Node y = other.input("y", {5}, DType::f64);
  msg = message_of([&] { matmul(x, y); });
  EXPECT_TRUE(contains(msg, "another graph")) << msg;
  msg = message_of([&] { dropout(x, 1.5, 1); });
  EXPECT_TRUE(contains(msg, "dropout") && contains(msg, "[0, 1)")) << msg;
}

TEST(Graph, GradErrors) {
  Graph g;
  const Node x = g.input("x", {3}, DType::f64);
  const Node w = g.parameter("w", Tensor::ones({3}, DType::f64));
  const Node unused = g.parameter("unused", Tensor::ones({3}, DType::f64));
  const Node y = exp(x * w);
  std::string msg = message_of([&] { grad(y, {w}); });
  EXPECT_TRUE(contains(msg, "scalar") && contains(msg, "(3,)")) << msg;
  msg = message_of([&] { grad(sum(y), {unused}); });
  EXPECT_TRUE(contains(msg, "does not depend on") && contains(msg, "unused (3,) float64")) << msg;
  // Reached only through a zero-gradient op: the gradient is zero, not an error.
  const std::vector<Node> d = grad(sum(step(w) * x), {w});
  TapeMachine m(g, {d[0]});
  m.let(x, Tensor::ones({3}, DType::f64));
  m.run();
  EXPECT_EQ(max(abs(m.value(d[0]))).item<double>(), 0.0);
}

TEST(TapeMachine, ListingShowsRegistersShapesInPlaceAndMemory) {
  Graph g;
  const Node x = g.input("x", {5, 5}, DType::f64);
  const Node w = g.input("w", {5}, DType::f64);
  const Node cost = sum(sigmoid(matmul(x, w)));
  const std::vector<Node> grads = grad(cost, {w});
  TapeMachine m(g, {cost, grads[0]});
  const std::string listing = m.listing();
  EXPECT_TRUE(contains(listing, "matmul")) << listing;
  EXPECT_TRUE(contains(listing, "%0 x, %1 w")) << listing;
  EXPECT_TRUE(contains(listing, "in-place")) << listing;
  EXPECT_TRUE(contains(listing, "float64 (5,)")) << listing;
  EXPECT_TRUE(contains(listing, "arena")) << listing;
  EXPECT_TRUE(contains(listing, std::to_string(m.planned_bytes()) + " bytes")) << listing;
  EXPECT_LT(m.planned_bytes(), m.unplanned_bytes());
}

TEST(TapeMachine, ActionsRunRightAfterTheirOutputIsComputed) {
  // h = tanh(x) is an output; y = sum(h · 3) is computed after it. The action on h sees h's
  // value, and y's buffer not yet written this run.
  Graph g;
  const Node x = g.input("x", {2, 3}, DType::f64);
  const Node h = tanh(x);
  const Node y = sum(mul(h, g.constant(Tensor::scalar(3.0, DType::f64))));
  TapeMachine m(g, {y, h});
  std::vector<double> seen_h, seen_y;
  m.after(h, "note h", [&](const Tensor& value) {
    seen_h.push_back(value.at({0, 0}));
    seen_y.push_back(m.num_instructions() > 0 && seen_h.size() > 1 ? m.value(y).item<double>() : 0);
  });
  m.after(x, "note x", [&](const Tensor& value) { EXPECT_EQ(value.at({0, 0}), seen_h.empty() ? 0.5 : 1.0); });
  EXPECT_LT(m.instruction_of(h), m.instruction_of(y));
  EXPECT_EQ(m.instruction_of(x), -1);
  m.let(x, Tensor::full({2, 3}, 0.5, DType::f64));
  m.run();
  m.let(x, Tensor::full({2, 3}, 1.0, DType::f64));
  m.run();
  ASSERT_EQ(seen_h.size(), 2u);
  EXPECT_DOUBLE_EQ(seen_h[0], std::tanh(0.5));
  EXPECT_DOUBLE_EQ(seen_h[1], std::tanh(1.0));
  EXPECT_DOUBLE_EQ(seen_y[1], 18 * std::tanh(0.5));  // the first run's y: this run's comes after h
  const std::string listing = m.listing();
  EXPECT_TRUE(contains(listing, "first: note x")) << listing;
  EXPECT_LT(listing.find("then: note h"), listing.find("sum")) << listing;
  const Node dead = exp(x);
  EXPECT_TRUE(contains(message_of([&] { m.after(dead, "", [](const Tensor&) {}); }), "not an output of the program"));
}

TEST(TapeMachine, DeadNodesAreDropped) {
  Graph g;
  const Node x = g.input("x", {4}, DType::f64);
  const Node used = exp(x);
  log(x);  // never asked for
  TapeMachine m(g, {used});
  EXPECT_EQ(m.num_instructions(), 1);
  m.let(x, Tensor::ones({4}, DType::f64));
  m.run();
  EXPECT_NEAR(m.value(used).at({0}), std::exp(1.0), 1e-15);
}

// Ops whose inputs are all constants (or views of them) are computed once, when the program is
// compiled, and listed as such: here the scale 2 / 8 and its broadcast product; what reads an
// input stays an instruction. The folded values are readable before the first run.
TEST(TapeMachine, ConstantSubexpressionsAreComputedWhenCompiled) {
  Graph g;
  const Node x = g.input("x", {2, 4}, DType::f64);
  const Node scale = div(g.constant(Tensor::scalar(2.0, DType::f64)), g.constant(Tensor::scalar(8.0, DType::f64)));
  const Node ramp = mul(broadcast_to(reshape(scale, {1, 1}), {2, 4}), g.constant(Tensor::arange(0, 8, 1, DType::f64).reshape({2, 4})));
  const Node y = mul(x, ramp);
  TapeMachine m(g, {y, ramp});
  EXPECT_EQ(m.num_instructions(), 1);
  EXPECT_EQ(m.instruction_of(ramp), -1);
  EXPECT_DOUBLE_EQ(m.value(ramp).at({1, 3}), 0.25 * 7);
  const std::string listing = m.listing();
  EXPECT_TRUE(contains(listing, "computed once when compiled")) << listing;
  m.let(x, Tensor::full({2, 4}, 3.0, DType::f64));
  m.run();
  EXPECT_DOUBLE_EQ(m.value(y).at({1, 2}), 3 * 0.25 * 6);
  m.let(x, Tensor::full({2, 4}, -1.0, DType::f64));
  m.run();
  EXPECT_DOUBLE_EQ(m.value(y).at({0, 1}), -0.25);
}

TEST(TapeMachine, BindingAndReadingErrors) {
  Graph g;
  const Node x = g.input("x", {2, 3});
  const Node h = tanh(x);
  const Node y = sum(h);
  TapeMachine m(g, {y});
  EXPECT_TRUE(contains(message_of([&] { m.run(); }), "input x (2, 3) float32 has no value"));
  EXPECT_TRUE(contains(message_of([&] { m.let(x, Tensor::zeros({3, 2})); }), "cannot take a value of shape (3, 2)"));
  EXPECT_THROW(m.let(x, Tensor::zeros({2, 3}, DType::f64)), ShapeError);
  EXPECT_THROW(m.let(h, Tensor::zeros({2, 3})), ValueError);
  m.let(x, Tensor::zeros({2, 3}));
  m.run();
  EXPECT_TRUE(contains(message_of([&] { m.value(h); }), "not an output"));
  EXPECT_EQ(m.value(y).item<float>(), 0.0f);
}

TEST(TapeMachine, BindUsesTheCallersTensorWithoutCopying) {
  Graph g;
  const Node x = g.input("x", {3, 2}, DType::f64);
  const Node w = g.parameter("w", Tensor::from<double>({1, 2, 3, 4, 5, 6}, {3, 2}));
  const Node cost = sum(x * w);
  const std::vector<Node> d = grad(cost, {w});  // d = x, read through the graph
  const Node viewed = sum(matmul(transpose(x), w));  // x is also read through a view
  TapeMachine m(g, {cost, d[0], viewed});
  const Tensor a = Tensor::from<double>({1, 1, 1, 1, 1, 1}, {3, 2});
  const Tensor b = Tensor::from<double>({0, 1, 0, 1, 0, 1}, {3, 2});
  m.bind(x, a);
  m.run();
  EXPECT_EQ(m.value(cost).item<double>(), 21);
  EXPECT_EQ(m.value(viewed).item<double>(), 42);
  m.bind(x, b);
  m.run();
  EXPECT_EQ(m.value(cost).item<double>(), 12);
  EXPECT_EQ(m.value(viewed).item<double>(), 21);  // xᵀ·w = [[0, 0], [9, 12]]
  EXPECT_TRUE(allclose(m.value(d[0]), b, 0, 0));
  // let() goes back to the machine's own buffer and leaves the bound tensor alone.
  m.let(x, a);
  m.run();
  EXPECT_EQ(m.value(cost).item<double>(), 21);
  EXPECT_EQ(b.at({0, 0}), 0);
  EXPECT_THROW(m.bind(x, Tensor::zeros({2, 3}, DType::f64).t()), ValueError);
  EXPECT_THROW(m.bind(x, Tensor::zeros({2, 3}, DType::f64)), ShapeError);
}

// After its first run the machine calls each instruction's prepared kernel (checks and choices
// made once); whatever memory an input is bound to, every value must stay what the ops compute
// afresh, bit for bit.
TEST(TapeMachine, PreparedInstructionsComputeWhatTheirOpsDo) {
  Generator gen(3);
  const Tensor w_value = Tensor::normal({6, 5}, gen), b_value = Tensor::normal({5}, gen);
  const auto build = [&](Graph& g, const Node& x) {
    const Node w = g.parameter("w", w_value), b = g.parameter("b", b_value);
    const Node h = sigmoid(matmul_add(b, x, w));    // bias rows copied, then the product added
    const Node scaled = h * g.constant(Tensor::scalar(2.0));  // one broadcast element
    const Node back = matmul(scaled - h, transpose(w));       // a transposed operand
    return std::vector<Node>{h, scaled, back, sum(scaled), sum(h, 0), sum_to(back, Shape{6}), mean(h, 1)};
  };
  Graph g;
  const Node x = g.input("x", {4, 6});
  const std::vector<Node> outputs = build(g, x);
  TapeMachine m(g, outputs);
  const Tensor a = Tensor::normal({4, 6}, gen), c = Tensor::normal({4, 6}, gen);
  const auto expect_fresh_values = [&](const Tensor& input, const std::string& when) {
    Graph e(Graph::Mode::eager);
    const std::vector<Node> fresh = build(e, e.input("x", input));
    for (std::size_t i = 0; i < outputs.size(); ++i)
      EXPECT_TRUE(allclose(m.value(outputs[i]), fresh[i].value(), 0, 0)) << when << ": output " << i;
  };
  const std::string listing_before = m.listing();
  m.bind(x, a);
  m.run();
  expect_fresh_values(a, "first run");
  EXPECT_FALSE(contains(listing_before, "prepared")) << listing_before;
  EXPECT_TRUE(contains(m.listing(), "9 instructions on cpu") && contains(m.listing(), "9 instructions prepared after the first run"))
      << m.listing();
  for (int run = 0; run < 2; ++run) {
    m.bind(x, c);
    m.run();
    expect_fresh_values(c, "bound to other memory");
    m.let(x, a);
    m.run();
    expect_fresh_values(a, "copied into its own buffer");
  }
  // The layouts the kernels were prepared for stay: a bound input must be contiguous.
  EXPECT_THROW(m.bind(x, Tensor::normal({6, 4}, gen).t()), ValueError);
}

namespace {
// tiny·tiny squared elementwise with subnormals flushed (all zero) and without (all the exact,
// subnormal product); afterwards, outside both, the arithmetic is IEEE's again on this thread and
// on the pool's workers.
void expect_flushed_only_where_asked(const std::vector<float>& flushed, const std::vector<float>& kept, float tiny) {
  EXPECT_TRUE(std::all_of(flushed.begin(), flushed.end(), [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(std::all_of(kept.begin(), kept.end(), [&](float v) { return v == tiny * tiny && v > 0.0f; }));
  const auto n = static_cast<std::int64_t>(kept.size());
  const std::vector<float> after = mul(Tensor::full({n}, tiny), Tensor::full({n}, tiny)).to_vector<float>();
  EXPECT_TRUE(std::all_of(after.begin(), after.end(), [](float v) { return v > 0.0f; }));
}
}  // namespace

// Runs flush subnormal numbers to zero (their multiply-adds are slow on x86), on every thread
// that works on the run and only during it; a program compiled with flush_subnormals = false keeps
// IEEE's gradual underflow.
TEST(TapeMachine, RunsFlushSubnormalsToZero) {
#if !(defined(__x86_64__) || defined(__i386__))
  GTEST_SKIP() << "flush-to-zero is an x86 mode here";
#endif
  const float tiny = 1e-20f;        // tiny·tiny = 1e-40: subnormal in float32
  const std::int64_t n = 1 << 16;   // enough elements to be shared between threads
  const int threads = num_threads();
  set_num_threads(2);
  Graph g;
  const Node x = g.input("x", {n});
  const Node y = x * x;
  TapeMachine flushing(g, {y});
  TapeMachine gradual(g, {y}, CompileOptions{.flush_subnormals = false});
  for (TapeMachine* m : {&flushing, &gradual}) {
    m->let(x, Tensor::full({n}, tiny));
    for (int run = 0; run < 2; ++run) m->run();
  }
  expect_flushed_only_where_asked(flushing.value(y).to_vector<float>(), gradual.value(y).to_vector<float>(), tiny);
  set_num_threads(threads);
}

TEST(TapeMachine, NaNWatchNamesTheInstructionAndNode) {
  Graph g;
  const Node x = g.input("x", {3}, DType::f64);
  const Node y = log(x).set_name("logx");
  const Node z = sum(y);
  TapeMachine m(g, {z}, CompileOptions{.watch_nan = true});
  m.let(x, Tensor::from<double>({1.0, 2.0, 3.0}));
  EXPECT_NO_THROW(m.run());
  m.let(x, Tensor::from<double>({1.0, -2.0, 3.0}));
  const std::string msg = message_of([&] { m.run(); });
  EXPECT_TRUE(contains(msg, "instruction 0") && contains(msg, "log") && contains(msg, "logx (3,) float64") &&
              contains(msg, "x (3,)")) << msg;
}

TEST(TapeMachine, ProfileCountsCallsPerInstruction) {
  Graph g;
  const Node x = g.input("x", {64, 64});
  const Node y = sum(matmul(x, x));
  TapeMachine m(g, {y}, CompileOptions{.profile = true});
  m.let(x, Tensor::ones({64, 64}));
  for (int i = 0; i < 5; ++i) m.run();
  const std::string report = m.profile_report();
  EXPECT_TRUE(contains(report, "matmul")) << report;
  EXPECT_TRUE(contains(report, "         5 ")) << report;
}

TEST(TapeMachine, ZeroHeapAllocationsPerRun) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build: allocator not replaceable";
  Graph g;
  const Mlp net = build_mlp(g, {784, 30, 10}, 10);
  std::vector<Node> outputs = net.grads;
  outputs.push_back(net.cost);
  TapeMachine m(g, outputs);
  Generator gen(2);
  m.let(net.x, Tensor::uniform({10, 784}, gen));
  m.let(net.labels, Tensor::from<std::int32_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const Tensor other = Tensor::uniform({10, 784}, gen);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    m.run();  // the first run may set up thread pools and scratch space
    AllocationCounter counter;
    for (int i = 0; i < 10; ++i) {
      if (i % 2) m.bind(net.x, other);
      else m.let(net.x, other);
      m.run();
    }
    EXPECT_EQ(counter.outside_driver_calls(), 0) << "allocations in 10 runs at " << threads << " threads";
  }
}

// An evaluation program's predictions: argmax along either axis, of a product and of a
// transposed view (which argmax gathers into scratch), allocate nothing once warm.
TEST(TapeMachine, ArgmaxAllocatesNothingPerRun) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build: allocator not replaceable";
  Graph g;
  Generator gen(4);
  const Node x = g.input("x", {16, 20});
  const Node w = g.parameter("w", Tensor::normal({20, 10}, gen));
  const Node logits = matmul(x, w);
  const Node rows = argmax(logits, 1), columns = argmax(logits, 0), transposed = argmax(transpose(logits, 0, 1), 1);
  TapeMachine m(g, {rows, columns, transposed});
  const Tensor input = Tensor::normal({16, 20}, gen);
  m.bind(x, input);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    m.run();
    AllocationCounter counter;
    for (int i = 0; i < 5; ++i) m.run();
    EXPECT_EQ(counter.outside_driver_calls(), 0) << "allocations in 5 runs at " << threads << " threads";
  }
  const Tensor expected = argmax(matmul(input, w.value()), 1);
  EXPECT_EQ(m.value(rows).to_vector<std::int32_t>(), expected.to_vector<std::int32_t>());
  EXPECT_EQ(m.value(transposed).to_vector<std::int32_t>(), argmax(matmul(input, w.value()), 0).to_vector<std::int32_t>());
}

// Training steps of the convolutional (with batch norm and a grouped convolution) and recurrent
// models: every op, its gradient and the optimizer update allocate nothing once warm.
TEST(TapeMachine, ConvolutionalAndRecurrentTrainingStepsAllocateNothing) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build: allocator not replaceable";
  Generator gen(3);
  nn::Sequential cnn;
  cnn.add(std::make_shared<nn::Conv2d>(1, 4, 3, gen, Conv2dOptions{1, 1, 1, 1}, nn::Init::he_uniform, false))
      .add(std::make_shared<nn::BatchNorm>(4))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::Conv2d>(4, 4, 3, gen, Conv2dOptions{1, 1, 1, 2}))
      .add(std::make_shared<nn::MaxPool2d>(2))
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(4 * 4 * 4, 3, gen));
  Graph cg;
  const Node images = cg.input("images", {5, 1, 8, 8});
  const Node labels = cg.input("labels", {5}, DType::i32);
  const Node closs = nn::cross_entropy(cnn(images), labels);
  optim::SGD sgd(nn::values_of(cnn.trainable_parameters()), 0.01, 0.9);
  optim::TrainingStep cnn_step(closs, nn::nodes_of(cg, cnn.trainable_parameters()), sgd);
  cnn_step.machine().let(images, Tensor::uniform({5, 1, 8, 8}, gen));
  cnn_step.machine().let(labels, Tensor::from<std::int32_t>({0, 1, 2, 0, 1}));

  nn::Embedding embed(7, 4, gen);
  nn::LSTM lstm_layer(4, 6, gen);
  nn::GRU gru_layer(6, 5, gen);
  Graph rg;
  const Node tokens = rg.input("tokens", {3, 4}, DType::i32);
  const Node rloss = sum(square(gru_layer(lstm_layer(embed(tokens)))));
  const std::vector<nn::Parameter*> rparams = nn::parameters_of({&embed, &lstm_layer, &gru_layer});
  optim::Adam adam(nn::values_of(rparams), 1e-3);
  optim::TrainingStep rnn_step(rloss, nn::nodes_of(rg, rparams), adam);
  rnn_step.set_clip_norm(1.0);
  rnn_step.machine().let(tokens, Tensor::from<std::int32_t>({0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4}, Shape{3, 4}));

  for (int threads : {1, 2}) {
    set_num_threads(threads);
    cnn_step.run();
    rnn_step.run();
    AllocationCounter convolutional;
    for (int i = 0; i < 5; ++i) cnn_step.run();
    EXPECT_EQ(convolutional.outside_driver_calls(), 0) << "allocations in 5 convolutional steps at " << threads << " threads";
    AllocationCounter recurrent;
    for (int i = 0; i < 5; ++i) rnn_step.run();
    EXPECT_EQ(recurrent.outside_driver_calls(), 0) << "allocations in 5 recurrent steps at " << threads << " threads";
  }
}

TEST(TapeMachine, PlannedMemoryIsFarBelowTheSumOfIntermediates) {
  Graph g;
  const Mlp net = build_mlp(g, {784, 256, 128, 10}, 256);
  std::vector<Node> outputs = net.grads;
  outputs.push_back(net.cost);
  TapeMachine m(g, outputs);
  // The gradients are outputs and stay alive; every other intermediate shares memory.
  EXPECT_LT(m.planned_bytes() * 2, m.unplanned_bytes()) << m.listing();
  std::printf("3-layer MLP training program: arena %zu bytes, intermediates %zu bytes unshared\n", m.planned_bytes(), m.unplanned_bytes());
  RecordProperty("planned_bytes", static_cast<int>(m.planned_bytes()));
  RecordProperty("unplanned_bytes", static_cast<int>(m.unplanned_bytes()));
}

// The same model, on the same inputs, gives the same values and gradients on both machines.
TEST(EagerMachine, MatchesTheTapeMachineOnAnMlp) {
  Generator gen(4);
  const Tensor x = Tensor::uniform({16, 20}, gen, -1, 1, DType::f64);
  const Tensor labels = Tensor::from<std::int32_t>({0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0});
  Graph lazy;
  const Mlp net = build_mlp(lazy, {20, 12, 8, 5}, 16, DType::f64, 9);
  std::vector<Node> outputs = net.grads;
  outputs.push_back(net.cost);
  TapeMachine m(lazy, outputs);
  m.let(net.x, x);
  m.let(net.labels, labels);
  m.run();

  // The eager version: every node computed as it is created, parameters shared with the lazy graph.
  Graph eager(Graph::Mode::eager);
  Node h = eager.input("x", x);
  std::vector<Node> params;
  for (std::size_t i = 0; i < net.params.size(); i += 2) {
    params.push_back(eager.parameter("w" + std::to_string(i), net.params[i].value()));
    params.push_back(eager.parameter("b" + std::to_string(i), net.params[i + 1].value()));
    h = matmul(h, params[i]) + params[i + 1];
    if (i + 2 < net.params.size()) h = sigmoid(h);
  }
  const Node cost = softmax_cross_entropy(h, eager.input("labels", labels));
  const std::vector<Node> grads = grad(cost, params);
  EXPECT_NEAR(cost.value().item<double>(), m.value(net.cost).item<double>(), 1e-12);
  for (std::size_t i = 0; i < grads.size(); ++i)
    EXPECT_TRUE(allclose(grads[i].value(), m.value(net.grads[i]), 0, 1e-12)) << "gradient " << i;
}

// Graphs that change with every input: a recurrence over sequences of different lengths.
TEST(EagerMachine, DifferentiatesAGraphThatChangesPerInput) {
  Generator gen(5);
  const Tensor w = Tensor::normal({3, 3}, gen, 0, 0.5, DType::f64);
  for (int length : {1, 4, 7}) {
    Graph g(Graph::Mode::eager);
    const Node wn = g.parameter("w", w);
    Node h = g.input("h0", Tensor::ones({3}, DType::f64));
    for (int t = 0; t < length; ++t) h = tanh(matmul(wn, h));
    const Node cost = sum(h);
    const Tensor dw = backward(cost, {wn})[0];
    // Central differences on the same recurrence.
    const double eps = 1e-6;
    double* pw = w.data<double>();
    auto f = [&] {
      Tensor v = Tensor::ones({3}, DType::f64);
      for (int t = 0; t < length; ++t) v = tanh(matmul(w, v));
      return sum(v).item<double>();
    };
    for (int i = 0; i < 9; ++i) {
      const double saved = pw[i];
      pw[i] = saved + eps;
      const double up = f();
      pw[i] = saved - eps;
      const double down = f();
      pw[i] = saved;
      EXPECT_NEAR(dw.data<double>()[i], (up - down) / (2 * eps), 1e-7) << "length " << length << " element " << i;
    }
  }
}

// An eager graph, used as a training loop's step, flushes subnormals like the tape machine's runs
// (RunsFlushSubnormalsToZero above): in its ops, on every thread, and only during them.
TEST(EagerMachine, ComputesWithSubnormalsFlushedToZero) {
#if !(defined(__x86_64__) || defined(__i386__))
  GTEST_SKIP() << "flush-to-zero is an x86 mode here";
#endif
  const float tiny = 1e-20f;  // tiny·tiny = 1e-40: subnormal in float32
  const std::int64_t n = 1 << 16;
  const int threads = num_threads();
  set_num_threads(2);
  const auto squares = [&](bool flush) {
    Graph g(Graph::Mode::eager);
    g.set_flush_subnormals(flush);
    const Node x = g.input("x", Tensor::full({n}, tiny));
    return (x * x).value().to_vector<float>();
  };
  expect_flushed_only_where_asked(squares(true), squares(false), tiny);
  set_num_threads(threads);
}

TEST(EagerMachine, InputsNeedValuesAndDeferredInputsDoNot) {
  Graph eager(Graph::Mode::eager);
  EXPECT_THROW(eager.input("x", {2}), ValueError);
  Graph lazy;
  EXPECT_THROW(lazy.input("x", Tensor::zeros({2})), ValueError);
  const Node x = lazy.input("x", {2});
  EXPECT_TRUE(contains(message_of([&] { (void)exp(x).value(); }), "no value in a deferred graph"));
  EXPECT_TRUE(contains(message_of([&] { backward(sum(exp(x)), {x}); }), "deferred graph"));
}
