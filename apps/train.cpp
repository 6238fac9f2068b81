// `stheno train`: trains a classifier on an MNIST-format dataset with either machine, prints a
// live progress bar, writes per-epoch metrics, curves and checkpoints, and can resume a killed
// run exactly where its last checkpoint left it. Under mpirun, each rank trains on its share of
// every global batch with the gradients averaged over the ranks (data-parallel), and rank 0
// alone writes the files and the progress.
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "allocation_counter.hpp"
#include "char_lstm.hpp"
#include "data_parallel.hpp"
#include "sparse_train.hpp"
#include "checkpoint_state.hpp"
#include "metrics.hpp"
#include "models.hpp"
#include "output_dir.hpp"
#include "progress.hpp"
#include "stheno/data/dataset.hpp"
#include "stheno/data/loader.hpp"
#include "stheno/data/mnist.hpp"
#include "stheno/dist/communicator.hpp"
#include "stheno/io/atomic_file.hpp"
#include "stheno/io/safetensors.hpp"
#include "stheno/nn/losses.hpp"
#include "stheno/nn/module.hpp"
#include "stheno/optim/optimizer.hpp"
#include "stheno/optim/schedule.hpp"
#include "stheno/optim/training_step.hpp"
#include "stheno/stheno.hpp"
#include "train_config.hpp"

namespace stheno::cli {

namespace {

// The training loss; also what the evaluation reports as test loss.
Node build_loss(const TrainConfig& c, const Node& logits, const Node& labels) {
  if (c.loss == "xent") return nn::cross_entropy(logits, labels);
  const Node out = unary(c.activation == "relu" ? UnaryOp::relu : c.activation == "tanh" ? UnaryOp::tanh : UnaryOp::sigmoid, logits);
  const Node target = one_hot(labels, kClasses, out.dtype());
  return c.loss == "quadratic" ? nn::quadratic(out, target) : nn::mean_squared_error(out, target);
}

std::shared_ptr<const optim::Schedule> build_schedule(const TrainConfig& c, std::int64_t steps_per_epoch) {
  std::shared_ptr<const optim::Schedule> s;
  if (c.schedule == "step") s = std::make_shared<optim::StepLR>(c.lr, c.step_size * steps_per_epoch, c.gamma);
  else if (c.schedule == "cosine") s = std::make_shared<optim::CosineLR>(c.lr, c.epochs * steps_per_epoch);
  else s = std::make_shared<optim::ConstantLR>(c.lr);
  if (c.warmup > 0) s = std::make_shared<optim::WarmupLR>(s, c.warmup);
  return s;
}

// What a checkpoint must agree on to be resumed by this run.
std::map<std::string, std::string> run_signature(const TrainConfig& c) {
  std::map<std::string, std::string> s = {
      {"model", c.model},         {"hidden", c.hidden},       {"activation", c.activation}, {"loss", c.loss},
      {"optimizer", c.optimizer}, {"batch", std::to_string(c.batch)}, {"seed", std::to_string(c.seed)},
      {"train_limit", std::to_string(c.train_limit)},     {"dropout", std::to_string(c.dropout)}};
  if (!c.init_from.empty()) s["init_from"] = c.init_from;
  return s;
}

std::string encode_generator(const Generator::State& s) {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%llu,%llu,%llu,%llu,%.17g,%d", static_cast<unsigned long long>(s.s[0]),
                static_cast<unsigned long long>(s.s[1]), static_cast<unsigned long long>(s.s[2]),
                static_cast<unsigned long long>(s.s[3]), s.spare_normal, s.has_spare ? 1 : 0);
  return buf;
}

struct Position {
  std::int64_t epoch = 0, next_batch = 0, steps = 0;
  double loss_sum = 0;
  std::int64_t loss_count = 0;
};

// Rank r > 0 of a data-parallel run draws its dropout masks from a stream of its own, derived
// from rank 0's state, so that the ranks' shares of a batch get independent masks and a run
// resumed from rank 0's checkpoint, with any number of ranks, is reproducible.
Generator::State rank_stream(const Generator::State& rank0, int rank) {
  if (rank == 0) return rank0;
  return Generator(rank0.s[0] ^ std::rotl(rank0.s[2], 17) ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(rank)))
      .state();
}

