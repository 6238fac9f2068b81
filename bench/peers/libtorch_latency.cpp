// libtorch's side of W5 (bench/run_latency.py): the same MLP (784-256-10) and CNN as
// bench/onnx_latency.cpp in PyTorch's C++ frontend, one thread, inference mode, timed the same
// way: a new image every call, p50 and p99 of N calls after a warm-up. Weights are seeded, not
// trained: latency does not depend on their values.
//
//   libtorch_latency [--calls N]
#include <torch/torch.h>

#include <cstring>
#include <string>

#include "common.hpp"

namespace {

void time_calls(const char* model, torch::nn::Sequential& net, long calls) {
    net->eval();
    torch::InferenceMode guard;
    const torch::Tensor images = torch::rand({64, 1, 784});
    peers::time_single_calls(model, std::string("libtorch ") + TORCH_VERSION, calls,
                             [&](long i) { return static_cast<double>(net->forward(images[i % 64]).index({0, 0}).item<float>()); });
}

}  // namespace

int main(int argc, char** argv) {
    long calls = 10000;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--calls") == 0) calls = std::stol(argv[i + 1]);
    torch::manual_seed(1);
    at::set_num_threads(1);
    at::set_num_interop_threads(1);
    namespace nn = torch::nn;
    nn::Sequential mlp(nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 10));
    time_calls("mlp", mlp, calls);
    nn::Sequential cnn(nn::Unflatten(nn::UnflattenOptions(1, {1, 28, 28})),
                       nn::Conv2d(nn::Conv2dOptions(1, 32, 5).padding(2)), nn::ReLU(), nn::MaxPool2d(2),
                       nn::Conv2d(nn::Conv2dOptions(32, 64, 5).padding(2)), nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(),
                       nn::Linear(64 * 7 * 7, 128), nn::ReLU(), nn::Linear(128, 10));
    time_calls("cnn", cnn, calls);
}
