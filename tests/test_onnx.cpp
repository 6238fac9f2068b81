// ONNX export and import inside one process: every recorded layer and op survives the round trip
// at the export's batch size and another; refusals and malformed files name what is wrong.
// (tests/onnx/check_onnx.py checks the same files with onnx.checker, onnxruntime and PyTorch.)
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <functional>
#include <limits>
#include <typeinfo>

#include "stheno/exec/tape_machine.hpp"
#include "stheno/io/onnx.hpp"
#include "stheno/nn/module.hpp"
#include "reference.hpp"
#include "stheno/stheno.hpp"

using namespace stheno;
using stheno::testing::message_of;

namespace {

std::span<const std::uint8_t> bytes_of(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

double largest_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const Tensor x = a.to(DType::f64).contiguous(), y = b.to(DType::f64).contiguous();
  double worst = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) worst = std::max(worst, std::abs(x.data<double>()[i] - y.data<double>()[i]));
  return worst;
}

// The model's output for `x` after the ONNX round trip at x's batch size.
Tensor imported_output(const std::string& bytes, const Tensor& x) {
  io::OnnxModel m = io::parse_onnx(bytes_of(bytes), "test", x.shape()[0]);
  EXPECT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.inputs[0].shape(), x.shape());
  TapeMachine machine(*m.graph, m.outputs);
  machine.let(m.inputs[0], x);
  machine.run();
  return machine.value(m.outputs[0]).clone();
}

// One module-built network, in evaluation mode, exported at batch 3 and read back at batch 3
// and 5 (the batch axis is symbolic), against the network itself.
void check_round_trip(nn::Module& net, const Shape& item, std::uint64_t seed, double tolerance = 1e-6) {
  net.set_training(false);
  Generator gen(seed);
  auto batch_of = [&](std::int64_t n) {
    Shape s{n};
    for (std::int64_t d : item) s.push_back(d);
    return s;
  };
  Graph exported;
  const Node ex = exported.input("x", batch_of(3));
  const std::string bytes = io::onnx_bytes(exported, {ex}, {net(ex)});
  for (const std::int64_t n : {3, 5}) {
    Graph g;
    const Node x = g.input("x", batch_of(n));
    const Node y = net(x);
    const Tensor value = Tensor::uniform(batch_of(n), gen, -1, 1);
    TapeMachine machine(g, {y});
    machine.let(x, value);
    machine.run();
    EXPECT_LT(largest_difference(imported_output(bytes, value), machine.value(y)), tolerance) << "batch " << n;
  }
}

TEST(Onnx, ConvolutionsBatchNormAndPoolingRoundTrip) {
  Generator gen(3);
  nn::Sequential net;
  auto norm = std::make_shared<nn::BatchNorm>(4);
  net.add(std::make_shared<nn::Conv2d>(2, 4, 3, gen, Conv2dOptions{1, 1, 1, 2}))
      .add(norm)
      .add(nn::activation(UnaryOp::tanh))
      .add(std::make_shared<nn::AvgPool2d>(3, 2, 1))
      .add(std::make_shared<nn::Conv2d>(4, 6, Size2{2, 3}, gen, Conv2dOptions{{1, 2}, {0, 1}, 1, 1}))
      .add(nn::activation(UnaryOp::sigmoid))
      .add(std::make_shared<nn::MaxPool2d>(2, 1, 1))
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Dropout>(0.5, 9))
      .add(std::make_shared<nn::Linear>(6 * 5 * 4, 7, gen));
  // Running statistics that are not 0 and 1, so that reading them back matters.
  norm->state().running_mean.copy_from(Tensor::from(std::vector<float>{0.1f, -0.2f, 0.3f, 0.05f}));
  norm->state().running_var.copy_from(Tensor::from(std::vector<float>{1.5f, 0.5f, 2.0f, 0.8f}));
  check_round_trip(net, {2, 9, 9}, 1);

  Graph g;
  const Node x = g.input("x", {3, 2, 9, 9});
  const Node y = net(x);
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(io::onnx_bytes(g, {x}, {y})));
  EXPECT_EQ(model.ir_version(), io::kOnnxIrVersion);
  EXPECT_EQ(model.opset_import(0).version(), io::kOnnxOpset);
  EXPECT_EQ(model.graph().input_size(), 1);  // initializers are not inputs
  EXPECT_EQ(model.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  std::vector<std::string> ops;
  for (const auto& n : model.graph().node()) ops.push_back(n.op_type());
  // One node per layer: the convolutions with groups, batch norm and average pooling are not
  // written as the ops that compute them; dropout is gone (inference form).
  EXPECT_EQ(ops, (std::vector<std::string>{"Conv", "BatchNormalization", "Tanh", "AveragePool", "Conv", "Sigmoid", "MaxPool",
                                           "Reshape", "Gemm"}));
}

