#pragma once
// Central-difference gradient checks of graph ops, on both machines.
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "stheno/stheno.hpp"

namespace stheno::testing {

// Builds a scalar cost from parameter nodes (created by the harness from `shapes`).
using CostBuilder = std::function<Node(Graph&, const std::vector<Node>&)>;

struct GradientCase {
  std::string name;
  std::vector<Shape> shapes;  // one float64 parameter per shape
  CostBuilder build;
  double low = -2, high = 2;  // parameter values are drawn from [low, high)
  // Called before every evaluation (e.g. to replay a dropout mask).
  std::function<void()> before_run = [] {};
};

struct GradientReport {
  double max_error = 0;     // largest |analytic - numeric| / (1 + |numeric|)
  double eager_vs_tape = 0; // largest |eager - tape| over the cost and every gradient element
  std::string worst;        // where max_error was found
};

inline void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

// Compares the tape machine's symbolic gradients with central differences of the cost, and the
// eager machine's values and gradients with the tape machine's.
GradientReport check_gradients(const GradientCase& c, std::uint64_t seed = 1);

// The case's cost and gradients computed on `device`, by the tape machine and by an eager graph,
// against the host's: the largest |device - host| / (1 + |host|).
double device_vs_host(const GradientCase& c, Device device, std::uint64_t seed = 1);

}  // namespace stheno::testing
