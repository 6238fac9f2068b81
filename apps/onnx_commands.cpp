// `stheno export` writes a trained model as ONNX; `stheno run` evaluates an ONNX classifier
// (stheno's or another framework's) on an MNIST-format test set.
#include <algorithm>
#include <cstdio>

#include "char_lstm.hpp"
#include "flags.hpp"
#include "models.hpp"
#include "stheno/data/mnist.hpp"
#include "stheno/exec/tape_machine.hpp"
#include "stheno/io/onnx.hpp"
#include "stheno/io/onnx_layer.hpp"
#include "stheno/io/safetensors.hpp"
#include "stheno/kernels/reduce.hpp"
#include "stheno/tensor/random.hpp"

namespace stheno::cli {

namespace {

struct ExportConfig {
  std::string checkpoint, onnx, sample;
  long long steps = 32;
};

// Images in a sample: not 1, so that a runtime reading the export with another batch size shows
// that the batch axis is symbolic.
constexpr std::int64_t kSampleBatch = 3;

}  // namespace

void write_sample(Graph& graph, const Node& input, const Node& output, const std::string& path, std::int64_t tokens) {
  Generator gen(7);
  const Tensor x = input.dtype() == DType::i32
                       ? Tensor::uniform(input.shape(), gen, 0, static_cast<double>(tokens) - 0.01, DType::f32).to(DType::i32)
                       : Tensor::uniform(input.shape(), gen, 0, 1, input.dtype());
  TapeMachine machine(graph, {output});
  machine.let(input, x);
  machine.run();
  io::save_safetensors(path, {{input.name(), x}, {output.name(), machine.value(output).clone()}}, {{"format", "stheno-onnx-sample-1"}});
}

namespace {

std::string required_metadata(const io::SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata.find(key);
  if (it == file.metadata.end())
    throw ValueError(file.path + ": no \"" + key + "\" in its metadata; export reads the model.safetensors, checkpoint.safetensors or char-lstm.safetensors that stheno train writes");
  return it->second;
}

// The MLP or CNN as `stheno train` built it, with the saved weights, in inference form.
std::string export_image_model(const io::SafetensorsFile& file, const std::string& onnx_path, const std::string& sample_path) {
  TrainConfig c;
  c.model = required_metadata(file, "model");
  if (c.model != "mlp" && c.model != "cnn" && c.model != "onnx") throw ValueError(file.path + ": model \"" + c.model + "\" cannot be exported");
  if (c.model == "onnx") c.init_from = required_metadata(file, "init_from");  // fine-tuned from that file
  c.hidden = required_metadata(file, "hidden");
  c.activation = required_metadata(file, "activation");
  c.init = "glorot_uniform";  // the weights are overwritten below
  if (const auto it = file.metadata.find("dropout"); it != file.metadata.end()) c.dropout = std::stod(it->second);
  c.batch_norm = std::any_of(file.tensors.begin(), file.tensors.end(),
                             [](const io::NamedTensor& t) { return t.name.ends_with(".running_mean"); });
  std::int64_t inputs = c.model == "cnn" ? 28 * 28 : 0;
  Model m;
  if (c.model == "onnx") {
    auto layer = std::make_shared<io::OnnxLayer>(c.init_from);
    inputs = layer->item_shape().numel();
    m.net.add(layer);
  } else {
    if (c.model == "mlp") inputs = file.get("0.weight").shape()[0];
    m = build_model(c, inputs);
  }
  for (nn::Parameter* p : m.net.parameters()) {
    const Tensor& saved = file.get(p->name);
    if (saved.shape() != p->value.shape() || saved.dtype() != p->value.dtype())
      throw ValueError(file.path + ": " + p->name + " is " + saved.shape().str() + " " + std::string(dtype_name(saved.dtype())) +
                       ", but the " + c.model + " its metadata describes needs " + p->value.shape().str());
    p->value.copy_from(saved);
  }
  m.net.set_training(false);
  Graph g;
  const Node pixels = g.input("pixels", {kSampleBatch, inputs});
  Node logits = m.net(pixels);
  logits.set_name("logits");
  io::save_onnx(g, {pixels}, {logits}, onnx_path);
  if (!sample_path.empty()) write_sample(g, pixels, logits, sample_path, 0);
  return "wrote " + onnx_path + ": " + c.model + (c.batch_norm ? " with batch norm" : "") + ", " +
         std::to_string(m.net.parameter_count()) + " parameters; input pixels (N, " + std::to_string(inputs) +
         ") float32 in [0, 1], output logits (N, " + std::to_string(kClasses) + ")";
}

struct RunConfig {
  std::string onnx, data = data::kDefaultMnistDirectory, inputs, outputs;
  long long batch = 500, limit = 0;
};

// The model's outputs for the named inputs of a .safetensors file, written to another: any
// model, at the batch size of the inputs.
int run_on_tensors(const RunConfig& c) {
  const io::SafetensorsFile in = io::load_safetensors(c.inputs);
  if (in.tensors.empty() || in.tensors[0].tensor.rank() == 0) throw ValueError(c.inputs + ": no batch of inputs in it");
  io::OnnxModel model = io::load_onnx(c.onnx, in.tensors[0].tensor.shape()[0]);
  TapeMachine machine(*model.graph, model.outputs);
  for (const Node& x : model.inputs) {
    const Tensor& value = in.get(x.name());
    const Tensor cast = value.dtype() == x.dtype() ? value : value.to(x.dtype());
    if (cast.shape() != x.shape() || (is_floating(value.dtype()) != is_floating(x.dtype())))
      throw ValueError(c.inputs + ": " + x.name() + " is " + value.shape().str() + " " + std::string(dtype_name(value.dtype())) +
                       ", but the model's input is " + x.describe());
    machine.let(x, cast);
  }
  machine.run();
  std::vector<io::NamedTensor> results;
  for (const Node& y : model.outputs) results.push_back({y.name(), machine.value(y).clone()});
  io::save_safetensors(c.outputs, results, {{"format", "stheno-onnx-outputs-1"}, {"model", c.onnx}});
  std::printf("wrote %s: %zu output(s) of %s for %s\n", c.outputs.c_str(), results.size(), c.onnx.c_str(), c.inputs.c_str());
  return 0;
}

// Accuracy of the classifier's first output on the test split, in batches of the imported
// graph's fixed size (a last, smaller batch gets a program of its own).
int evaluate(const RunConfig& c) {
  const data::Mnist mnist = data::load_mnist(c.data);
  const Tensor& images = mnist.test.images;
  const Tensor& labels = mnist.test.labels;
  const std::int64_t total = c.limit > 0 ? std::min<std::int64_t>(c.limit, images.shape()[0]) : images.shape()[0];
  std::int64_t correct = 0;
  std::string described;
  for (std::int64_t start = 0; start < total;) {
    const std::int64_t batch = std::min<std::int64_t>(c.batch, total - start);
    io::OnnxModel model = io::load_onnx(c.onnx, batch);
    if (model.inputs.size() != 1 || model.outputs.empty())
      throw ValueError(c.onnx + ": a classifier has one input (the images) and its scores as first output; this model has " +
                       std::to_string(model.inputs.size()) + " inputs");
    const Node x = model.inputs[0], scores = model.outputs[0];
    if (x.dtype() != DType::f32 || x.shape().numel() != batch * images.shape()[1] || x.shape()[0] != batch)
      throw ValueError(c.onnx + ": its input " + x.describe() + " does not take " + std::to_string(batch) + " images of " +
                       std::to_string(images.shape()[1]) + " float32 pixels");
    if (scores.rank() != 2 || scores.shape()[0] != batch)
      throw ValueError(c.onnx + ": its first output " + scores.describe() + " is not (batch, classes) scores");
    TapeMachine machine(*model.graph, {scores});
    for (; start + batch <= total; start += batch) {  // every whole batch; what is left takes the next round
      machine.let(x, images.slice(0, start, start + batch).contiguous().reshape(x.shape()));
      machine.run();
      const Tensor predicted = argmax(machine.value(scores), 1);
      const std::int32_t* p = predicted.data<std::int32_t>();
      const std::int32_t* y = labels.data<std::int32_t>() + start;
      for (std::int64_t i = 0; i < batch; ++i) correct += p[i] == y[i];
    }
    if (described.empty()) described = "input " + x.describe() + ", output " + scores.describe();
  }
  std::printf("%s: %s\naccuracy: %.2f%% on %lld test images of %s\n", c.onnx.c_str(), described.c_str(),
              100.0 * static_cast<double>(correct) / static_cast<double>(total), static_cast<long long>(total), c.data.c_str());
  return 0;
}

}  // namespace

int run_export(const std::vector<std::string>& args) {
  ExportConfig c;
  Flags f("stheno export");
  f.add_string("checkpoint", &c.checkpoint, "model.safetensors, checkpoint.safetensors or char-lstm.safetensors from stheno train");
  f.add_string("onnx", &c.onnx, "the ONNX file to write (IR version 8, opset 17)");
  f.add_int("steps", &c.steps, "char-lstm: the sequence length the exported model takes", 1, 1 << 20);
  f.add_string("sample", &c.sample, "also write random inputs and stheno's outputs for them to this .safetensors file, to check a runtime against");
  return run_command(
      "stheno export", "",
      [&](std::string& help) {
        help = "usage: stheno export --checkpoint FILE --onnx FILE\n\nWrites a model trained by `stheno train` as ONNX, in "
               "inference form (dropout off, batch norm with its running statistics), with a symbolic batch size.\n\n" +
               f.help();
        if (!f.parse(args)) return false;
        if (c.checkpoint.empty() || c.onnx.empty()) throw UsageError("stheno export needs --checkpoint FILE and --onnx FILE");
        return true;
      },
      [&] {
        const io::SafetensorsFile file = io::load_safetensors(c.checkpoint);
        const std::string model = required_metadata(file, "model");
        std::puts((model == "char-lstm" ? export_char_lstm(c.checkpoint, c.steps, c.onnx, c.sample) : export_image_model(file, c.onnx, c.sample)).c_str());
        return 0;
      });
}

int run_onnx(const std::vector<std::string>& args) {
  RunConfig c;
  Flags f("stheno run");
  f.add_string("onnx", &c.onnx, "the ONNX classifier: one input of 28x28 images as float32 pixels in [0, 1], scores first");
  f.add_string("data", &c.data, "directory with the MNIST-format test files (t10k-*-ubyte[.gz])");
  f.add_int("batch", &c.batch, "images per run", 1, 1 << 20);
  f.add_int("limit", &c.limit, "evaluate the first N test images only (0: all)", 0, 1LL << 40);
  f.add_string("inputs", &c.inputs, "instead of a test set: a .safetensors file of the model's inputs by name (any model)");
  f.add_string("outputs", &c.outputs, "with --inputs: the .safetensors file to write the model's outputs to");
  return run_command(
      "stheno run", "make --batch smaller",
      [&](std::string& help) {
        help = "usage: stheno run --onnx FILE [--data DIR]\n       stheno run --onnx FILE --inputs IN.safetensors --outputs "
               "OUT.safetensors\n\nEvaluates an ONNX image classifier (exported by stheno or by another framework) on an "
               "MNIST-format test set and prints its accuracy; or runs any ONNX model on named inputs.\n\n" +
               f.help();
        if (!f.parse(args)) return false;
        if (c.onnx.empty()) throw UsageError("stheno run needs --onnx FILE");
        if (c.inputs.empty() != c.outputs.empty()) throw UsageError("stheno run: --inputs and --outputs go together");
        return true;
      },
      [&] { return c.inputs.empty() ? evaluate(c) : run_on_tensors(c); });
}

}  // namespace stheno::cli
