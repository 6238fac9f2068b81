// stheno's side of the side-by-side benchmarks (bench/run_workloads.py runs it next to PyTorch,
// libtorch, dlib and numpy). Prints one JSON object.
//
//   stheno_workloads --workload W1|W2|W3|W4|sgemm --data DIR [--text DIR] [--threads N] [--machine tape|eager] [--quick]
//                    [--device cpu|opencl[:N]] (W1 and W2)
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "allocation_counter.hpp"
#include "stheno/stheno.hpp"

using namespace stheno;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string workload = "W1", data = data::kDefaultMnistDirectory, machine = "tape", text = data::kDefaultTextDirectory;
  int threads = 1;
  bool quick = false;
  bool profile = false;  // print the tape machine's per-instruction profile to stderr
  Device device;         // W1, W2 and W3 run on any device; the others on the host
  std::uint64_t seed = 1;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double accuracy(nn::Module& net, const Tensor& images, const Tensor& labels, Device device = Device::cpu()) {
  Graph g(Graph::Mode::eager);
  const Tensor predicted = argmax(net(g.input("x", images.to(device))).value(), 1);
  const auto p = predicted.to_vector<std::int32_t>(), y = labels.to_vector<std::int32_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i) correct += p[i] == y[i];
  return static_cast<double>(correct) / static_cast<double>(y.size());
}

// Kernel launches and host synchronisations of a device so far (zeros on the host).
std::pair<std::int64_t, std::int64_t> device_counters(Device device) {
  if (device.is_host()) return {0, 0};
  const DeviceRuntime& r = device_runtime(device);
  return {r.launches(), r.synchronizations()};
}

// ", "launches_per_step": L, "synchronizations_per_step": S' for a device, nothing on the host.
std::string per_step_counters(Device device, std::pair<std::int64_t, std::int64_t> before, std::int64_t steps) {
  if (device.is_host()) return "";
  const auto [launches, syncs] = device_counters(device);
  char buf[160];
  std::snprintf(buf, sizeof buf, ", \"device\": \"%s\", \"launches_per_step\": %.1f, \"synchronizations_per_step\": %.2f",
                device.str().c_str(), static_cast<double>(launches - before.first) / static_cast<double>(steps),
                static_cast<double>(syncs - before.second) / static_cast<double>(steps));
  return buf;
}

using LossOf = std::function<Node(nn::Module&, const Node& x, const Node& labels)>;

const LossOf softmax_cross_entropy_of = [](nn::Module& model, const Node& x, const Node& labels) {
  return nn::cross_entropy(model(x), labels);
};

// Whole batches in a shuffled order that depends only on the seed.
data::LoaderOptions shuffled_batches(std::int64_t batch, std::uint64_t seed) {
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.seed = seed;
  lo.drop_last = true;
  return lo;
}

// Under mpirun, each rank trains on its share of every global batch (on the host): the loader
// still yields global batches, the same on every rank, and each takes its slice.
class DataParallel {
 public:
  DataParallel(const char* workload, std::int64_t batch, const Device& device) : comm_(dist::world()) {
    if (comm_.size() > 1 && (batch % comm_.size() != 0 || !device.is_host()))
      throw ValueError(std::string(workload) + " on " + std::to_string(comm_.size()) + " ranks: the batch of " +
                       std::to_string(batch) + " must split evenly, on the host");
    share_ = batch / comm_.size();
  }
  dist::Communicator& comm() { return comm_; }
  int ranks() const { return comm_.size(); }
  int rank() const { return comm_.rank(); }
  std::int64_t share() const { return share_; }
  data::Batch mine(const data::Batch& b) const {
    data::Batch part;
    part.inputs = b.inputs.slice(0, rank() * share_, (rank() + 1) * share_);
    part.labels = b.labels.slice(0, rank() * share_, (rank() + 1) * share_);
    return part;
  }

 private:
  dist::Communicator& comm_;
  std::int64_t share_;
};

