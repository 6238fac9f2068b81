#include "models.hpp"

#include "stheno/io/onnx_layer.hpp"

namespace stheno::cli {

namespace {

// conv(1→32, 5×5, pad 2)-act-maxpool 2 → conv(32→64, 5×5, pad 2)-act-maxpool 2 → dense 128-act →
// dense 10, for 28×28 grey images given as 784 pixels; with --batch-norm, each convolution is
// followed by batch normalisation.
Model build_cnn(const TrainConfig& c, std::int64_t inputs) {
  if (inputs != 28 * 28) throw ValueError("--model cnn expects 28x28 images, but the data has " + std::to_string(inputs) + " pixels");
  Model m;
  Generator gen(static_cast<std::uint64_t>(c.seed));
  const nn::Init init = nn::parse_init(c.init);
  m.net.add(std::make_shared<nn::Unflatten>(Shape{1, 28, 28}));
  for (const auto& [in, out] : {std::pair<std::int64_t, std::int64_t>{1, 32}, {32, 64}}) {
    // A convolution followed by batch norm needs no bias: the norm's beta takes its place.
    m.net.add(std::make_shared<nn::Conv2d>(in, out, 5, gen, Conv2dOptions{1, 2, 1, 1}, init, !c.batch_norm));
    if (c.batch_norm) {
      auto norm = std::make_shared<nn::BatchNorm>(out);
      m.norms.push_back(norm.get());
      m.net.add(norm);
    }
    m.net.add(nn::activation(c.activation)).add(std::make_shared<nn::MaxPool2d>(2));
  }
  m.net.add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(64 * 7 * 7, 128, gen, init))
      .add(nn::activation(c.activation));
  if (c.dropout > 0) {
    auto d = std::make_shared<nn::Dropout>(c.dropout, static_cast<std::uint64_t>(c.seed) * 1000 + 1);
    m.dropouts.push_back(d.get());
    m.net.add(d);
  }
  m.net.add(std::make_shared<nn::Linear>(128, kClasses, gen, init));
  return m;
}

}  // namespace

Model build_model(const TrainConfig& c, std::int64_t inputs) {
  if (!c.init_from.empty()) {
    Model m;
    auto imported = std::make_shared<io::OnnxLayer>(c.init_from);
    if (imported->item_shape().numel() != inputs)
      throw ValueError(c.init_from + ": the model takes items of " + imported->item_shape().str() + ", but the data has " +
                       std::to_string(inputs) + " values per image");
    m.net.add(imported);
    return m;
  }
  if (c.model == "cnn") return build_cnn(c, inputs);
  Model m;
  Generator gen(static_cast<std::uint64_t>(c.seed));
  const nn::Init init = nn::parse_init(c.init);
  const nn::Init bias_init = nn::parse_init(c.bias_init);
  std::int64_t prev = inputs;
  int layer = 0;
  for (long long h : c.hidden_sizes()) {
    m.net.add(std::make_shared<nn::Linear>(prev, h, gen, init, true, DType::f32, bias_init));
    m.net.add(nn::activation(c.activation));
    if (c.dropout > 0) {
      auto d = std::make_shared<nn::Dropout>(c.dropout, static_cast<std::uint64_t>(c.seed) * 1000 + static_cast<std::uint64_t>(++layer));
      m.dropouts.push_back(d.get());
      m.net.add(d);
    }
    prev = h;
  }
  m.net.add(std::make_shared<nn::Linear>(prev, kClasses, gen, init, true, DType::f32, bias_init));
  return m;
}

}  // namespace stheno::cli
