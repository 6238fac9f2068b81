#include "stheno/io/onnx_layer.hpp"

#include <algorithm>

#include "stheno/io/read_file.hpp"

namespace stheno::io {

OnnxLayer::OnnxLayer(const std::string& path)
    : bytes_(read_file_bytes(path, "OnnxLayer", std::uint64_t{2} << 30)), path_(path) {
  const OnnxModel m = parse_onnx(bytes_, path_, 1);
  if (m.inputs.size() != 1) throw ValueError(path_ + ": a layer takes one input; this model has " + std::to_string(m.inputs.size()));
  const Node input = m.inputs[0];
  input_name_ = input.name();
  input_dtype_ = input.dtype();
  for (int i = 1; i < input.rank(); ++i) item_shape_.push_back(input.shape()[i]);
  for (const Node& p : m.parameters) {
    params_.push_back({p.name(), p.value()});
    file_names_.push_back(p.name());
  }
  for (std::size_t k = 0; k < m.norms.size(); ++k) {
    const Tensor stats[2] = {m.norms[k]->running_mean, m.norms[k]->running_var};
    for (int j = 0; j < 2; ++j) {
      const std::string& name = m.running_names[2 * k + static_cast<std::size_t>(j)];
      params_.push_back({name, stats[j], false, true});
      file_names_.push_back(name);
    }
  }
}

Node OnnxLayer::forward(const Node& x) {
  if (x.rank() < 1) throw ShapeError(path_ + ": the layer's input " + x.describe() + " needs a batch axis");
  Shape shape{x.shape()[0]};
  for (std::int64_t d : item_shape_) shape.push_back(d);
  if (x.dtype() != input_dtype_)
    throw DTypeError(path_ + ": the model's input " + input_name_ + " is " + std::string(dtype_name(input_dtype_)) + ", not " + x.describe());
  if (x.shape().numel() != shape.numel())
    throw ShapeError(path_ + ": the model's input " + input_name_ + " takes items of " + item_shape_.str() + ", not " + x.describe());
  OnnxImportOptions options(x.shape()[0]);
  options.graph = &x.graph();
  options.bind[input_name_] = x.shape() == shape ? x : reshape(x, shape);
  // The parameters' nodes under the names the network gives them ("0.weight" in a Sequential),
  // as every layer's are, so that the graph finds them by those names.
  for (std::size_t i = 0; i < params_.size(); ++i) options.weights[file_names_[i]] = {params_[i].value, params_[i].name};
  const OnnxModel m = parse_onnx(bytes_, path_, options);
  std::erase_if(norms_, [](const std::weak_ptr<BatchNormState>& s) { return s.expired(); });
  for (const auto& s : m.norms) {
    s->training = training_;
    norms_.push_back(s);
  }
  return m.outputs[0];
}

std::vector<nn::Parameter*> OnnxLayer::parameters() {
  std::vector<nn::Parameter*> out;
  for (nn::Parameter& p : params_) out.push_back(&p);
  return out;
}

void OnnxLayer::set_training(bool training) {
  training_ = training;
  for (const auto& weak : norms_)
    if (const auto s = weak.lock()) s->training = training;
}

}  // namespace stheno::io
