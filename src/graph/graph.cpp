#include "stheno/graph/graph.hpp"

#include <array>
#include <sstream>

#include "stheno/kernels/threads.hpp"

namespace stheno {

// --- Node -------------------------------------------------------------------------------------

Graph& Node::graph() const {
  if (!graph_) throw ValueError("node: the node is undefined");
  return *graph_;
}
const std::string& Node::name() const { return graph().data(id_).name; }
NodeKind Node::kind() const { return graph().data(id_).kind; }
DType Node::dtype() const { return graph().data(id_).type.dtype; }
const Shape& Node::shape() const { return graph().data(id_).type.shape; }
const Op* Node::op() const { return graph().data(id_).op.get(); }
int Node::num_inputs() const { return static_cast<int>(graph().data(id_).inputs.size()); }
Node Node::input(int i) const { return Node(graph_, graph().data(id_).inputs.at(static_cast<std::size_t>(i))); }

const Tensor& Node::value() const {
  const Tensor& v = graph().data(id_).value;
  if (!v.defined())
    throw ValueError("value: node " + describe() +
                     " has no value in a deferred graph; run it with a TapeMachine and read TapeMachine::value");
  return v;
}

Node& Node::set_name(std::string name) {
  Graph& g = graph();
  if (name == g.data(id_).name) return *this;
  std::string unique = g.unique_name(std::move(name), "node");
  if (g.data(id_).named_by_user) g.by_name_.erase(g.data(id_).name);
  g.by_name_.emplace(unique, id_);
  g.data(id_).name = std::move(unique);
  g.data(id_).named_by_user = true;
  return *this;
}

std::string Node::describe() const {
  if (!graph_) return "<undefined node>";
  return name() + " " + shape().str() + " " + std::string(dtype_name(dtype()));
}

// --- Op defaults and error helpers --------------------------------------------------------------

std::vector<Node> Op::backward(const Node& self, std::span<const Node>, const Node&, std::span<const bool>) const {
  throw ValueError("grad: gradient not implemented for op " + name() + " (node " + self.describe() + ")");
}

Node Op::add_to(const Node&, const Node&) const { return Node(); }

Tensor Op::view(const Tensor&) const {
  throw ValueError("op " + name() + " is not a view");
}

namespace {
std::string list_inputs(std::span<const Node> inputs) {
  std::string s;
  for (std::size_t i = 0; i < inputs.size(); ++i) s += (i ? ", " : "") + inputs[i].describe();
  return s;
}
}  // namespace

void op_shape_error(const Op& op, std::span<const Node> inputs, const std::string& why) {
  throw ShapeError(op.describe() + " of " + list_inputs(inputs) + ": " + why);
}

void op_dtype_error(const Op& op, std::span<const Node> inputs, const std::string& why) {
  throw DTypeError(op.describe() + " of " + list_inputs(inputs) + ": " + why);
}

DType common_dtype(const Op& op, std::span<const Node> inputs) {
  for (const Node& n : inputs)
    if (n.dtype() != inputs[0].dtype()) op_dtype_error(op, inputs, "inputs must have the same dtype");
  return inputs.empty() ? DType::f32 : inputs[0].dtype();
}

// --- Graph --------------------------------------------------------------------------------------

Graph::Graph(Mode mode) : mode_(mode) {}
Graph::~Graph() = default;

// Only names given by the user go into by_name_; a generated name "<prefix>_<id>" is found from
// the id it ends with, which keeps eager graphs from paying a hash insertion per node.
int Graph::generated_id(std::string_view name) const {
  const std::size_t cut = name.rfind('_');
  if (cut == std::string_view::npos || cut + 1 >= name.size()) return -1;
  int id = 0;
  for (char c : name.substr(cut + 1)) {
    if (c < '0' || c > '9' || id > size()) return -1;
    id = id * 10 + (c - '0');
  }
  return id < size() && !data(id).named_by_user && data(id).name == name ? id : -1;
}

std::string Graph::unique_name(std::string requested, std::string_view fallback_prefix) const {
  if (requested.empty()) {
    std::string name = std::string(fallback_prefix) + "_" + std::to_string(nodes_.size());
    while (by_name_.count(name)) name += "_";  // a user took this name first
    return name;
  }
  if (by_name_.count(requested) || generated_id(requested) >= 0)
    throw ValueError("graph: a node named '" + requested + "' already exists");
  return requested;
}

Node Graph::add_node(NodeData data, bool named_by_user) {
  data.named_by_user = named_by_user;
  if (named_by_user) by_name_.emplace(data.name, size());
  nodes_.push_back(std::move(data));
  return Node(this, size() - 1);
}

Node Graph::add_leaf(NodeKind kind, std::string name, TypeInfo type, const Tensor& value) {
  static constexpr std::string_view prefixes[] = {"input", "param", "const"};
  NodeData d;
  const bool named = !name.empty();
  d.name = unique_name(std::move(name), prefixes[static_cast<int>(kind)]);
  d.kind = kind;
  d.type = std::move(type);
  d.value = value;
  d.from_constants = kind == NodeKind::constant;
  return add_node(std::move(d), named);
}

namespace {
// Where an eager op runs: where its inputs that do not come from constants alone are, which
// must agree.
template <class FromConstants>
Device eager_device(const Op& op, std::span<const Node> inputs, FromConstants from_constants) {
  const Node* first = nullptr;
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const Node& n = inputs[k];
    if (from_constants(k)) continue;
    if (!first) first = &n;
    else if (n.value().device() != first->value().device())
      throw DeviceError(op.name() + ": input " + first->describe() + " is on " + first->value().device().str() + " but input " +
                        n.describe() + " is on " + n.value().device().str() + "; move one with to(device)");
  }
  if (first) return first->value().device();
  return inputs.empty() ? Device::cpu() : inputs.front().value().device();
}

void require_value(const Tensor& value, const char* what, const std::string& name) {
  if (!value.defined()) throw ValueError(std::string("graph: ") + what + " '" + name + "' has an undefined value");
}
}  // namespace