// A classifier's training step on batches of flat images, compiled once on the tape machine.
class TrainingProgram {
 public:
  TrainingProgram(nn::Module& net, optim::Optimizer& opt, std::int64_t batch, const LossOf& loss_of, bool profile = false)
      : device_(net.parameters().front()->value.device()) {
    x_ = g_.input("x", {batch, 784});
    y_ = g_.input("labels", {batch}, DType::i32);
    const Node loss = loss_of(net, x_, y_);
    CompileOptions options;
    options.profile = profile;
    step_ = std::make_unique<optim::TrainingStep>(loss, nn::nodes_of(g_, net.parameters()), opt, std::vector<Node>{}, options);
    profiled_ = profile;
  }
  // Data-parallel: each rank runs the step on its share of every batch (dist/communicator.hpp).
  void distribute(dist::Communicator& comm) { step_->distribute(comm); }
  ~TrainingProgram() {
    if (profiled_) std::fputs(step_->machine().profile_report().c_str(), stderr);
  }
  void step(const data::Batch& b) {
    if (device_.is_host()) {
      step_->machine().bind(x_, b.inputs);
      step_->machine().bind(y_, b.labels);
    } else {
      step_->machine().let(x_, b.inputs);
      step_->machine().let(y_, b.labels);
    }
    step_->run();
  }
  // On a device: the batch for step k+1 is staged (uploaded beside step k) between launch() and
  // finish(); the loader keeps it valid until its next next(), which comes after launch().
  void steps(data::DataLoader& loader, const std::function<void()>& each_step) {
    const data::Batch* b = loader.next();
    if (!b) return;
    step_->machine().let(x_, b->inputs);
    step_->machine().let(y_, b->labels);
    while (b) {
      step_->launch();
      b = loader.next();
      if (b) {
        step_->machine().stage(x_, b->inputs);
        step_->machine().stage(y_, b->labels);
      }
      step_->finish();
      each_step();
    }
  }

 private:
  Device device_;
  Graph g_;
  Node x_, y_;
  std::unique_ptr<optim::TrainingStep> step_;
  bool profiled_ = false;
};

// The seeds' network: 784-30-10 sigmoid, quadratic cost, SGD at 3.0, batches of 10, N(0,1) init.
void w1(const Options& o, const data::Mnist& d) {
  Generator gen(o.seed);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(784, 30, gen, nn::Init::standard_normal, true, DType::f32, nn::Init::standard_normal))
      .add(nn::activation(UnaryOp::sigmoid))
      .add(std::make_shared<nn::Linear>(30, 10, gen, nn::Init::standard_normal, true, DType::f32, nn::Init::standard_normal))
      .add(nn::activation(UnaryOp::sigmoid));
  net.to(o.device);
  optim::SGD sgd(nn::values_of(net.parameters()), 3.0);
  constexpr std::int64_t kBatch = 10;
  const data::TensorDataset train(d.train.images, d.train.labels, o.quick ? 2000 : 50000);
  data::LoaderOptions lo = shuffled_batches(kBatch, o.seed);
  lo.prefetch = 32;  // small batches: keep many ready so the worker wakes rarely
  data::DataLoader loader(train, lo);

  const LossOf loss_of = [](nn::Module& model, const Node& x, const Node& labels) {
    return nn::quadratic(model(x), one_hot(labels, 10, DType::f32));
  };
  TrainingProgram program(net, sgd, kBatch, loss_of, o.profile);

  std::int64_t steps = 0;
  testing::StepAllocations allocations(!o.device.is_host());  // the first step warms up
  loader.start_epoch(0);
  const auto counters = device_counters(o.device);
  const auto start = Clock::now();
  if (o.machine == "tape" && !o.device.is_host()) {
    std::optional<testing::AllocationCounter> counter;  // from the end of the first step
    program.steps(loader, [&] {
      if (++steps == 1) counter.emplace();
    });
    if (counter) allocations.add(*counter, steps - 1);
  }
  while (const data::Batch* b = o.machine == "tape" && !o.device.is_host() ? nullptr : loader.next()) {
    testing::AllocationCounter counter;
    if (o.machine == "tape") {
      program.step(*b);
    } else {
      Graph e(Graph::Mode::eager);
      const Node l = loss_of(net, e.input("x", b->inputs.to(o.device)), e.input("labels", b->labels.to(o.device)));
      sgd.step(backward(l, nn::nodes_of(e, net.parameters())));
    }
    if (steps++ > 0) allocations.add(counter);
  }
  const double seconds = seconds_since(start);
  const std::string counted = per_step_counters(o.device, counters, steps);
  const std::int64_t test_n = o.quick ? 1000 : 10000;
  const double acc = accuracy(net, d.test.images.slice(0, 0, test_n), d.test.labels.slice(0, 0, test_n), o.device);
  std::printf("{\"seconds_per_epoch\": %.6f, \"test_accuracy\": %.4f%s, %s}\n", seconds, acc, counted.c_str(),
              allocations.json().c_str());
}

