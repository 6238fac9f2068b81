// dlib's side of W1 and W2: its dnn module, float32, on the CPU.
//
// The loop is the one dnn_trainer::train_one_step runs (to_tensor, compute_parameter_gradients,
// update_parameters), written out so that the timed region holds no trainer thread and no
// plateau-driven learning-rate shrinking, which would change the workload. dlib's sgd solver
// defaults to weight decay 0.0005 and momentum 0.9; both are set to 0 here to get plain SGD.
//
// dlib has no thread setting of its own for these layers: its GEMMs go to the system BLAS, so
// --threads sets OpenBLAS's thread count (weakly linked: another BLAS keeps its own setting).
// Its fc layer always computes the gradient with respect to its input, including for the first
// layer, so each step does one GEMM more than the other frameworks (784×batch×hidden).
#include <dlib/dnn.h>
#include <dlib/revision.h>
#include <dlib/svm.h>  // randomize_samples

#include <cmath>
#include <cstdio>

#include "common.hpp"

extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace {

using namespace dlib;

// W1: 784-30-10, sigmoid on both layers; this loss's gradient is (a − y)/m, that of mean ½‖a − y‖².
using w1_net = loss_mean_squared_multioutput<sig<fc<10, sig<fc<peers::w1_hidden, input<matrix<float>>>>>>>;
// W2: 784-1000-10, ReLU, softmax cross-entropy on the logits.
using w2_net = loss_multiclass_log<fc<10, relu<fc<peers::w2_hidden, input<matrix<float>>>>>>;

std::vector<matrix<float>> images_of(const peers::Split& s) {
    std::vector<matrix<float>> images(s.count);
    for (int i = 0; i < s.count; ++i) images[i] = mat(s.images.data() + std::size_t(i) * s.pixels, 28, 28);
    return images;
}

template <typename Net, typename Labels>
void sgd_step(Net& net, std::vector<sgd>& solvers, resizable_tensor& x, const std::vector<matrix<float>>& images,
              const Labels& labels, std::size_t begin, std::size_t end, double lr) {
    net.to_tensor(images.begin() + begin, images.begin() + end, x);
    net.compute_parameter_gradients(x, labels.begin() + begin);
    net.update_parameters(solvers, lr);
}

std::string version() {
    return std::to_string(DLIB_MAJOR_VERSION) + "." + std::to_string(DLIB_MINOR_VERSION) + "." +
           std::to_string(DLIB_PATCH_VERSION);
}

void w1(const peers::Args& args) {
    const int n_train = args.quick ? peers::w1_quick_train : peers::w1_train;
    const int n_test = args.quick ? peers::w1_quick_test : peers::w1_test;
    peers::Split train = peers::load_split(args.data, "train", n_train), test = peers::load_split(args.data, "t10k", n_test);
    std::vector<matrix<float>> images = images_of(train), test_images = images_of(test);
    std::vector<matrix<float>> targets(n_train, zeros_matrix<float>(10, 1));
    for (int i = 0; i < n_train; ++i) targets[i](train.labels[i]) = 1;

    w1_net net;
    net(images[0]);  // dlib allocates the parameters on the first forward pass
    tt::tensor_rand rnd(args.seed);
    visit_layer_parameters(net, [&](tensor& p) { if (p.size()) rnd.fill_gaussian(p, 0, 1); });  // Nielsen: N(0, 1)
    std::vector<sgd> solvers(w1_net::num_computational_layers, sgd(0, 0));
    resizable_tensor x;
    dlib::rand shuffler(args.seed);

    auto start = std::chrono::steady_clock::now();
    randomize_samples(images, targets, shuffler);
    for (int k = 0; k < n_train; k += peers::w1_batch)
        sgd_step(net, solvers, x, images, targets, k, std::min(k + peers::w1_batch, n_train), peers::w1_lr);
    double seconds = peers::seconds_since(start);

    std::vector<matrix<float>> outputs = net(test_images, 1000);
    int correct = 0;
    for (int i = 0; i < n_test; ++i) correct += index_of_max(outputs[i]) == long(test.labels[i]);
    std::printf("{\"seconds_per_epoch\": %.6f, \"test_accuracy\": %.4f, \"version\": \"dlib %s\"}\n", seconds,
                double(correct) / n_test, version().c_str());
}

// He initialisation for the fc layers; the activation layers have no parameters.
template <unsigned long N>
void he_init(fc_<N, FC_HAS_BIAS>& layer, tt::tensor_rand& rnd) {
    auto weights = layer.get_weights();
    rnd.fill_gaussian(weights, 0, std::sqrt(2.0f / float(weights.num_samples())));
    auto biases = layer.get_biases();
    biases = 0;
}
template <typename Layer>
void he_init(Layer&, tt::tensor_rand&) {}

void w2(const peers::Args& args) {
    const int steps = args.quick ? peers::w2_quick_steps : peers::w2_steps;
    peers::Split train = peers::load_split(args.data, "train", 60'000), test = peers::load_split(args.data, "t10k", 10'000);
    std::vector<matrix<float>> images = images_of(train), test_images = images_of(test);
    std::vector<unsigned long> labels(train.labels.begin(), train.labels.end());

    w2_net net;
    net(images[0]);
    tt::tensor_rand rnd(args.seed);
    visit_computational_layers(net, [&](auto& layer) { he_init(layer, rnd); });
    std::vector<sgd> solvers(w2_net::num_computational_layers, sgd(0, 0));
    resizable_tensor x;
    dlib::rand shuffler(args.seed);
    randomize_samples(images, labels, shuffler);

    auto train_step = [&](int i) {
        sgd_step(net, solvers, x, images, labels, std::size_t(i) * peers::w2_batch, std::size_t(i + 1) * peers::w2_batch,
                 peers::w2_lr);
    };
    for (int i = 0; i < peers::w2_warmup_steps; ++i) train_step(i);
    auto start = std::chrono::steady_clock::now();
    for (int i = peers::w2_warmup_steps; i < peers::w2_warmup_steps + steps; ++i) train_step(i);
    double train_seconds = peers::seconds_since(start);

    const int batches = test.count / peers::w2_eval_batch;
    std::vector<unsigned long> predicted(std::size_t(batches) * peers::w2_eval_batch);
    auto classify = [&](int b) {
        auto first = test_images.begin() + std::ptrdiff_t(b) * peers::w2_eval_batch;
        net(first, first + peers::w2_eval_batch, predicted.begin() + std::ptrdiff_t(b) * peers::w2_eval_batch);
    };
    for (int b = 0; b < peers::w2_warmup_eval_batches; ++b) classify(b);
    start = std::chrono::steady_clock::now();
    for (int b = 0; b < batches; ++b) classify(b);
    double infer_seconds = peers::seconds_since(start);
    int correct = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == test.labels[i];

    std::printf("{\"train_samples_per_s\": %.1f, \"inference_samples_per_s\": %.1f, \"test_accuracy\": %.4f, "
                "\"version\": \"dlib %s\"}\n",
                steps * peers::w2_batch / train_seconds, predicted.size() / infer_seconds,
                double(correct) / double(predicted.size()), version().c_str());
}

}  // namespace

int main(int argc, char** argv) {
    peers::Args args = peers::parse_args(argc, argv);
    if (openblas_set_num_threads) openblas_set_num_threads(args.threads);
    if (args.workload == "W1") w1(args);
    else w2(args);
}