Node Graph::input(std::string name, const Shape& shape, DType dtype) {
  if (eager())
    throw ValueError("graph: input '" + name + "' of an eager graph needs its value: use input(name, tensor)");
  return add_leaf(NodeKind::input, std::move(name), {shape, dtype}, Tensor());
}

Node Graph::input(std::string name, const Tensor& value) {
  if (!eager())
    throw ValueError("graph: input '" + name + "' of a deferred graph is bound when it runs: use input(name, shape, dtype)");
  require_value(value, "input", name);
  return add_leaf(NodeKind::input, std::move(name), {value.shape(), value.dtype()}, value);
}

Node Graph::parameter(std::string name, const Tensor& value) {
  require_value(value, "parameter", name);
  auto holds_value = [&](const NodeData& d) {
    return d.kind == NodeKind::parameter && d.value.storage() == value.storage() && d.value.offset() == value.offset() &&
           d.value.shape() == value.shape() && d.value.dtype() == value.dtype();
  };
  if (const auto it = by_name_.find(name); it != by_name_.end()) {
    if (holds_value(data(it->second))) return Node(this, it->second);
    // Another tensor under the same name (two layers outside a Sequential both have a
    // "weight"): keep both, the second under a numbered name, which a later request by the
    // plain name must still find.
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (holds_value(nodes_[i])) return Node(this, static_cast<int>(i));
    std::string numbered = name + "_" + std::to_string(size());
    while (contains(numbered)) numbered += "_";
    name = std::move(numbered);
  }
  return add_leaf(NodeKind::parameter, std::move(name), {value.shape(), value.dtype()}, value);
}

Node Graph::constant(const Tensor& value, std::string name) {
  require_value(value, "constant", name);
  return add_leaf(NodeKind::constant, std::move(name), {value.shape(), value.dtype()}, value);
}

Node Graph::scalar(double value, DType dtype) {
  return constant(Tensor::scalar(value, dtype));
}

