#include <gtest/gtest.h>

#include <cmath>

#include "allocation_counter.hpp"
#include "isa.hpp"
#include "reference.hpp"
#include "stheno/optim/lbfgs.hpp"
#include "stheno/optim/optimizer.hpp"
#include "stheno/optim/schedule.hpp"
#include "stheno/optim/training_step.hpp"
#include "stheno/stheno.hpp"

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

// A host update whose step is subnormal (1e-10 · 1e-30 = 1e-40 in float32) moves nothing, as in
// the tape machine's training programs; with the mode off, IEEE's gradual underflow moves it.
TEST(Optimizers, UpdatesFlushSubnormalsToZero) {
#if !(defined(__x86_64__) || defined(__i386__))
  GTEST_SKIP() << "flush-to-zero is an x86 mode here";
#endif
  const auto updated = [](bool flush) {
    Tensor p = Tensor::zeros({64});
    std::vector<Tensor> grads{Tensor::full({64}, 1e-30f)};
    SGD sgd({p}, 1e-10);
    sgd.set_flush_subnormals(flush);
    sgd.step(grads);
    return p.to_vector<float>();
  };
  for (float v : updated(true)) EXPECT_EQ(v, 0.0f);
  for (float v : updated(false)) EXPECT_LT(v, 0.0f);
  const Tensor product = mul(Tensor::full({64}, 1e-20f), Tensor::full({64}, 1e-20f));  // the mode is restored
  EXPECT_GT(product.to_vector<float>()[0], 0.0f);
}