TEST(Onnx, RecurrentLayersRoundTripWithInitialState) {
  Generator gen(5);
  for (const bool lstm : {true, false}) {
    Graph g;
    const Node x = g.input("x", {3, 4, 5});
    const Node h0 = g.input("h0", {3, 6});
    RecurrentState state{h0, Node()};
    Node y;
    if (lstm) {
      nn::LSTM layer(5, 6, gen);
      y = layer.forward(x, state);
    } else {
      nn::GRU layer(5, 6, gen);
      y = layer.forward(x, state);
    }
    const Node last = state.h;
    const std::string bytes = io::onnx_bytes(g, {x, h0}, {y, last});
    io::OnnxModel m = io::parse_onnx(bytes_of(bytes), "test", 3);
    ASSERT_EQ(m.inputs.size(), 2u);
    ASSERT_EQ(m.outputs.size(), 2u);
    const Tensor xv = Tensor::uniform({3, 4, 5}, gen, -1, 1), hv = Tensor::uniform({3, 6}, gen, -1, 1);
    TapeMachine a(g, {y, last}), b(*m.graph, m.outputs);
    a.let(x, xv), a.let(h0, hv), a.run();
    b.let(m.inputs[0], xv), b.let(m.inputs[1], hv), b.run();
    EXPECT_LT(largest_difference(b.value(m.outputs[0]), a.value(y)), 1e-6) << (lstm ? "lstm" : "gru");
    EXPECT_LT(largest_difference(b.value(m.outputs[1]), a.value(last)), 1e-6) << (lstm ? "lstm" : "gru");
    // Trainable after import: the weights are parameters under the exported names.
    EXPECT_EQ(m.parameters.size(), lstm ? 3u : 4u);
  }
}

// More lookups than table rows: the layers project the table and look the projected rows up
// (recurrent_layers.cpp), and the export still says embedding, then LSTM or GRU.
TEST(Onnx, RecurrentLayersOverALookupRoundTrip) {
  Generator gen(6);
  for (const bool lstm : {true, false}) {
    Graph g;
    const Node tokens = g.input("tokens", {4, 5}, DType::i32);
    nn::Embedding embed(7, 3, gen);
    RecurrentState state;
    const Node y = lstm ? nn::LSTM(3, 4, gen).forward(embed(tokens), state) : nn::GRU(3, 4, gen).forward(embed(tokens), state);
    const std::string bytes = io::onnx_bytes(g, {tokens}, {y});
    io::OnnxModel m = io::parse_onnx(bytes_of(bytes), "test", 4);  // the batch axis is symbolic
    ASSERT_EQ(m.inputs.size(), 1u);
    std::vector<std::int32_t> ids(20);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 5 + 2) % 7);
    const Tensor tv = Tensor::from(ids, {4, 5});
    TapeMachine a(g, {y}), b(*m.graph, m.outputs);
    a.let(tokens, tv), a.run();
    b.let(m.inputs[0], tv), b.run();
    EXPECT_LT(largest_difference(b.value(m.outputs[0]), a.value(y)), 1e-6) << (lstm ? "lstm" : "gru");
  }
}

