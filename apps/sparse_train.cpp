#include "sparse_train.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>

#include "allocation_counter.hpp"
#include "flags.hpp"
#include "metrics.hpp"
#include "output_dir.hpp"
#include "progress.hpp"
#include "stheno/dist/communicator.hpp"
#include "stheno/stheno.hpp"

namespace stheno::cli {

namespace {

struct SparseConfig {
  std::string data, test, model = "linear", optimizer = "adam", out = "stheno-run";
  long long features = 0, hidden = 128, batch = 128, epochs = 5, seed = 1, threads = 0;
  double lr = 0.01, test_fraction = 0.2;
  bool json = false;
};

bool parse(const std::vector<std::string>& args, SparseConfig& c, std::string& help) {
  Flags f("stheno train --data FILE.svm");
  f.add_string("data", &c.data, "the training samples, a LIBSVM/SVMlight file (label index:value ...)");
  f.add_string("test", &c.test, "the test samples, same format (default: the last --test-fraction of --data)");
  f.add_double("test-fraction", &c.test_fraction, "share of --data held out for testing when --test is not given", 0.01, 0.9);
  f.add_string("model", &c.model, "linear: one sparse layer to the classes; mlp: a sparse layer of --hidden ReLU units, then one to the classes",
               {"linear", "mlp"});
  f.add_int("features", &c.features, "the feature count (0: the largest index in --data)", 0, (1LL << 31) - 1);
  f.add_int("hidden", &c.hidden, "hidden units of --model mlp", 1, 1 << 20);
  f.add_string("optimizer", &c.optimizer,
               "optimizer; sgd, adagrad and sparse_adam update only the weight rows of the features a batch holds",
               {"sgd", "adagrad", "adam", "sparse_adam"});
  f.add_double("lr", &c.lr, "learning rate", 0, 100);
  f.add_int("batch", &c.batch, "samples per step", 1, 1 << 20);
  f.add_int("epochs", &c.epochs, "passes over the training samples", 1, 1'000'000);
  f.add_int("seed", &c.seed, "seed of initialisation and shuffling", 0, 1LL << 62);
  f.add_int("threads", &c.threads, "threads (0: one per core)", 0, 1024);
  f.add_string("out", &c.out, "directory for sparse-model.safetensors (the trained weights); made if missing");
  f.add_bool("json", &c.json, "print one JSON object with the results at the end (progress goes to stderr)");
  help = "usage: stheno train --data FILE.svm [flags]\n\nTrains a linear model or an MLP on sparse features read from a LIBSVM file and\n"
         "reports the test accuracy after every epoch.\n\nflags:\n" + f.help();
  if (!f.parse(args)) return false;
  if (c.data.empty()) throw UsageError("--data FILE.svm is required");
  if (c.model == "linear" && f.given("hidden")) throw UsageError("--hidden applies to --model mlp only");
  return true;
}

// The sum of the `batch` longest rows: room for the entries of any batch of that many rows.
std::int64_t room_for(const CsrMatrix& x, std::int64_t batch) {
  const std::int32_t* o = x.row_offsets().data<std::int32_t>();
  std::vector<std::int32_t> lengths(static_cast<std::size_t>(x.rows()));
  for (std::int64_t r = 0; r < x.rows(); ++r) lengths[static_cast<std::size_t>(r)] = o[r + 1] - o[r];
  const auto take = std::min<std::size_t>(lengths.size(), static_cast<std::size_t>(batch));
  std::partial_sort(lengths.begin(), lengths.begin() + static_cast<std::ptrdiff_t>(take), lengths.end(), std::greater<>());
  return std::max<std::int64_t>(1, std::accumulate(lengths.begin(), lengths.begin() + static_cast<std::ptrdiff_t>(take), std::int64_t{0}));
}

// Writes rows `rows` of x (and their labels) into a sparse input's bound arrays, and empty rows
// (label 0) after them up to the batch size.
void gather_batch(const CsrMatrix& x, const Tensor& labels, std::span<const std::int64_t> rows, const Tensor& offsets,
                  const Tensor& columns, const Tensor& values, const Tensor& batch_labels) {
  const std::int32_t* o = x.row_offsets().data<std::int32_t>();
  const std::int32_t* c = x.columns().data<std::int32_t>();
  const float* v = x.values().data<float>();
  std::int32_t* bo = offsets.data<std::int32_t>();
  std::int32_t* bc = columns.data<std::int32_t>();
  float* bv = values.data<float>();
  std::int32_t* bl = batch_labels.data<std::int32_t>();
  std::int32_t k = 0;
  bo[0] = 0;
  const std::int64_t size = batch_labels.numel();
  for (std::int64_t i = 0; i < size; ++i) {
    if (i < static_cast<std::int64_t>(rows.size())) {
      const std::int64_t r = rows[static_cast<std::size_t>(i)];
      const std::int32_t n = o[r + 1] - o[r];
      std::copy(c + o[r], c + o[r + 1], bc + k);
      std::copy(v + o[r], v + o[r + 1], bv + k);
      k += n;
      bl[i] = labels.data<std::int32_t>()[r];
    } else {
      bl[i] = 0;
    }
    bo[i + 1] = k;
  }
}

class SparseTrainer {
 public:
  explicit SparseTrainer(const SparseConfig& c)
      : c_(c), log_(c.json ? stderr : stdout), progress_(log_, isatty(fileno(log_)), "samples") {}