class Trainer {
 public:
  explicit Trainer(const TrainConfig& c)
      : c_(c),
        device_(Device::parse(c.device)),
        comm_(dist::world()),
        log_(rank_log(comm_, c.json)),
        progress_(log_, comm_.rank() == 0 && isatty(fileno(log_))) {}
  int run();

 private:
  int train();
  // This rank's share of each global batch.
  std::int64_t local_batch() const { return c_.batch / comm_.size(); }
  bool lead() const { return comm_.rank() == 0; }
  // Data-parallel: rank 0's parameters, buffers and optimizer state on every rank.
  void share_rank0_state();
  // Data-parallel: rank 0's buffers (batch norm's running statistics) on every rank, which
  // follow their own shares of the batches, before the model is evaluated or saved.
  void share_rank0_buffers();
  void load_data();
  void compile();
  // One step on `batch`; leaves the loader's following batch (or nullptr) in `next`.
  double train_step(const data::Batch& batch, data::DataLoader& loader, const data::Batch*& next);
  std::pair<double, double> evaluate();
  void save_checkpoint(const Position& at);
  Position resume(std::int64_t batches_per_epoch);
  void finish_epoch_files();
  void say(const std::string& line) const { say_line(log_, line); }

  const TrainConfig& c_;
  Device device_;
  dist::Communicator& comm_;
  std::FILE* log_;
  Progress progress_;
  data::Mnist data_;
  std::unique_ptr<data::TensorDataset> train_set_;
  Model model_;
  std::vector<nn::Parameter*> params_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::shared_ptr<const optim::Schedule> schedule_;
  // Tape machine programs.
  Graph train_graph_;
  Node x_, labels_;
  std::unique_ptr<optim::TrainingStep> train_step_;  // the tape machine's compiled step
  bool staged_ = false;  // on a device: the next batch is already on its way
  double host_or_eager_step(const data::Batch& batch);
  struct EvalProgram {
    std::int64_t size = 0;
    Graph graph;
    Node x, labels, predicted, loss;
    std::unique_ptr<TapeMachine> machine;
  };
  EvalProgram& eval_program(std::int64_t size);
  std::vector<std::unique_ptr<EvalProgram>> eval_programs_;
  std::vector<EpochMetrics> history_;
  std::filesystem::path out_;
  testing::StepAllocations measured_allocations_{!device_.is_host()};  // over the steps after the first
  GlobalLoss global_loss_{comm_};
};

void Trainer::load_data() {
  data_ = data::load_mnist(c_.data);
  const std::int64_t n = data_.train.images.size(0);
  if (c_.train_limit > n)
    throw ValueError("--train-limit " + std::to_string(c_.train_limit) + " exceeds the " + std::to_string(n) + " training images in " + c_.data);
  train_set_ = std::make_unique<data::TensorDataset>(
      data_.train.images, data_.train.labels,
      c_.train_limit > 0 ? std::optional<std::int64_t>(c_.train_limit) : std::nullopt);
  if (train_set_->size() < c_.batch)
    throw ValueError("--batch " + std::to_string(c_.batch) + " is larger than the " + std::to_string(train_set_->size()) + " training images");
  check_data_parallel(comm_, c_.batch, device_);
}

void Trainer::compile() {
  const std::int64_t features = data_.train.images.size(1);
  model_ = build_model(c_, features);
  if (!device_.is_host()) {
    say("device: " + device_.str() + " (" + device_runtime(device_).name() + ")");
    model_.net.to(device_);
  }
  if (c_.sync_batch_norm && comm_.size() > 1)
    for (nn::BatchNorm* norm : model_.norms) norm->synchronise(comm_);
  params_ = model_.net.trainable_parameters();
  optim::OptimizerOptions o;
  o.lr = c_.lr;
  o.momentum = c_.momentum;
  o.weight_decay = c_.weight_decay;
  optimizer_ = optim::make_optimizer(c_.optimizer, nn::values_of(params_), o);
  if (c_.machine == "tape") {
    x_ = train_graph_.input("x", {local_batch(), features});
    labels_ = train_graph_.input("labels", {local_batch()}, DType::i32);
    const Node loss = build_loss(c_, model_.net(x_), labels_);
    train_step_ = std::make_unique<optim::TrainingStep>(loss, nn::nodes_of(train_graph_, params_), *optimizer_);
    train_step_->set_clip_norm(c_.clip);
  }
}

