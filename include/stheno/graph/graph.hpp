#pragma once
// An expression graph of named, typed, shape-checked nodes.
//
//   Graph g;
//   Node x = g.input("x", {5, 5}, DType::f64);
//   Node w = g.input("w", {5}, DType::f64);
//   Node act = sigmoid(matmul(x, w));
//   Node cost = sum(act);
//   std::vector<Node> grads = grad(cost, {w});
//
// A deferred graph (the default) is compiled and run by a TapeMachine. An eager graph computes
// every node's value the moment the node is created, so a program can build a different graph
// for every input (a loop over a sequence of any length) and still differentiate it.
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stheno/graph/node.hpp"
#include "stheno/graph/op.hpp"

namespace stheno {

struct LayerRecord;

class Graph {
 public:
  enum class Mode { deferred, eager };

  explicit Graph(Mode mode = Mode::deferred);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  bool eager() const { return mode_ == Mode::eager; }
  // An eager graph computes its host ops with subnormal numbers flushed to zero, as training
  // programs do (CompileOptions::flush_subnormals, kernels/threads.hpp); false keeps IEEE's
  // gradual underflow.
  void set_flush_subnormals(bool flush) { flush_subnormals_ = flush; }

  // An input of fixed shape and dtype, bound to a value for each run (TapeMachine::let).
  Node input(std::string name, const Shape& shape, DType dtype = DType::f32);
  // In an eager graph inputs arrive with their value.
  Node input(std::string name, const Tensor& value);
  // A parameter holds `value` (sharing its storage) across runs; optimizers update it in place.
  // Asking again for a parameter of the same name and storage returns the existing node, so a
  // layer applied several times in one graph shares its weights; a different tensor under a
  // taken name gets a numbered name.
  Node parameter(std::string name, const Tensor& value);
  Node constant(const Tensor& value, std::string name = "");
  Node scalar(double value, DType dtype = DType::f32);

  // Adds the node op(inputs...), checking shapes and dtypes through the op's shape rule. In an
  // eager graph its value is computed at once.
  Node apply(OpPtr op, std::vector<Node> inputs, std::string name = "");

  int size() const { return static_cast<int>(nodes_.size()); }
  Node node(int id);
  // The node called `name`; throws ValueError if there is none.
  Node find(std::string_view name);
  bool contains(std::string_view name) const;
  std::vector<Node> parameters();
  // Whether the node was added by grad().
  bool is_gradient(int id) const;
  // Layers built from several ops, each recorded as one unit when built (graph/ops.hpp).
  void record_layer(std::shared_ptr<const LayerRecord> layer) { layers_.push_back(std::move(layer)); }
  const std::vector<std::shared_ptr<const LayerRecord>>& layers() const { return layers_; }

  // One line per node: id, name, how it is computed, dtype and shape.
  std::string str() const;
  // The graph in Graphviz DOT, gradient nodes drawn dashed.
  std::string to_dot() const;

 private:
  friend class Node;
  friend std::vector<Node> grad(const Node& cost, const std::vector<Node>& wrt);

  struct NodeData {
    std::string name;
    NodeKind kind = NodeKind::op;
    OpPtr op;
    std::vector<int> inputs;
    TypeInfo type;
    Tensor value;
    bool gradient = false;
    bool named_by_user = false;
    // A constant, or computed from constants only (a gradient rule's scalar arithmetic): in an
    // eager graph such values follow the device of the values they meet.
    bool from_constants = false;
  };
  Node add_node(NodeData data, bool named_by_user);
  int generated_id(std::string_view name) const;
  Node add_leaf(NodeKind kind, std::string name, TypeInfo type, const Tensor& value);
  const NodeData& data(int id) const { return nodes_[static_cast<std::size_t>(id)]; }
  NodeData& data(int id) { return nodes_[static_cast<std::size_t>(id)]; }
  std::string unique_name(std::string requested, std::string_view fallback_prefix) const;

  Mode mode_;
  bool flush_subnormals_ = true;
  // A deque: adding nodes never moves existing ones, so references handed out by Node stay valid.
  std::deque<NodeData> nodes_;
  std::unordered_map<std::string, int> by_name_;
  std::vector<std::shared_ptr<const LayerRecord>> layers_;
};

// Adds the nodes of d(cost)/d(wrt[i]) to cost's graph and returns them. cost must be a scalar
// (one element) of a float dtype, and depend on every node in wrt.
std::vector<Node> grad(const Node& cost, const std::vector<Node>& wrt);

}  // namespace stheno