// The GPU talk's network on the CPU: 784-1000-10 ReLU, softmax cross-entropy, SGD 0.1, batch 128.
void w2(const Options& o, const data::Mnist& d) {
  Generator gen(o.seed);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(784, 1000, gen, nn::Init::he_uniform))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::Linear>(1000, 10, gen, nn::Init::he_uniform));
  net.to(o.device);
  optim::SGD sgd(nn::values_of(net.parameters()), 0.1);
  constexpr std::int64_t kBatch = 128, kEvalBatch = 1000;
  const std::int64_t steps = o.quick ? 10 : 200;
  const data::TensorDataset train(d.train.images, d.train.labels);
  data::DataLoader loader(train, shuffled_batches(kBatch, o.seed));

  DataParallel parallel("W2", kBatch, o.device);
  const int ranks = parallel.ranks();
  TrainingProgram program(net, sgd, parallel.share(), softmax_cross_entropy_of, o.profile);
  if (ranks > 1) program.distribute(parallel.comm());
  loader.start_epoch(0);
  auto step = [&](const data::Batch& b) { ranks == 1 ? program.step(b) : program.step(parallel.mine(b)); };
  for (int i = 0; i < 3; ++i) step(*loader.next());
  // On a device: the last `steps` batches of another epoch, each uploaded while the step before
  // it runs; the loader starts (and prefetches) before the clock, as the host's did.
  data::DataLoader staged(train, shuffled_batches(kBatch, o.seed + 1));
  if (!o.device.is_host()) staged.start_epoch(0, staged.batches_per_epoch() - steps);
  const auto counters = device_counters(o.device);
  std::string device_allocations;
  auto start = Clock::now();
  if (o.device.is_host()) {
    for (std::int64_t i = 0; i < steps; ++i) step(*loader.next());
  } else {
    std::optional<testing::AllocationCounter> counter;  // from the end of the first step
    std::int64_t done = 0;
    program.steps(staged, [&] {
      if (++done == 1) counter.emplace();
    });
    testing::StepAllocations allocations(true);
    if (counter) allocations.add(*counter, done - 1);
    device_allocations = ", " + allocations.json();
  }
  if (ranks > 1) parallel.comm().barrier();  // every rank's steps are done
  const double train_rate = static_cast<double>(steps * kBatch) / seconds_since(start);
  const std::string counted = per_step_counters(o.device, counters, steps);
  if (ranks > 1) {  // the training rate alone: the ranks would time inference against each other
    if (parallel.rank() == 0)
      std::printf("{\"train_samples_per_s\": %.1f, \"ranks\": %d, \"test_accuracy\": %.4f}\n", train_rate, ranks,
                  accuracy(net, d.test.images, d.test.labels, o.device));
    return;
  }

  Graph eg;
  const Node ex = eg.input("x", {kEvalBatch, 784});
  const Node logits = net(ex);
  TapeMachine infer(eg, {logits});
  const std::int64_t batches = d.test.images.size(0) / kEvalBatch;
  for (std::int64_t i = 0; i < 2; ++i) {
    infer.let(ex, d.test.images.slice(0, i * kEvalBatch, (i + 1) * kEvalBatch));
    infer.run();
  }
  start = Clock::now();
  for (std::int64_t i = 0; i < batches; ++i) {
    infer.let(ex, d.test.images.slice(0, i * kEvalBatch, (i + 1) * kEvalBatch));
    infer.run();
  }
  const double infer_rate = static_cast<double>(batches * kEvalBatch) / seconds_since(start);
  std::printf("{\"train_samples_per_s\": %.1f, \"inference_samples_per_s\": %.1f, \"test_accuracy\": %.4f%s%s}\n",
              train_rate, infer_rate, accuracy(net, d.test.images, d.test.labels, o.device), counted.c_str(),
              device_allocations.c_str());
}