void Trainer::share_rank0_state() {
  if (comm_.size() == 1) return;
  // Buffers (batch norm's running statistics) too: each rank's follow its own shares.
  for (nn::Parameter* p : model_.net.parameters()) comm_.broadcast(p->value, 0, p->name);
  if (train_step_) {
    train_step_->distribute(comm_);
  } else {
    for (const optim::StateTensor& s : optimizer_->state()) comm_.broadcast(s.value, 0, "optimizer." + s.name);
  }
  for (nn::Dropout* d : model_.dropouts) {
    Generator& g = d->state().generator;
    const Generator::State& s = g.state();
    Tensor words = Tensor::empty({4}, DType::i64);
    for (int i = 0; i < 4; ++i) words.data<std::int64_t>()[i] = static_cast<std::int64_t>(s.s[static_cast<std::size_t>(i)]);
    comm_.broadcast(words, 0, "a dropout generator");
    Generator::State rank0 = s;
    for (int i = 0; i < 4; ++i) rank0.s[static_cast<std::size_t>(i)] = static_cast<std::uint64_t>(words.data<std::int64_t>()[i]);
    g.set_state(rank_stream(rank0, comm_.rank()));
  }
}

double Trainer::train_step(const data::Batch& batch, data::DataLoader& loader, const data::Batch*& next) {
  if (train_step_ && !device_.is_host()) {
    // The batch was staged during the previous step (uploaded while it ran), except an epoch's first.
    if (!staged_) {
      train_step_->machine().let(x_, batch.inputs);
      train_step_->machine().let(labels_, batch.labels);
    }
    train_step_->launch();
    next = loader.next();
    if (next) {
      train_step_->machine().stage(x_, next->inputs);
      train_step_->machine().stage(labels_, next->labels);
    }
    staged_ = next != nullptr;
    return train_step_->finish();
  }
  const double loss = host_or_eager_step(batch);
  next = loader.next();
  return loss;
}

double Trainer::host_or_eager_step(const data::Batch& batch) {
  if (train_step_) {
    train_step_->machine().bind(x_, batch.inputs);  // the loader keeps the batch until the next one
    train_step_->machine().bind(labels_, batch.labels);
    return train_step_->run();
  }
  // The eager machine: a new graph for every batch, differentiated as it stands.
  Graph g(Graph::Mode::eager);
  const Node loss = build_loss(c_, model_.net(g.input("x", batch.inputs.to(device_))), g.input("labels", batch.labels.to(device_)));
  std::vector<Tensor> grads;
  for (const Tensor& t : backward(loss, nn::nodes_of(g, params_))) grads.push_back(t.contiguous());
  if (comm_.size() > 1)
    for (std::size_t i = 0; i < grads.size(); ++i) comm_.allreduce(grads[i], dist::ReduceOp::mean, params_[i]->name);
  if (c_.clip > 0) optim::clip_grad_norm(grads, c_.clip);
  optimizer_->step(grads);
  return loss.value().item<double>();
}

// The evaluation program for batches of `size`: predicted classes and loss, compiled once.
Trainer::EvalProgram& Trainer::eval_program(std::int64_t size) {
  for (const auto& p : eval_programs_)
    if (p->size == size) return *p;
  auto p = std::make_unique<EvalProgram>();
  p->size = size;
  p->x = p->graph.input("x", {size, data_.test.images.size(1)});
  p->labels = p->graph.input("labels", {size}, DType::i32);
  const Node logits = model_.net(p->x);
  p->predicted = argmax(logits, 1);
  p->loss = build_loss(c_, logits, p->labels);
  p->machine = std::make_unique<TapeMachine>(p->graph, std::vector<Node>{p->predicted, p->loss});
  eval_programs_.push_back(std::move(p));
  return *eval_programs_.back();
}

