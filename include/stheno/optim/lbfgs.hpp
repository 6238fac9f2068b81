#pragma once
// L-BFGS for full-batch problems: a quasi-Newton method that builds a curvature estimate from the
// last `history` steps, with a backtracking line search (Armijo condition) on every step.
#include <functional>
#include <span>
#include <vector>

#include "stheno/tensor/tensor.hpp"

namespace stheno::optim {

struct LbfgsOptions {
  int history = 10;
  int max_iterations = 100;
  int max_line_search_steps = 30;
  double gradient_tolerance = 1e-7;  // stop when the largest gradient element is below this
  double change_tolerance = 1e-12;   // stop when the loss changes less than this
  double armijo = 1e-4;              // sufficient-decrease constant of the line search
};

struct LbfgsResult {
  double loss = 0;
  int iterations = 0;
  int evaluations = 0;
  bool converged = false;
};

// Evaluates the loss at the parameters' current values and writes the gradients into grads
// (same shapes and order as the parameters).
using Objective = std::function<double(std::span<const Tensor> grads)>;

// Minimises the objective over the parameters, updating them in place.
LbfgsResult minimize_lbfgs(const std::vector<Tensor>& params, const Objective& objective, const LbfgsOptions& options = {});

}  // namespace stheno::optim
