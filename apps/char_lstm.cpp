#include "char_lstm.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "allocation_counter.hpp"
#include "data_parallel.hpp"
#include "flags.hpp"
#include "metrics.hpp"
#include "output_dir.hpp"
#include "progress.hpp"
#include "stheno/dist/communicator.hpp"
#include "stheno/io/onnx.hpp"
#include "stheno/stheno.hpp"

namespace stheno::cli {

namespace {

struct CharConfig {
  std::string model = "char-lstm";
  std::string text = data::kDefaultTextDirectory;
  long long embed = 64, hidden = 128, seq = 32, batch = 32, steps = 3000;
  double lr = 2e-3, clip = 5.0, validation = 0.1, temperature = 0.7;
  long long sample = 400, seed = 1, threads = 0;
  std::string prime = "The ";
  std::string out = "stheno-run";
  std::string device = "cpu";
  bool json = false;
};

bool parse(const std::vector<std::string>& args, CharConfig& c, std::string& help) {
  Flags f("stheno train --model char-lstm");
  f.add_string("model", &c.model, "char-lstm (the image models take the flags of `stheno train --help`)", {"char-lstm"});
  f.add_string("text", &c.text, "a text file, or a directory whose regular files are read in name order");
  f.add_int("embed", &c.embed, "embedding size", 1, 1 << 16);
  f.add_int("hidden", &c.hidden, "LSTM hidden size", 1, 1 << 16);
  f.add_int("seq", &c.seq, "characters per training window (steps unrolled)", 1, 1 << 12);
  f.add_int("batch", &c.batch, "windows per step", 1, 1 << 16);
  f.add_int("steps", &c.steps, "training steps", 1, 1'000'000'000);
  f.add_double("lr", &c.lr, "Adam learning rate", 0, 10);
  f.add_double("clip", &c.clip, "clip the global gradient norm to this (0: off)", 0, 1e9);
  f.add_double("validation", &c.validation, "fraction of the text held out (its end) for the validation loss", 0.01, 0.5);
  f.add_int("sample", &c.sample, "characters to generate after training", 0, 1'000'000);
  f.add_double("temperature", &c.temperature, "sampling temperature (lower: more conservative)", 0.01, 10);
  f.add_string("prime", &c.prime, "text that starts the generated sample (only bytes that occur in --text)");
  f.add_int("seed", &c.seed, "seed of initialisation, windows and sampling", 0, 1LL << 62);
  f.add_int("threads", &c.threads, "threads (0: one per core)", 0, 1024);
  if (const char* env = std::getenv("STHENO_DEVICE"); env && *env) c.device = env;
  f.add_string("device", &c.device, "where to train: cpu, opencl[:N] or cuda[:N] (default: $STHENO_DEVICE, else cpu)");
  f.add_string("out", &c.out,
               "directory for char-lstm.safetensors (the trained weights); made if missing, checked for writing before "
               "training, and an earlier run's file there is replaced (the first line says so)");
  f.add_bool("json", &c.json, "print one JSON object with the results at the end (progress goes to stderr)");
  help = "usage: stheno train --model char-lstm [flags]\n\nTrains a character-level LSTM (embedding, LSTM, dense to the byte "
         "vocabulary) on a text,\nreports its validation loss next to the unigram baseline, and prints generated text.\n\nflags:\n" +
         f.help();
  return f.parse(args);
}

// The model: bytes -> embedding -> LSTM -> logits over the vocabulary.
struct CharModel {
  nn::Embedding embed;
  nn::LSTM lstm;
  nn::Linear head;
  CharModel(std::int64_t vocabulary, const CharConfig& c, Generator& gen)
      : embed(vocabulary, c.embed, gen), lstm(c.embed, c.hidden, gen), head(c.hidden, vocabulary, gen) {}

  std::vector<nn::Parameter*> parameters() { return nn::parameters_of({&embed, &lstm, &head}); }
  void to(Device device) {
    for (nn::Module* m : std::initializer_list<nn::Module*>{&embed, &lstm, &head}) m->to(device);
  }
  // Every parameter under its checkpoint name ("lstm.weight_hh").
  std::vector<io::NamedTensor> named_tensors() {
    std::vector<io::NamedTensor> all;
    const std::pair<const char*, nn::Module*> modules[] = {{"embed.", &embed}, {"lstm.", &lstm}, {"head.", &head}};
    for (const auto& [prefix, m] : modules)
      for (nn::Parameter* p : m->parameters()) all.push_back({prefix + p->name, p->value});
    return all;
  }
  // Mean cross-entropy of next-character predictions for tokens (N, T) and targets (N·T).
  Node loss(const Node& tokens, const Node& targets) {
    const Node h = lstm(embed(tokens));
    return nn::cross_entropy(head(reshape(h, {h.shape()[0] * h.shape()[1], h.shape()[2]})), targets);
  }
};

class CharTrainer {
 public:
  explicit CharTrainer(const CharConfig& c)
      : c_(c),
        device_(Device::parse(c.device)),
        comm_(dist::world()),
        log_(rank_log(comm_, c.json)),
        progress_(log_, comm_.rank() == 0 && isatty(fileno(log_)), "chars") {}

  int run() {
    return run_on_ranks(comm_, [this] { return train(); });
  }

 private:
  // Data-parallel (under mpirun): every rank draws the same global batch of windows and trains
  // on its share of them, the gradients averaged over the ranks; rank 0 alone evaluates, samples
  // and writes.
  int train() {
    if (c_.threads > 0) set_num_threads(static_cast<int>(c_.threads));
    check_data_parallel(comm_, c_.batch, device_);
    if (comm_.rank() == 0) say(prepare_output_directory(c_.out, {"char-lstm.safetensors"}));
    const std::string text = data::read_text(c_.text);
    const data::CharVocabulary vocabulary(text);
    const std::vector<std::int32_t> ids = vocabulary.encode(text);
    const auto held_out = static_cast<std::size_t>(static_cast<double>(ids.size()) * c_.validation);
    const std::vector<std::int32_t> train(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(held_out));
    const std::vector<std::int32_t> validation(ids.end() - static_cast<std::ptrdiff_t>(held_out), ids.end());
    if (static_cast<long long>(validation.size()) < c_.seq + 1 || static_cast<long long>(train.size()) < c_.seq + 1)
      throw ValueError(c_.text + ": " + std::to_string(ids.size()) + " characters are too few for windows of " +
                       std::to_string(c_.seq) + " steps in both the training and the validation part");
    const std::string prime = c_.prime.empty() ? std::string(1, vocabulary.byte(0)) : c_.prime;
    const std::vector<std::int32_t> prime_ids = encode_prime(vocabulary, prime);
    const double unigram = vocabulary.unigram_entropy(train);
    char line[512];
    std::snprintf(line, sizeof line, "text: %s, %zu characters, %lld distinct bytes; training on %zu, validating on %zu",
                  c_.text.c_str(), ids.size(), static_cast<long long>(vocabulary.size()), train.size(), validation.size());
    say(line);
    std::snprintf(line, sizeof line, "model: embedding %lld, LSTM %lld, dense %lld; unigram baseline %.4f nats/char", c_.embed,
                  c_.hidden, static_cast<long long>(vocabulary.size()), unigram);
    say(line);

    Generator gen(static_cast<std::uint64_t>(c_.seed));
    CharModel model(vocabulary.size(), c_, gen);
    if (!device_.is_host()) {
      say("device: " + device_.str() + " (" + device_runtime(device_).name() + ")");
      model.to(device_);
    }
    const double train_loss = fit(model, train);
    if (comm_.rank() != 0) return 0;
    save(model);
    const double validation_loss = evaluate(model, validation);
    const std::string sample = generate(model, vocabulary, prime, prime_ids);

    std::snprintf(line, sizeof line, "validation loss %.4f nats/char (unigram baseline %.4f, %.1f%% lower)", validation_loss,
                  unigram, 100 * (1 - validation_loss / unigram));
    say(line);
    say("generated text:\n" + sample);
    if (c_.json) {
      std::printf("{\"model\": \"char-lstm\", \"train_loss\": %.5f, \"validation_loss\": %.5f, \"unigram_loss\": %.5f, "
                  "\"chars_per_s\": %.1f, %s, \"device\": \"%s\", \"threads\": %d, \"world_size\": %d, "
                  "%s, \"sample\": %s, \"out\": %s}\n",
                  train_loss, validation_loss, unigram, chars_per_s_, step_allocations_.json().c_str(), device_.str().c_str(), num_threads(),
                  comm_.size(), gemm_json().c_str(),
                  json_string(sample).c_str(),
                  json_string(c_.out).c_str());
    }
    return 0;
  }

  // The model knows only the bytes of its text: a prime with any other byte cannot be fed to it,
  // which is worth knowing before training rather than after.
  std::vector<std::int32_t> encode_prime(const data::CharVocabulary& vocabulary, const std::string& prime) const {
    try {
      return vocabulary.encode(prime);
    } catch (const ValueError&) {
      for (std::size_t i = 0; i < prime.size(); ++i) {
        try {
          vocabulary.encode(prime.substr(i, 1));
        } catch (const ValueError&) {
          const auto byte = static_cast<unsigned char>(prime[i]);
          const std::string shown = byte >= 0x20 && byte < 0x7f ? "'" + prime.substr(i, 1) + "' " : "";
          throw ValueError("--prime '" + prime + "': " + shown + "(byte " + std::to_string(byte) + ") at offset " +
                           std::to_string(i) + " does not occur in --text " + c_.text +
                           ", and the model knows only that text's bytes");
        }
      }
      throw;
    }
  }

  // Trains for c_.steps windows of random offsets; returns the mean loss of the last tenth.
  double fit(CharModel& model, const std::vector<std::int32_t>& train) {
    Graph g;
    const std::int64_t share = c_.batch / comm_.size(), first = share * comm_.rank();
    const Node tokens = g.input("tokens", {share, c_.seq}, DType::i32);
    const Node targets = g.input("targets", {share * c_.seq}, DType::i32);
    const Node loss = model.loss(tokens, targets);
    const std::vector<nn::Parameter*> params = model.parameters();
    optim::Adam adam(nn::values_of(params), c_.lr);
    optim::TrainingStep step(loss, nn::nodes_of(g, params), adam);
    step.set_clip_norm(c_.clip);
    if (comm_.size() > 1) step.distribute(comm_);
    const Tensor x = Tensor::empty({c_.batch, c_.seq}, DType::i32), y = Tensor::empty({c_.batch * c_.seq}, DType::i32);
    const Tensor my_x = x.slice(0, first, first + share), my_y = y.slice(0, first * c_.seq, (first + share) * c_.seq);
    if (device_.is_host()) {  // the windows are written straight into the bound tensors
      step.machine().bind(tokens, my_x);
      step.machine().bind(targets, my_y);
    }
    GlobalLoss global_loss(comm_);

    Generator windows(static_cast<std::uint64_t>(c_.seed) * 7919 + 1);
    const long long tail = std::max(1LL, c_.steps / 10);
    double tail_sum = 0;
    progress_.start_run(1, c_.steps, 0, 0);
    progress_.start_epoch(0);
    const auto start = std::chrono::steady_clock::now();
    for (long long s = 0; s < c_.steps; ++s) {
      testing::AllocationCounter counter;
      data::sample_windows(train, windows, x, y);
      if (!device_.is_host()) {
        step.machine().let(tokens, my_x);
        step.machine().let(targets, my_y);
      }
      const double value = global_loss(step.run());
      if (s > 0) step_allocations_.add(counter);  // the first step warms up
      if (!std::isfinite(value))
        throw ValueError(std::string("training diverged: the loss became ") + (std::isnan(value) ? "NaN" : "infinite") +
                         " at step " + std::to_string(s + 1) +
                         "; try a smaller --lr (now " + format_number(c_.lr) + ") or --clip");
      if (s >= c_.steps - tail) tail_sum += value;
      progress_.update(s, c_.batch * c_.seq, value);
    }
    progress_.finish_epoch();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    chars_per_s_ = static_cast<double>(c_.steps * c_.batch * c_.seq) / seconds;
    return tail_sum / static_cast<double>(tail);
  }

  // Mean loss over consecutive windows of the held-out text, from a zero state each.
  double evaluate(CharModel& model, const std::vector<std::int32_t>& held_out) {
    const std::int64_t windows = (static_cast<std::int64_t>(held_out.size()) - 1) / c_.seq;
    const std::int64_t batch = std::min<std::int64_t>(windows, c_.batch);
    Graph g;
    const Node tokens = g.input("tokens", {batch, c_.seq}, DType::i32);
    const Node targets = g.input("targets", {batch * c_.seq}, DType::i32);
    const Node loss = model.loss(tokens, targets);
    TapeMachine m(g, {loss});
    const Tensor x = Tensor::empty({batch, c_.seq}, DType::i32), y = Tensor::empty({batch * c_.seq}, DType::i32);
    double total = 0;
    std::int64_t batches = 0;
    for (std::int64_t first = 0; first + batch <= windows; first += batch, ++batches) {
      std::int32_t* px = x.data<std::int32_t>();
      std::int32_t* py = y.data<std::int32_t>();
      for (std::int64_t w = 0; w < batch; ++w)
        for (std::int64_t t = 0; t < c_.seq; ++t) {
          const auto at = static_cast<std::size_t>((first + w) * c_.seq + t);
          px[w * c_.seq + t] = held_out[at];
          py[w * c_.seq + t] = held_out[at + 1];
        }
      m.let(tokens, x);
      m.let(targets, y);
      m.run();
      total += static_cast<double>(m.value(loss).item<float>());
    }
    return total / static_cast<double>(batches);
  }

  // Feeds the prime one character at a time, then samples c_.sample characters from the
  // softmax of the logits at the chosen temperature. One compiled step, its state fed back.
  std::string generate(CharModel& model, const data::CharVocabulary& vocabulary, const std::string& prime,
                       const std::vector<std::int32_t>& prime_ids) {
    if (c_.sample == 0) return "";
    Graph g;
    const Node token = g.input("token", {1, 1}, DType::i32);
    const Node h_in = g.input("h", {1, c_.hidden}), c_in = g.input("c", {1, c_.hidden});
    RecurrentState state{h_in, c_in};
    model.lstm.forward(model.embed(token), state);
    const Node logits = model.head(state.h);
    TapeMachine m(g, {logits, state.h, state.c});
    const Tensor tok = Tensor::zeros({1, 1}, DType::i32);
    m.let(h_in, Tensor::zeros({1, c_.hidden}));
    m.let(c_in, Tensor::zeros({1, c_.hidden}));
    auto step = [&](std::int32_t id) {
      tok.data<std::int32_t>()[0] = id;
      m.let(token, tok);
      m.run();
      m.let(h_in, m.value(state.h));  // let copies into the input's own buffer
      m.let(c_in, m.value(state.c));
    };
    for (std::int32_t id : prime_ids) step(id);
    Generator gen(static_cast<std::uint64_t>(c_.seed) + 17);
    std::string out = prime;
    std::vector<double> p(static_cast<std::size_t>(vocabulary.size()));
    for (long long i = 0; i < c_.sample; ++i) {
      const auto z = m.value(logits).to_vector<float>();
      double top = -1e300, total = 0;
      for (float v : z) top = std::max(top, static_cast<double>(v));
      for (std::size_t k = 0; k < p.size(); ++k) total += p[k] = std::exp((z[k] - top) / c_.temperature);
      double u = gen.uniform() * total;
      std::int32_t pick = 0;
      for (std::size_t k = 0; k < p.size(); ++k) {
        u -= p[k];
        pick = static_cast<std::int32_t>(k);
        if (u <= 0) break;
      }
      out += vocabulary.byte(pick);
      step(pick);
    }
    return out;
  }

  void save(CharModel& model) {
    const std::string path = (std::filesystem::path(c_.out) / "char-lstm.safetensors").string();
    io::save_safetensors(path, model.named_tensors(), {{"model", "char-lstm"}});
    say("wrote " + path + " (the trained weights)");
  }

  void say(const std::string& line) const { say_line(log_, line); }

  CharConfig c_;
  Device device_;
  dist::Communicator& comm_;
  std::FILE* log_;
  Progress progress_;
  double chars_per_s_ = 0;
  testing::StepAllocations step_allocations_{!device_.is_host()};
};

}  // namespace

std::string export_char_lstm(const std::string& weights_path, long long steps, const std::string& onnx_path,
                             const std::string& sample_path) {
  const io::SafetensorsFile file = io::load_safetensors(weights_path);
  const Tensor& table = file.get("embed.weight");
  const Tensor& recurrent = file.get("lstm.weight_hh");
  if (table.rank() != 2 || recurrent.rank() != 2) throw ValueError(weights_path + ": embed.weight and lstm.weight_hh must be matrices");
  CharConfig c;
  c.embed = table.shape()[1];
  c.hidden = recurrent.shape()[0];
  Generator gen(1);
  CharModel model(table.shape()[0], c, gen);
  std::vector<io::NamedTensor> targets = model.named_tensors();
  for (const io::NamedTensor& t : targets) {
    const Tensor& saved = file.get(t.name);
    if (saved.shape() != t.tensor.shape())
      throw ValueError(weights_path + ": " + t.name + " is " + saved.shape().str() + ", but the model built from embed.weight and lstm.weight_hh needs " + t.tensor.shape().str());
    t.tensor.copy_from(saved);
  }
  Graph g;
  const std::int64_t batch = 3;  // not 1: a runtime that reads the export with another batch size shows it symbolic
  const Node tokens = g.input("tokens", {batch, steps}, DType::i32);
  const Node h = model.lstm(model.embed(tokens));
  const Node flat = model.head(reshape(h, {batch * steps, c.hidden}));
  Node logits = reshape(flat, {batch, steps, table.shape()[0]});
  logits.set_name("logits");
  io::save_onnx(g, {tokens}, {logits}, onnx_path);
  if (!sample_path.empty()) write_sample(g, tokens, logits, sample_path, table.shape()[0]);
  return "wrote " + onnx_path + ": char-lstm (embedding " + std::to_string(c.embed) + ", LSTM " + std::to_string(c.hidden) +
         "), input tokens (N, " + std::to_string(steps) + ") int32 bytes, output logits (N, " + std::to_string(steps) + ", " +
         std::to_string(table.shape()[0]) + ")";
}

int run_char_lstm(const std::vector<std::string>& args) {
  CharConfig config;
  return run_command(
      "stheno train", "make the model (--hidden, --embed) or the batches (--batch, --seq) smaller",
      [&](std::string& help) { return parse(args, config, help); }, [&] { return CharTrainer(config).run(); });
}

}  // namespace stheno::cli