// A TrainingStep's updates follow its program's CompileOptions::flush_subnormals, whatever the
// optimizer was set to before.
TEST(TrainingStepLayout, UpdatesFollowTheProgramsSubnormalMode) {
#if !(defined(__x86_64__) || defined(__i386__))
  GTEST_SKIP() << "flush-to-zero is an x86 mode here";
#endif
  const auto updated = [](bool flush) {
    Graph g;
    Tensor w = Tensor::zeros({64});
    const Node wn = g.parameter("w", w);
    const Node loss = sum(wn * g.constant(Tensor::full({64}, 1e-30f)));  // dL/dw = 1e-30
    SGD sgd({w}, 1e-10);
    sgd.set_flush_subnormals(!flush);
    TrainingStep step(loss, {wn}, sgd, {}, CompileOptions{.flush_subnormals = flush});
    step.run();
    return w.to_vector<float>();
  };
  for (float v : updated(true)) EXPECT_EQ(v, 0.0f);
  for (float v : updated(false)) EXPECT_LT(v, 0.0f);
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
    EXPECT_EQ(counter.outside_driver_calls(), 0) << name;
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

namespace {

// SGD applied to formed gradients only: the reference for the product path.
class FormedSgd final : public Optimizer {
 public:
  FormedSgd(std::vector<Tensor> params, double lr, double momentum, bool nesterov, double weight_decay)
      : Optimizer(std::move(params), lr), momentum_(momentum), weight_decay_(weight_decay), nesterov_(nesterov) {
    if (momentum != 0) velocity_ = add_state("velocity");
  }
  std::string name() const override { return "formed_sgd"; }

 private:
  void update(std::size_t i, const Tensor& p, const Tensor& g) override {
    sgd_update(p, g, momentum_ != 0 ? velocity_[i] : Tensor(), lr_, momentum_, nesterov_, weight_decay_);
  }
  double momentum_, weight_decay_;
  bool nesterov_;
  std::vector<Tensor> velocity_;
};

// A two-layer network whose weight gradients are products xᵀ·δ (the first one's x is an input).
struct TwoLayers {
  Graph g;
  Tensor w1, b1, w2;
  Node x, w1n, b1n, w2n, loss;
  explicit TwoLayers(DType dtype) {
    Generator gen(71);
    w1 = Tensor::normal({5, 4}, gen, 0, 0.5, dtype);
    b1 = Tensor::normal({4}, gen, 0, 0.5, dtype);
    w2 = Tensor::normal({4, 3}, gen, 0, 0.5, dtype);
    x = g.input("x", {6, 5}, dtype);
    w1n = g.parameter("w1", w1);
    b1n = g.parameter("b1", b1);
    w2n = g.parameter("w2", w2);
    loss = mean(square(matmul(sigmoid(add(matmul(x, w1n), b1n)), w2n)));
  }
  std::vector<Tensor> values() const { return {w1, b1, w2}; }
  std::vector<Node> nodes() const { return {w1n, b1n, w2n}; }
};

}  // namespace

// Plain SGD and momentum take a weight's gradient as the product xᵀ·δ and add it into the weight
// (or its velocity) with one GEMM. Every step binds a new batch and the old one is then
// overwritten with NaN, so a product read from a stale binding shows; with clipping and under a
// communicator the product is formed first. All must take the steps the formed gradients take.
TEST(TrainingStepProducts, WeightGradientsAppliedAsProductsMatchFormedOnes) {
  struct Setting {
    double momentum, weight_decay;
    bool nesterov;
    double clip;
    bool distributed;
  };
  for (DType dtype : {DType::f64, DType::f32})
    for (const Setting s : {Setting{0, 0, false, 0, false}, Setting{0, 0.05, false, 0, false}, Setting{0.9, 0, false, 0, false},
                            Setting{0.9, 0.05, false, 0, false}, Setting{0.9, 0, true, 0, false}, Setting{0, 0, false, 0.05, false},
                            Setting{0.9, 0, false, 0, true}}) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " momentum " + std::to_string(s.momentum) + " weight decay " +
                   std::to_string(s.weight_decay) + (s.nesterov ? " nesterov" : "") + " clip " + std::to_string(s.clip) +
                   (s.distributed ? " distributed" : ""));
      TwoLayers fused(dtype), formed(dtype);
      SGD sgd(fused.values(), 0.3, s.momentum, s.nesterov, s.weight_decay);
      FormedSgd reference(formed.values(), 0.3, s.momentum, s.nesterov, s.weight_decay);
      TrainingStep fused_step(fused.loss, fused.nodes(), sgd), formed_step(formed.loss, formed.nodes(), reference);
      const bool products = s.momentum == 0 || (s.weight_decay == 0 && !s.nesterov);
      EXPECT_EQ(fused_step.product_form(0).size(), products ? 2u : 0u);
      EXPECT_EQ(fused_step.product_form(2).size(), products ? 2u : 0u);
      EXPECT_TRUE(fused_step.product_form(1).empty());  // the bias's gradient is a sum, not a product
      EXPECT_TRUE(formed_step.product_form(0).empty());
      const std::unique_ptr<dist::Communicator> one = dist::single_process();
      if (s.distributed) {
        fused_step.distribute(*one);
        formed_step.distribute(*one);
        EXPECT_NE(fused_step.machine().listing().find("form "), std::string::npos) << fused_step.machine().listing();
      }
      if (s.clip > 0) {
        fused_step.set_clip_norm(s.clip);
        formed_step.set_clip_norm(s.clip);
      }
      Generator gen(72);
      for (int i = 0; i < 6; ++i) {
        const Tensor batch = Tensor::normal({6, 5}, gen, 0, 1, dtype);
        fused_step.machine().bind(fused.x, batch);
        formed_step.machine().bind(formed.x, batch);
        fused_step.run();
        formed_step.run();
        batch.fill(std::nan(""));  // the batch's memory goes on to hold other things
      }
      const double tol = dtype == DType::f64 ? 1e-12 : 2e-6;
      for (std::size_t p = 0; p < 3; ++p)
        EXPECT_TRUE(allclose(fused.values()[p], formed.values()[p], tol, tol))
            << "parameter " << p << "\n" << fused.values()[p].str() << "\n" << formed.values()[p].str();
      const double moved = max(abs(sub(fused.w1, TwoLayers(dtype).w1))).to(DType::f64).item<double>();
      EXPECT_GT(moved, 1e-3) << "the steps should move the weights";
    }
}

// An optimizer that does not apply products is refused one, naming the parameter.
TEST(TrainingStepProducts, AnOptimizerWithoutProductsRefusesOne) {
  Tensor p = Tensor::zeros({2, 3});
  Adam adam({p}, 0.1);
  const std::vector<Gradient> grads{Gradient::of_matmul(Tensor::ones({2, 4}), Tensor::ones({4, 3}))};
  EXPECT_THROW(adam.step(grads), ValueError);
  const std::string refused = stheno::testing::message_of([&] { adam.step(grads); });
  EXPECT_NE(refused.find("parameter 0 (2, 3) has its gradient as a product"), std::string::npos) << refused;
  SGD sgd({p}, 0.1);
  const std::vector<Gradient> wrong{Gradient::of_matmul(Tensor::ones({2, 4}), Tensor::ones({5, 3}))};
  EXPECT_THROW(sgd.step(wrong), ValueError);
  const std::string mismatched = stheno::testing::message_of([&] { sgd.step(wrong); });
  EXPECT_NE(mismatched.find("does not form a gradient"), std::string::npos) << mismatched;
}
