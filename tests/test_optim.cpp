#include <gtest/gtest.h>

#include <cmath>

#include "allocation_counter.hpp"
#include "isa.hpp"
#include "reference.hpp"
#include "stheno/optim/lbfgs.hpp"
#include "stheno/optim/optimizer.hpp"
#include "stheno/optim/schedule.hpp"
#include "stheno/optim/training_step.hpp"

using namespace stheno;
using namespace stheno::optim;
using stheno::testing::supported_isas;
using stheno::testing::values;

namespace {

// p = [1, -2], g = [0.5, 0.25], lr = 0.1: the numbers below are worked out by hand from each
// optimizer's update rule.
struct Fixture {
  Tensor p = Tensor::from<double>({1.0, -2.0});
  Tensor g = Tensor::from<double>({0.5, 0.25});
  std::vector<Tensor> grads{g};
};

void expect_values(const Tensor& t, std::vector<double> want, double tol = 1e-12) {
  const auto got = values(t);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

}  // namespace

TEST(Optimizers, SgdAndWeightDecay) {
  Fixture f;
  SGD sgd({f.p}, 0.1);
  sgd.step(f.grads);
  expect_values(f.p, {0.95, -2.025});
  Fixture d;
  SGD decayed({d.p}, 0.1, 0, false, 0.1);  // g + 0.1·p = [0.6, 0.05]
  decayed.step(d.grads);
  expect_values(d.p, {0.94, -2.005});
}

TEST(Optimizers, MomentumAndNesterov) {
  Fixture f;
  SGD momentum({f.p}, 0.1, 0.9);
  momentum.step(f.grads);  // v = g
  expect_values(f.p, {0.95, -2.025});
  momentum.step(f.grads);  // v = 0.9·g + g = [0.95, 0.475]
  expect_values(f.p, {0.855, -2.0725});
  Fixture n;
  SGD nesterov({n.p}, 0.1, 0.9, true);
  nesterov.step(n.grads);  // v = g; step = g + 0.9·v = 1.9·g
  expect_values(n.p, {0.905, -2.0475});
  EXPECT_THROW(SGD({n.p}, 0.1, 0.0, true), ValueError);
}

TEST(Optimizers, AdaGrad) {
  Fixture f;
  AdaGrad opt({f.p}, 0.1, 1e-10);
  opt.step(f.grads);  // s = g², step = lr·g/|g|
  expect_values(f.p, {0.9, -2.1}, 1e-9);
  opt.step(f.grads);  // s = 2g², step = lr/√2
  expect_values(f.p, {0.9 - 0.1 / std::sqrt(2.0), -2.1 - 0.1 / std::sqrt(2.0)}, 1e-9);
}

TEST(Optimizers, RMSprop) {
  Fixture f;
  RMSprop opt({f.p}, 0.1, 0.99, 1e-8);
  opt.step(f.grads);  // a = 0.01·g², g/√a = 10
  expect_values(f.p, {0.0, -3.0}, 1e-6);
}

TEST(Optimizers, AdamAndAdamW) {
  Fixture f;
  Adam adam({f.p}, 0.1);
  adam.step(f.grads);  // bias-corrected m = g, v = g²: step = lr·sign(g)
  expect_values(f.p, {0.9, -2.1}, 1e-8);
  adam.step(f.grads);
  expect_values(f.p, {0.8, -2.2}, 1e-8);
  Fixture w;
  Adam adamw({w.p}, 0.1, 0.9, 0.999, 1e-8, 0.1, true);
  adamw.step(w.grads);  // p·(1 − 0.01) − 0.1·sign(g)
  expect_values(w.p, {0.89, -2.08}, 1e-8);
  Fixture l2;
  Adam adam_l2({l2.p}, 0.1, 0.9, 0.999, 1e-8, 0.1, false);
  adam_l2.step(l2.grads);  // g + 0.1·p = [0.6, 0.05]: still lr·sign
  expect_values(l2.p, {0.9, -2.1}, 1e-7);  // ε shifts the smaller element by 2e-8
}

TEST(Optimizers, StateIsNamedAndStepsCounted) {
  Fixture f;
  Adam adam({f.p, Tensor::zeros({3}, DType::f64)}, 0.1);
  const auto state = adam.state();
  ASSERT_EQ(state.size(), 4u);
  EXPECT_EQ(state[0].name, "0.m");
  EXPECT_EQ(state[3].name, "1.v");
  EXPECT_EQ(adam.steps_taken(), 0);
  EXPECT_THROW(adam.step(f.grads), ValueError);  // 1 gradient for 2 parameters
  EXPECT_THROW(make_optimizer("adamax", {f.p}, {}), ValueError);
  EXPECT_EQ(make_optimizer("nesterov", {f.p}, {})->name(), "nesterov");
}

// The updates run vectorised over the body of a tensor and element by element over its tail, on
// each instruction set: every element of a long float32 update must match the same update
// applied to that element alone (and so the hand-checked formulas above).
TEST(Optimizers, VectorisedUpdatesMatchElementByElementOnEveryInstructionSet) {
  Generator gen(5);
  const std::int64_t n = 1037;  // whole vectors of every width and a tail
  const Tensor p0 = Tensor::normal({n}, gen), g = Tensor::normal({n}, gen);
  const std::string original(cpu::simd().isa);
  for (const std::string& isa : supported_isas()) {
    cpu::use_isa(isa);
    for (const char* name : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}) {
      SCOPED_TRACE(isa + " " + name);
      OptimizerOptions o;
      o.lr = 0.05, o.weight_decay = 0.01;
      const Tensor p = p0.clone();
      auto opt = make_optimizer(name, {p}, o);
      const std::vector<Tensor> grads{g};
      for (int step = 0; step < 3; ++step) opt->step(grads);
      const auto got = values(p);
      for (std::int64_t i = 0; i < n; ++i) {
        const Tensor one = p0.slice(0, i, i + 1).clone();
        auto single = make_optimizer(name, {one}, o);
        const std::vector<Tensor> one_grad{g.slice(0, i, i + 1).clone()};
        for (int step = 0; step < 3; ++step) single->step(one_grad);
        const double want = one.item<double>();
        ASSERT_NEAR(got[static_cast<std::size_t>(i)], want, 1e-6 * (1 + std::abs(want))) << "element " << i;
      }
    }
  }
  cpu::use_isa(original);
}

