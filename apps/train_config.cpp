#include "train_config.hpp"

#include <cstdlib>
#include <sstream>

#include "stheno/tensor/device.hpp"

namespace stheno::cli {

std::vector<long long> TrainConfig::hidden_sizes() const {
  std::vector<long long> sizes;
  if (hidden.empty() || hidden == "none") return sizes;
  std::stringstream ss(hidden);
  std::string part;
  while (std::getline(ss, part, ',')) {
    char* end = nullptr;
    const long long n = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0')
      throw UsageError("--hidden " + hidden + ": expected comma-separated positive sizes such as 256,128 (or none)");
    if (n < 1 || n > kMaxHidden)
      throw UsageError("--hidden " + hidden + ": each size must be between 1 and " + std::to_string(kMaxHidden));
    sizes.push_back(n);
  }
  return sizes;
}

bool parse_train_config(const std::vector<std::string>& args, TrainConfig& c, std::string& help) {
  Flags f("stheno train");
  f.add_string("data", &c.data, "directory of MNIST-format IDX files (plain or .gz)");
  f.add_string("model", &c.model,
               "mlp: --hidden layers; cnn: conv 5x5 32, max-pool 2, conv 5x5 64, max-pool 2, dense 128 (28x28 images); "
               "char-lstm: a character-level LSTM on text (see `stheno train --model char-lstm --help`)",
               {"mlp", "cnn", "char-lstm"});
  f.add_string("hidden", &c.hidden, "hidden layer sizes, comma-separated, or none");
  f.add_string("activation", &c.activation, "hidden (and, for quadratic/mse, output) activation", {"relu", "sigmoid", "tanh"});
  f.add_string("init", &c.init, "weight initialiser", {"auto", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "normal"});
  f.add_string("bias-init", &c.bias_init, "bias initialiser", {"zeros", "normal"});
  f.add_string("loss", &c.loss, "xent: softmax cross-entropy; quadratic: Nielsen's ½‖a−y‖²; mse", {"xent", "quadratic", "mse"});
  f.add_string("optimizer", &c.optimizer, "optimizer", {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"});
  f.add_double("lr", &c.lr, "learning rate", 0, 1e6);
  f.add_double("momentum", &c.momentum, "momentum for momentum and nesterov", 0, 0.999999);
  f.add_double("weight-decay", &c.weight_decay, "weight decay (L2; decoupled for adamw)", 0, 1e3);
  f.add_string("schedule", &c.schedule, "learning-rate schedule", {"none", "step", "cosine"});
  f.add_int("step-size", &c.step_size, "epochs between decays of the step schedule", 1, 1'000'000);
  f.add_double("gamma", &c.gamma, "decay factor of the step schedule", 0, 1);
  f.add_int("warmup", &c.warmup, "steps of linear learning-rate warm-up", 0, 1'000'000'000);
  f.add_double("clip", &c.clip, "clip the global gradient norm to this (0: off)", 0, 1e9);
  f.add_double("dropout", &c.dropout, "dropout probability after each hidden layer", 0, 0.99);
  f.add_bool("batch-norm", &c.batch_norm, "cnn: batch normalisation after each convolution (statistics saved in checkpoints)");
  f.add_bool("sync-batch-norm", &c.sync_batch_norm,
             "under mpirun: batch norm with the statistics of the whole global batch, averaged over the ranks at every "
             "step (default: each rank normalises with its own share's)");
  f.add_int("batch", &c.batch, "mini-batch size", 1, 1'000'000);
  f.add_int("epochs", &c.epochs, "epochs", 1, 1'000'000);
  f.add_int("eval-batch", &c.eval_batch, "batch size for evaluation", 1, 1'000'000);
  f.add_int("threads", &c.threads, "threads (0: one per core)", 0, 1024);
  f.add_int("seed", &c.seed, "seed of initialisation, shuffling and dropout", 0, 1LL << 62);
  f.add_int("train-limit", &c.train_limit, "use only the first N training images (0: all)", 0, 1'000'000'000);
  if (const char* env = std::getenv("STHENO_DEVICE"); env && *env) c.device = env;
  f.add_string("device", &c.device, "where to train: cpu, opencl[:N] or cuda[:N] (the N-th OpenCL or CUDA device; default: "
               "$STHENO_DEVICE, else cpu)");
  f.add_string("machine", &c.machine, "tape: compile once, run many; eager: build the graph each step", {"tape", "eager"});
  f.add_string("out", &c.out,
               "directory for model.safetensors, checkpoint.safetensors, metrics.csv and curves.png; made if missing, "
               "checked for writing before training, and an earlier run's files there are replaced (the first line "
               "says which)");
  f.add_int("save-every", &c.save_every, "also checkpoint every N steps (0: at the end of each epoch only)", 0, 1'000'000'000);
  f.add_string("resume", &c.resume, "resume from this checkpoint, exactly where it stopped");
  f.add_string("init-from", &c.init_from,
               "fine-tune the classifier in this ONNX file (exported by stheno or another framework) instead of the "
               "network --model describes; its input takes the images");
  f.add_bool("tf32", &c.tf32, "cuda: float32 products in TF32 on tensor cores (10-bit mantissas; off: full float32)");
  f.add_bool("json", &c.json, "print one JSON object with the results at the end (progress goes to stderr)");
  f.add_bool("plot", &c.plot, "plot loss and accuracy curves to curves.png with gnuplot");
  help = "usage: stheno train [flags]\n\nTrains a classifier on an MNIST-format dataset (Fashion-MNIST by default) and reports\n"
         "its test accuracy.\n\nThe network of Nielsen's book (784-30-10, sigmoid, quadratic cost, SGD, rate 3.0, batches\n"
         "of 10, first 50,000 images):\n  stheno train --hidden 30 --activation sigmoid --loss quadratic --optimizer sgd --lr 3.0 \\\n"
         "    --batch 10 --train-limit 50000 --init normal --bias-init normal --epochs 5\n\n"
         "Data-parallel, under Open MPI: each rank trains on its share of every --batch (the global batch),\n"
         "and rank 0 writes the files:\n  mpirun -np 2 stheno train --batch 64\n\nflags:\n" +
         f.help();
  if (!f.parse(args)) return false;
  c.hidden_sizes();  // validates
  Device device;
  try {
    device = Device::parse(c.device);
  } catch (const ValueError& e) {
    throw UsageError(std::string("--device: ") + e.what());
  }
  if (f.given("tf32") && device.kind != DeviceKind::cuda) throw UsageError("--tf32 applies to --device cuda only");
  // The CUDA backend reads it when the device starts, which is after this.
  if (c.tf32) setenv("STHENO_CUDA_TF32", "1", 1);
  // Flags that the chosen model has no use for are mistakes, not defaults to ignore.
  if (c.model == "cnn")
    for (const char* name : {"hidden", "bias-init"})
      if (f.given(name)) throw UsageError(std::string("--") + name + " applies to --model mlp; the cnn's layers are fixed (see --model in --help)");
  if (c.model == "mlp" && f.given("batch-norm")) throw UsageError("--batch-norm applies to --model cnn only");
  if (!c.init_from.empty())
    for (const char* name : {"model", "hidden", "activation", "init", "bias-init", "dropout", "batch-norm", "sync-batch-norm"})
      if (f.given(name)) throw UsageError(std::string("--") + name + " describes the network, which --init-from takes from its file");
  if (!c.init_from.empty()) c.model = "onnx";
  if (c.sync_batch_norm && !c.batch_norm) throw UsageError("--sync-batch-norm needs --model cnn --batch-norm");
  if (!f.given("init") && c.init == "auto") c.init = c.activation == "relu" ? "he_uniform" : "glorot_uniform";
  return true;
}

}  // namespace stheno::cli
