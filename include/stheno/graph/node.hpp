#pragma once
#include <string>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

class Graph;
class Op;

enum class NodeKind {
  input,      // bound to a value for each run
  parameter,  // holds its value across runs; what training updates
  constant,   // a fixed value
  op,         // the result of an op applied to other nodes
};

// A handle to a node of a Graph: cheap to copy, valid while its graph lives. Every node has a
// name, a dtype and a shape, fixed when it is created.
class Node {
 public:
  Node() = default;
  Node(Graph* graph, int id) : graph_(graph), id_(id) {}

  bool defined() const { return graph_ != nullptr; }
  Graph& graph() const;
  int id() const { return id_; }

  const std::string& name() const;
  NodeKind kind() const;
  DType dtype() const;
  const Shape& shape() const;
  int rank() const { return shape().rank(); }
  // The op that made this node (null for inputs, parameters and constants).
  const Op* op() const;
  int num_inputs() const;
  Node input(int i) const;

  // The value held by a parameter or constant, or by any node of an eager graph.
  const Tensor& value() const;
  // Renames the node; names are how programs, errors and DOT output refer to it.
  Node& set_name(std::string name);

  // "w (5,) float64", for messages.
  std::string describe() const;

  friend bool operator==(const Node& a, const Node& b) { return a.graph_ == b.graph_ && a.id_ == b.id_; }

 private:
  Graph* graph_ = nullptr;
  int id_ = -1;
};

}  // namespace stheno