  int run() {
    if (c_.threads > 0) set_num_threads(static_cast<int>(c_.threads));
    say(prepare_output_directory(c_.out, {"sparse-model.safetensors"}));
    data::SparseSamples train = data::read_libsvm(c_.data, {c_.features, {}});
    data::SparseSamples test;
    if (!c_.test.empty()) {
      test = data::read_libsvm(c_.test, {train.features.cols(), train.classes});
    } else {
      const std::int64_t n = train.features.rows();
      const auto held = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::floor(static_cast<double>(n) * c_.test_fraction)));
      if (n - held < 1) throw ValueError(c_.data + ": " + std::to_string(n) + " samples are too few to hold some out for testing; give --test");
      test.features = train.features.rows_slice(n - held, n);
      test.labels = train.labels.slice(0, n - held, n).clone();
      test.classes = train.classes;
      train.features = train.features.rows_slice(0, n - held);
      train.labels = train.labels.slice(0, 0, n - held).clone();
    }
    const std::int64_t features = train.features.cols(), classes = static_cast<std::int64_t>(train.classes.size());
    if (classes < 2) throw ValueError(c_.data + ": every sample has the same label; there is nothing to learn");
    char line[512];
    std::snprintf(line, sizeof line, "data: %s, %lld training and %lld test samples, %lld features (%.3g%% stored), %lld classes",
                  c_.data.c_str(), static_cast<long long>(train.features.rows()), static_cast<long long>(test.features.rows()),
                  static_cast<long long>(features), 100 * train.features.density(), static_cast<long long>(classes));
    say(line);

    Generator gen(static_cast<std::uint64_t>(c_.seed));
    const std::int64_t first_width = c_.model == "mlp" ? c_.hidden : classes;
    weights_.push_back({"w1", glorot({features, first_width}, gen)});
    weights_.push_back({"b1", Tensor::zeros({first_width})});
    if (c_.model == "mlp") {
      weights_.push_back({"w2", glorot({c_.hidden, classes}, gen)});
      weights_.push_back({"b2", Tensor::zeros({classes})});
    }
    std::snprintf(line, sizeof line, "model: %s, %lld features -> %s%lld classes, %s lr %s, batch %lld", c_.model.c_str(),
                  static_cast<long long>(features), c_.model == "mlp" ? (std::to_string(c_.hidden) + " ReLU -> ").c_str() : "",
                  static_cast<long long>(classes), c_.optimizer.c_str(), format_number(c_.lr).c_str(), c_.batch);
    say(line);
    fit(train, test);
    const std::string path = (std::filesystem::path(c_.out) / "sparse-model.safetensors").string();
    io::save_safetensors(path, weights_, {{"model", "sparse-" + c_.model}, {"features", std::to_string(features)}});
    say("wrote " + path + " (the trained weights)");
    if (c_.json)
      std::printf("{\"model\": \"%s\", \"test_accuracy\": %.5f, \"train_loss\": %.5f, \"samples_per_s\": %.1f, "
                  "%s, \"features\": %lld, \"classes\": %lld, \"threads\": %d, %s}\n",
                  c_.model.c_str(), accuracy_, train_loss_, samples_per_s_, step_allocations_.json().c_str(),
                  static_cast<long long>(features), static_cast<long long>(classes), num_threads(), gemm_json().c_str());
    return 0;
  }