// The CNN: conv 32 5x5 pad 2, ReLU, max-pool 2, conv 64 5x5 pad 2, ReLU, max-pool 2, dense 128,
// ReLU, dense 10; softmax cross-entropy, SGD with momentum 0.9 at 0.01, batches of 64.
void w3(const Options& o, const data::Mnist& d) {
  Generator gen(o.seed);
  Conv2dOptions same;
  same.padding = 2;
  nn::Sequential net;
  net.add(std::make_shared<nn::Unflatten>(Shape{1, 28, 28}))
      .add(std::make_shared<nn::Conv2d>(1, 32, 5, gen, same))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::MaxPool2d>(2))
      .add(std::make_shared<nn::Conv2d>(32, 64, 5, gen, same))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::MaxPool2d>(2))
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(3136, 128, gen, nn::Init::he_uniform))
      .add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::Linear>(128, 10, gen, nn::Init::he_uniform));
  net.to(o.device);
  optim::SGD sgd(nn::values_of(net.parameters()), 0.01, 0.9);
  constexpr std::int64_t kBatch = 64;
  const std::int64_t steps = o.quick ? 3 : 40;
  const data::TensorDataset train(d.train.images, d.train.labels);
  data::DataLoader loader(train, shuffled_batches(kBatch, o.seed));
  DataParallel parallel("W3", kBatch, o.device);
  TrainingProgram program(net, sgd, parallel.share(), softmax_cross_entropy_of, o.profile);
  if (parallel.ranks() > 1) program.distribute(parallel.comm());
  auto step = [&](const data::Batch& b) { parallel.ranks() == 1 ? program.step(b) : program.step(parallel.mine(b)); };
  loader.start_epoch(0);
  for (int i = 0; i < 3; ++i) step(*loader.next());
  testing::StepAllocations allocations(!o.device.is_host());
  const auto counters = device_counters(o.device);
  const auto start = Clock::now();
  for (std::int64_t i = 0; i < steps; ++i) {
    testing::AllocationCounter counter;
    step(*loader.next());
    allocations.add(counter);
  }
  if (parallel.ranks() > 1) parallel.comm().barrier();  // every rank's steps are done
  const double rate = static_cast<double>(steps * kBatch) / seconds_since(start);
  if (parallel.rank() != 0) return;
  std::printf("{\"train_samples_per_s\": %.1f, \"ranks\": %d, %s%s}\n", rate, parallel.ranks(), allocations.json().c_str(),
              per_step_counters(o.device, counters, steps).c_str());
}

