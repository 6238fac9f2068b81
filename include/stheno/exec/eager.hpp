#pragma once
// The eager machine: a Graph in eager mode computes each node the moment it is created, so the
// graph itself is the tape of what ran. backward() differentiates it with the same gradient
// rules the tape machine uses (grad() adds the gradient nodes, which are computed at once).
//
//   Graph g(Graph::Mode::eager);
//   Node w = g.parameter("w", w_value);
//   Node h = g.input("h0", h0);
//   for (const Tensor& x : sequence) h = tanh(matmul(w, h) + g.input("", x));  // any length
//   std::vector<Tensor> dw = backward(sum(h), {w});
#include <vector>

#include "stheno/graph/graph.hpp"

namespace stheno {

// d(cost)/d(wrt[i]) as tensors; cost must be a scalar node of an eager graph.
std::vector<Tensor> backward(const Node& cost, const std::vector<Node>& wrt);

}  // namespace stheno
