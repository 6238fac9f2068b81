// ONNX export: one walk over the nodes the outputs need, in id order (a topological order, since
// a node's inputs always exist before it), writing each op, or each recorded layer, as ONNX
// nodes. The batch axis is followed through the graph so that the model declares it symbolic.
#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "onnx_common.hpp"
#include "stheno/io/atomic_file.hpp"
#include "stheno/io/onnx.hpp"

namespace stheno::io {

namespace {

constexpr int kNoBatch = -1;

[[noreturn]] void refuse(const Node& node, const std::string& why) {
  const std::string op = node.op() ? node.op()->describe() : "";
  throw ValueError("save_onnx: node " + node.describe() + (op.empty() ? "" : " (" + op + ")") + ": " + why);
}

Tensor host_contiguous(const Tensor& t) { return t.to(Device::cpu()).contiguous(); }

class Exporter {
 public:
  Exporter(Graph& graph, onnx::GraphProto& out) : graph_(graph), out_(out) {}

  void run(const std::vector<Node>& inputs, const std::vector<Node>& outputs) {
    for (const Node& n : inputs) {
      if (!n.defined() || &n.graph() != &graph_ || n.kind() != NodeKind::input)
        throw ValueError("save_onnx: " + (n.defined() ? n.describe() : std::string("an undefined node")) +
                         " is not an input node of the graph");
      declare(*out_.add_input(), n.name(), n.dtype(), n.shape(), 0);
      define(n, n.name(), 0);
    }
    for (const Node& n : outputs)
      if (!n.defined() || &n.graph() != &graph_) throw ValueError("save_onnx: an output is not a node of the graph");
    for (const auto& layer : graph_.layers())
      for (const Node& o : layer->outputs)
        if (o.defined() && o.id() >= layer->first_node && o.id() < layer->end_node) layer_of_[o.id()] = layer.get();
    std::vector<Node> stack(outputs.begin(), outputs.end());
    while (!stack.empty()) {
      const Node n = stack.back();
      stack.pop_back();
      if (!needed_.insert(n.id()).second) continue;
      for (const Node& dep : dependencies(n)) stack.push_back(dep);
    }
    for (int id : needed_) {
      const Node n = graph_.node(id);
      if (names_.count(id)) continue;
      if (const LayerRecord* layer = layer_of(id)) {
        write_layer(*layer);
      } else if (n.kind() == NodeKind::input) {
        throw ValueError("save_onnx: the outputs depend on input " + n.describe() + ", which is not among the exported inputs");
      } else if (n.kind() != NodeKind::op) {
        const std::string name = taken_.count(n.name()) ? fresh(n.name()) : n.name();
        initializer(name, n.value());
        define(n, name, kNoBatch);
      } else {
        write_op(n);
      }
    }
    std::set<std::string> output_names;
    for (const Node& n : outputs) {
      std::string name = names_.at(n.id());
      // A graph output must be a value of its own: an input, an initializer or an output already
      // listed (or a dropout's pass-through) is copied under the node's name.
      if (name != n.name() || n.kind() != NodeKind::op || output_names.count(name)) {
        const std::string copy = output_names.count(n.name()) ? fresh(n.name()) : n.name();
        add_node("Identity", {name}, {copy}, copy);
        name = copy;
      }
      output_names.insert(name);
      declare(*out_.add_output(), name, n.dtype(), n.shape(), batch_axis_.at(n.id()));
    }
  }

 private:
  const LayerRecord* layer_of(int id) const {
    const auto it = layer_of_.find(id);
    return it == layer_of_.end() ? nullptr : it->second;
  }

  std::vector<Node> dependencies(const Node& n) const {
    std::vector<Node> deps;
    if (const LayerRecord* layer = layer_of(n.id())) {
      // A recurrent layer writes its weights itself, in ONNX's layout: x and the initial states.
      const bool recurrent = layer->kind == LayerKind::lstm || layer->kind == LayerKind::gru;
      const std::size_t first_state = layer->kind == LayerKind::lstm ? 4 : 5;
      for (std::size_t i = 0; i < layer->inputs.size(); ++i)
        if (layer->inputs[i].defined() && (!recurrent || i == 0 || i >= first_state)) deps.push_back(layer->inputs[i]);
    } else if (n.kind() == NodeKind::op) {
      for (int i = 0; i < n.num_inputs(); ++i) deps.push_back(n.input(i));
    }
    return deps;
  }

