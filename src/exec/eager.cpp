#include "stheno/exec/eager.hpp"

namespace stheno {

std::vector<Tensor> backward(const Node& cost, const std::vector<Node>& wrt) {
  if (!cost.graph().eager())
    throw ValueError("backward: " + cost.describe() + " belongs to a deferred graph; use grad() and a TapeMachine");
  std::vector<Tensor> out;
  for (const Node& d : grad(cost, wrt)) out.push_back(d.value());
  return out;
}

}  // namespace stheno
