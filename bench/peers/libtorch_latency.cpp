// libtorch's side of W5 (bench/run_latency.py): the same MLP (784-256-10) and CNN as
// bench/onnx_latency.cpp in PyTorch's C++ frontend, one thread, inference mode, timed the same
// way: a new image every call, p50 and p99 of N calls after a warm-up. Weights are seeded, not
// trained: latency does not depend on their values.
//
//   libtorch_latency [--calls N]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

void time_calls(const char* model, torch::nn::Sequential& net, long calls) {
    net->eval();
    torch::InferenceMode guard;
    const torch::Tensor images = torch::rand({64, 1, 784});
    double checksum = 0;
    auto call = [&](long i) { checksum += net->forward(images[i % 64]).index({0, 0}).item<float>(); };
    for (long i = 0; i < std::min(calls / 10 + 10, 500L); ++i) call(i);
    std::vector<double> us(static_cast<std::size_t>(calls));
    for (long i = 0; i < calls; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        call(i);
        us[static_cast<std::size_t>(i)] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
    std::sort(us.begin(), us.end());
    auto pct = [&](double p) { return us[static_cast<std::size_t>(p * static_cast<double>(calls - 1))]; };
    std::printf("{\"model\": \"%s\", \"form\": \"libtorch %s\", \"p50_us\": %.2f, \"p99_us\": %.2f, \"calls\": %ld, \"checksum\": %.4g}\n",
                model, TORCH_VERSION, pct(0.5), pct(0.99), calls, checksum);
    std::fflush(stdout);
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