  // --- names, values and declarations -----------------------------------------------------------
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; taken_.count(name) || graph_.contains(name); ++k) name = base + "_" + std::to_string(k);
    taken_.insert(name);
    return name;
  }
  // A parameter's own name for a value derived from it alone (a recurrent weight in ONNX's layout).
  std::string claim(const std::string& name) {
    if (taken_.count(name)) return fresh(name);
    taken_.insert(name);
    return name;
  }
  void define(const Node& n, const std::string& name, int batch_axis) {
    names_[n.id()] = name;
    batch_axis_[n.id()] = batch_axis;
    taken_.insert(name);
  }
  const std::string& name_of(const Node& n) const { return names_.at(n.id()); }
  int batch_of(const Node& n) const { return batch_axis_.at(n.id()); }

  void declare(onnx::ValueInfoProto& v, const std::string& name, DType dtype, const Shape& shape, int batch_axis) {
    v.set_name(name);
    auto* type = v.mutable_type()->mutable_tensor_type();
    type->set_elem_type(onnx_elem_type(dtype));
    auto* dims = type->mutable_shape();
    for (int i = 0; i < shape.rank(); ++i) {
      auto* d = dims->add_dim();
      if (i == batch_axis) d->set_dim_param("N");
      else d->set_dim_value(shape[i]);
    }
  }

  void initializer(const std::string& name, const Tensor& value) {
    const Tensor t = host_contiguous(value);
    onnx::TensorProto& p = *out_.add_initializer();
    p.set_name(name);
    p.set_data_type(onnx_elem_type(t.dtype()));
    for (int i = 0; i < t.rank(); ++i) p.add_dims(t.shape()[i]);
    p.set_raw_data(std::string(static_cast<const char*>(t.raw_data()), static_cast<std::size_t>(t.numel()) * itemsize(t.dtype())));
    taken_.insert(name);
  }
  std::string int64_initializer(const std::string& base, const std::vector<std::int64_t>& values) {
    const std::string name = fresh(base);
    initializer(name, Tensor::from(values, Shape{static_cast<std::int64_t>(values.size())}));
    return name;
  }

  onnx::NodeProto& add_node(const std::string& type, const std::vector<std::string>& inputs,
                            const std::vector<std::string>& outputs, const std::string& node_name) {
    onnx::NodeProto& p = *out_.add_node();
    p.set_op_type(type);
    p.set_name(node_names_.insert(node_name).second ? node_name : fresh_node_name(node_name));
    for (const auto& i : inputs) p.add_input(i);
    for (const auto& o : outputs) p.add_output(o);
    return p;
  }
  std::string fresh_node_name(const std::string& base) {
    for (int k = 1;; ++k)
      if (node_names_.insert(base + "_" + std::to_string(k)).second) return base + "_" + std::to_string(k);
  }
  static void attr(onnx::NodeProto& p, const std::string& name, std::int64_t v) {
    auto* a = p.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto& p, const std::string& name, float v) {
    auto* a = p.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto& p, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = p.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (std::int64_t x : v) a->add_ints(x);
  }

  // One ONNX node computing node n from its inputs' values.
  onnx::NodeProto& emit(const std::string& type, const Node& n, int batch_axis) {
    std::vector<std::string> in;
    for (int i = 0; i < n.num_inputs(); ++i) in.push_back(name_of(n.input(i)));
    define(n, n.name(), batch_axis);
    return add_node(type, in, {n.name()}, n.name());
  }

  // --- batch axis rules -----------------------------------------------------------------------
  // Elementwise and matmul operands broadcast from the right; the batch axis keeps its distance
  // from the last axis. An operand without the batch that spans the batch's size along that
  // axis would fix the batch size: refused.
  int broadcast_batch(const Node& n, std::initializer_list<Node> operands) {
    int axis = kNoBatch;
    for (const Node& in : operands) {
      const int b = batch_of(in);
      if (b == kNoBatch) continue;
      const int at = n.rank() - in.rank() + b;
      if (axis != kNoBatch && axis != at) refuse(n, "its operands carry the batch on different axes");
      axis = at;
    }
    if (axis == kNoBatch) return axis;
    for (const Node& in : operands) {
      if (batch_of(in) != kNoBatch) continue;
      const int at = axis - (n.rank() - in.rank());
      if (at >= 0 && in.shape()[at] != 1)
        refuse(n, "operand " + in.describe() + " has the batch size fixed in it along axis " + std::to_string(at) +
                      "; the exported model would run at that batch size only");
    }
    return axis;
  }
  static int positive_axis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

