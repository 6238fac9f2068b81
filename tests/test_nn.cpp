#include <gtest/gtest.h>

#include <cmath>

#include "reference.hpp"
#include "stheno/nn/losses.hpp"
#include "stheno/nn/module.hpp"

using namespace stheno;
using stheno::testing::values;

namespace {
nn::Sequential mlp(Generator& gen) {
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(4, 3, gen)).add(nn::activation("tanh")).add(std::make_shared<nn::Linear>(3, 2, gen));
  return net;
}
}  // namespace

TEST(Nn, SequentialNamesListsCountsAndFreezesParameters) {
  Generator gen(1);
  nn::Sequential net = mlp(gen);
  const auto params = net.parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0]->name, "0.weight");
  EXPECT_EQ(params[1]->name, "0.bias");
  EXPECT_EQ(params[2]->name, "2.weight");
  EXPECT_EQ(params[0]->value.shape(), (Shape{4, 3}));
  EXPECT_EQ(net.parameter_count(), 4 * 3 + 3 + 3 * 2 + 2);
  net.layer(0).freeze();
  EXPECT_EQ(net.trainable_parameters().size(), 2u);
  EXPECT_NE(net.summary().find("0.weight (4, 3) float32 (frozen)"), std::string::npos) << net.summary();
  net.unfreeze();
  EXPECT_EQ(net.trainable_parameters().size(), 4u);
}

TEST(Nn, OneModuleInDeferredAndEagerGraphsGivesTheSameOutput) {
  Generator gen(2);
  nn::Sequential net = mlp(gen);
  const Tensor x = Tensor::normal({5, 4}, gen);
  Graph lazy;
  const Node xin = lazy.input("x", {5, 4});
  const Node y = net(xin);
  TapeMachine m(lazy, {y});
  m.let(xin, x);
  m.run();
  Graph eager(Graph::Mode::eager);
  const Node ye = net(eager.input("x", x));
  EXPECT_TRUE(allclose(m.value(y), ye.value(), 0, 0));
  // Applying a layer twice in one graph shares its parameter nodes.
  Graph twice;
  nn::Linear square_layer(3, 3, gen);
  const Node in = twice.input("x", {2, 3});
  square_layer(square_layer(in));
  EXPECT_EQ(twice.parameters().size(), 2u);
  EXPECT_THROW(net(twice.input("bad", {2, 7})), ShapeError);
}

TEST(Nn, InitialisersHaveTheirScale) {
  Generator gen(3);
  const Tensor g = nn::initialize(nn::Init::glorot_uniform, {300, 200}, gen, DType::f64);
  const double bound = std::sqrt(6.0 / 500.0);
  EXPECT_LE(max(abs(g)).item<double>(), bound);
  EXPECT_NEAR(std::sqrt(mean(square(g)).item<double>()), bound / std::sqrt(3.0), 0.01 * bound);
  const Tensor h = nn::initialize(nn::Init::he_normal, {400, 100}, gen, DType::f64);
  EXPECT_NEAR(std::sqrt(mean(square(h)).item<double>()), std::sqrt(2.0 / 400.0), 0.003);
  EXPECT_EQ(max(abs(nn::initialize(nn::Init::zeros, {3, 3}, gen))).item<float>(), 0.0f);
  EXPECT_EQ(nn::parse_init("he_uniform"), nn::Init::he_uniform);
  EXPECT_THROW(nn::parse_init("xavier"), ValueError);
  EXPECT_THROW(nn::activation("gelu"), ValueError);
}

