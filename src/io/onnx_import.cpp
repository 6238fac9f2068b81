// ONNX import: the nodes, in the file's order, each becoming stheno graph nodes through the same
// graph-building functions a user calls. Values whose contents are known at import (initializers,
// Constant nodes, and the shape arithmetic that exporters emit around Reshape) stay host tensors
// until an op takes them as operands; then a float initializer becomes a trainable parameter.
#include <algorithm>
#include <climits>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "onnx_common.hpp"
#include "stheno/io/onnx.hpp"
#include "stheno/io/read_file.hpp"

namespace stheno::io {

namespace {

constexpr std::uint64_t kMaxOnnxBytes = std::uint64_t{2} << 30;  // protobuf's own limit

struct Value {
  Node node;         // defined once the value is in the graph
  Tensor known;      // the contents, when known at import (host, contiguous)
  bool weight = false;  // a float initializer: becomes a parameter when used as an operand
};

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string source, const OnnxImportOptions& options)
      : model_(model), source_(std::move(source)), options_(options) {}

  OnnxModel run() {
    check_model();
    if (options_.graph) {
      graph_ = options_.graph;
    } else {
      result_.graph = std::make_unique<Graph>(options_.mode);
      graph_ = result_.graph.get();
    }
    const onnx::GraphProto& g = model_.graph();
    for (const auto& init : g.initializer()) {
      if (values_.count(init.name())) fail("initializer '" + init.name() + "' is defined twice");
      Value v;
      v.known = tensor_of(init, "initializer '" + init.name() + "'");
      v.weight = is_floating(v.known.dtype());
      values_[init.name()] = std::move(v);
    }
    for (const auto& input : g.input()) {
      if (values_.count(input.name())) continue;  // an initializer also listed as an input (IR < 4)
      const Node n = declare_input(input);
      values_[input.name()].node = n;
      result_.inputs.push_back(n);
    }
    for (int i = 0; i < g.node_size(); ++i) import_node(g.node(i), i);
    if (g.output_size() == 0) fail("the graph has no outputs");
    for (const auto& output : g.output()) {
      const auto it = values_.find(output.name());
      if (it == values_.end()) fail("graph output '" + output.name() + "' is produced by no node, input or initializer");
      result_.outputs.push_back(node_of(output.name(), it->second, false));
    }
    return std::move(result_);
  }

 private:
  Graph& graph() { return *graph_; }

  [[noreturn]] void fail(const std::string& why) const { throw IOError(source_ + ": ONNX: " + why); }