  // --- ops --------------------------------------------------------------------------------------
  void write_op(const Node& n) {
    const Op& op = *n.op();
    const OpAttributes attributes = op.attributes();
    switch (op.kind()) {
      case OpKind::unary: return write_unary(n, std::get<UnaryOp>(attributes));
      case OpKind::binary: return write_binary(n, std::get<BinaryOp>(attributes));
      case OpKind::matmul: {
        const Node a = n.input(0), b = n.input(1);
        if (batch_of(b) != kNoBatch) refuse(n, "only its first operand may carry the batch");
        emit("MatMul", n, batch_of(a) == kNoBatch ? kNoBatch : n.rank() - a.rank() + batch_of(a));
        return;
      }
      case OpKind::matmul_add: return write_matmul_add(n);
      case OpKind::reduce: return write_reduce(n, std::get<ReduceAttributes>(attributes));
      case OpKind::argmax: {
        const Node x = n.input(0);
        const int axis = positive_axis(std::get<AxisAttribute>(attributes).axis, x.rank());
        const std::string wide = fresh(n.name() + ".int64");
        attr(add_node("ArgMax", {name_of(x)}, {wide}, wide), "axis", std::int64_t{axis});
        auto& cast = add_node("Cast", {wide}, {n.name()}, n.name());
        attr(cast, "to", std::int64_t{onnx::TensorProto::INT32});
        const int b = batch_of(x);
        define(n, n.name(), b == kNoBatch || b == axis ? kNoBatch : b - (b > axis ? 1 : 0));
        return;
      }
      case OpKind::softmax:
      case OpKind::log_softmax: {
        auto& p = emit(op.kind() == OpKind::softmax ? "Softmax" : "LogSoftmax", n, batch_of(n.input(0)));
        attr(p, "axis", std::int64_t{std::get<AxisAttribute>(attributes).axis});
        return;
      }
      case OpKind::reshape: return write_reshape(n);
      case OpKind::permute: {
        const auto& order = std::get<PermuteAttributes>(attributes).order;
        const int b = batch_of(n.input(0));
        const int moved = b == kNoBatch ? kNoBatch : static_cast<int>(std::find(order.begin(), order.end(), b) - order.begin());
        attr(emit("Transpose", n, moved), "perm", std::vector<std::int64_t>(order.begin(), order.end()));
        return;
      }
      case OpKind::slice: return write_slice(n, std::get<SliceAttributes>(attributes));
      case OpKind::concat: {
        const int axis = positive_axis(std::get<AxisAttribute>(attributes).axis, n.rank());
        int b = kNoBatch;
        for (int i = 0; i < n.num_inputs(); ++i) {
          const int bi = batch_of(n.input(i));
          if (i > 0 && bi != b) refuse(n, "its parts do not all carry the batch on one axis");
          b = bi;
        }
        if (b == axis && b != kNoBatch) refuse(n, "it joins along the batch axis");
        attr(emit("Concat", n, b), "axis", std::int64_t{axis});
        return;
      }
      case OpKind::broadcast: {
        const Node x = n.input(0);
        std::vector<std::int64_t> shape(n.shape().begin(), n.shape().end());
        const int b = batch_of(x) == kNoBatch ? kNoBatch : n.rank() - x.rank() + batch_of(x);
        if (b != kNoBatch) shape[static_cast<std::size_t>(b)] = 1;  // Expand broadcasts both ways: 1 keeps the batch
        const std::string s = int64_initializer(n.name() + ".shape", shape);
        define(n, n.name(), b);
        add_node("Expand", {name_of(x), s}, {n.name()}, n.name());
        return;
      }
      case OpKind::laid_out:  // only memory layout: the same value
        define(n, name_of(n.input(0)), batch_of(n.input(0)));
        return;
      case OpKind::embedding: {
        const Node table = n.input(0), indices = n.input(1);
        if (batch_of(table) != kNoBatch) refuse(n, "the table carries the batch");
        attr(emit("Gather", n, batch_of(indices)), "axis", std::int64_t{0});
        return;
      }
      case OpKind::max_pool2d: {
        const auto& w = std::get<Pool2dWindow>(attributes);
        auto& p = emit("MaxPool", n, batch_of(n.input(0)));
        window_attributes(p, w);
        return;
      }
      default:
        refuse(n, "op " + std::string(op_kind_name(op.kind())) + " has no ONNX form" +
                      (layer_of_any(n.id()) ? " outside the layer that made it" : ""));
    }
  }