 private:
  static Tensor glorot(const Shape& shape, Generator& gen) {
    const double bound = std::sqrt(6.0 / static_cast<double>(shape[0] + shape[1]));
    return Tensor::uniform(shape, gen, -bound, bound);
  }

  // The model's logits for the sparse batch x, its weights as parameters of x's graph.
  Node logits(Graph& g, const CsrNode& x) {
    std::vector<Node> p;
    for (const io::NamedTensor& w : weights_) p.push_back(g.parameter(w.name, w.tensor));
    // A row-sparse gradient for the first layer's weights where the optimizer can apply one: a
    // step then touches the rows of the features the batch holds, not the whole (features, n)
    // matrix.
    const bool rows = c_.optimizer != "adam";
    const Node first = sparse_matmul(x, p[0], rows ? TableGradient::rows : TableGradient::dense) + p[1];
    return c_.model == "mlp" ? matmul_add(p[3], relu(first), p[2]) : first;
  }

  void fit(const data::SparseSamples& train, const data::SparseSamples& test) {
    const std::int64_t batch = std::min<std::int64_t>(c_.batch, train.features.rows());
    Graph g;
    const CsrNode x = csr_input(g, "x", batch, train.features.cols(), room_for(train.features, batch));
    const Node labels = g.input("labels", {batch}, DType::i32);
    const Node loss = nn::cross_entropy(logits(g, x), labels);
    std::vector<Tensor> values;
    std::vector<Node> nodes;
    for (const io::NamedTensor& w : weights_) values.push_back(w.tensor), nodes.push_back(g.find(w.name));
    optim::OptimizerOptions options;
    options.lr = c_.lr;
    const std::unique_ptr<optim::Optimizer> optimizer = optim::make_optimizer(c_.optimizer, values, options);
    optim::TrainingStep step(loss, nodes, *optimizer);
    // The batch is written straight into these bound arrays: no copy, no allocation per step.
    const Tensor offsets = Tensor::empty(x.row_offsets.shape(), DType::i32), columns = Tensor::empty(x.columns.shape(), DType::i32),
                 vals = Tensor::empty(x.values.shape()), ys = Tensor::empty({batch}, DType::i32);
    step.machine().bind(x.row_offsets, offsets);
    step.machine().bind(x.columns, columns);
    step.machine().bind(x.values, vals);
    step.machine().bind(labels, ys);

    const std::unique_ptr<Evaluation> evaluation = compile_evaluation(test);
    std::vector<std::int64_t> order(static_cast<std::size_t>(train.features.rows()));
    std::iota(order.begin(), order.end(), 0);
    Generator shuffle(static_cast<std::uint64_t>(c_.seed) * 7919 + 3);
    const std::int64_t steps_per_epoch = train.features.rows() / batch;
    double seconds = 0;
    progress_.start_run(c_.epochs, steps_per_epoch, 0, 0);
    for (long long epoch = 0; epoch < c_.epochs; ++epoch) {
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
      progress_.start_epoch(static_cast<int>(epoch));
      const auto start = std::chrono::steady_clock::now();
      double sum = 0;
      for (std::int64_t s = 0; s < steps_per_epoch; ++s) {
        testing::AllocationCounter counter;
        gather_batch(train.features, train.labels, std::span(order).subspan(static_cast<std::size_t>(s * batch), static_cast<std::size_t>(batch)),
                     offsets, columns, vals, ys);
        const double value = step.run();
        if (epoch > 0 || s > 0) step_allocations_.add(counter);
        if (!std::isfinite(value))
          throw ValueError("training diverged: the loss became " + std::string(std::isnan(value) ? "NaN" : "infinite") +
                           "; try a smaller --lr (now " + format_number(c_.lr) + ")");
        sum += value;
        progress_.update(s, batch, value);
      }
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress_.finish_epoch();
      train_loss_ = sum / static_cast<double>(steps_per_epoch);
      accuracy_ = evaluate(*evaluation, test);
      char line[160];
      std::snprintf(line, sizeof line, "epoch %lld: train loss %.4f, test accuracy %.2f%%", epoch + 1, train_loss_, 100 * accuracy_);
      say(line);
    }
    samples_per_s_ = static_cast<double>(c_.epochs * steps_per_epoch * batch) / seconds;
  }