TEST(Nn, DropoutIsOffInEvaluation) {
  auto drop = std::make_shared<nn::Dropout>(0.5, 7);
  Graph g;
  const Node x = g.input("x", {1000});
  const Node y = (*drop)(x);
  TapeMachine m(g, {y});
  m.let(x, Tensor::ones({1000}));
  m.run();
  const auto train = values(m.value(y));
  int zeros = 0;
  for (double v : train) {
    EXPECT_TRUE(v == 0.0 || v == 2.0);
    zeros += v == 0.0;
  }
  EXPECT_NEAR(zeros, 500, 60);
  drop->set_training(false);
  m.run();
  for (double v : values(m.value(y))) EXPECT_EQ(v, 1.0);
  EXPECT_THROW(nn::Dropout(1.0, 1), ValueError);
}

TEST(Nn, LossesHaveTheirDefinitions) {
  Graph g(Graph::Mode::eager);
  const Node pred = g.input("p", Tensor::from<double>({0.5, 1.0, 0.0, 2.0}, {2, 2}));
  const Node target = g.input("t", Tensor::from<double>({1.0, 1.0, 0.0, 0.0}, {2, 2}));
  // ½(0.25 + 0) + ½(0 + 4), over 2 samples.
  EXPECT_DOUBLE_EQ(nn::quadratic(pred, target).value().item<double>(), (0.125 + 2.0) / 2);
  EXPECT_DOUBLE_EQ(nn::mean_squared_error(pred, target).value().item<double>(), (0.25 + 4.0) / 4);
  const Node logits = g.input("z", Tensor::from<double>({1.0, 2.0, 0.5, 3.0, -1.0, 0.0}, {2, 3}));
  const Node labels = g.input("y", Tensor::from<std::int32_t>({1, 0}));
  EXPECT_NEAR(nn::nll(log_softmax(logits, 1), labels).value().item<double>(),
              nn::cross_entropy(logits, labels).value().item<double>(), 1e-15);
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(0.5));
  const double lse1 = std::log(std::exp(3.0) + std::exp(-1.0) + 1.0);
  EXPECT_NEAR(nn::cross_entropy(logits, labels).value().item<double>(), ((lse0 - 2.0) + (lse1 - 3.0)) / 2, 1e-14);
  EXPECT_THROW(nn::quadratic(pred, logits), ShapeError);
  EXPECT_THROW(nn::nll(logits, target), ShapeError);
}

TEST(Nn, ConvolutionErrorsNameTheLayerAndShapes) {
  Generator gen(4);
  Graph g;
  const Node images = g.input("images", {2, 3, 8, 8});
  nn::Conv2d conv(1, 4, 3, gen);
  try {
    conv(images);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv2d"), std::string::npos) << msg;
    EXPECT_NE(msg.find("images (2, 3, 8, 8)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3 channels"), std::string::npos) << msg;
  }
  nn::Conv2d huge(3, 4, 11, gen);
  try {
    huge(images);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the padded input 8x8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nn::MaxPool2d(9)(images), ShapeError);
  EXPECT_THROW(conv2d(g.input("flat", {2, 64}), g.input("w", {4, 1, 3, 3})), ShapeError);
  EXPECT_THROW(nn::Conv2d(3, 4, 3, gen, Conv2dOptions{1, 0, 1, 2}), ShapeError);  // 3 channels in 2 groups
  EXPECT_THROW(nn::Unflatten(Shape{1, 28, 28})(g.input("bad", {2, 100})), ShapeError);
}

TEST(Nn, ConvolutionAndPoolingTakeASizePerAxis) {
  Generator gen(4);
  Graph g;
  const Node images = g.input("images", {2, 2, 9, 8});
  nn::Conv2d conv(2, 6, {3, 2}, gen, Conv2dOptions{{2, 1}, {1, 0}, {1, 2}, 2});
  EXPECT_EQ(conv.parameters()[0]->value.shape(), (Shape{6, 1, 3, 2}));
  // Height (9 + 2 - 3) / 2 + 1 = 5, width (8 - 2·1 - 1) / 1 + 1 = 6.
  EXPECT_EQ(conv(images).shape(), (Shape{2, 6, 5, 6}));
  EXPECT_EQ(nn::MaxPool2d({3, 2}, {2, 1}, {1, 0})(images).shape(), (Shape{2, 2, 5, 7}));
  EXPECT_EQ(nn::AvgPool2d({2, 4}, 0, {1, 2})(images).shape(), (Shape{2, 2, 5, 3}));
  EXPECT_THROW(nn::MaxPool2d(2, 1, 2)(images), ShapeError);  // padding over half the kernel
}