  bool layer_of_any(int id) const {
    for (const auto& layer : graph_.layers())
      if (id >= layer->first_node && id < layer->end_node) return true;
    return false;
  }

  void window_attributes(onnx::NodeProto& p, const Pool2dWindow& w) {
    attr(p, "kernel_shape", std::vector<std::int64_t>{w.kernel.h, w.kernel.w});
    attr(p, "strides", std::vector<std::int64_t>{w.stride.h, w.stride.w});
    attr(p, "pads", std::vector<std::int64_t>{w.padding.h, w.padding.w, w.padding.h, w.padding.w});
  }

  void write_unary(const Node& n, UnaryOp u) {
    const int b = batch_of(n.input(0));
    switch (u) {
      case UnaryOp::neg: emit("Neg", n, b); return;
      case UnaryOp::abs: emit("Abs", n, b); return;
      case UnaryOp::exp: emit("Exp", n, b); return;
      case UnaryOp::log: emit("Log", n, b); return;
      case UnaryOp::sqrt: emit("Sqrt", n, b); return;
      case UnaryOp::tanh: emit("Tanh", n, b); return;
      case UnaryOp::sigmoid: emit("Sigmoid", n, b); return;
      case UnaryOp::relu: emit("Relu", n, b); return;
      case UnaryOp::sign: emit("Sign", n, b); return;
      case UnaryOp::square: {
        const std::string x = name_of(n.input(0));
        define(n, n.name(), b);
        add_node("Mul", {x, x}, {n.name()}, n.name());
        return;
      }
      case UnaryOp::step: break;
    }
    refuse(n, "op " + std::string(op_name(u)) + " has no ONNX form");
  }

  void write_binary(const Node& n, BinaryOp o) {
    static const std::unordered_map<int, const char*> types = {
        {static_cast<int>(BinaryOp::add), "Add"}, {static_cast<int>(BinaryOp::sub), "Sub"},
        {static_cast<int>(BinaryOp::mul), "Mul"}, {static_cast<int>(BinaryOp::div), "Div"},
        {static_cast<int>(BinaryOp::pow), "Pow"}, {static_cast<int>(BinaryOp::maximum), "Max"},
        {static_cast<int>(BinaryOp::minimum), "Min"}};
    const auto it = types.find(static_cast<int>(o));
    if (it == types.end()) refuse(n, "op " + std::string(op_name(o)) + " (a gradient) has no ONNX form");
    emit(it->second, n, broadcast_batch(n, {n.input(0), n.input(1)}));
  }

  // c + a·b: ONNX's Gemm for matrices (its C broadcasts one way, as a bias does), else MatMul
  // then Add.
  void write_matmul_add(const Node& n) {
    const Node c = n.input(0), a = n.input(1), b = n.input(2);
    if (batch_of(b) != kNoBatch) refuse(n, "only its first factor may carry the batch");
    const int batch = broadcast_batch(n, {c, a});
    if (a.rank() == 2 && b.rank() == 2 && c.rank() <= 2 && batch_of(c) == kNoBatch) {
      define(n, n.name(), batch);
      add_node("Gemm", {name_of(a), name_of(b), name_of(c)}, {n.name()}, n.name());
      return;
    }
    const std::string product = fresh(n.name() + ".product");
    add_node("MatMul", {name_of(a), name_of(b)}, {product}, product);
    define(n, n.name(), batch);
    add_node("Add", {name_of(c), product}, {n.name()}, n.name());
  }