  // The test program, compiled once: predictions for batches of up to 1000 samples (the last
  // one padded with empty rows), the batch written into arrays bound to it.
  struct Evaluation {
    Graph graph;
    CsrNode x;
    Node predicted;
    std::unique_ptr<TapeMachine> machine;
    Tensor offsets, columns, values, labels;
  };

  std::unique_ptr<Evaluation> compile_evaluation(const data::SparseSamples& test) {
    auto e = std::make_unique<Evaluation>();
    const std::int64_t batch = std::min<std::int64_t>(1000, test.features.rows());
    e->x = csr_input(e->graph, "x", batch, test.features.cols(), room_for(test.features, batch));
    e->predicted = argmax(logits(e->graph, e->x), 1);
    e->machine = std::make_unique<TapeMachine>(e->graph, std::vector<Node>{e->predicted});
    e->offsets = Tensor::empty(e->x.row_offsets.shape(), DType::i32);
    e->columns = Tensor::empty(e->x.columns.shape(), DType::i32);
    e->values = Tensor::empty(e->x.values.shape());
    e->labels = Tensor::empty({batch}, DType::i32);
    e->machine->bind(e->x.row_offsets, e->offsets);
    e->machine->bind(e->x.columns, e->columns);
    e->machine->bind(e->x.values, e->values);
    return e;
  }

  // Accuracy over all test samples.
  double evaluate(Evaluation& e, const data::SparseSamples& test) {
    const std::int64_t n = test.features.rows(), batch = e.labels.numel();
    std::vector<std::int64_t> rows;
    std::int64_t correct = 0;
    for (std::int64_t first = 0; first < n; first += batch) {
      rows.resize(static_cast<std::size_t>(std::min(batch, n - first)));
      std::iota(rows.begin(), rows.end(), first);
      gather_batch(test.features, test.labels, rows, e.offsets, e.columns, e.values, e.labels);
      e.machine->run();
      const std::int32_t* p = e.machine->value(e.predicted).data<std::int32_t>();
      for (std::size_t i = 0; i < rows.size(); ++i) correct += p[i] == e.labels.data<std::int32_t>()[i];
    }
    return static_cast<double>(correct) / static_cast<double>(n);
  }

  void say(const std::string& line) const { say_line(log_, line); }

  SparseConfig c_;
  std::FILE* log_;
  Progress progress_;
  std::vector<io::NamedTensor> weights_;
  double accuracy_ = 0, train_loss_ = 0, samples_per_s_ = 0;
  testing::StepAllocations step_allocations_{false};
};

}  // namespace

bool wants_sparse_training(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string value;
    if (args[i].rfind("--data=", 0) == 0) value = args[i].substr(7);
    else if (args[i] == "--data" && i + 1 < args.size()) value = args[i + 1];
    else if (args[i] == "--model=linear" || (args[i] == "--model" && i + 1 < args.size() && args[i + 1] == "linear")) return true;
    // The image models read a directory of IDX files; a file is a LIBSVM file whatever its name
    // (the LIBSVM site's datasets have none), and a name with a LIBSVM suffix is meant as one
    // even if missing (its error then names it).
    std::error_code ignored;
    if (!value.empty() && std::filesystem::is_regular_file(value, ignored)) return true;
    for (const char* suffix : {".svm", ".libsvm", ".svmlight"})
      if (value.size() > std::string(suffix).size() && value.ends_with(suffix)) return true;
  }
  return false;
}

int run_sparse_training(const std::vector<std::string>& args) {
  SparseConfig config;
  return run_command(
      "stheno train", "make the model (--hidden) or the batches (--batch) smaller",
      [&](std::string& help) { return parse(args, config, help); },
      [&] {
        if (dist::world().size() > 1)
          throw ValueError("training on LIBSVM data runs in one process: its row-sparse gradients are not reduced "
                           "across ranks yet; start it without mpirun");
        return SparseTrainer(config).run();
      });
}

}  // namespace stheno::cli
