#include "stheno/optim/lbfgs.hpp"

#include <cmath>
#include <deque>

namespace stheno::optim {

namespace {

using Vec = std::vector<double>;

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double max_abs(const Vec& a) {
  double m = 0;
  for (double v : a) m = std::max(m, std::fabs(v));
  return m;
}

// The parameters seen as one flat vector of doubles.
class Flat {
 public:
  explicit Flat(const std::vector<Tensor>& params) : params_(params) {
    for (const Tensor& p : params) {
      if (!p.defined() || !p.is_contiguous() || !is_floating(p.dtype()))
        throw ValueError("lbfgs: parameters must be defined, contiguous float tensors");
      grads_.push_back(Tensor::zeros(p.shape(), p.dtype()));
      size_ += static_cast<std::size_t>(p.numel());
    }
  }
  std::size_t size() const { return size_; }
  Vec read(const std::vector<Tensor>& tensors) const {
    Vec out;
    out.reserve(size_);
    for (const Tensor& t : tensors)
      for (double v : t.to_vector<double>()) out.push_back(v);
    return out;
  }
  void write(const Vec& x) const {
    std::size_t at = 0;
    for (const Tensor& p : params_) {
      p.copy_from(Tensor::borrow(const_cast<double*>(x.data() + at), p.shape(), DType::f64));
      at += static_cast<std::size_t>(p.numel());
    }
  }
  // Loss and gradient at x.
  double evaluate(const Vec& x, const Objective& f, Vec& grad) const {
    write(x);
    for (const Tensor& g : grads_) g.fill(0);
    const double loss = f(grads_);
    grad = read(grads_);
    return loss;
  }

 private:
  const std::vector<Tensor>& params_;
  std::vector<Tensor> grads_;
  std::size_t size_ = 0;
};

}  // namespace

LbfgsResult minimize_lbfgs(const std::vector<Tensor>& params, const Objective& objective, const LbfgsOptions& o) {
  if (o.history < 1 || o.max_iterations < 1) throw ValueError("lbfgs: history and max_iterations must be at least 1");
  const Flat flat(params);
  Vec x = flat.read(params), g;
  LbfgsResult r;
  r.loss = flat.evaluate(x, objective, g);
  r.evaluations = 1;
  std::deque<Vec> s_hist, y_hist;
  std::deque<double> rho_hist;
  for (; r.iterations < o.max_iterations; ++r.iterations) {
    if (!std::isfinite(r.loss)) throw ValueError("lbfgs: the objective returned a non-finite loss");
    if (max_abs(g) <= o.gradient_tolerance) {
      r.converged = true;
      break;
    }
    // Two-loop recursion: d = -H·g with H from the stored (s, y) pairs.
    Vec d = g;
    std::vector<double> alpha(s_hist.size());
    for (std::size_t k = s_hist.size(); k-- > 0;) {
      alpha[k] = rho_hist[k] * dot(s_hist[k], d);
      for (std::size_t i = 0; i < d.size(); ++i) d[i] -= alpha[k] * y_hist[k][i];
    }
    const double gamma = s_hist.empty() ? 1.0 : dot(s_hist.back(), y_hist.back()) / dot(y_hist.back(), y_hist.back());
    for (double& v : d) v *= gamma;
    for (std::size_t k = 0; k < s_hist.size(); ++k) {
      const double beta = rho_hist[k] * dot(y_hist[k], d);
      for (std::size_t i = 0; i < d.size(); ++i) d[i] += s_hist[k][i] * (alpha[k] - beta);
    }
    for (double& v : d) v = -v;
    double slope = dot(g, d);
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      s_hist.clear(), y_hist.clear(), rho_hist.clear();
      d = g;
      for (double& v : d) v = -v;
      slope = dot(g, d);
    }
    // Backtracking line search; the first step is scaled so that it cannot be huge.
    double step = s_hist.empty() ? std::min(1.0, 1.0 / std::max(max_abs(g), 1e-12)) : 1.0;
    Vec x_new(x.size()), g_new;
    double loss_new = r.loss;
    bool accepted = false;
    for (int ls = 0; ls < o.max_line_search_steps; ++ls, step *= 0.5) {
      for (std::size_t i = 0; i < x.size(); ++i) x_new[i] = x[i] + step * d[i];
      loss_new = flat.evaluate(x_new, objective, g_new);
      ++r.evaluations;
      if (std::isfinite(loss_new) && loss_new <= r.loss + o.armijo * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) {
      flat.write(x);
      break;
    }
    Vec s(x.size()), y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) s[i] = x_new[i] - x[i], y[i] = g_new[i] - g[i];
    const double sy = dot(s, y);
    if (sy > 1e-10 * dot(y, y)) {  // keep only pairs with positive curvature
      s_hist.push_back(std::move(s));
      y_hist.push_back(std::move(y));
      rho_hist.push_back(1.0 / sy);
      if (static_cast<int>(s_hist.size()) > o.history) s_hist.pop_front(), y_hist.pop_front(), rho_hist.pop_front();
    }
    const double change = std::fabs(loss_new - r.loss);
    x = std::move(x_new);
    g = std::move(g_new);
    r.loss = loss_new;
    if (change < o.change_tolerance) {
      r.converged = max_abs(g) <= std::sqrt(o.gradient_tolerance);
      ++r.iterations;
      break;
    }
  }
  flat.write(x);
  return r;
}

}  // namespace stheno::optim