TEST(Optimizers, StepsAllocateNothingAfterConstruction) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build";
  Generator gen(1);
  std::vector<Tensor> params{Tensor::normal({784, 30}, gen), Tensor::normal({30}, gen)};
  std::vector<Tensor> grads{Tensor::normal({784, 30}, gen), Tensor::normal({30}, gen)};
  for (const char* name : {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}) {
    auto opt = make_optimizer(name, params, {});
    opt->step(grads);
    stheno::testing::AllocationCounter counter;
    for (int i = 0; i < 5; ++i) opt->step(grads);
    clip_grad_norm(grads, 1.0);
    EXPECT_EQ(counter.count(), 0) << name;
  }
}

TEST(Optimizers, ClipGradNorm) {
  const Tensor a = Tensor::from<double>({3.0, 0.0}), b = Tensor::from<double>({4.0});
  std::vector<Tensor> grads{a, b};
  EXPECT_DOUBLE_EQ(clip_grad_norm(grads, 1.0), 5.0);
  expect_values(a, {0.6, 0.0}, 1e-9);
  expect_values(b, {0.8}, 1e-9);
  EXPECT_NEAR(clip_grad_norm(grads, 10.0), 1.0, 1e-9);  // below the limit: unchanged
  expect_values(b, {0.8}, 1e-9);
}

TEST(Schedules, StepCosineWarmup) {
  const StepLR step(1.0, 10, 0.5);
  EXPECT_DOUBLE_EQ(step.at(0), 1.0);
  EXPECT_DOUBLE_EQ(step.at(9), 1.0);
  EXPECT_DOUBLE_EQ(step.at(10), 0.5);
  EXPECT_DOUBLE_EQ(step.at(25), 0.25);
  const CosineLR cosine(1.0, 100, 0.1);
  EXPECT_DOUBLE_EQ(cosine.at(0), 1.0);
  EXPECT_NEAR(cosine.at(50), 0.55, 1e-12);
  EXPECT_DOUBLE_EQ(cosine.at(100), 0.1);
  const WarmupLR warm(std::make_shared<ConstantLR>(0.4), 4);
  EXPECT_DOUBLE_EQ(warm.at(0), 0.1);
  EXPECT_DOUBLE_EQ(warm.at(3), 0.4);
  EXPECT_DOUBLE_EQ(warm.at(10), 0.4);
  EXPECT_THROW(StepLR(1.0, 0, 0.5), ValueError);
}