// Mean loss and accuracy on the test split, in batches of --eval-batch (the last may be smaller),
// each size compiled once on the tape machine. Data-parallel: each rank evaluates its slice of
// the split with rank 0's weights and statistics, and the sums are added up.
std::pair<double, double> Trainer::evaluate() {
  share_rank0_buffers();
  model_.net.set_training(false);
  const std::int64_t total = data_.test.images.size(0);
  const std::int64_t from = total * comm_.rank() / comm_.size(), to = total * (comm_.rank() + 1) / comm_.size();
  const Tensor images = data_.test.images.slice(0, from, to);
  const Tensor labels = data_.test.labels.slice(0, from, to);
  const std::int64_t n = images.size(0);
  // A convolution's im2col columns take kernel² times the image memory: smaller batches.
  const std::int64_t eval_batch = c_.model == "cnn" ? std::min<std::int64_t>(c_.eval_batch, 100) : c_.eval_batch;
  double loss_sum = 0;
  std::int64_t correct = 0;
  progress_.evaluating(0, n);
  for (std::int64_t start = 0; start < n; start += eval_batch) {
    const std::int64_t size = std::min<std::int64_t>(eval_batch, n - start);
    EvalProgram& p = eval_program(size);
    const Tensor xb = images.slice(0, start, start + size), yb = labels.slice(0, start, start + size);
    if (device_.is_host()) {
      p.machine->bind(p.x, xb);
      p.machine->bind(p.labels, yb);
    } else {
      p.machine->let(p.x, xb);
      p.machine->let(p.labels, yb);
    }
    p.machine->run();
    loss_sum += p.machine->value(p.loss).item<double>() * static_cast<double>(size);
    const Tensor predicted_classes = p.machine->value(p.predicted).to(Device::cpu());
    const std::int32_t* predicted = predicted_classes.data<std::int32_t>();
    const std::int32_t* truth = yb.data<std::int32_t>();
    for (std::int64_t i = 0; i < size; ++i) correct += predicted[i] == truth[i];
    progress_.evaluating(start + size, n);
  }
  model_.net.set_training(true);
  Tensor sums = Tensor::from(std::vector<double>{loss_sum, static_cast<double>(correct)});
  comm_.allreduce(sums, dist::ReduceOp::sum, "the evaluation's loss and correct count");
  const std::vector<double> summed = sums.to_vector<double>();
  return {summed[0] / static_cast<double>(total), summed[1] / static_cast<double>(total)};
}

void Trainer::share_rank0_buffers() {
  if (comm_.size() == 1) return;
  for (nn::Parameter* p : model_.net.parameters())
    if (!p->trainable) comm_.broadcast(p->value, 0, p->name);
}

void Trainer::save_checkpoint(const Position& at) {
  share_rank0_buffers();
  if (!lead()) return;
  std::vector<io::NamedTensor> tensors;
  for (nn::Parameter* p : model_.net.parameters()) tensors.push_back({p->name, p->value});
  for (const optim::StateTensor& s : optimizer_->state()) tensors.push_back({"optimizer." + s.name, s.value});
  std::map<std::string, std::string> meta = run_signature(c_);
  meta["format"] = kCheckpointFormat;
  meta["epoch"] = std::to_string(at.epoch);
  meta["next_batch"] = std::to_string(at.next_batch);
  meta["optimizer_steps"] = std::to_string(at.steps);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", at.loss_sum);
  meta["epoch_loss_sum"] = buf;
  meta["epoch_loss_count"] = std::to_string(at.loss_count);
  meta["metrics_csv"] = metrics_csv(history_);
  for (std::size_t i = 0; i < model_.dropouts.size(); ++i)
    meta["dropout" + std::to_string(i) + "_generator"] = encode_generator(model_.dropouts[i]->state().generator.state());
  io::save_safetensors((out_ / "checkpoint.safetensors").string(), tensors, meta);
}

Position Trainer::resume(std::int64_t batches_per_epoch) {
  const io::SafetensorsFile file = io::load_safetensors(c_.resume);
  const CheckpointState state =
      parse_checkpoint_state(file.metadata, c_.resume, {run_signature(c_), batches_per_epoch, model_.dropouts.size()});
  std::vector<io::NamedTensor> targets;
  for (nn::Parameter* p : model_.net.parameters()) targets.push_back({p->name, p->value});
  for (const optim::StateTensor& s : optimizer_->state()) targets.push_back({"optimizer." + s.name, s.value});
  io::load_into(c_.resume, targets);
  for (std::size_t i = 0; i < model_.dropouts.size(); ++i)
    model_.dropouts[i]->state().generator.set_state(state.dropout_generators[i]);
  const CheckpointPosition& p = state.position;
  history_ = state.history;
  optimizer_->set_steps_taken(p.optimizer_steps);
  return {p.epoch, p.next_batch, p.optimizer_steps, p.loss_sum, p.loss_count};
}

