// stheno's side of W5 (bench/run_latency.py): inference latency at batch 1 on one thread. Builds
// the MLP (784-256-10) and the CLI's CNN with seeded weights, writes each as ONNX (the file the
// peers run), and times single-image calls of the compiled program: set the input, run, read the
// 10 scores. Also times the program stheno builds when it imports its own file.
//
//   stheno_onnx_latency DIR [--calls N] [--profile]
//
// --profile prints the time of each instruction of the compiled programs to stderr.
// Prints one JSON line per (model, form): {"model": "mlp", "form": "compiled", "p50_us": ...,
// "p99_us": ..., "calls": N}.
#include <cstdio>
#include <cstring>
#include <string>

#include "peers/common.hpp"

#include "stheno/exec/tape_machine.hpp"
#include "stheno/io/onnx.hpp"
#include "stheno/kernels/threads.hpp"
#include "stheno/nn/module.hpp"
#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

void build_mlp(nn::Sequential& net, Generator& gen) {
  net.add(std::make_shared<nn::Linear>(784, 256, gen, nn::Init::he_uniform))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::Linear>(256, 10, gen));
}

// The CNN of `stheno train --model cnn`: two 5×5 convolutions (32 and 64 filters) with ReLU and
// 2×2 max pooling, dense 128, dense 10.
void build_cnn(nn::Sequential& net, Generator& gen) {
  net.add(std::make_shared<nn::Unflatten>(Shape{1, 28, 28}))
      .add(std::make_shared<nn::Conv2d>(1, 32, 5, gen, Conv2dOptions{1, 2, 1, 1}))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::MaxPool2d>(2))
      .add(std::make_shared<nn::Conv2d>(32, 64, 5, gen, Conv2dOptions{1, 2, 1, 1}))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::MaxPool2d>(2))
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(64 * 7 * 7, 128, gen))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::Linear>(128, 10, gen));
}

// Single-image runs of a compiled program: set the input, run, read the scores.
void time_calls(const char* model, const char* form, TapeMachine& machine, const Node& x, const Node& y, long calls) {
  Generator gen(11);
  const Tensor images = Tensor::uniform({64, 784}, gen, 0, 1);
  peers::time_single_calls(model, std::string("stheno ") + form, calls, [&](long i) {
    machine.let(x, images.slice(0, i % 64, i % 64 + 1).reshape(x.shape()));
    machine.run();
    return static_cast<double>(machine.value(y).data<float>()[0]);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: stheno_onnx_latency DIR [--calls N]\n");
    return 2;
  }
  const std::string dir = argv[1];
  long calls = 10000;
  CompileOptions options;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--calls") == 0 && i + 1 < argc) calls = std::stol(argv[i + 1]);
    if (std::strcmp(argv[i], "--profile") == 0) options.profile = true;
  }
  set_num_threads(1);
  for (const std::string model : {"mlp", "cnn"}) {
    Generator gen(1);
    nn::Sequential net;
    if (model == "mlp") build_mlp(net, gen);
    else build_cnn(net, gen);
    net.set_training(false);
    Graph g;
    const Node x = g.input("pixels", {1, 784});
    Node y = net(x);
    y.set_name("logits");
    const std::string path = dir + "/" + model + ".onnx";
    io::save_onnx(g, {x}, {y}, path);
    TapeMachine compiled(g, {y}, options);
    time_calls(model.c_str(), "compiled", compiled, x, y, calls);
    if (options.profile) std::fprintf(stderr, "%s\n%s\n", compiled.listing().c_str(), compiled.profile_report().c_str());
    io::OnnxModel imported = io::load_onnx(path, 1);
    TapeMachine from_file(*imported.graph, imported.outputs, options);
    time_calls(model.c_str(), "imported", from_file, imported.inputs[0], imported.outputs[0], calls);
    if (options.profile) std::fprintf(stderr, "%s\n", from_file.profile_report().c_str());
  }
  return 0;
}