Node Graph::apply(OpPtr op, std::vector<Node> inputs, std::string name) {
  for (const Node& n : inputs) {
    if (!n.defined()) throw ValueError(op->name() + ": an input node is undefined");
    if (&n.graph() != this)
      throw ValueError(op->name() + ": input " + n.describe() + " belongs to another graph");
  }
  NodeData d;
  d.type = op->infer(inputs);
  const bool named = !name.empty();
  d.name = unique_name(std::move(name), op->name());
  d.kind = NodeKind::op;
  for (const Node& n : inputs) d.inputs.push_back(n.id());
  // An op without inputs (a dropout mask) is made where eager values default to, the host, and
  // follows the values it meets like a constant.
  d.from_constants = true;
  for (const Node& n : inputs) d.from_constants = d.from_constants && data(n.id()).from_constants;
  if (eager()) {
    // Handles to the input values; most ops have one or two, kept on the stack.
    constexpr std::size_t kInline = 4;
    std::array<Tensor, kInline> inline_values;
    std::vector<Tensor> many_values;
    if (inputs.size() > kInline) many_values.resize(inputs.size());
    const std::span<Tensor> values = inputs.size() > kInline ? std::span<Tensor>(many_values)
                                                             : std::span<Tensor>(inline_values.data(), inputs.size());
    const Device device =
        eager_device(*op, inputs, [&](std::size_t k) { return data(inputs[k].id()).from_constants; });
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      NodeData& in = data(inputs[k].id());
      // Constants that gradient rules make on the host follow the values they meet, once.
      if (in.from_constants && in.value.device() != device) in.value = in.value.to(device);
      values[k] = in.value;
    }
    if (op->is_view()) {
      try {
        d.value = op->view(values[0]);
      } catch (const ShapeError&) {
        // Not expressible as a view of this layout (a reshape of a transpose): copied below.
      }
    }
    if (!d.value.defined()) {
      d.value = Tensor::empty(d.type.shape, d.type.dtype, device);
      const FlushSubnormals flush(flush_subnormals_ && device.is_host());
      op->forward(values, d.value);
    }
  }
  d.op = std::move(op);
  return add_node(std::move(d), named);
}

Node Graph::node(int id) {
  if (id < 0 || id >= size())
    throw IndexError("graph: node id " + std::to_string(id) + " is out of range (" + std::to_string(size()) + " nodes)");
  return Node(this, id);
}

Node Graph::find(std::string_view name) {
  if (const auto it = by_name_.find(std::string(name)); it != by_name_.end()) return Node(this, it->second);
  if (const int id = generated_id(name); id >= 0) return Node(this, id);
  throw ValueError("graph: no node is named '" + std::string(name) + "'");
}

bool Graph::contains(std::string_view name) const {
  return by_name_.count(std::string(name)) > 0 || generated_id(name) >= 0;
}

std::vector<Node> Graph::parameters() {
  std::vector<Node> out;
  for (int i = 0; i < size(); ++i)
    if (data(i).kind == NodeKind::parameter) out.emplace_back(this, i);
  return out;
}

bool Graph::is_gradient(int id) const { return data(id).gradient; }

namespace {
std::string_view kind_name(NodeKind k) {
  switch (k) {
    case NodeKind::input: return "input";
    case NodeKind::parameter: return "parameter";
    case NodeKind::constant: return "constant";
    case NodeKind::op: return "op";
  }
  return "?";
}
}  // namespace

std::string Graph::str() const {
  std::ostringstream os;
  for (int i = 0; i < size(); ++i) {
    const NodeData& d = data(i);
    os << "%" << i << " " << d.name << " = ";
    if (d.kind != NodeKind::op) {
      os << kind_name(d.kind);
    } else {
      os << d.op->describe() << "(";
      for (std::size_t k = 0; k < d.inputs.size(); ++k)
        os << (k ? ", " : "") << "%" << d.inputs[k] << " " << data(d.inputs[k]).name;
      os << ")";
    }
    os << " : " << dtype_name(d.type.dtype) << " " << d.type.shape.str() << (d.gradient ? "  [gradient]" : "") << "\n";
  }
  return os.str();
}

std::string Graph::to_dot() const {
  auto escape = [](const std::string& s) {
    std::string e;
    for (char c : s) {
      if (c == '"' || c == '\\') e += '\\';
      e += c;
    }
    return e;
  };
  std::ostringstream os;
  os << "digraph stheno {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n";
  for (int i = 0; i < size(); ++i) {
    const NodeData& d = data(i);
    const std::string what = d.kind == NodeKind::op ? d.op->describe() : std::string(kind_name(d.kind));
    os << "  n" << i << " [label=\"" << escape(d.name) << "\\n" << escape(what) << "\\n" << dtype_name(d.type.dtype)
       << " " << d.type.shape.str() << "\"";
    if (d.kind == NodeKind::input) os << ", shape=ellipse";
    if (d.kind == NodeKind::parameter) os << ", shape=ellipse, style=bold";
    if (d.kind == NodeKind::constant) os << ", shape=plaintext";
    if (d.gradient) os << ", style=dashed, color=blue";
    os << "];\n";
  }
  for (int i = 0; i < size(); ++i)
    for (std::size_t k = 0; k < data(i).inputs.size(); ++k)
      os << "  n" << data(i).inputs[k] << " -> n" << i << (data(i).inputs.size() > 1 ? " [label=\"" + std::to_string(k) + "\"]" : "")
         << ";\n";
  os << "}\n";
  return os.str();
}

}  // namespace stheno