  void write_reduce(const Node& n, const ReduceAttributes& r) {
    const Node x = n.input(0);
    std::vector<std::int64_t> axes;
    for (std::int64_t a : r.axes) axes.push_back(positive_axis(static_cast<int>(a), x.rank()));
    if (axes.empty())
      for (int a = 0; a < x.rank(); ++a) axes.push_back(a);
    int b = batch_of(x);
    if (b != kNoBatch) {
      if (std::count(axes.begin(), axes.end(), b)) b = kNoBatch;
      else if (!r.keepdims) b -= static_cast<int>(std::count_if(axes.begin(), axes.end(), [&](std::int64_t a) { return a < b; }));
    }
    const char* type = r.op == ReduceOp::sum ? "ReduceSum" : r.op == ReduceOp::mean ? "ReduceMean" : "ReduceMax";
    define(n, n.name(), b);
    onnx::NodeProto* p;
    if (r.op == ReduceOp::sum) {  // at opset 13 and later, ReduceSum takes its axes as an input
      p = &add_node(type, {name_of(x), int64_initializer(n.name() + ".axes", axes)}, {n.name()}, n.name());
    } else {
      p = &add_node(type, {name_of(x)}, {n.name()}, n.name());
      attr(*p, "axes", axes);
    }
    attr(*p, "keepdims", std::int64_t{r.keepdims ? 1 : 0});
  }

  // The target shape with the batch axis as -1 (ONNX infers it), so any batch size reshapes.
  void write_reshape(const Node& n) {
    const Node x = n.input(0);
    std::vector<std::int64_t> shape(n.shape().begin(), n.shape().end());
    int b = batch_of(x);
    if (b != kNoBatch) {
      if (b != 0 || shape.empty()) refuse(n, "a reshape with the batch on axis " + std::to_string(b) + " (only axis 0 is followed)");
      shape[0] = -1;
    }
    const std::string s = int64_initializer(n.name() + ".shape", shape);
    define(n, n.name(), b);
    add_node("Reshape", {name_of(x), s}, {n.name()}, n.name());
  }

  void write_slice(const Node& n, const SliceAttributes& s) {
    const Node x = n.input(0);
    const int axis = positive_axis(s.axis, x.rank());
    const int b = batch_of(x);
    if (b == axis && !(s.start == 0 && s.step == 1 && s.stop >= x.shape()[axis]))
      refuse(n, "it slices the batch axis");
    std::vector<std::string> in = {name_of(x), int64_initializer(n.name() + ".starts", {s.start}),
                                   int64_initializer(n.name() + ".ends", {b == axis ? INT64_MAX : s.stop}),
                                   int64_initializer(n.name() + ".axes", {axis}),
                                   int64_initializer(n.name() + ".steps", {s.step})};
    define(n, n.name(), b);
    add_node("Slice", in, {n.name()}, n.name());
  }

  // --- layers -----------------------------------------------------------------------------------
  void write_layer(const LayerRecord& layer) {
    const Node x = layer.inputs[0];
    const Node y = layer.outputs[0];
    switch (layer.kind) {
      case LayerKind::dropout:  // inference form: passes x through
        define(y, name_of(x), batch_of(x));
        return;
      case LayerKind::conv2d: {
        const Node w = layer.inputs[1], bias = layer.inputs[2];
        std::vector<std::string> in = {name_of(x), name_of(w)};
        if (bias.defined()) in.push_back(name_of(bias));
        define(y, y.name(), batch_of(x));
        auto& p = add_node("Conv", in, {y.name()}, y.name());
        const Conv2dOptions& o = layer.conv;
        attr(p, "kernel_shape", std::vector<std::int64_t>{w.shape()[2], w.shape()[3]});
        attr(p, "strides", std::vector<std::int64_t>{o.stride.h, o.stride.w});
        attr(p, "pads", std::vector<std::int64_t>{o.padding.h, o.padding.w, o.padding.h, o.padding.w});
        attr(p, "dilations", std::vector<std::int64_t>{o.dilation.h, o.dilation.w});
        attr(p, "group", o.groups);
        return;
      }
      case LayerKind::avg_pool2d: {
        define(y, y.name(), batch_of(x));
        auto& p = add_node("AveragePool", {name_of(x)}, {y.name()}, y.name());
        window_attributes(p, layer.window);
        attr(p, "count_include_pad", std::int64_t{1});  // stheno counts padding as zeros
        return;
      }
      case LayerKind::batch_norm: {
        const Node gamma = layer.inputs[1], beta = layer.inputs[2];
        const BatchNormState& s = *layer.norm;
        const std::string& g = gamma.name();
        const std::string stem = g.size() > 6 && g.ends_with("weight") ? g.substr(0, g.size() - 6) : g + ".";
        const std::string mean = fresh(stem + "running_mean"), var = fresh(stem + "running_var");
        initializer(mean, s.running_mean.to(x.dtype()));
        initializer(var, s.running_var.to(x.dtype()));
        define(y, y.name(), batch_of(x));
        auto& p = add_node("BatchNormalization", {name_of(x), name_of(gamma), name_of(beta), mean, var}, {y.name()}, y.name());
        attr(p, "epsilon", static_cast<float>(s.eps));
        attr(p, "momentum", static_cast<float>(1 - s.momentum));  // ONNX weighs the running value
        return;
      }
      case LayerKind::lstm:
      case LayerKind::gru: return write_recurrent(layer);
    }
  }