TEST(Nn, BatchNormTrainsOnBatchStatisticsAndEvaluatesOnRunningOnes) {
  nn::BatchNorm bn(2, 0.1, 1e-5, DType::f64);
  // Channel 0 holds 1, 2, 3, 4 and channel 1 holds 10, 10, 30, 30 over a batch of two 1x2 images.
  const Tensor x = Tensor::from<double>({1, 2, 10, 10, 3, 4, 30, 30}, Shape{2, 2, 1, 2});
  Graph g(Graph::Mode::eager);
  const Node y = bn(g.input("x", x));
  // Training mode: normalised by the batch's own mean and biased variance.
  EXPECT_NEAR(y.value().at({0, 0, 0, 0}), (1 - 2.5) / std::sqrt(1.25 + 1e-5), 1e-9);
  EXPECT_NEAR(y.value().at({1, 1, 0, 1}), (30 - 20) / std::sqrt(100 + 1e-5), 1e-9);
  // Running statistics: momentum 0.1 towards the mean and the unbiased variance (5/3 and 400/3).
  EXPECT_NEAR(bn.state().running_mean.at({0}), 0.25, 1e-12);
  EXPECT_NEAR(bn.state().running_var.at({0}), 0.9 + 0.1 * 5.0 / 3.0, 1e-12);
  EXPECT_NEAR(bn.state().running_var.at({1}), 0.9 + 0.1 * 400.0 / 3.0, 1e-12);

  // Evaluation mode, in a compiled program: the running statistics, and no update.
  Graph lazy;
  const Node in = lazy.input("x", {2, 2, 1, 2}, DType::f64);
  const Node out = bn(in);
  TapeMachine m(lazy, {out});
  m.let(in, x);
  bn.set_training(false);
  m.run();
  const double rm = bn.state().running_mean.at({1}), rv = bn.state().running_var.at({1});
  EXPECT_NEAR(m.value(out).at({0, 1, 0, 0}), (10 - rm) / std::sqrt(rv + 1e-5), 1e-9);
  m.run();
  EXPECT_EQ(bn.state().running_mean.at({1}), rm);
  // The same program follows the mode at run time.
  bn.set_training(true);
  m.run();
  EXPECT_NEAR(m.value(out).at({0, 1, 0, 0}), -1.0, 1e-6);
  EXPECT_NE(bn.state().running_mean.at({1}), rm);
}

TEST(Nn, BatchNormStatisticsAreBuffersSavedButNotTrained) {
  Generator gen(1);
  nn::Sequential net;
  net.add(std::make_shared<nn::Conv2d>(1, 3, 3, gen)).add(std::make_shared<nn::BatchNorm>(3));
  std::vector<std::string> names, trainable;
  for (auto* p : net.parameters()) names.push_back(p->name);
  net.freeze();
  net.unfreeze();
  for (auto* p : net.trainable_parameters()) trainable.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"}));
  EXPECT_EQ(trainable, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"}));
  EXPECT_NE(net.summary().find("1.running_var (3,) float32 (buffer)"), std::string::npos) << net.summary();
  Graph g;
  try {
    net(g.input("x", {2, 2, 5, 5}));
    FAIL() << "two input channels were accepted by a one-channel convolution";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(2, 2, 5, 5)"), std::string::npos) << e.what();
  }
  nn::BatchNorm bn(3);
  try {
    bn(g.input("y", {4, 5}));
    FAIL() << "five features were accepted by a three-channel batch norm";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNorm(3): input y (4, 5)"), std::string::npos) << e.what();
  }
}