TEST(Onnx, ExportRefusesWhatOnnxCannotSay) {
  Graph g;
  const Node x = g.input("x", {2, 3});
  EXPECT_NE(message_of([&] { io::onnx_bytes(g, {x}, {step(x)}); }).find("op step has no ONNX form"), std::string::npos);
  const Node other = g.input("other", {2, 3});
  EXPECT_NE(message_of([&] { io::onnx_bytes(g, {x}, {x + other}); }).find("depend on input other"), std::string::npos);
  // A constant of the batch's size would pin the batch size: refused, naming the constant.
  const Node fixed = g.constant(Tensor::ones({2, 3}), "fixed");
  const std::string pinned = message_of([&] { io::onnx_bytes(g, {x}, {x * fixed}); });
  EXPECT_NE(pinned.find("fixed (2, 3)"), std::string::npos) << pinned;
  EXPECT_NE(pinned.find("batch size fixed"), std::string::npos) << pinned;
  // Gradient ops have no ONNX form either.
  const Node w = g.parameter("w", Tensor::ones({3, 3}));
  const Node cost = sum(sigmoid(matmul(x, w)));
  const Node dw = grad(cost, {w})[0];
  EXPECT_NE(message_of([&] { io::onnx_bytes(g, {x}, {dw}); }).find("has no ONNX form"), std::string::npos);
}

// A small valid model to break in the tests below: y = Relu(x·w + b).
onnx::ModelProto small_model() {
  Graph g;
  const Node x = g.input("x", {2, 3});
  const Node w = g.parameter("w", Tensor::ones({3, 4}));
  const Node b = g.parameter("b", Tensor::zeros({4}));
  Node y = relu(matmul_add(b, x, w));
  y.set_name("y");
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(io::onnx_bytes(g, {x}, {y})));
  return m;
}

std::string import_error(const onnx::ModelProto& m) {
  const std::string bytes = m.SerializeAsString();
  return message_of([&] { io::parse_onnx(bytes_of(bytes), "broken.onnx"); });
}

TEST(Onnx, MalformedFilesAreRejectedWithTheReason) {
  const std::string good = small_model().SerializeAsString();
  EXPECT_EQ(io::parse_onnx(bytes_of(good), "good.onnx").parameters.size(), 2u);

  const std::string truncated = message_of([&] { io::parse_onnx(bytes_of(good.substr(0, good.size() / 2)), "cut.onnx"); });
  EXPECT_NE(truncated.find("cut.onnx: ONNX: not a valid ModelProto"), std::string::npos) << truncated;

  onnx::ModelProto dangling = small_model();
  dangling.mutable_graph()->mutable_node(0)->set_input(0, "nowhere");
  const std::string d = import_error(dangling);
  EXPECT_NE(d.find("uses 'nowhere', which no earlier node"), std::string::npos) << d;

  onnx::ModelProto cycle = small_model();  // the Relu before the Gemm it reads
  cycle.mutable_graph()->mutable_node()->SwapElements(0, 1);
  EXPECT_NE(import_error(cycle).find("out of order or in a cycle"), std::string::npos) << import_error(cycle);

  onnx::ModelProto twice = small_model();
  twice.mutable_graph()->mutable_node(1)->set_output(0, twice.graph().node(0).output(0));
  EXPECT_NE(import_error(twice).find("already defined"), std::string::npos) << import_error(twice);

  onnx::ModelProto short_data = small_model();
  short_data.mutable_graph()->mutable_initializer(0)->mutable_raw_data()->resize(5);
  EXPECT_NE(import_error(short_data).find("holds 5"), std::string::npos) << import_error(short_data);

  onnx::ModelProto strings = small_model();
  strings.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::STRING);
  EXPECT_NE(import_error(strings).find("graph input 'x' has element type 8"), std::string::npos) << import_error(strings);

  onnx::ModelProto unknown = small_model();
  unknown.mutable_graph()->mutable_node(1)->set_op_type("Celu");
  const std::string u = import_error(unknown);
  EXPECT_NE(u.find("(Celu, opset 17): op Celu is not supported"), std::string::npos) << u;

  onnx::ModelProto old = small_model();
  old.mutable_opset_import(0)->set_version(9);
  EXPECT_NE(import_error(old).find("opset 9 is not read here"), std::string::npos) << import_error(old);

  onnx::ModelProto attribute = small_model();
  auto* a = attribute.mutable_graph()->mutable_node(0)->add_attribute();
  a->set_name("alpha");
  a->set_type(onnx::AttributeProto::STRING);
  EXPECT_NE(import_error(attribute).find("attribute 'alpha' must be a float"), std::string::npos) << import_error(attribute);

  onnx::ModelProto no_output = small_model();
  no_output.mutable_graph()->mutable_output(0)->set_name("missing");
  EXPECT_NE(import_error(no_output).find("graph output 'missing'"), std::string::npos) << import_error(no_output);
}