// The character LSTM: embedding 64, LSTM 128, dense to the vocabulary; windows of 32 characters,
// batches of 32, Adam at 0.002, a zero state for every batch.
void w4(const Options& o) {
  const std::string text = data::read_text(o.text);
  const data::CharVocabulary vocabulary(text);
  const std::vector<std::int32_t> ids = vocabulary.encode(text);
  constexpr std::int64_t kBatch = 32, kSteps = 32, kEmbed = 64, kHidden = 128;
  const std::int64_t v = vocabulary.size();
  Generator gen(o.seed);
  nn::Embedding embed(v, kEmbed, gen);
  nn::LSTM lstm(kEmbed, kHidden, gen);
  nn::Linear head(kHidden, v, gen, nn::Init::glorot_uniform);

  Graph g;
  const Node tokens = g.input("tokens", {kBatch, kSteps}, DType::i32);
  const Node targets = g.input("targets", {kBatch * kSteps}, DType::i32);
  const Node hidden = lstm(embed(tokens));
  const Node loss = nn::cross_entropy(head(reshape(hidden, {kBatch * kSteps, kHidden})), targets);
  const std::vector<nn::Parameter*> params = nn::parameters_of({&embed, &lstm, &head});
  optim::Adam adam(nn::values_of(params), 0.002);
  CompileOptions options;
  options.profile = o.profile;
  optim::TrainingStep step(loss, nn::nodes_of(g, params), adam, {}, options);
  const Tensor x = Tensor::empty({kBatch, kSteps}, DType::i32), y = Tensor::empty({kBatch * kSteps}, DType::i32);
  step.machine().bind(tokens, x);
  step.machine().bind(targets, y);
  Generator windows(o.seed + 1);
  auto train_step = [&] {
    data::sample_windows(ids, windows, x, y);
    return step.run();
  };
  for (int i = 0; i < 3; ++i) train_step();
  const std::int64_t steps = o.quick ? 3 : 60;
  std::vector<double> losses;
  losses.reserve(static_cast<std::size_t>(steps));
  testing::StepAllocations allocations(false);
  const auto start = Clock::now();
  for (std::int64_t i = 0; i < steps; ++i) {
    testing::AllocationCounter counter;
    losses.push_back(train_step());
    allocations.add(counter);
  }
  const double rate = static_cast<double>(steps * kBatch * kSteps) / seconds_since(start);
  const std::size_t last = std::min<std::size_t>(10, losses.size());
  double tail = 0;
  for (std::size_t i = losses.size() - last; i < losses.size(); ++i) tail += losses[i] / static_cast<double>(last);
  if (o.profile) std::fputs(step.machine().profile_report().c_str(), stderr);
  std::printf("{\"train_chars_per_s\": %.1f, \"loss\": %.4f, \"unigram_loss\": %.4f, %s}\n", rate, tail,
              vocabulary.unigram_entropy(ids), allocations.json().c_str());
}

// The machine's sgemm rate, for the FLOP floor.
void sgemm(const Options&) {
  Generator gen(3);
  const Tensor a = Tensor::normal({1024, 1024}, gen), b = Tensor::normal({1024, 1024}, gen), c = Tensor::empty({1024, 1024});
  matmul(a, b, c);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto start = Clock::now();
    matmul(a, b, c);
    best = std::min(best, seconds_since(start));
  }
  const GemmInfo info = gemm_info();
  std::printf("{\"gflops\": %.2f, \"gemm_kernels\": \"%s\", \"gemm_isa\": \"%s\", \"cpu_isa\": \"%s\"}\n",
              2.0 * 1024 * 1024 * 1024 / best * 1e-9, info.kernels.c_str(), isa_name(info.isa), isa_name(cpu_isa()));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ValueError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--workload") o.workload = value();
    else if (a == "--data") o.data = value();
    else if (a == "--text") o.text = value();
    else if (a == "--threads") o.threads = std::stoi(value());
    else if (a == "--machine") o.machine = value();
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--quick") o.quick = true;
    else if (a == "--profile") o.profile = true;
    else if (a == "--device") o.device = Device::parse(value());
    else {
      std::fprintf(stderr, "stheno_workloads: unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  try {
    set_num_threads(o.threads);
    if (o.workload == "sgemm" || o.workload == "W4") {
      if (o.workload == "W4") w4(o);
      else sgemm(o);
      return 0;
    }
    if (!o.device.is_host() && o.workload != "W1" && o.workload != "W2" && o.workload != "W3")
      throw ValueError("--device: " + o.workload + " runs on the host only here (W1, W2 and W3 run on devices)");
    const data::Mnist d = data::load_mnist(o.data);
    if (o.workload == "W1") w1(o, d);
    else if (o.workload == "W2") w2(o, d);
    else if (o.workload == "W3") w3(o, d);
    else throw ValueError("unknown workload " + o.workload + " (expected W1, W2, W3, W4 or sgemm)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stheno_workloads: %s\n", e.what());
    return 1;
  }
  return 0;
}