  // stheno's (in, gates·H) weight as ONNX's (1, gates·H, in), gate blocks in ONNX's order.
  static Tensor onnx_weight(const Tensor& w, std::span<const int> order) {
    const Tensor host = host_contiguous(w);
    const std::int64_t blocks = static_cast<std::int64_t>(order.size()), h = host.shape()[1] / blocks;
    Tensor out = Tensor::empty({1, host.shape()[1], host.shape()[0]}, host.dtype());
    for (std::int64_t k = 0; k < blocks; ++k)
      out.select(0, 0).slice(0, k * h, (k + 1) * h).copy_from(host.slice(1, order[static_cast<std::size_t>(k)] * h, (order[static_cast<std::size_t>(k)] + 1) * h).t());
    return out;
  }
  // Biases: (gates·H) each for the input and the recurrent product, as ONNX's (1, 2·gates·H).
  static Tensor onnx_bias(const Tensor& input_bias, const Tensor& recurrent_bias, std::span<const int> order, DType dtype) {
    const std::int64_t blocks = static_cast<std::int64_t>(order.size());
    const std::int64_t gh = input_bias.defined() ? input_bias.numel() : recurrent_bias.numel(), h = gh / blocks;
    Tensor out = Tensor::zeros({1, 2 * gh}, dtype);
    const Tensor biases[2] = {input_bias, recurrent_bias};
    for (int part = 0; part < 2; ++part) {
      if (!biases[part].defined()) continue;
      const Tensor host = host_contiguous(biases[part]);
      for (std::int64_t k = 0; k < blocks; ++k)
        out.select(0, 0).slice(0, part * gh + k * h, part * gh + (k + 1) * h).copy_from(host.slice(0, order[static_cast<std::size_t>(k)] * h, (order[static_cast<std::size_t>(k)] + 1) * h));
    }
    return out;
  }