TEST(Onnx, AWeightReshapedOnTheWayStaysTrainable) {
  onnx::ModelProto m = small_model();  // nodes: Gemm(x, w, b), Relu
  auto& g = *m.mutable_graph();
  ASSERT_EQ(g.node(0).op_type(), "Gemm");
  auto* axes = g.add_initializer();
  axes->set_name("axes");
  axes->set_data_type(onnx::TensorProto::INT64);
  axes->add_dims(1);
  axes->add_int64_data(0);
  onnx::NodeProto unsqueeze;
  unsqueeze.set_op_type("Unsqueeze");
  unsqueeze.add_input(g.node(0).input(2));
  unsqueeze.add_input("axes");
  unsqueeze.add_output("bias_row");
  g.mutable_node(0)->set_input(2, "bias_row");
  *g.mutable_node()->Add() = unsqueeze;
  for (int i = g.node_size() - 1; i > 0; --i) g.mutable_node()->SwapElements(i, i - 1);  // first
  const std::string bytes = m.SerializeAsString();
  const io::OnnxModel model = io::parse_onnx(bytes_of(bytes), "unsqueezed.onnx", 2);
  std::vector<std::string> names;
  for (const Node& p : model.parameters) names.push_back(p.name());
  EXPECT_EQ(names, (std::vector<std::string>{"b", "w"}));
}

TEST(Onnx, SymbolicAxesTakeTheirSizesFromTheOptions) {
  onnx::ModelProto m = small_model();
  auto* dim = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1);
  dim->set_dim_param("features");
  const std::string bytes = m.SerializeAsString();
  const std::string unnamed = message_of([&] { io::parse_onnx(bytes_of(bytes), "sym.onnx", 7); });
  EXPECT_NE(unnamed.find("symbolic axis 1 ('features')"), std::string::npos) << unnamed;
  io::OnnxImportOptions options(7);
  options.dims["features"] = 3;
  const io::OnnxModel model = io::parse_onnx(bytes_of(bytes), "sym.onnx", options);
  EXPECT_EQ(model.inputs[0].shape(), (Shape{7, 3}));
  EXPECT_EQ(model.outputs[0].shape(), (Shape{7, 4}));
}

}  // namespace

namespace {

// Seeded, structure-aware mutations of valid models (ops, names, attributes, shapes, element
// types, data sizes, opsets, node order) and byte-level ones (flips, truncation) of their files.
class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : gen_(seed) {}

