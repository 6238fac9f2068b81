// Symbolic reverse-mode differentiation: walks the graph from the cost back to the requested
// nodes, asking each op's gradient rule for its inputs' gradients and adding them up. The rules
// build ordinary graph nodes, so gradients can be differentiated again, and in an eager graph
// they are computed as they are built.
#include <memory>

#include "stheno/graph/graph.hpp"
#include "stheno/graph/ops.hpp"

namespace stheno {

namespace {

// sum + term, fused where the term's op (or the sum's) has a form that adds into a buffer. An
// eager graph has computed the term already, so there it is a plain add.
Node accumulate(const Node& sum, const Node& term) {
  if (!sum.graph().eager() && sum.shape() == term.shape() && sum.dtype() == term.dtype()) {
    if (term.op())
      if (Node fused = term.op()->add_to(term, sum); fused.defined()) return fused;
    if (sum.op())
      if (Node fused = sum.op()->add_to(sum, term); fused.defined()) return fused;
  }
  return add(sum, term);
}

}  // namespace

std::vector<Node> grad(const Node& cost, const std::vector<Node>& wrt) {
  Graph& g = cost.graph();
  if (cost.shape().numel() != 1)
    throw ValueError("grad: the cost must be a scalar, but " + cost.describe() + " has " +
                     std::to_string(cost.shape().numel()) + " elements; reduce it first (sum or mean)");
  if (!is_floating(cost.dtype())) throw DTypeError("grad: the cost " + cost.describe() + " is not a float");
  const int n = cost.id() + 1;  // nodes created after the cost cannot feed it

  // Nodes the cost depends on, and nodes that depend on some wrt: gradients flow where both hold.
  std::vector<bool> feeds_cost(static_cast<std::size_t>(n), false), from_wrt(static_cast<std::size_t>(n), false);
  feeds_cost[static_cast<std::size_t>(cost.id())] = true;
  for (int i = n - 1; i >= 0; --i)
    if (feeds_cost[static_cast<std::size_t>(i)])
      for (int in : g.data(i).inputs) feeds_cost[static_cast<std::size_t>(in)] = true;
  for (const Node& w : wrt) {
    if (!w.defined() || &w.graph() != &g) throw ValueError("grad: every node in wrt must belong to the cost's graph");
    if (w.id() >= n || !feeds_cost[static_cast<std::size_t>(w.id())])
      throw ValueError("grad: the cost " + cost.describe() + " does not depend on " + w.describe());
    if (!is_floating(w.dtype())) throw DTypeError("grad: cannot differentiate with respect to " + w.describe());
    from_wrt[static_cast<std::size_t>(w.id())] = true;
  }
  for (int i = 0; i < n; ++i)
    for (int in : g.data(i).inputs)
      if (from_wrt[static_cast<std::size_t>(in)]) from_wrt[static_cast<std::size_t>(i)] = true;

  const int first_new = g.size();
  std::vector<Node> grads(static_cast<std::size_t>(n));
  const std::string seed_name = "d" + cost.name();  // unnamed if grad ran on this cost before
  grads[static_cast<std::size_t>(cost.id())] =
      g.constant(Tensor::ones(cost.shape(), cost.dtype()), g.contains(seed_name) ? "" : seed_name);
  for (int i = n - 1; i >= 0; --i) {
    const auto ui = static_cast<std::size_t>(i);
    if (!feeds_cost[ui] || !from_wrt[ui] || !grads[ui].defined() || g.data(i).kind != NodeKind::op) continue;
    const Node self(&g, i);
    std::vector<Node> inputs;
    for (int in : g.data(i).inputs) inputs.emplace_back(&g, in);
    const Op& op = *g.data(i).op;
    // Which inputs need a gradient (a std::vector<bool> cannot be viewed as a span).
    const std::unique_ptr<bool[]> wanted(new bool[inputs.size()]);
    for (std::size_t k = 0; k < inputs.size(); ++k) wanted[k] = from_wrt[static_cast<std::size_t>(inputs[k].id())];
    const std::vector<Node> input_grads = op.backward(self, inputs, grads[ui], std::span<const bool>(wanted.get(), inputs.size()));
    for (std::size_t k = 0; k < inputs.size() && k < input_grads.size(); ++k) {
      const Node& ig = input_grads[k];
      const auto uk = static_cast<std::size_t>(inputs[k].id());
      if (!ig.defined() || !from_wrt[uk]) continue;
      if (ig.shape() != inputs[k].shape() || ig.dtype() != inputs[k].dtype())
        throw Error("grad: the gradient rule of " + op.describe() + " gave " + ig.describe() + " for input " +
                    inputs[k].describe() + " (a bug in that rule)");
      grads[uk] = grads[uk].defined() ? accumulate(grads[uk], ig) : ig;
    }
  }
  for (int i = first_new; i < g.size(); ++i) g.data(i).gradient = true;

  std::vector<Node> out;
  for (const Node& w : wrt) {
    Node d = grads[static_cast<std::size_t>(w.id())];
    // Reached only through ops with zero gradient (step, argmax, ...): the gradient is zero.
    if (!d.defined()) {
      d = g.constant(Tensor::zeros(w.shape(), w.dtype()));
      g.data(d.id()).gradient = true;
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace stheno
