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
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

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

// p50 and p99 of `calls` timed single-image runs, after a warm-up, over images that change every
// call (as a server's would).
void time_calls(const char* model, const char* form, TapeMachine& machine, const Node& x, const Node& y, long calls) {
  Generator gen(11);
  const Tensor images = Tensor::uniform({64, 784}, gen, 0, 1);
  float checksum = 0;
  auto call = [&](long i) {
    machine.let(x, images.slice(0, i % 64, i % 64 + 1).reshape(x.shape()));
    machine.run();
    checksum += machine.value(y).data<float>()[0];
  };
  for (long i = 0; i < std::min(calls / 10 + 10, 500L); ++i) call(i);
  std::vector<double> us(static_cast<std::size_t>(calls));
  for (long i = 0; i < calls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    call(i);
    us[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * static_cast<double>(calls - 1))]; };
  std::printf("{\"model\": \"%s\", \"form\": \"%s\", \"p50_us\": %.2f, \"p99_us\": %.2f, \"calls\": %ld, \"checksum\": %.4g}\n", model, form,
              pct(0.5), pct(0.99), calls, static_cast<double>(checksum));
  std::fflush(stdout);
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
    if (options.profile) std::fprintf(stderr, "%s\n", compiled.profile_report().c_str());
    io::OnnxModel imported = io::load_onnx(path, 1);
    TapeMachine from_file(*imported.graph, imported.outputs);
    time_calls(model.c_str(), "imported", from_file, imported.inputs[0], imported.outputs[0], calls);
  }
  return 0;
}
