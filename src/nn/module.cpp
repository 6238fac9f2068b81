#include "stheno/nn/module.hpp"

#include <algorithm>
#include <sstream>

#include "stheno/dist/communicator.hpp"

namespace stheno::nn {

std::vector<Parameter*> Module::trainable_parameters() {
  std::vector<Parameter*> out;
  for (Parameter* p : parameters())
    if (p->trainable) out.push_back(p);
  return out;
}

std::vector<Parameter*> parameters_of(std::initializer_list<Module*> modules) {
  std::vector<Parameter*> out;
  for (Module* m : modules)
    for (Parameter* p : m->parameters()) out.push_back(p);
  return out;
}

void Module::to(Device device) {
  for (Parameter* p : parameters()) p->value = p->value.to(device);
}

std::vector<Tensor> values_of(const std::vector<Parameter*>& params) {
  std::vector<Tensor> out;
  for (const Parameter* p : params) out.push_back(p->value);
  return out;
}

std::vector<Node> nodes_of(Graph& graph, const std::vector<Parameter*>& params) {
  std::vector<Node> out;
  for (const Parameter* p : params) out.push_back(graph.parameter(p->name, p->value));
  return out;
}

std::int64_t Module::parameter_count() {
  std::int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

void Module::freeze() {
  for (Parameter* p : parameters()) p->trainable = false;
}

void Module::unfreeze() {
  for (Parameter* p : parameters()) p->trainable = !p->buffer;
}

std::string Module::summary() {
  std::ostringstream os;
  for (Parameter* p : parameters())
    os << p->name << " " << p->value.shape().str() << " " << dtype_name(p->value.dtype())
       << (p->buffer ? " (buffer)" : p->trainable ? "" : " (frozen)") << "\n";
  os << parameter_count() << " parameters\n";
  return os.str();
}

Node Module::node_of(Parameter& p, const Node& x) {
  return x.graph().parameter(p.name, p.value);
}

Linear::Linear(std::int64_t in, std::int64_t out, Generator& gen, Init init, bool bias, DType dtype, Init bias_init)
    : has_bias_(bias) {
  if (in < 1 || out < 1)
    throw ShapeError("Linear: sizes must be positive, got " + std::to_string(in) + " -> " + std::to_string(out));
  weight_ = {"weight", initialize(init, {in, out}, gen, dtype)};
  // A bias drawn "like a weight" has fan_in 1; zeros is the usual choice.
  if (bias) bias_ = {"bias", bias_init == Init::zeros ? Tensor::zeros({out}, dtype) : initialize(bias_init, {out}, gen, dtype)};
}

Node Linear::forward(const Node& x) {
  const std::int64_t in = weight_.value.shape()[0];
  if (x.rank() < 1 || x.shape().back() != in)
    throw ShapeError("Linear(" + std::to_string(in) + " -> " + std::to_string(weight_.value.shape()[1]) + "): input " +
                     x.describe() + " must end in an axis of size " + std::to_string(in));
  const Node w = node_of(weight_, x);
  if (!has_bias_) return matmul(x, w);
  // A batch of rows takes the bias in the product itself.
  return x.rank() == 2 ? matmul_add(node_of(bias_, x), x, w) : matmul(x, w) + node_of(bias_, x);
}

std::vector<Parameter*> Linear::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

ModulePtr activation(std::string_view name) {
  if (name == "sigmoid") return activation(UnaryOp::sigmoid);
  if (name == "tanh") return activation(UnaryOp::tanh);
  if (name == "relu") return activation(UnaryOp::relu);
  throw ValueError("unknown activation '" + std::string(name) + "' (expected sigmoid, tanh or relu)");
}

Dropout::Dropout(double p, std::uint64_t seed) : state_(std::make_shared<DropoutState>()) {
  if (!(p >= 0 && p < 1)) throw ValueError("Dropout: p must be in [0, 1), got " + std::to_string(p));
  state_->p = p;
  state_->generator = Generator(seed);
}

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel, Generator& gen, Conv2dOptions options,
               Init init, bool bias, DType dtype)
    : options_(options), has_bias_(bias) {
  if (in_channels < 1 || out_channels < 1 || kernel.h < 1 || kernel.w < 1 || options.groups < 1 ||
      in_channels % options.groups != 0 || out_channels % options.groups != 0)
    throw ShapeError("Conv2d(" + std::to_string(in_channels) + " -> " + std::to_string(out_channels) + ", kernel " +
                     std::to_string(kernel.h) + "x" + std::to_string(kernel.w) + ", groups " + std::to_string(options.groups) +
                     "): sizes must be positive and the groups must divide both channel counts");
  const std::int64_t fan_in = in_channels / options.groups * kernel.h * kernel.w;
  // Initialised as a (fan_in, filters) matrix, then laid out as (F, C/groups, kh, kw).
  const Tensor w = initialize(init, {fan_in, out_channels}, gen, dtype);
  weight_ = {"weight", w.t().contiguous().reshape({out_channels, in_channels / options.groups, kernel.h, kernel.w})};
  if (bias) bias_ = {"bias", Tensor::zeros({out_channels}, dtype)};
}

Node Conv2d::forward(const Node& x) {
  return conv2d(x, node_of(weight_, x), has_bias_ ? node_of(bias_, x) : Node(), options_);
}

std::vector<Parameter*> Conv2d::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

BatchNorm::BatchNorm(std::int64_t channels, double momentum, double eps, DType dtype)
    : state_(std::make_shared<BatchNormState>()) {
  if (channels < 1) throw ShapeError("BatchNorm(" + std::to_string(channels) + "): needs at least one channel");
  if (!(momentum >= 0 && momentum <= 1) || !(eps > 0))
    throw ValueError("BatchNorm(" + std::to_string(channels) + "): momentum must be in [0, 1] and eps positive");
  weight_ = {"weight", Tensor::ones({channels}, dtype)};
  bias_ = {"bias", Tensor::zeros({channels}, dtype)};
  running_mean_ = {"running_mean", Tensor::zeros({channels}, dtype), false, true};
  running_var_ = {"running_var", Tensor::ones({channels}, dtype), false, true};
  state_->running_mean = running_mean_.value;
  state_->running_var = running_var_.value;
  state_->momentum = momentum;
  state_->eps = eps;
}

void BatchNorm::synchronise(dist::Communicator& comm) {
  const std::int64_t c = weight_.value.shape()[0];
  state_->replicas = comm.size();
  // Equal shares: the batch's mean is the mean of the shares' means, and its mean square the
  // mean of theirs (variance + mean²). Combined in float64, whatever the layer's dtype, so that
  // the subtraction back to a variance keeps its digits.
  const Tensor moments = Tensor::empty({2, c}, DType::f64);
  state_->share_statistics = [&comm, moments, c](const Tensor& stats) {
    visit_floating(stats.dtype(), "synchronised batch norm", [&]<class T>() {
      T* s = stats.data<T>();  // (2, C), contiguous: the op's output
      double* m = moments.data<double>();
      for (std::int64_t i = 0; i < c; ++i) {
        m[i] = static_cast<double>(s[i]);
        m[c + i] = static_cast<double>(s[c + i]) + m[i] * m[i];
      }
      comm.allreduce(moments, dist::ReduceOp::mean, "batch norm statistics");
      for (std::int64_t i = 0; i < c; ++i) {
        s[i] = static_cast<T>(m[i]);
        s[c + i] = static_cast<T>(std::max(0.0, m[c + i] - m[i] * m[i]));
      }
    });
  };
  state_->average_gradients = [&comm](const Tensor& g) {
    comm.allreduce(g, dist::ReduceOp::mean, "batch norm statistics' gradient");
  };
}

Node BatchNorm::forward(const Node& x) {
  // The buffers may have moved (to(device), loading a checkpoint) since the state last saw them.
  state_->running_mean = running_mean_.value;
  state_->running_var = running_var_.value;
  const std::int64_t c = weight_.value.shape()[0];
  if (x.rank() < 2 || x.shape()[1] != c)
    throw ShapeError("BatchNorm(" + std::to_string(c) + "): input " + x.describe() + " must be (batch, " + std::to_string(c) +
                     ", ...)");
  return batch_norm(x, node_of(weight_, x), node_of(bias_, x), state_);
}

Node Unflatten::forward(const Node& x) {
  Shape target = shape_;
  target.insert(0, x.rank() > 0 ? x.shape()[0] : 1);
  if (x.rank() != 2 || target.numel() != x.shape().numel())
    throw ShapeError("Unflatten" + shape_.str() + ": input " + x.describe() + " must be (N, " +
                     std::to_string(shape_.numel()) + ")");
  return reshape(x, target);
}

Sequential& Sequential::add(ModulePtr layer) {
  if (!layer) throw ValueError("Sequential::add: null layer");
  // Children's parameters get the layer's index as a prefix ("2.weight").
  for (Parameter* p : layer->parameters()) p->name = std::to_string(layers_.size()) + "." + p->name;
  layers_.push_back(std::move(layer));
  return *this;
}

Node Sequential::forward(const Node& x) {
  Node h = x;
  for (const ModulePtr& layer : layers_) h = layer->forward(h);
  return h;
}

std::vector<Parameter*> Sequential::parameters() {
  std::vector<Parameter*> out;
  for (const ModulePtr& layer : layers_)
    for (Parameter* p : layer->parameters()) out.push_back(p);
  return out;
}

void Sequential::set_training(bool training) {
  for (const ModulePtr& layer : layers_) layer->set_training(training);
}

}  // namespace stheno::nn