  std::int64_t pick(std::int64_t n) { return static_cast<std::int64_t>(gen_.next_u64() % static_cast<std::uint64_t>(n)); }
  std::int64_t any_int() {
    static const std::int64_t values[] = {-3, -2, -1, 0, 1, 2, 3, 4, 5, 7, 8, 64, 1000, 1'000'000'000, std::int64_t{1} << 40,
                                          std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()};
    return values[pick(std::size(values))];
  }
  std::string any_name(const onnx::GraphProto& g) {
    std::vector<std::string> names = {"", "nowhere"};
    for (const auto& n : g.node())
      for (const auto& o : n.output()) names.push_back(o);
    for (const auto& i : g.initializer()) names.push_back(i.name());
    for (const auto& i : g.input()) names.push_back(i.name());
    return names[static_cast<std::size_t>(pick(static_cast<std::int64_t>(names.size())))];
  }

  void mutate(onnx::ModelProto& m) {
    static const char* ops[] = {"Gemm", "MatMul", "Add", "Relu", "Softmax", "LogSoftmax", "Conv", "MaxPool", "AveragePool",
                                "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Transpose", "Squeeze",
                                "Unsqueeze", "Concat", "Gather", "Expand", "Pad", "LSTM", "GRU", "Constant", "Identity",
                                "Dropout", "Cast", "Shape", "Celu"};
    onnx::GraphProto& g = *m.mutable_graph();
    const int nodes = g.node_size();
    switch (pick(11)) {
      case 0:
        if (nodes) g.mutable_node(static_cast<int>(pick(nodes)))->set_op_type(ops[pick(std::size(ops))]);
        break;
      case 1:
        if (nodes) {
          auto& n = *g.mutable_node(static_cast<int>(pick(nodes)));
          if (n.input_size() && pick(3)) n.set_input(static_cast<int>(pick(n.input_size())), any_name(g));
          else if (n.input_size() && pick(2)) n.mutable_input()->RemoveLast();
          else n.add_input(any_name(g));
        }
        break;
      case 2:
        if (nodes) g.mutable_node()->DeleteSubrange(static_cast<int>(pick(nodes)), 1);
        break;
      case 3:
        if (nodes) {
          auto& n = *g.mutable_node(static_cast<int>(pick(nodes)));
          if (!n.attribute_size()) break;
          auto& a = *n.mutable_attribute(static_cast<int>(pick(n.attribute_size())));
          if (a.ints_size()) a.set_ints(static_cast<int>(pick(a.ints_size())), any_int());
          else if (pick(2)) a.set_i(any_int());
          else a.set_type(static_cast<onnx::AttributeProto::AttributeType>(pick(14)));
          if (!pick(5)) n.mutable_attribute()->DeleteSubrange(0, 1);
        }
        break;
      case 4:
        if (g.initializer_size()) {
          auto& t = *g.mutable_initializer(static_cast<int>(pick(g.initializer_size())));
          if (t.dims_size() && pick(2)) t.set_dims(static_cast<int>(pick(t.dims_size())), any_int());
          else if (pick(2)) t.mutable_raw_data()->resize(static_cast<std::size_t>(pick(static_cast<std::int64_t>(t.raw_data().size()) + 8)));
          else t.set_data_type(static_cast<int>(pick(17)));
        }
        break;
      case 5:
        if (g.input_size()) {
          auto& type = *g.mutable_input(static_cast<int>(pick(g.input_size())))->mutable_type()->mutable_tensor_type();
          if (pick(2) && type.shape().dim_size()) {
            auto& d = *type.mutable_shape()->mutable_dim(static_cast<int>(pick(type.shape().dim_size())));
            if (pick(3)) d.set_dim_value(any_int());
            else d.set_dim_param(pick(2) ? "N" : "T");
          } else {
            type.set_elem_type(static_cast<int>(pick(17)));
          }
        }
        break;
      case 6:
        m.mutable_opset_import(0)->set_version(pick(2) ? 13 + pick(6) : any_int());
        break;
      case 7:
        if (nodes > 1) g.mutable_node()->SwapElements(static_cast<int>(pick(nodes)), static_cast<int>(pick(nodes)));
        break;
      case 8:
        if (nodes) g.mutable_node(static_cast<int>(pick(nodes)))->set_output(0, any_name(g));
        break;
      case 9:
        if (g.output_size()) g.mutable_output(0)->set_name(any_name(g));
        break;
      default:
        if (nodes) *g.add_node() = g.node(static_cast<int>(pick(nodes)));  // a node twice
        break;
    }
  }