  // ONNX's recurrent ops take (T, N, in) sequences and return Y (T, 1, N, H), Y_h and Y_c
  // (1, N, H); stheno's are batch-first. Transposes and squeezes sit around the node.
  void write_recurrent(const LayerRecord& layer) {
    const bool lstm = layer.kind == LayerKind::lstm;
    const Node x = layer.inputs[0], w_ih = layer.inputs[1], w_hh = layer.inputs[2];
    if (batch_of(x) != 0 && batch_of(x) != kNoBatch) refuse(layer.outputs[0], "the sequence's batch is not on axis 0");
    const std::span<const int> order = lstm ? std::span<const int>(kOnnxLstmGates) : std::span<const int>(kOnnxGruGates);
    for (const Node& p : {w_ih, w_hh})
      if (p.kind() == NodeKind::op || p.kind() == NodeKind::input)
        refuse(layer.outputs[0], "its weight " + p.describe() + " is computed, not a parameter");
    const std::int64_t hidden = w_hh.shape()[0];
    const std::string base = layer.outputs[0].name();
    const std::string seq = fresh(base + ".time_major");
    attr(add_node("Transpose", {name_of(x)}, {seq}, seq), "perm", std::vector<std::int64_t>{1, 0, 2});
    const std::string w = claim(w_ih.name()), r = claim(w_hh.name());
    initializer(w, onnx_weight(w_ih.value(), order));
    initializer(r, onnx_weight(w_hh.value(), order));
    Tensor input_bias, recurrent_bias;
    std::string bias_name;
    if (lstm) {
      if (layer.inputs[3].defined()) input_bias = layer.inputs[3].value(), bias_name = layer.inputs[3].name();
    } else {
      if (layer.inputs[3].defined()) input_bias = layer.inputs[3].value(), bias_name = layer.inputs[3].name();
      if (layer.inputs[4].defined()) recurrent_bias = layer.inputs[4].value(), bias_name = bias_name.empty() ? layer.inputs[4].name() : bias_name;
    }
    for (int i = 3; i < (lstm ? 4 : 5); ++i)
      if (layer.inputs[i].defined() && layer.inputs[i].kind() == NodeKind::op)
        refuse(layer.outputs[0], "its bias " + layer.inputs[i].describe() + " is computed, not a parameter");
    std::string b;
    if (!bias_name.empty()) {
      b = claim(bias_name);
      initializer(b, onnx_bias(input_bias, recurrent_bias, order, x.dtype()));
    }
    std::vector<std::string> in = {seq, w, r, b, ""};
    const int states = lstm ? 2 : 1;
    for (int k = 0; k < states; ++k) {
      const Node s = layer.inputs[static_cast<std::size_t>(lstm ? 4 + k : 5)];
      if (!s.defined()) {
        in.push_back("");
        continue;
      }
      const std::string u = fresh(s.name() + ".unsqueezed");
      add_node("Unsqueeze", {name_of(s), int64_initializer(u + ".axes", {0})}, {u}, u);
      in.push_back(u);
    }
    while (!in.empty() && in.back().empty()) in.pop_back();
    const std::string y = fresh(base + ".Y"), yh = fresh(base + ".Y_h"), yc = fresh(base + ".Y_c");
    std::vector<std::string> outs = {y, yh};
    if (lstm) outs.push_back(yc);
    auto& p = add_node(lstm ? "LSTM" : "GRU", in, outs, fresh(base + (lstm ? ".lstm" : ".gru")));
    attr(p, "hidden_size", hidden);
    if (!lstm) attr(p, "linear_before_reset", std::int64_t{1});  // stheno's gate: σ(r)·(h·W_hn + b_hn)
    const std::string squeezed = fresh(base + ".squeezed");
    add_node("Squeeze", {y, int64_initializer(squeezed + ".axes", {1})}, {squeezed}, squeezed);
    const Node out = layer.outputs[0];
    define(out, out.name(), batch_of(x));
    attr(add_node("Transpose", {squeezed}, {out.name()}, out.name()), "perm", std::vector<std::int64_t>{1, 0, 2});
    const std::string state_outputs[2] = {yh, yc};
    for (int k = 0; k < states; ++k) {
      const Node s = layer.outputs[static_cast<std::size_t>(1 + k)];
      if (!s.defined() || names_.count(s.id())) continue;
      define(s, s.name(), batch_of(x));
      add_node("Squeeze", {state_outputs[k], int64_initializer(s.name() + ".axes", {0})}, {s.name()}, s.name());
    }
  }

  Graph& graph_;
  onnx::GraphProto& out_;
  std::unordered_map<int, const LayerRecord*> layer_of_;
  std::set<int> needed_;
  std::unordered_map<int, std::string> names_;
  std::unordered_map<int, int> batch_axis_;
  std::unordered_set<std::string> taken_, node_names_;
};

}  // namespace

std::string onnx_bytes(Graph& graph, const std::vector<Node>& inputs, const std::vector<Node>& outputs) {
  if (outputs.empty()) throw ValueError("save_onnx: no outputs to export");
  onnx::ModelProto model;
  model.set_ir_version(kOnnxIrVersion);
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  model.set_producer_name("stheno");
  model.set_producer_version(STHENO_VERSION);
  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name("stheno");
  Exporter(graph, g).run(inputs, outputs);
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw ValueError("save_onnx: the model does not serialise (over 2 GB?)");
  return bytes;
}

void save_onnx(Graph& graph, const std::vector<Node>& inputs, const std::vector<Node>& outputs, const std::string& path) {
  write_file_atomically(path, onnx_bytes(graph, inputs, outputs));
}

}  // namespace stheno::io
