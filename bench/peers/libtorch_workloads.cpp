// libtorch's side of W1 and W2: PyTorch's C++ frontend, float32, torch::nn + torch::optim::SGD.
#include <torch/torch.h>

#include <cstdio>

#include "common.hpp"

namespace {

struct Data {
    torch::Tensor images, labels;  // (n, 784) float32 in [0, 1]; (n,) int64
};

Data load(const std::string& dir, const std::string& split, int limit) {
    peers::Split s = peers::load_split(dir, split, limit);
    auto images = torch::from_blob(s.images.data(), {s.count, s.pixels}, torch::kFloat32).clone();
    auto labels = torch::from_blob(s.labels.data(), {s.count}, torch::kUInt8).to(torch::kInt64);
    return {images, labels};
}

double accuracy(torch::nn::Sequential& net, const Data& test) {
    torch::InferenceMode guard;
    return net->forward(test.images).argmax(1).eq(test.labels).sum().item<double>() / double(test.labels.size(0));
}

void w1(const peers::Args& args) {
    const int n_train = args.quick ? peers::w1_quick_train : peers::w1_train;
    const int n_test = args.quick ? peers::w1_quick_test : peers::w1_test;
    Data train = load(args.data, "train", n_train), test = load(args.data, "t10k", n_test);
    auto targets = torch::one_hot(train.labels, 10).to(torch::kFloat32);

    torch::nn::Sequential net(torch::nn::Linear(784, peers::w1_hidden), torch::nn::Sigmoid(),
                              torch::nn::Linear(peers::w1_hidden, 10), torch::nn::Sigmoid());
    {
        torch::NoGradGuard no_grad;
        for (auto& p : net->parameters()) torch::nn::init::normal_(p);  // Nielsen: weights and biases N(0, 1)
    }
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(peers::w1_lr));

    auto start = std::chrono::steady_clock::now();
    auto order = torch::randperm(n_train, torch::kInt64);
    for (int k = 0; k < n_train; k += peers::w1_batch) {
        auto batch = order.slice(0, k, k + peers::w1_batch);
        auto x = train.images.index_select(0, batch), y = targets.index_select(0, batch);
        opt.zero_grad();
        // C = mean over the batch of ½‖a − y‖²: a summed squared error scaled by 1/(2m).
        auto loss = torch::mse_loss(net->forward(x), y, torch::Reduction::Sum) * (0.5 / double(x.size(0)));
        loss.backward();
        opt.step();
    }
    double seconds = peers::seconds_since(start);

    std::printf("{\"seconds_per_epoch\": %.6f, \"test_accuracy\": %.4f, \"version\": \"libtorch %s\"}\n", seconds,
                accuracy(net, test), TORCH_VERSION);
}

void w2(const peers::Args& args) {
    const int steps = args.quick ? peers::w2_quick_steps : peers::w2_steps;
    Data train = load(args.data, "train", 60'000), test = load(args.data, "t10k", 10'000);

    // PyTorch's default initialisation (Kaiming-uniform weights), as the brief allows.
    torch::nn::Sequential net(torch::nn::Linear(784, peers::w2_hidden), torch::nn::ReLU(),
                              torch::nn::Linear(peers::w2_hidden, 10));
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(peers::w2_lr));

    auto order = torch::randperm(train.labels.size(0), torch::kInt64);
    auto train_step = [&](int i) {
        auto batch = order.slice(0, std::int64_t(i) * peers::w2_batch, std::int64_t(i + 1) * peers::w2_batch);
        opt.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(net->forward(train.images.index_select(0, batch)),
                                                         train.labels.index_select(0, batch));
        loss.backward();
        opt.step();
    };
    for (int i = 0; i < peers::w2_warmup_steps; ++i) train_step(i);
    auto start = std::chrono::steady_clock::now();
    for (int i = peers::w2_warmup_steps; i < peers::w2_warmup_steps + steps; ++i) train_step(i);
    double train_seconds = peers::seconds_since(start);

    torch::InferenceMode guard;
    const int n_test = int(test.labels.size(0)), batches = n_test / peers::w2_eval_batch;
    auto logits = [&](int b) { return net->forward(test.images.slice(0, b * peers::w2_eval_batch, (b + 1) * peers::w2_eval_batch)); };
    for (int b = 0; b < peers::w2_warmup_eval_batches; ++b) logits(b);
    std::vector<torch::Tensor> predictions;
    start = std::chrono::steady_clock::now();
    for (int b = 0; b < batches; ++b) predictions.push_back(logits(b).argmax(1));
    double infer_seconds = peers::seconds_since(start);
    double correct = torch::cat(predictions).eq(test.labels.slice(0, 0, batches * peers::w2_eval_batch)).sum().item<double>();

    std::printf("{\"train_samples_per_s\": %.1f, \"inference_samples_per_s\": %.1f, \"test_accuracy\": %.4f, "
                "\"version\": \"libtorch %s\"}\n",
                steps * peers::w2_batch / train_seconds, batches * peers::w2_eval_batch / infer_seconds,
                correct / (batches * peers::w2_eval_batch), TORCH_VERSION);
}

}  // namespace

int main(int argc, char** argv) {
    peers::Args args = peers::parse_args(argc, argv);
    torch::manual_seed(args.seed);
    at::set_num_threads(args.threads);
    at::set_num_interop_threads(1);
    if (args.workload == "W1") w1(args);
    else w2(args);
}