  std::string mutate_bytes(std::string bytes) {
    if (bytes.empty()) return bytes;
    if (pick(2)) return bytes.substr(0, static_cast<std::size_t>(pick(static_cast<std::int64_t>(bytes.size()))));
    for (std::int64_t k = pick(8) + 1; k > 0; --k) bytes[static_cast<std::size_t>(pick(static_cast<std::int64_t>(bytes.size())))] ^= static_cast<char>(1 << pick(8));
    return bytes;
  }

 private:
  Generator gen_;
};

// Models with every op family the reader knows, written by stheno and broken in many ways.
std::vector<onnx::ModelProto> seed_models() {
  std::vector<onnx::ModelProto> out;
  Generator gen(21);
  auto add = [&](Graph& g, const std::vector<Node>& in, const std::vector<Node>& outputs) {
    out.emplace_back();
    EXPECT_TRUE(out.back().ParseFromString(io::onnx_bytes(g, in, outputs)));
  };
  {
    nn::Sequential net;
    net.add(std::make_shared<nn::Conv2d>(2, 4, 3, gen, Conv2dOptions{1, 1, 1, 2}))
        .add(std::make_shared<nn::BatchNorm>(4))
        .add(std::make_shared<nn::AvgPool2d>(3, 2, 1))
        .add(std::make_shared<nn::MaxPool2d>(2, 1, 1))
        .add(std::make_shared<nn::Flatten>())
        .add(std::make_shared<nn::Linear>(4 * 6 * 6, 5, gen));
    net.set_training(false);
    Graph g;
    const Node x = g.input("x", {2, 2, 9, 9});
    add(g, {x}, {log_softmax(net(x), 1)});
  }
  for (const bool lstm : {true, false}) {
    Graph g;
    const Node tokens = g.input("tokens", {2, 3}, DType::i32);
    nn::Embedding embed(7, 4, gen);
    RecurrentState state;
    Node y;
    if (lstm) y = nn::LSTM(4, 5, gen).forward(embed(tokens), state);
    else y = nn::GRU(4, 5, gen).forward(embed(tokens), state);
    add(g, {tokens}, {softmax(reshape(y, {6, 5}), -1), state.h});
  }
  out.push_back(small_model());
  return out;
}

}  // namespace

// Every mutant is read, or refused with a stheno error: no crash, no other exception, no
// sanitizer report (CI runs this under ASan and UBSan).
TEST(OnnxFuzz, MutatedModelsAreReadOrRefusedCleanly) {
  const std::vector<onnx::ModelProto> seeds = seed_models();
  Mutator mutator(2026);
  int read = 0, refused = 0;
  for (int round = 0; round < 20000; ++round) {
    onnx::ModelProto m = seeds[static_cast<std::size_t>(round) % seeds.size()];
    for (std::int64_t k = mutator.pick(3) + 1; k > 0; --k) mutator.mutate(m);
    std::string bytes = m.SerializeAsString();
    if (round % 4 == 3) bytes = mutator.mutate_bytes(bytes);
    try {
      io::parse_onnx(bytes_of(bytes), "mutant.onnx", mutator.pick(4) + 1);
      ++read;
    } catch (const Error& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find("mutant.onnx: ONNX: "), std::string::npos) << "round " << round << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "round " << round << ": " << typeid(e).name() << ": " << e.what();
    }
  }
  // Both outcomes happen: the mutations reach past the first checks.
  EXPECT_GT(read, 1000) << refused << " refused";
  EXPECT_GT(refused, 5000) << read << " read";
}