  void check_model() {
    if (!model_.has_graph()) fail("the model has no graph");
    if (model_.ir_version() < 3) fail("IR version " + std::to_string(model_.ir_version()) + " is older than 3, which this reader needs");
    opset_ = -1;
    for (const auto& o : model_.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    if (opset_ < 0) fail("the model imports no version of the default opset");
    if (opset_ < 13 || opset_ > kOnnxOpset)
      fail("opset " + std::to_string(opset_) + " is not read here: this reader implements the default domain's opsets 13 to " +
           std::to_string(kOnnxOpset) + " (export with opset_version=" + std::to_string(kOnnxOpset) + ")");
  }

  // --- tensors ----------------------------------------------------------------------------------
  static std::optional<DType> dtype_of(int elem_type) {
    switch (elem_type) {
      case onnx::TensorProto::FLOAT: return DType::f32;
      case onnx::TensorProto::DOUBLE: return DType::f64;
      case onnx::TensorProto::INT32: return DType::i32;
      case onnx::TensorProto::INT64: return DType::i64;
      default: return std::nullopt;
    }
  }

  Tensor tensor_of(const onnx::TensorProto& t, const std::string& what) const {
    const auto dtype = dtype_of(t.data_type());
    if (!dtype) fail(what + " has element type " + std::to_string(t.data_type()) + "; float, double, int32 and int64 are read");
    if (t.data_location() == onnx::TensorProto::EXTERNAL) fail(what + " keeps its data in an external file, which is not read");
    const Shape shape = bounded_shape(what, std::vector<std::int64_t>(t.dims().begin(), t.dims().end()));
    const std::size_t bytes = static_cast<std::size_t>(shape.numel()) * itemsize(*dtype);
    std::string_view raw;
    std::string packed;
    if (t.has_raw_data()) {
      raw = t.raw_data();
    } else {
      auto take = [&](const auto& field, auto as) {
        using T = decltype(as);
        packed.resize(static_cast<std::size_t>(field.size()) * sizeof(T));
        for (int i = 0; i < field.size(); ++i) {
          const T v = static_cast<T>(field.Get(i));
          std::memcpy(packed.data() + static_cast<std::size_t>(i) * sizeof(T), &v, sizeof(T));
        }
      };
      switch (*dtype) {
        case DType::f32: take(t.float_data(), float{}); break;
        case DType::f64: take(t.double_data(), double{}); break;
        case DType::i32: take(t.int32_data(), std::int32_t{}); break;
        case DType::i64: take(t.int64_data(), std::int64_t{}); break;
      }
      raw = packed;
    }
    if (raw.size() != bytes)
      fail(what + " of shape " + shape.str() + " needs " + std::to_string(bytes) + " bytes of data but holds " + std::to_string(raw.size()));
    Tensor out = Tensor::empty(shape, *dtype);
    if (bytes) std::memcpy(out.raw_data(), raw.data(), bytes);
    return out;
  }

  // A shape from sizes the file gives: each, and their product, at most 2^40, so that no product
  // of sizes overflows further on.
  Shape bounded_shape(const std::string& what, std::span<const std::int64_t> dims) const {
    constexpr std::int64_t kMax = std::int64_t{1} << 40;
    if (dims.size() > static_cast<std::size_t>(kMaxRank)) fail(what + " has " + std::to_string(dims.size()) + " dimensions; at most " + std::to_string(kMaxRank));
    Shape shape;
    std::int64_t product = 1;
    for (std::int64_t d : dims) {
      if (d < 0 || d > kMax || (d > 0 && product > kMax / d)) fail(what + " has an impossible size " + std::to_string(d));
      product *= d;
      shape.push_back(d);
    }
    return shape;
  }

  Node declare_input(const onnx::ValueInfoProto& input) {
    const std::string what = "graph input '" + input.name() + "'";
    if (input.name().empty()) fail("a graph input has no name");
    if (!input.type().has_tensor_type()) fail(what + " is not a tensor");
    const auto& type = input.type().tensor_type();
    const auto dtype = dtype_of(type.elem_type());
    if (!dtype) fail(what + " has element type " + std::to_string(type.elem_type()) + "; float, double, int32 and int64 are read");
    if (!type.has_shape()) fail(what + " has no shape");
    std::vector<std::int64_t> dims;
    for (int i = 0; i < type.shape().dim_size(); ++i) {
      const auto& d = type.shape().dim(i);
      if (d.has_dim_value()) {
        dims.push_back(d.dim_value());
        continue;
      }
      const auto named = options_.dims.find(d.dim_param());
      if (named != options_.dims.end()) dims.push_back(named->second);
      else if (i == 0) dims.push_back(options_.batch);
      else fail(what + " has symbolic axis " + std::to_string(i) + " ('" + d.dim_param() + "'): give its size in OnnxImportOptions::dims");
    }
    const Shape shape = bounded_shape(what, dims);
    // Integer inputs are indices, which stheno keeps as int32.
    const DType dt = *dtype == DType::i64 ? DType::i32 : *dtype;
    const auto bound = options_.bind.find(input.name());
    if (bound == options_.bind.end()) return graph().input(input.name(), shape, dt);
    const Node& n = bound->second;
    if (&n.graph() != &graph() || n.dtype() != dt || n.shape() != shape)
      fail(what + " is " + shape.str() + " " + std::string(dtype_name(dt)) + " here, but is bound to " + n.describe());
    return n;
  }

  // --- values -----------------------------------------------------------------------------------
  Node node_of(const std::string& name, Value& v, bool trainable) {
    if (v.node.defined()) return v.node;
    if (v.weight && trainable) {
      v.node = weight_parameter(name, v.known);
    } else {
      v.node = graph().constant(v.known.dtype() == DType::i64 ? v.known.to(DType::i32) : v.known, name);
    }
    return v.node;
  }

  // --- one node ---------------------------------------------------------------------------------
  struct Context {
    const onnx::NodeProto& proto;
    std::string label;  // "node 'name' (Op)"
  };

  // Constants the reader builds from the file's shapes (an exporter's zero initial states, padding)
  // are small in any real model; a larger one is a hostile file's way to exhaust memory.
  void check_constant_size(const Context& c, const Shape& shape) const {
    constexpr std::int64_t kMaxConstant = std::int64_t{1} << 26;
    if (shape.numel() > kMaxConstant)
      fail(c.label + ": it would make a constant of " + shape.str() + ", over the " + std::to_string(kMaxConstant) + " elements allowed");
  }

  void import_node(const onnx::NodeProto& p, int index) {
    Context ctx{p, "node " + (p.name().empty() ? "#" + std::to_string(index) : "'" + p.name() + "'") + " (" + p.op_type() +
                       ", opset " + std::to_string(opset_) + ")"};
    if (!p.domain().empty() && p.domain() != "ai.onnx") fail(ctx.label + " is in domain '" + p.domain() + "', which is not read");
    for (const auto& in : p.input())
      if (!in.empty() && !values_.count(in))
        fail(ctx.label + " uses '" + in + "', which no earlier node, graph input or initializer produces (a dangling name, or nodes out of order or in a cycle)");
    for (const auto& out : p.output())
      if (!out.empty() && values_.count(out)) fail(ctx.label + " produces '" + out + "', which is already defined");
    std::set<std::string> seen;
    for (const auto& a : p.attribute())
      if (!seen.insert(a.name()).second) fail(ctx.label + " has attribute '" + a.name() + "' twice");
    std::vector<Value> outputs;
    try {
      outputs = dispatch(ctx);
    } catch (const IOError&) {
      throw;
    } catch (const Error& e) {
      fail(ctx.label + ": " + e.what());
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(p.output_size()); ++i) {
      if (p.output(static_cast<int>(i)).empty()) continue;
      if (i >= outputs.size()) fail(ctx.label + ": output " + std::to_string(i) + " ('" + p.output(static_cast<int>(i)) + "') is not supported");
      Value v = outputs[i];
      if (v.node.defined() && v.node.kind() == NodeKind::op && v.node.name() != p.output(static_cast<int>(i)) &&
          !graph().contains(p.output(static_cast<int>(i))) && !named_.count(v.node.id())) {
        v.node.set_name(p.output(static_cast<int>(i)));
        named_.insert(v.node.id());
      }
      values_[p.output(static_cast<int>(i))] = v;
    }
  }

  // Inputs by position; `required` ones must be present and non-empty.
  Value& input(const Context& c, int i) {
    if (i >= c.proto.input_size() || c.proto.input(i).empty()) fail(c.label + " lacks its input " + std::to_string(i));
    return values_.at(c.proto.input(i));
  }
  bool has_input(const Context& c, int i) const { return i < c.proto.input_size() && !c.proto.input(i).empty(); }
  Node operand(const Context& c, int i, bool trainable = true) {
    Value& v = input(c, i);
    return node_of(c.proto.input(i), v, trainable);
  }
  const Tensor& known(const Context& c, int i, const std::string& what) {
    Value& v = input(c, i);
    if (!v.known.defined()) fail(c.label + ": its " + what + " (input " + std::to_string(i) + ") must be known when the model is read (an initializer or a constant)");
    return v.known;
  }
  std::vector<std::int64_t> known_ints(const Context& c, int i, const std::string& what) {
    const Tensor& t = known(c, i, what);
    if (t.dtype() != DType::i64 && t.dtype() != DType::i32) fail(c.label + ": its " + what + " must be integers");
    if (t.rank() > 1) fail(c.label + ": its " + what + " must be a list");
    std::vector<std::int64_t> out;
    const Tensor flat = t.reshape(Shape{t.numel()});
    for (std::int64_t k = 0; k < t.numel(); ++k) out.push_back(static_cast<std::int64_t>(flat.at({k})));
    return out;
  }

  const onnx::AttributeProto* attribute(const Context& c, const std::string& name) const {
    for (const auto& a : c.proto.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  void only_attributes(const Context& c, std::initializer_list<const char*> allowed) const {
    for (const auto& a : c.proto.attribute())
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* n) { return a.name() == n; }))
        fail(c.label + ": attribute '" + a.name() + "' is not supported");
  }
  std::int64_t int_attr(const Context& c, const std::string& name, std::int64_t fallback) const {
    const auto* a = attribute(c, name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto::INT) fail(c.label + ": attribute '" + name + "' must be an int");
    return a->i();
  }
  float float_attr(const Context& c, const std::string& name, float fallback) const {
    const auto* a = attribute(c, name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto::FLOAT) fail(c.label + ": attribute '" + name + "' must be a float");
    return a->f();
  }
  std::optional<std::vector<std::int64_t>> ints_attr(const Context& c, const std::string& name) const {
    const auto* a = attribute(c, name);
    if (!a) return std::nullopt;
    if (a->type() != onnx::AttributeProto::INTS) fail(c.label + ": attribute '" + name + "' must be a list of ints");
    return std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
  }
  std::string string_attr(const Context& c, const std::string& name, const std::string& fallback) const {
    const auto* a = attribute(c, name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto::STRING) fail(c.label + ": attribute '" + name + "' must be a string");
    return a->s();
  }
  int axis_attr(const Context& c, const std::string& name, std::int64_t fallback, int rank) const {
    const std::int64_t a = int_attr(c, name, fallback);
    if (a < -rank || a >= std::max(rank, 1)) fail(c.label + ": axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
    return static_cast<int>(a < 0 ? a + rank : a);
  }

  static Value of(Node n) { return Value{n, Tensor(), false}; }
  static Value of_known(Tensor t) { return Value{Node(), std::move(t), false}; }

  std::vector<Value> dispatch(const Context& c) {
    const std::string& type = c.proto.op_type();
    static const std::unordered_map<std::string, UnaryOp> unary_ops = {
        {"Relu", UnaryOp::relu}, {"Sigmoid", UnaryOp::sigmoid}, {"Tanh", UnaryOp::tanh}, {"Exp", UnaryOp::exp},
        {"Log", UnaryOp::log},   {"Sqrt", UnaryOp::sqrt},       {"Neg", UnaryOp::neg},   {"Abs", UnaryOp::abs}};
    static const std::unordered_map<std::string, BinaryOp> binary_ops = {
        {"Add", BinaryOp::add}, {"Sub", BinaryOp::sub}, {"Mul", BinaryOp::mul},     {"Div", BinaryOp::div},
        {"Pow", BinaryOp::pow}, {"Max", BinaryOp::maximum}, {"Min", BinaryOp::minimum}};
    if (const auto u = unary_ops.find(type); u != unary_ops.end()) {
      only_attributes(c, {});
      return {of(unary(u->second, operand(c, 0)))};
    }
    if (const auto b = binary_ops.find(type); b != binary_ops.end()) {
      only_attributes(c, {});
      if (c.proto.input_size() != 2) fail(c.label + " takes two inputs here");
      if (input(c, 0).known.defined() && input(c, 1).known.defined() && !is_floating(input(c, 0).known.dtype()))
        return {of_known(integer_arithmetic(c, b->second))};
      return {of(binary(b->second, operand(c, 0), operand(c, 1)))};
    }
    using Handler = std::vector<Value> (Importer::*)(const Context&);
    static const std::unordered_map<std::string, Handler> handlers = {
        {"Identity", &Importer::identity},   {"Dropout", &Importer::dropout_inference},
        {"Cast", &Importer::cast},           {"Constant", &Importer::constant},
        {"Shape", &Importer::shape},         {"Gather", &Importer::gather},
        {"Unsqueeze", &Importer::unsqueeze}, {"Squeeze", &Importer::squeeze},
        {"Concat", &Importer::concatenate},  {"Reshape", &Importer::reshape_node},
        {"Pad", &Importer::pad},             {"Expand", &Importer::expand},
        {"Flatten", &Importer::flatten_node}, {"Transpose", &Importer::transpose_node},
        {"Gemm", &Importer::gemm},           {"MatMul", &Importer::matmul_node},
        {"Softmax", &Importer::softmax_node}, {"LogSoftmax", &Importer::softmax_node},
        {"Conv", &Importer::conv},           {"MaxPool", &Importer::pool},
        {"AveragePool", &Importer::pool},    {"GlobalAveragePool", &Importer::global_average_pool},
        {"BatchNormalization", &Importer::batch_normalization},
        {"LSTM", &Importer::recurrent},      {"GRU", &Importer::recurrent},
    };
    const auto h = handlers.find(type);
    if (h == handlers.end()) fail(c.label + ": op " + type + " is not supported");
    return (this->*h->second)(c);
  }

  // --- pass-through and known values ------------------------------------------------------------
  std::vector<Value> identity(const Context& c) {
    only_attributes(c, {});
    return {input(c, 0)};
  }
  std::vector<Value> dropout_inference(const Context& c) {
    only_attributes(c, {"seed"});
    if (c.proto.output_size() > 1 && !c.proto.output(1).empty()) fail(c.label + ": its mask output is not supported");
    if (has_input(c, 2)) {
      const Tensor& mode = known(c, 2, "training_mode");
      if (mode.numel() != 1 || mode.at({}) != 0) fail(c.label + ": training_mode must be false (inference form)");
    }
    return {input(c, 0)};
  }
  std::vector<Value> cast(const Context& c) {
    only_attributes(c, {"to"});
    const auto to = dtype_of(static_cast<int>(int_attr(c, "to", 0)));
    Value v = input(c, 0);
    if (!to) fail(c.label + ": cast to element type " + std::to_string(int_attr(c, "to", 0)) + " is not supported");
    if (v.known.defined()) {
      v.known = v.known.to(*to);
      v.node = Node();
      v.weight = v.weight && is_floating(*to);
      return {v};
    }
    const DType from = v.node.dtype();
    const bool both_int = !is_floating(from) && !is_floating(*to);
    if (from != *to && !both_int) fail(c.label + ": cast from " + std::string(dtype_name(from)) + " to " + std::string(dtype_name(*to)) + " is not supported");
    return {v};  // int32 and int64 are both stheno's int32 indices
  }
  std::vector<Value> constant(const Context& c) {
    if (c.proto.attribute_size() != 1) fail(c.label + " must have exactly one attribute");
    const auto& a = c.proto.attribute(0);
    if (a.name() == "value" && a.type() == onnx::AttributeProto::TENSOR) return {of_known(tensor_of(a.t(), c.label + "'s value"))};
    if (a.name() == "value_float" && a.type() == onnx::AttributeProto::FLOAT) return {of_known(Tensor::scalar(a.f()))};
    if (a.name() == "value_int" && a.type() == onnx::AttributeProto::INT) {
      return {of_known(Tensor::from(std::vector<std::int64_t>{a.i()}, Shape{}))};
    }
    if (a.name() == "value_floats" && a.type() == onnx::AttributeProto::FLOATS)
      return {of_known(Tensor::from(std::vector<float>(a.floats().begin(), a.floats().end())))};
    if (a.name() == "value_ints" && a.type() == onnx::AttributeProto::INTS)
      return {of_known(Tensor::from(std::vector<std::int64_t>(a.ints().begin(), a.ints().end())))};
    fail(c.label + ": attribute '" + a.name() + "' is not supported");
  }
  Shape shape_of(Value& v) const { return v.node.defined() ? v.node.shape() : v.known.shape(); }
  std::vector<Value> shape(const Context& c) {
    only_attributes(c, {"start", "end"});
    const Shape s = shape_of(input(c, 0));
    const int rank = s.rank();
    auto clamp = [&](std::int64_t a) { return std::clamp<std::int64_t>(a < 0 ? a + rank : a, 0, rank); };
    const std::int64_t start = clamp(int_attr(c, "start", 0)), end = clamp(int_attr(c, "end", rank));
    std::vector<std::int64_t> dims;
    for (std::int64_t i = start; i < end; ++i) dims.push_back(s[static_cast<int>(i)]);
    return {of_known(Tensor::from(dims, Shape{static_cast<std::int64_t>(dims.size())}))};
  }
  Tensor integer_arithmetic(const Context& c, BinaryOp op) {
    const Tensor a = input(c, 0).known.to(DType::i64), b = input(c, 1).known.to(DType::i64);
    if (a.numel() != b.numel() && a.numel() != 1 && b.numel() != 1) fail(c.label + ": integer operands of different sizes");
    const Tensor& big = a.numel() >= b.numel() ? a : b;
    Tensor out = Tensor::empty(big.shape(), DType::i64);
    const std::int64_t* pa = a.data<std::int64_t>();
    const std::int64_t* pb = b.data<std::int64_t>();
    for (std::int64_t i = 0; i < out.numel(); ++i) {
      const std::int64_t x = pa[a.numel() == 1 ? 0 : i], y = pb[b.numel() == 1 ? 0 : i];
      std::int64_t r = 0;
      switch (op) {
        case BinaryOp::add: r = x + y; break;
        case BinaryOp::sub: r = x - y; break;
        case BinaryOp::mul: r = x * y; break;
        case BinaryOp::div:
          if (y == 0) fail(c.label + ": integer division by zero");
          r = x / y;
          break;
        case BinaryOp::maximum: r = std::max(x, y); break;
        case BinaryOp::minimum: r = std::min(x, y); break;
        default: fail(c.label + ": not supported on integers");
      }
      out.data<std::int64_t>()[i] = r;
    }
    return out;
  }
  std::vector<Value> gather(const Context& c) {
    only_attributes(c, {"axis"});
    Value& data = input(c, 0);
    Value& indices = input(c, 1);
    const Shape ds = shape_of(data);
    const int axis = axis_attr(c, "axis", 0, ds.rank());
    if (indices.known.defined() && !data.weight && (data.known.defined() || indices.known.numel() == 1)) {
      // A picked element of a shape, or one step of a sequence: slices.
      const std::vector<std::int64_t> picks = known_ints(c, 1, "indices");
      if (data.known.defined()) {
        if (ds.rank() != 1) fail(c.label + ": gathering from a known tensor of rank " + std::to_string(ds.rank()));
        std::vector<std::int64_t> out;
        const Tensor d = data.known.to(DType::i64);
        for (std::int64_t k : picks) out.push_back(d.data<std::int64_t>()[check_index(c, k, ds[0])]);
        return {of_known(indices.known.rank() == 0 ? Tensor::from(out, Shape{}) : Tensor::from(out, indices.known.shape()))};
      }
      const std::int64_t k = check_index(c, picks[0], ds[axis]);
      const Node x = operand(c, 0);
      Node s = slice(x, axis, k, k + 1);
      if (indices.known.rank() == 0) {
        Shape out = x.shape();
        out.erase(axis);
        s = stheno::reshape(s, out);
      }
      return {of(s)};
    }
    if (axis != 0) fail(c.label + ": gathering rows of a table is read along axis 0 only");
    return {of(embedding(operand(c, 0), operand(c, 1)))};
  }
  std::int64_t check_index(const Context& c, std::int64_t k, std::int64_t size) const {
    if (k < -size || k >= size) fail(c.label + ": index " + std::to_string(k) + " is out of range for size " + std::to_string(size));
    return k < 0 ? k + size : k;
  }
  std::vector<std::int64_t> axes_input(const Context& c, int rank) {
    std::vector<std::int64_t> axes = has_input(c, 1) ? known_ints(c, 1, "axes") : std::vector<std::int64_t>{};
    for (auto& a : axes) {
      if (a < -rank || a >= rank) fail(c.label + ": axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank));
      if (a < 0) a += rank;
    }
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) fail(c.label + ": an axis is repeated");
    return axes;
  }
  Value reshaped(Value& v, const Shape& shape) {
    if (v.known.defined() && !v.node.defined()) return of_known(v.known.reshape(shape));
    return of(stheno::reshape(v.node, shape));
  }
  std::vector<Value> unsqueeze(const Context& c) {
    only_attributes(c, {});
    Value& v = input(c, 0);
    if (v.weight) operand(c, 0);  // a weight reshaped stays a trainable parameter
    Shape s = shape_of(v);
    const std::vector<std::int64_t> axes = axes_input(c, s.rank() + (has_input(c, 1) ? static_cast<int>(known(c, 1, "axes").numel()) : 0));
    for (std::int64_t a : axes) s.insert(static_cast<int>(a), 1);
    return {reshaped(v, s)};
  }
  std::vector<Value> squeeze(const Context& c) {
    only_attributes(c, {});
    Value& v = input(c, 0);
    if (v.weight) operand(c, 0);  // a weight reshaped stays a trainable parameter
    const Shape s = shape_of(v);
    std::vector<std::int64_t> axes = axes_input(c, s.rank());
    if (axes.empty())
      for (int i = 0; i < s.rank(); ++i)
        if (s[i] == 1) axes.push_back(i);
    Shape out;
    for (int i = 0; i < s.rank(); ++i) {
      const bool drop = std::count(axes.begin(), axes.end(), i) > 0;
      if (drop && s[i] != 1) fail(c.label + ": axis " + std::to_string(i) + " has size " + std::to_string(s[i]) + ", not 1");
      if (!drop) out.push_back(s[i]);
    }
    return {reshaped(v, out)};
  }
  std::vector<Value> concatenate(const Context& c) {
    only_attributes(c, {"axis"});
    bool all_known = true;
    for (int i = 0; i < c.proto.input_size(); ++i) all_known = all_known && input(c, i).known.defined() && !input(c, i).weight;
    const int axis = axis_attr(c, "axis", 0, shape_of(input(c, 0)).rank());
    if (all_known && shape_of(input(c, 0)).rank() == 1) {
      std::vector<std::int64_t> joined;
      for (int i = 0; i < c.proto.input_size(); ++i)
        for (std::int64_t v : known_ints(c, i, "part")) joined.push_back(v);
      return {of_known(Tensor::from(joined, Shape{static_cast<std::int64_t>(joined.size())}))};
    }
    std::vector<Node> parts;
    for (int i = 0; i < c.proto.input_size(); ++i) parts.push_back(operand(c, i));
    return {of(concat(parts, axis))};
  }
  // Broadcast both ways, as in NumPy: a known value (the zeros an exporter makes for an initial
  // state) stays known.
  std::vector<Value> expand(const Context& c) {
    only_attributes(c, {});
    Value& v = input(c, 0);
    const Shape in = shape_of(v);
    const std::vector<std::int64_t> target = known_ints(c, 1, "shape");
    const int rank = std::max(in.rank(), static_cast<int>(target.size()));
    if (rank > kMaxRank) fail(c.label + ": rank " + std::to_string(rank));
    std::vector<std::int64_t> dims;
    for (int i = 0; i < rank; ++i) {
      const int a = i - (rank - in.rank()), b = i - (rank - static_cast<int>(target.size()));
      const std::int64_t x = a >= 0 ? in[a] : 1, y = b >= 0 ? target[static_cast<std::size_t>(b)] : 1;
      if (x != y && x != 1 && y != 1) fail(c.label + ": cannot broadcast " + in.str() + " to the shape given");
      dims.push_back(x == 1 ? y : x);
    }
    const Shape out = bounded_shape(c.label + "'s result", dims);
    if (v.known.defined() && !v.node.defined() && !v.weight) {
      check_constant_size(c, out);
      Shape padded;
      for (int i = 0; i < rank - in.rank(); ++i) padded.push_back(1);
      for (int i = 0; i < in.rank(); ++i) padded.push_back(in[i]);
      return {of_known(v.known.reshape(padded).expand(out).contiguous())};
    }
    return {of(broadcast_to(operand(c, 0), out))};
  }

  // Constant padding, as zeros (or the given value) joined on along each padded axis.
  std::vector<Value> pad(const Context& c) {
    only_attributes(c, {"mode"});
    if (string_attr(c, "mode", "constant") != "constant") fail(c.label + ": only constant padding is supported");
    Node x = operand(c, 0);
    const std::vector<std::int64_t> pads = known_ints(c, 1, "pads");
    double fill = 0;
    if (has_input(c, 2)) {
      const Tensor& v = known(c, 2, "constant_value");
      if (v.numel() != 1) fail(c.label + ": constant_value must be one number");
      fill = v.reshape(Shape{}).at({});
    }
    std::vector<int> axes;
    if (has_input(c, 3)) {
      for (std::int64_t a : known_ints(c, 3, "axes")) {  // in the pads' order, not sorted
        if (a < -x.rank() || a >= x.rank()) fail(c.label + ": axis " + std::to_string(a) + " is out of range");
        axes.push_back(static_cast<int>(a < 0 ? a + x.rank() : a));
      }
    } else {
      for (int a = 0; a < x.rank(); ++a) axes.push_back(a);
    }
    if (pads.size() != 2 * axes.size()) fail(c.label + ": pads must have 2 entries per axis");
    for (std::size_t k = 0; k < axes.size(); ++k) {
      const std::int64_t before = pads[k], after = pads[k + axes.size()];
      if (before < 0 || after < 0) fail(c.label + ": negative pads (cropping) are not supported");
      if (before == 0 && after == 0) continue;
      std::vector<Node> parts;
      for (const std::int64_t width : {before, std::int64_t{-1}, after}) {
        if (width == -1) parts.push_back(x);
        if (width <= 0) continue;
        std::vector<std::int64_t> dims(x.shape().begin(), x.shape().end());
        dims[static_cast<std::size_t>(axes[k])] = width;
        const Shape s = bounded_shape(c.label + "'s padding", dims);
        check_constant_size(c, s);
        parts.push_back(graph().constant(Tensor::full(s, fill, x.dtype())));
      }
      x = concat(parts, axes[k]);
    }
    return {of(x)};
  }

  std::vector<Value> reshape_node(const Context& c) {
    only_attributes(c, {"allowzero"});
    Value& v = input(c, 0);
    const Shape in = shape_of(v);
    const std::vector<std::int64_t> target = known_ints(c, 1, "shape");
    const bool allow_zero = int_attr(c, "allowzero", 0) != 0;
    std::vector<std::int64_t> dims;
    int inferred = -1;
    for (std::size_t i = 0; i < target.size(); ++i) {
      std::int64_t d = target[i];
      if (d == 0 && !allow_zero) {
        if (static_cast<int>(i) >= in.rank()) fail(c.label + ": shape entry 0 at " + std::to_string(i) + " copies an axis the input lacks");
        d = in[static_cast<int>(i)];
      }
      if (d == -1) {
        if (inferred >= 0) fail(c.label + ": more than one -1 in the shape");
        inferred = static_cast<int>(i);
        d = 1;
      }
      dims.push_back(d);
    }
    Shape out = bounded_shape(c.label + "'s shape", dims);
    const std::int64_t known_product = out.numel();
    if (inferred >= 0) {
      if (known_product == 0 || in.numel() % known_product != 0)
        fail(c.label + ": cannot reshape " + in.str() + " into " + out.str() + " with -1 inferred");
      out[inferred] = in.numel() / known_product;
    }
    if (v.weight) operand(c, 0);  // a weight reshaped stays a trainable parameter
    return {reshaped(v, out)};
  }
  std::vector<Value> flatten_node(const Context& c) {
    only_attributes(c, {"axis"});
    const Node x = operand(c, 0);
    const int axis = axis_attr(c, "axis", 1, x.rank() + 1);
    std::int64_t outer = 1;
    for (int i = 0; i < axis; ++i) outer *= x.shape()[i];
    return {of(stheno::reshape(x, {outer, outer == 0 ? 0 : x.shape().numel() / outer}))};
  }
  std::vector<Value> transpose_node(const Context& c) {
    only_attributes(c, {"perm"});
    const Node x = operand(c, 0);
    std::vector<int> order;
    if (const auto perm = ints_attr(c, "perm")) {
      for (std::int64_t p : *perm) order.push_back(static_cast<int>(p));
    } else {
      for (int i = x.rank() - 1; i >= 0; --i) order.push_back(i);
    }
    return {of(permute(x, order))};
  }

  // --- linear algebra and neural-network ops ----------------------------------------------------
  std::vector<Value> gemm(const Context& c) {
    only_attributes(c, {"alpha", "beta", "transA", "transB"});
    Node a = operand(c, 0), b = operand(c, 1);
    if (a.rank() != 2 || b.rank() != 2) fail(c.label + ": Gemm takes matrices");
    if (int_attr(c, "transA", 0)) a = transpose(a);
    if (int_attr(c, "transB", 0)) b = transpose(b);
    const float alpha = float_attr(c, "alpha", 1), beta = float_attr(c, "beta", 1);
    if (alpha != 1) a = a * static_cast<double>(alpha);
    if (!has_input(c, 2)) return {of(matmul(a, b))};
    Node bias = operand(c, 2);
    if (beta != 1) bias = bias * static_cast<double>(beta);
    return {of(matmul_add(bias, a, b))};
  }
  std::vector<Value> matmul_node(const Context& c) {
    only_attributes(c, {});
    return {of(matmul(operand(c, 0), operand(c, 1)))};
  }
  std::vector<Value> softmax_node(const Context& c) {
    only_attributes(c, {"axis"});
    const Node x = operand(c, 0);
    const int axis = axis_attr(c, "axis", -1, x.rank());
    return {of(c.proto.op_type() == "Softmax" ? softmax(x, axis) : log_softmax(x, axis))};
  }

  // kernel_shape, strides, pads (begin = end), dilations of a 2-D window op.
  struct Window {
    Size2 kernel, stride = 1, padding = 0, dilation = 1;
  };
  Window window(const Context& c, const Node& x, std::optional<Size2> kernel_from_weight) {
    if (x.rank() != 4) fail(c.label + ": only 2-D images (N, C, H, W) are read, not " + x.shape().str());
    const std::string pad_mode = string_attr(c, "auto_pad", "NOTSET");
    if (pad_mode != "NOTSET" && pad_mode != "VALID") fail(c.label + ": auto_pad " + pad_mode + " is not supported (pads must be explicit)");
    auto pair = [&](const char* name, std::int64_t fallback) -> Size2 {
      const auto v = ints_attr(c, name);
      if (!v) return fallback;
      if (v->size() != 2) fail(c.label + ": " + name + " must have 2 entries");
      return {(*v)[0], (*v)[1]};
    };
    Window w;
    if (const auto k = ints_attr(c, "kernel_shape")) {
      if (k->size() != 2) fail(c.label + ": kernel_shape must have 2 entries");
      w.kernel = {(*k)[0], (*k)[1]};
      if (kernel_from_weight && !(w.kernel == *kernel_from_weight)) fail(c.label + ": kernel_shape disagrees with the weight");
    } else if (kernel_from_weight) {
      w.kernel = *kernel_from_weight;
    } else {
      fail(c.label + " needs kernel_shape");
    }
    w.stride = pair("strides", 1);
    w.dilation = pair("dilations", 1);
    if (const auto p = ints_attr(c, "pads")) {
      if (p->size() != 4) fail(c.label + ": pads must have 4 entries");
      if ((*p)[0] != (*p)[2] || (*p)[1] != (*p)[3]) fail(c.label + ": pads must be the same at both ends of an axis");
      w.padding = {(*p)[0], (*p)[1]};
    }
    if (pad_mode == "VALID") w.padding = 0;
    return w;
  }

  std::vector<Value> conv(const Context& c) {
    only_attributes(c, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
    const Node x = operand(c, 0), weight = operand(c, 1);
    if (weight.rank() != 4) fail(c.label + ": the weight must be (F, C/group, kh, kw)");
    const Window w = window(c, x, Size2{weight.shape()[2], weight.shape()[3]});
    const Conv2dOptions o{w.stride, w.padding, w.dilation, int_attr(c, "group", 1)};
    return {of(conv2d(x, weight, has_input(c, 2) ? operand(c, 2) : Node(), o))};
  }
  std::vector<Value> pool(const Context& c) {
    const bool average = c.proto.op_type() == "AveragePool";
    if (average) only_attributes(c, {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
    else only_attributes(c, {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
    if (c.proto.output_size() > 1 && !c.proto.output(1).empty()) fail(c.label + ": its Indices output is not supported");
    if (int_attr(c, "ceil_mode", 0) != 0) fail(c.label + ": ceil_mode 1 is not supported");
    const Node x = operand(c, 0);
    const Window w = window(c, x, std::nullopt);
    if (!(w.dilation == Size2(1))) fail(c.label + ": dilated pooling is not supported");
    if (!average) return {of(max_pool2d(x, w.kernel, w.stride, w.padding))};
    if (int_attr(c, "count_include_pad", 0) == 0 && !(w.padding == Size2(0)))
      fail(c.label + ": count_include_pad 0 with padding is not supported (stheno counts padding as zeros)");
    return {of(avg_pool2d(x, w.kernel, w.stride, w.padding))};
  }
  std::vector<Value> global_average_pool(const Context& c) {
    only_attributes(c, {});
    const Node x = operand(c, 0);
    if (x.rank() != 4) fail(c.label + ": only 2-D images (N, C, H, W) are read");
    return {of(avg_pool2d(x, Size2{x.shape()[2], x.shape()[3]}))};
  }
  std::vector<Value> batch_normalization(const Context& c) {
    only_attributes(c, {"epsilon", "momentum", "training_mode"});
    if (int_attr(c, "training_mode", 0) != 0) fail(c.label + ": training_mode 1 is not supported (export in inference form)");
    for (int i = 1; i < c.proto.output_size(); ++i)
      if (!c.proto.output(i).empty()) fail(c.label + ": its running statistics outputs are not supported");
    const Node x = operand(c, 0), scale = operand(c, 1), bias = operand(c, 2);
    auto state = std::make_shared<BatchNormState>();
    const Tensor& mean = known(c, 3, "mean"), &var = known(c, 4, "var");
    const Shape channels{x.rank() >= 2 ? x.shape()[1] : 0};
    if (mean.shape() != channels || var.shape() != channels) fail(c.label + ": the mean and var must be " + channels.str());
    state->running_mean = shared_weight(c.proto.input(3), mean.to(x.dtype()).clone());
    state->running_var = shared_weight(c.proto.input(4), var.to(x.dtype()).clone());
    state->eps = float_attr(c, "epsilon", 1e-5f);
    state->momentum = 1 - static_cast<double>(float_attr(c, "momentum", 0.9f));
    state->training = false;
    result_.norms.push_back(state);
    result_.running_names.push_back(c.proto.input(3));
    result_.running_names.push_back(c.proto.input(4));
    return {of(batch_norm(x, scale, bias, state))};
  }

  // ONNX's (1, gates·H, in) weight as stheno's (in, gates·H), gate blocks in stheno's order.
  Tensor stheno_weight(const Context& c, int i, std::span<const int> order, std::int64_t hidden, DType dtype) {
    const Tensor& w = known(c, i, i == 1 ? "W" : "R");
    const std::int64_t gates = static_cast<std::int64_t>(order.size());
    if (w.rank() != 3 || w.shape()[0] != 1 || w.shape()[1] != gates * hidden)
      fail(c.label + ": " + (i == 1 ? "W" : "R") + " must be (1, " + std::to_string(gates * hidden) + ", ·), not " + w.shape().str());
    const Tensor m = w.to(dtype).select(0, 0);
    Tensor out = Tensor::empty({m.shape()[1], gates * hidden}, dtype);
    for (std::int64_t k = 0; k < gates; ++k) {
      const std::int64_t s = order[static_cast<std::size_t>(k)];
      out.slice(1, s * hidden, (s + 1) * hidden).copy_from(m.slice(0, k * hidden, (k + 1) * hidden).t());
    }
    return out;
  }
  // Part `part` (0: input, 1: recurrent) of ONNX's (1, 2·gates·H) bias, in stheno's gate order.
  Tensor stheno_bias(const Tensor& b, int part, std::span<const int> order, std::int64_t hidden, DType dtype) {
    const std::int64_t gates = static_cast<std::int64_t>(order.size());
    Tensor out = Tensor::empty({gates * hidden}, dtype);
    const Tensor row = b.to(dtype).reshape(Shape{2 * gates * hidden});
    for (std::int64_t k = 0; k < gates; ++k) {
      const std::int64_t s = order[static_cast<std::size_t>(k)];
      out.slice(0, s * hidden, (s + 1) * hidden).copy_from(row.slice(0, part * gates * hidden + k * hidden, part * gates * hidden + (k + 1) * hidden));
    }
    return out;
  }
  // What OnnxImportOptions::weights gives for `name`, or nothing.
  const OnnxImportOptions::Weight* given_weight(const std::string& name, const Tensor& value) const {
    const auto it = options_.weights.find(name);
    if (it == options_.weights.end()) return nullptr;
    const Tensor& t = it->second.value;
    if (t.shape() != value.shape() || t.dtype() != value.dtype())
      fail("the weight given for '" + name + "' is " + t.shape().str() + " " + std::string(dtype_name(t.dtype())) +
           ", but the file's is " + value.shape().str() + " " + std::string(dtype_name(value.dtype())));
    return &it->second;
  }
  Tensor shared_weight(const std::string& name, const Tensor& value) const {
    const auto* given = given_weight(name, value);
    return given ? given->value : value;
  }

  // The trainable parameter of the file's weight `name`, whose value the file gives as `value`.
  Node weight_parameter(const std::string& name, const Tensor& value) {
    const auto* given = given_weight(name, value);
    const Node n = given ? graph().parameter(given->node_name.empty() ? name : given->node_name, given->value)
                         : graph().parameter(name, value);
    result_.parameters.push_back(n);
    return n;
  }

  std::vector<Value> recurrent(const Context& c) {
    const bool lstm_op = c.proto.op_type() == "LSTM";
    if (lstm_op) only_attributes(c, {"hidden_size", "direction", "layout", "input_forget", "activations"});
    else only_attributes(c, {"hidden_size", "direction", "layout", "linear_before_reset", "activations"});
    const std::string direction = string_attr(c, "direction", "forward");
    if (direction != "forward") fail(c.label + ": direction " + direction + " is not supported (forward only)");
    if (int_attr(c, "input_forget", 0) != 0) fail(c.label + ": input_forget is not supported");
    if (const auto* a = attribute(c, "activations")) {
      const std::vector<std::string> standard = lstm_op ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"} : std::vector<std::string>{"Sigmoid", "Tanh"};
      if (a->strings_size() != static_cast<int>(standard.size()) || !std::equal(standard.begin(), standard.end(), a->strings().begin()))
        fail(c.label + ": only the standard activations are supported");
    }
    if (!lstm_op && int_attr(c, "linear_before_reset", 0) != 1)
      fail(c.label + ": linear_before_reset 0 is not supported (stheno's GRU, like PyTorch's, applies the reset gate after the product)");
    const std::int64_t layout = int_attr(c, "layout", 0);
    if (layout != 0 && layout != 1) fail(c.label + ": layout " + std::to_string(layout));
    if (has_input(c, 4)) fail(c.label + ": sequence_lens is not supported (sequences of equal length only)");
    if (lstm_op && has_input(c, 7)) fail(c.label + ": peephole weights P are not supported");
    const std::int64_t hidden = int_attr(c, "hidden_size", -1);
    const Node x_in = operand(c, 0);
    if (x_in.rank() != 3) fail(c.label + ": X must be a sequence of rank 3, not " + x_in.shape().str());
    if (hidden <= 0 || hidden > (std::int64_t{1} << 24)) fail(c.label + ": hidden_size must be positive");
    const DType dtype = x_in.dtype();
    const std::span<const int> order = lstm_op ? std::span<const int>(kOnnxLstmGates) : std::span<const int>(kOnnxGruGates);
    const Node x = layout == 0 ? permute(x_in, {1, 0, 2}) : x_in;
    const std::int64_t n = x.shape()[0], steps = x.shape()[1];
    // stheno unrolls a recurrence into nodes, a few per step; a hostile sequence length would
    // exhaust memory building them.
    constexpr std::int64_t kMaxSteps = std::int64_t{1} << 16;
    if (steps > kMaxSteps) fail(c.label + ": the sequence has " + std::to_string(steps) + " steps; at most " + std::to_string(kMaxSteps) + " are unrolled");
    const Node w_ih = weight_parameter(c.proto.input(1), stheno_weight(c, 1, order, hidden, dtype));
    const Node w_hh = weight_parameter(c.proto.input(2), stheno_weight(c, 2, order, hidden, dtype));
    if (w_ih.shape()[0] != x.shape()[2]) fail(c.label + ": W's input size " + std::to_string(w_ih.shape()[0]) + " differs from X's " + std::to_string(x.shape()[2]));
    Tensor b = has_input(c, 3) ? known(c, 3, "B") : Tensor::zeros({1, 2 * static_cast<std::int64_t>(order.size()) * hidden}, dtype);
    if (b.numel() != 2 * static_cast<std::int64_t>(order.size()) * hidden) fail(c.label + ": B must be (1, " + std::to_string(2 * order.size() * hidden) + ")");
    const std::string bias_name = has_input(c, 3) ? c.proto.input(3) : c.proto.output(0) + ".bias";
    RecurrentState state;
    const int initial[2] = {5, 6};
    if (!has_input(c, 5)) check_constant_size(c, Shape{n, hidden});  // the zero state stheno makes
    for (int k = 0; k < (lstm_op ? 2 : 1); ++k) {
      if (!has_input(c, initial[k])) continue;
      const Node s = operand(c, initial[k]);
      const Shape expected = layout == 0 ? Shape{1, n, hidden} : Shape{n, 1, hidden};
      if (s.shape() != expected) fail(c.label + ": initial state " + s.describe() + " must be " + expected.str());
      (k == 0 ? state.h : state.c) = stheno::reshape(s, {n, hidden});
    }
    Node y;
    if (lstm_op) {
      const Tensor bias = stheno_bias(b, 0, order, hidden, dtype);
      binary(BinaryOp::add, bias, stheno_bias(b, 1, order, hidden, dtype), bias);
      y = lstm(x, w_ih, w_hh, weight_parameter(bias_name, bias), state);
    } else {
      y = gru(x, w_ih, w_hh, weight_parameter(bias_name, stheno_bias(b, 0, order, hidden, dtype)),
              weight_parameter(bias_name + ".recurrent", stheno_bias(b, 1, order, hidden, dtype)), state);
    }
    std::vector<Value> out;
    out.push_back(of(layout == 0 ? stheno::reshape(permute(y, {1, 0, 2}), {steps, 1, n, hidden}) : stheno::reshape(y, {n, steps, 1, hidden})));
    const Shape state_shape = layout == 0 ? Shape{1, n, hidden} : Shape{n, 1, hidden};
    out.push_back(of(stheno::reshape(state.h, state_shape)));
    if (lstm_op) out.push_back(of(stheno::reshape(state.c, state_shape)));
    return out;
  }

  const onnx::ModelProto& model_;
  Graph* graph_ = nullptr;
  std::string source_;
  OnnxImportOptions options_;
  std::int64_t opset_ = 0;
  OnnxModel result_;
  std::unordered_map<std::string, Value> values_;
  std::set<int> named_;
};

}  // namespace

OnnxModel parse_onnx(std::span<const std::uint8_t> bytes, std::string_view source, const OnnxImportOptions& options) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) throw IOError(std::string(source) + ": ONNX: the file is over 2 GB");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw IOError(std::string(source) + ": ONNX: not a valid ModelProto (truncated, or not an ONNX file)");
  try {
    return Importer(model, std::string(source), options).run();
  } catch (const IOError&) {
    throw;
  } catch (const Error& e) {  // a graph function's check, outside any one node
    throw IOError(std::string(source) + ": ONNX: " + e.what());
  }
}

OnnxModel load_onnx(const std::string& path, const OnnxImportOptions& options) {
  const std::vector<std::uint8_t> bytes = read_file_bytes(path, "load_onnx", kMaxOnnxBytes);
  return parse_onnx(bytes, path, options);
}

}  // namespace stheno::io
