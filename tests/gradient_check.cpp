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

namespace {
// The cost and every gradient, on the host.
std::vector<Tensor> results(const Built& b, TapeMachine* m) {
  std::vector<Tensor> out;
  out.push_back((m ? m->value(b.cost) : b.cost.value()).to(Device::cpu()).clone());
  for (const Node& d : b.grads) out.push_back((m ? m->value(d) : d.value()).to(Device::cpu()).clone());
  return out;
}

double largest_difference(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const Tensor diff = div(abs(sub(got[i], want[i])), add(abs(want[i]), Tensor::scalar(1.0, DType::f64)));
    worst = std::max(worst, diff.numel() ? max(diff).item<double>() : 0.0);
    if (!all_finite(got[i]) && all_finite(want[i])) worst = INFINITY;
  }
  return worst;
}
}  // namespace

double device_vs_host(const GradientCase& c, Device device, std::uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> values, moved;
  for (const Shape& s : c.shapes) values.push_back(Tensor::uniform(s, gen, c.low, c.high, DType::f64));
  for (const Tensor& v : values) moved.push_back(v.to(device));

  Graph host;
  const Built h = build(host, c, values);
  std::vector<Node> outputs = h.grads;
  outputs.push_back(h.cost);
  TapeMachine hm(host, outputs);
  c.before_run();
  hm.run();
  const std::vector<Tensor> want = results(h, &hm);

  Graph on_device;
  const Built d = build(on_device, c, moved);
  outputs = d.grads;
  outputs.push_back(d.cost);
  TapeMachine dm(on_device, outputs);
  c.before_run();
  dm.run();
  double worst = largest_difference(results(d, &dm), want);

  Graph eager(Graph::Mode::eager);
  c.before_run();
  const Built e = build(eager, c, moved);
  return std::max(worst, largest_difference(results(e, nullptr), want));
}

}  // namespace stheno::testing
