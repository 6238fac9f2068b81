// The expression-graph example: build y = sigmoid(x·w), cost = Σ y, differentiate it
// symbolically, compile the graph once into a program, bind values, run, and read the value and
// the gradient. Prints the graph, the compiled program and the results.
#include <iostream>

#include "stheno/stheno.hpp"

using namespace stheno;

int main() {
  Graph g;
  const Node x = g.input("x", {5, 5}, DType::f64);
  const Node w = g.input("w", {5}, DType::f64);
  const Node xw = matmul(x, w).set_name("xw");  // matrix × vector
  const Node act = sigmoid(xw).set_name("act");
  const Node cost = sum(act).set_name("cost");
  const std::vector<Node> grads = grad(cost, {w});  // grads[0] is d cost / d w

  std::cout << "graph:\n" << g.str() << "\n";

  TapeMachine m(g, {cost, grads[0]});
  std::cout << "program:\n" << m.listing() << "\n";

  Generator gen(1);
  m.let(x, Tensor::normal({5, 5}, gen, 0, 1, DType::f64));
  m.let(w, Tensor::normal({5}, gen, 0, 1, DType::f64));
  m.run();
  std::cout << "cost    = " << m.value(cost) << "\n";
  std::cout << "dcost/dw = " << m.value(grads[0]) << "\n";

  // The same gradient by hand: xᵀ (σ(xw) ⊙ (1 − σ(xw))).
  const Tensor s = sigmoid(matmul(m.value(x), m.value(w)));
  const Tensor by_hand = matmul(m.value(x).t(), mul(s, sub(Tensor::scalar(1.0, DType::f64), s)));
  std::cout << "by hand  = " << by_hand << "\n";
  std::cout << "Graphviz: write g.to_dot() to a file and run `dot -Tpng`.\n";
  return allclose(m.value(grads[0]), by_hand, 1e-12, 1e-12) ? 0 : 1;
}
