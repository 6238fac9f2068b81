#pragma once
// An ONNX model as a layer of a network, to fine-tune a model trained elsewhere:
//
//   nn::Sequential net;
//   net.add(std::make_shared<io::OnnxLayer>("classifier.onnx"));
//   Node logits = net(x);   // in any graph, at any batch size; train net.parameters()
#include <memory>
#include <string>
#include <vector>

#include "stheno/io/onnx.hpp"
#include "stheno/nn/module.hpp"

namespace stheno::io {

class OnnxLayer final : public nn::Module {
 public:
  // Reads the model at `path`: one input, and its first output is the layer's result. Its
  // weights become the layer's parameters (under their names in the file), the running
  // statistics of its batch norms buffers.
  explicit OnnxLayer(const std::string& path);
  // Adds the model's nodes to x's graph, with x as its input: (batch, item...) of the model's
  // item shape, or of the same number of elements (784 pixels for a (1, 28, 28) image).
  Node forward(const Node& x) override;
  std::vector<nn::Parameter*> parameters() override;
  // Training mode: batch norms use the batch's statistics and update the running ones.
  void set_training(bool training) override;
  // The shape of one item of the input, without the batch axis.
  const Shape& item_shape() const { return item_shape_; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::string path_, input_name_;
  Shape item_shape_;
  DType input_dtype_ = DType::f32;
  std::vector<nn::Parameter> params_;
  std::vector<std::string> file_names_;  // each parameter's name in the file
  std::vector<std::weak_ptr<BatchNormState>> norms_;  // of every graph still alive
  bool training_ = true;
};

}  // namespace stheno::io