TEST(Lbfgs, MinimisesRosenbrock) {
  const Tensor xy = Tensor::from<double>({-1.2, 1.0});
  const LbfgsResult r = minimize_lbfgs({xy}, [&](std::span<const Tensor> grads) {
    const double x = xy.at({0}), y = xy.at({1});
    double* g = grads[0].data<double>();
    g[0] = -2 * (1 - x) - 400 * x * (y - x * x);
    g[1] = 200 * (y - x * x);
    return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x);
  }, {.max_iterations = 200});
  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(xy.at({0}), 1.0, 1e-5);
  EXPECT_NEAR(xy.at({1}), 1.0, 1e-5);
  EXPECT_LT(r.loss, 1e-10);
  EXPECT_LT(r.iterations, 100);
}

TEST(Lbfgs, FitsLogisticRegression) {
  // Two-class logistic regression with a little L2, so the optimum is unique; the graph gives
  // the loss and gradients.
  Generator gen(7);
  const Tensor x = Tensor::normal({200, 3}, gen, 0, 1, DType::f64);
  std::vector<std::int32_t> y;
  const double true_w[3] = {1.5, -2.0, 0.5};
  for (std::int64_t i = 0; i < 200; ++i) {
    double z = 0;
    for (std::int64_t k = 0; k < 3; ++k) z += true_w[k] * x.at({i, k});
    y.push_back(gen.uniform() < 1.0 / (1.0 + std::exp(-z)) ? 1 : 0);
  }
  const Tensor w = Tensor::zeros({3, 2}, DType::f64);
  Graph g;
  const Node xn = g.constant(x), wn = g.parameter("w", w);
  const Node loss = softmax_cross_entropy(matmul(xn, wn), g.constant(Tensor::from<std::int32_t>(y))) + 0.01 * sum(square(wn));
  const Node dw = grad(loss, {wn})[0];
  TapeMachine m(g, {loss, dw});
  auto objective = [&](std::span<const Tensor> grads) {
    m.run();
    grads[0].copy_from(m.value(dw));
    return m.value(loss).item<double>();
  };
  const LbfgsResult r = minimize_lbfgs({w}, objective, {.max_iterations = 200, .gradient_tolerance = 1e-9});
  EXPECT_TRUE(r.converged);
  m.run();
  EXPECT_LT(max(abs(m.value(dw))).item<double>(), 1e-8);
  // Plain gradient descent from the same start gets no lower.
  const Tensor w_gd = Tensor::zeros({3, 2}, DType::f64);
  w.copy_from(w_gd);
  for (int i = 0; i < 3000; ++i) {
    m.run();
    sub(w, mul(m.value(dw), Tensor::scalar(0.5, DType::f64)), w);
  }
  m.run();
  EXPECT_LE(r.loss, m.value(loss).item<double>() + 1e-10);
  EXPECT_LT(r.evaluations, 300);
}

// A parameter used transposed has a strided gradient (a view of the product's); the step copies
// it contiguous for the update rather than refusing it.
TEST(TrainingStepLayout, AParameterUsedTransposedIsUpdated) {
  Graph g;
  const Tensor w0 = Tensor::from(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Shape{3, 4});
  const Tensor w = w0.clone();
  const Node x = g.input("x", {2, 4});
  const Node wn = g.parameter("w", w);
  const Node loss = sum(matmul(x, transpose(wn)));
  Adam adam({w}, 0.1);
  TrainingStep step(loss, {wn}, adam);
  step.machine().let(x, Tensor::from(std::vector<float>{1, -2, 3, 0, 2, 1, -1, 0}, Shape{2, 4}));
  step.run();
  // dL/dw[j][k] = sum_i x[i][k] = (3, -1, 2, 0) for every row j; Adam's first step moves each
  // weight by lr against its gradient's sign, and not at all where the gradient is 0.
  const float moved[4] = {-0.1f, 0.1f, -0.1f, 0.0f};
  for (std::int64_t j = 0; j < 3; ++j)
    for (std::int64_t k = 0; k < 4; ++k) EXPECT_NEAR(w.at({j, k}), w0.at({j, k}) + moved[k], 1e-5) << j << ", " << k;
}