void Trainer::finish_epoch_files() {
  if (!lead()) return;
  const std::string csv = (out_ / "metrics.csv").string();
  io::write_file_atomically(csv, metrics_csv(history_));
  if (c_.plot) {
    const std::string why = plot_curves(csv, (out_ / "curves.png").string());
    if (!why.empty()) say("plot: " + why);
  }
}

int Trainer::run() {
  return run_on_ranks(comm_, [this] { return train(); });
}

int Trainer::train() {
  if (c_.threads > 0) set_num_threads(static_cast<int>(c_.threads));
  out_ = c_.out;
  if (lead())
    say(prepare_output_directory(c_.out, {"checkpoint.safetensors", "model.safetensors", "metrics.csv", "curves.png"}));
  load_data();
  compile();
  data::LoaderOptions lo;
  lo.batch_size = local_batch();
  lo.shuffle = true;
  lo.seed = static_cast<std::uint64_t>(c_.seed);
  lo.drop_last = true;  // the compiled program has a fixed batch size
  // About 1,024 samples ready ahead: small batches then cost the worker few wake-ups.
  lo.prefetch = static_cast<int>(std::clamp<long long>(1024 / local_batch(), 2, 64));
  lo.shards = comm_.size();
  lo.shard = comm_.rank();
  data::DataLoader loader(*train_set_, lo);
  const std::int64_t steps_per_epoch = loader.batches_per_epoch();
  schedule_ = build_schedule(c_, steps_per_epoch);
  Position at;
  if (!c_.resume.empty()) {
    at = resume(steps_per_epoch);
    say("resumed " + c_.resume + " at epoch " + std::to_string(at.epoch + 1) + ", batch " + std::to_string(at.next_batch));
  }
  share_rank0_state();
  const std::string layers = c_.model == "cnn" ? (c_.batch_norm ? "conv32bn-conv64bn-128" : "conv32-conv64-128")
                                                : (c_.hidden_sizes().empty() ? "" : c_.hidden + "-");
  const std::string network = !c_.init_from.empty()
                                  ? "the classifier in " + c_.init_from + ","
                                  : c_.model + " " + std::to_string(data_.train.images.size(1)) + "-" + layers +
                                        (c_.model == "cnn" ? "-" : "") + std::to_string(kClasses) + " " + c_.activation + ",";
  say("stheno train: " + network + " " + c_.loss +
      " loss, " + c_.optimizer + " lr " + std::to_string(c_.lr) + ", batch " + std::to_string(c_.batch) + ", " +
      std::to_string(train_set_->size()) + " training images, " + c_.machine + " machine on " + device_.str() + ", " +
      (comm_.size() > 1 ? std::to_string(comm_.size()) + " ranks × " : "") + std::to_string(num_threads()) +
      " threads, " + std::to_string(model_.net.parameter_count()) + " parameters");

  double train_seconds = 0, first_loss = 0;
  std::int64_t trained_epochs = 0;
  progress_.start_run(c_.epochs, steps_per_epoch, at.epoch, at.next_batch);
  for (std::int64_t epoch = at.epoch; epoch < c_.epochs; ++epoch) {
    const std::int64_t first = epoch == at.epoch ? at.next_batch : 0;
    double loss_sum = epoch == at.epoch ? at.loss_sum : 0;
    std::int64_t loss_count = epoch == at.epoch ? at.loss_count : 0;
    loader.start_epoch(epoch, first);
    progress_.start_epoch(epoch);
    const auto start = std::chrono::steady_clock::now();
    const data::Batch* batch = loader.next();
    while (batch) {
      optimizer_->set_learning_rate(schedule_->at(optimizer_->steps_taken()));
      const bool measure = optimizer_->steps_taken() > 0 || epoch > 0;  // the first step warms up
      testing::AllocationCounter counter;
      const std::int64_t index = batch->index;  // the batch is gone once the next one is taken
      const data::Batch* next = nullptr;
      const double loss = global_loss_(train_step(*batch, loader, next));
      if (measure) {
        measured_allocations_.add(counter);
      }
      if (!std::isfinite(loss))
        throw ValueError(std::string("training diverged: the loss became ") + (std::isnan(loss) ? "NaN" : "infinite") + " at step " +
                         std::to_string(optimizer_->steps_taken()) + " (epoch " + std::to_string(epoch + 1) + ", batch " +
                         std::to_string(index + 1) + " of " + std::to_string(steps_per_epoch) +
                         "); try a smaller --lr (now " + format_number(c_.lr) + ") or --clip");
      if (first_loss == 0) first_loss = loss;
      loss_sum += loss;
      ++loss_count;
      progress_.update(index, c_.batch, loss);
      if (c_.save_every > 0 && optimizer_->steps_taken() % c_.save_every == 0 && index + 1 < steps_per_epoch)
        save_checkpoint({epoch, index + 1, optimizer_->steps_taken(), loss_sum, loss_count});
      batch = next;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    train_seconds += seconds;
    ++trained_epochs;
    const auto [test_loss, accuracy] = evaluate();
    progress_.finish_epoch();
    history_.push_back({epoch + 1, loss_sum / static_cast<double>(std::max<std::int64_t>(loss_count, 1)), test_loss, accuracy, seconds});
    char line[256];
    std::snprintf(line, sizeof line, "epoch %lld: train loss %.4f, test loss %.4f, test accuracy %.2f%% (%.1f s)",
                  static_cast<long long>(epoch + 1), history_.back().train_loss, test_loss, 100 * accuracy, seconds);
    say(line);
    // A finite loss can still run away (Adam at --lr 1e6 keeps it near 1e15): no healthy run
    // ends an epoch a hundred times above where it started.
    if (history_.back().train_loss > 100 * first_loss && first_loss > 0) {
      std::snprintf(line, sizeof line, "warning: the training loss rose from %.4g (first step) to %.4g; the run is diverging, try a smaller --lr (now %s)",
                    first_loss, history_.back().train_loss, format_number(c_.lr).c_str());
      say(line);
    }
    save_checkpoint({epoch + 1, 0, optimizer_->steps_taken(), 0, 0});
    finish_epoch_files();
  }
  share_rank0_buffers();
  if (!lead()) return 0;
  std::vector<io::NamedTensor> weights;
  for (nn::Parameter* p : model_.net.parameters()) weights.push_back({p->name, p->value});
  // The architecture goes with the weights, so that `stheno export` can rebuild the network.
  io::save_safetensors((out_ / "model.safetensors").string(), weights,
                       {{"format", "stheno-model-1"}, {"model", c_.model}, {"hidden", c_.hidden}, {"activation", c_.activation},
                        {"dropout", std::to_string(c_.dropout)}, {"batch_norm", c_.batch_norm ? "1" : "0"},
                        {"init_from", c_.init_from}});

  const EpochMetrics last = history_.empty() ? EpochMetrics{} : history_.back();
  char final_line[160];
  std::snprintf(final_line, sizeof final_line, "final test accuracy: %.2f%%", 100 * last.test_accuracy);
  say(final_line);
  say("wrote " + (out_ / "model.safetensors").string() + " (the trained weights), checkpoint.safetensors, metrics.csv" +
      (c_.plot && std::filesystem::exists(out_ / "curves.png") ? ", curves.png" : ""));
  if (c_.json) {
    std::printf("{\"epochs\": %lld, \"train_seconds_per_epoch\": %.4f, \"test_accuracy\": %.6f, \"test_loss\": %.6f, "
                "%s, \"steps\": %lld, \"machine\": \"%s\", \"device\": \"%s\", \"threads\": %d, \"world_size\": %d, "
                "%s, \"out\": \"%s\"}\n",
                static_cast<long long>(c_.epochs), trained_epochs ? train_seconds / static_cast<double>(trained_epochs) : 0.0,
                last.test_accuracy, last.test_loss, measured_allocations_.json().c_str(), static_cast<long long>(optimizer_->steps_taken()),
                c_.machine.c_str(), device_.str().c_str(), num_threads(), comm_.size(), gemm_json().c_str(),
                out_.string().c_str());
  }
  return 0;
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i)
    if (args[i] == "--model=char-lstm" || (args[i] == "--model" && i + 1 < args.size() && args[i + 1] == "char-lstm"))
      return run_char_lstm(args);
  if (wants_sparse_training(args)) return run_sparse_training(args);
  TrainConfig config;
  return run_command(
      "stheno train", "make the model (--hidden), the batches (--batch) or the evaluation batches (--eval-batch) smaller",
      [&](std::string& help) { return parse_train_config(args, config, help); },
      [&] { return Trainer(config).run(); });
}

}  // namespace stheno::cli
