#include "gradient_check.hpp"

#include <cmath>

namespace stheno::testing {

namespace {

struct Built {
  Node cost;
  std::vector<Node> params, grads;
};

Built build(Graph& g, const GradientCase& c, const std::vector<Tensor>& values) {
  Built b;
  for (std::size_t i = 0; i < values.size(); ++i) b.params.push_back(g.parameter("p" + std::to_string(i), values[i]));
  b.cost = c.build(g, b.params);
  b.grads = grad(b.cost, b.params);
  return b;
}

}  // namespace

GradientReport check_gradients(const GradientCase& c, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> values;
  for (const Shape& s : c.shapes) values.push_back(Tensor::uniform(s, gen, c.low, c.high, DType::f64));

  Graph g;
  const Built b = build(g, c, values);
  std::vector<Node> outputs = b.grads;
  outputs.push_back(b.cost);
  TapeMachine m(g, outputs);
  auto cost_at = [&] {
    c.before_run();
    m.run();
    return m.value(b.cost).item<double>();
  };

  GradientReport report;
  const double cost0 = cost_at();
  std::vector<Tensor> analytic;
  for (const Node& d : b.grads) analytic.push_back(m.value(d).clone());

  constexpr double h = 1e-6;
  for (std::size_t p = 0; p < values.size(); ++p) {
    double* x = values[p].data<double>();
    const double* a = analytic[p].data<double>();
    for (std::int64_t i = 0; i < values[p].numel(); ++i) {
      const double saved = x[i];
      x[i] = saved + h;
      const double up = cost_at();
      x[i] = saved - h;
      const double down = cost_at();
      x[i] = saved;
      const double numeric = (up - down) / (2 * h);
      const double err = std::fabs(a[i] - numeric) / (1 + std::fabs(numeric));
      if (err > report.max_error || std::isnan(err)) {
        report.max_error = std::isnan(err) ? INFINITY : err;
        report.worst = "parameter " + std::to_string(p) + " element " + std::to_string(i) + ": analytic " +
                       std::to_string(a[i]) + ", numeric " + std::to_string(numeric);
      }
    }
  }

  // The eager machine on the same values: same ops, same rules, same answers.
  Graph eager(Graph::Mode::eager);
  c.before_run();
  const Built e = build(eager, c, values);
  report.eager_vs_tape = std::fabs(e.cost.value().item<double>() - cost0);
  for (std::size_t p = 0; p < values.size(); ++p) {
    const Tensor diff = abs(sub(e.grads[p].value(), analytic[p]));
    report.eager_vs_tape = std::max(report.eager_vs_tape, max(diff).item<double>());
  }
  return report;
}

}  // namespace stheno::testing
