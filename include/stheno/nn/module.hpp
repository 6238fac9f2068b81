#pragma once
// Layers. A module owns its parameter tensors and adds its nodes to whatever graph its input
// belongs to, so the same model runs in a deferred graph (compiled once by a TapeMachine) or in
// a fresh eager graph for every input.
//
//   nn::Sequential net;
//   net.add(std::make_shared<nn::Linear>(784, 30, gen)).add(nn::activation(UnaryOp::sigmoid))
//      .add(std::make_shared<nn::Linear>(30, 10, gen));
//   Node logits = net(x);
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "stheno/graph/ops.hpp"
#include "stheno/nn/init.hpp"

namespace stheno::dist {
class Communicator;
}

namespace stheno::nn {

struct Parameter {
  std::string name;
  Tensor value;
  bool trainable = true;
  // State saved with the model but never trained (batch norm's running statistics): unfreeze()
  // leaves it untrainable.
  bool buffer = false;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Node forward(const Node& x) = 0;
  Node operator()(const Node& x) { return forward(x); }

  // Every parameter of this module and its children, names prefixed by their path ("0.weight").
  virtual std::vector<Parameter*> parameters() { return {}; }
  // Training mode turns dropout on; evaluation mode turns it off.
  virtual void set_training(bool) {}

  std::vector<Parameter*> trainable_parameters();
  std::int64_t parameter_count();
  void freeze();
  void unfreeze();
  // Moves every parameter (and buffer) to `device`, before the model's first use in a graph:
  // the one-line switch between the host and a device.
  void to(Device device);
  // One line per parameter: name, shape, dtype, trainable.
  std::string summary();

 protected:
  // The node of parameter p in x's graph (created on first use, shared afterwards).
  static Node node_of(Parameter& p, const Node& x);
};

using ModulePtr = std::shared_ptr<Module>;

// Parameters gathered for training: those of several modules used together (an embedding, a
// recurrent layer and a head), their tensors for an optimizer, and their nodes in a graph for
// grad(), in the same order.
std::vector<Parameter*> parameters_of(std::initializer_list<Module*> modules);
std::vector<Tensor> values_of(const std::vector<Parameter*>& params);
std::vector<Node> nodes_of(Graph& graph, const std::vector<Parameter*>& params);

// y = x·W + b, W (in, out), b (out).
class Linear final : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, Generator& gen, Init init = Init::glorot_uniform, bool bias = true,
         DType dtype = DType::f32, Init bias_init = Init::zeros);
  Node forward(const Node& x) override;
  std::vector<Parameter*> parameters() override;
  Parameter& weight() { return weight_; }
  Parameter& bias() { return bias_; }

 private:
  Parameter weight_, bias_;
  bool has_bias_;
};

class Activation final : public Module {
 public:
  explicit Activation(UnaryOp op) : op_(op) {}
  Node forward(const Node& x) override { return unary(op_, x); }

 private:
  UnaryOp op_;
};
// sigmoid, tanh or relu by name; throws ValueError listing the names.
ModulePtr activation(std::string_view name);
inline ModulePtr activation(UnaryOp op) { return std::make_shared<Activation>(op); }

class Dropout final : public Module {
 public:
  Dropout(double p, std::uint64_t seed);
  Node forward(const Node& x) override { return dropout(x, state_); }
  void set_training(bool training) override { state_->training = training; }
  DropoutState& state() { return *state_; }

 private:
  std::shared_ptr<DropoutState> state_;
};

// 2-D convolution of (N, C, H, W) images: weight (F, C/groups, kh, kw), bias (F). kernel is k
// for k×k or {kh, kw}.
class Conv2d final : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel, Generator& gen,
         Conv2dOptions options = {}, Init init = Init::he_uniform, bool bias = true, DType dtype = DType::f32);
  Node forward(const Node& x) override;
  std::vector<Parameter*> parameters() override;

 private:
  Parameter weight_, bias_;
  Conv2dOptions options_;
  bool has_bias_;
};

// Batch normalisation of (N, C) or (N, C, H, W) over the channel axis: weight (gamma) and bias
// (beta) are trained; running_mean and running_var are buffers, updated in training mode and
// used in evaluation mode, and saved in checkpoints like any parameter.
class BatchNorm final : public Module {
 public:
  explicit BatchNorm(std::int64_t channels, double momentum = 0.1, double eps = 1e-5, DType dtype = DType::f32);
  Node forward(const Node& x) override;
  std::vector<Parameter*> parameters() override { return {&weight_, &bias_, &running_mean_, &running_var_}; }
  void set_training(bool training) override { state_->training = training; }
  BatchNormState& state() { return *state_; }
  // Data-parallel training (--sync-batch-norm): normalise with the statistics of the whole batch,
  // which `comm`'s ranks hold in equal shares, rather than with this rank's share's. Every rank
  // then computes what one process computes on the whole batch, running statistics included.
  void synchronise(dist::Communicator& comm);

 private:
  Parameter weight_, bias_, running_mean_, running_var_;
  std::shared_ptr<BatchNormState> state_;
};

class MaxPool2d final : public Module {
 public:
  explicit MaxPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0) : kernel_(kernel), stride_(stride), padding_(padding) {}
  Node forward(const Node& x) override { return max_pool2d(x, kernel_, stride_, padding_); }

 private:
  Size2 kernel_, stride_, padding_;
};

class AvgPool2d final : public Module {
 public:
  explicit AvgPool2d(Size2 kernel, Size2 stride = 0, Size2 padding = 0) : kernel_(kernel), stride_(stride), padding_(padding) {}
  Node forward(const Node& x) override { return avg_pool2d(x, kernel_, stride_, padding_); }

 private:
  Size2 kernel_, stride_, padding_;
};

// (N, ...) -> (N, product of the rest).
class Flatten final : public Module {
 public:
  Node forward(const Node& x) override { return flatten(x); }
};

// (N, product of shape) -> (N, shape...): flat pixels back to (N, C, H, W) images.
class Unflatten final : public Module {
 public:
  explicit Unflatten(Shape shape) : shape_(shape) {}
  Node forward(const Node& x) override;

 private:
  Shape shape_;
};

class Sequential final : public Module {
 public:
  Sequential() = default;
  Sequential& add(ModulePtr layer);
  Node forward(const Node& x) override;
  std::vector<Parameter*> parameters() override;
  void set_training(bool training) override;
  std::size_t size() const { return layers_.size(); }
  Module& layer(std::size_t i) { return *layers_.at(i); }

 private:
  std::vector<ModulePtr> layers_;
};

}  // namespace stheno::nn
