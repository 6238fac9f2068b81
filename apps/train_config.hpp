#pragma once
// Everything `stheno train` can be told, with its defaults: the default job trains an MLP on
// Fashion-MNIST to about 88% test accuracy in well under two minutes on two cores.
#include <string>
#include <vector>

#include "flags.hpp"

namespace stheno::cli {

// The widest hidden layer --hidden accepts: a million units on 784 inputs are already 3 GB of
// weights, and Adam keeps two more copies.
inline constexpr long long kMaxHidden = 1'000'000;

struct TrainConfig {
  std::string data = "/usr/share/datasets/fashion-mnist";
  std::string model = "mlp";           // mlp, cnn; "onnx" with --init-from
  std::string hidden = "256";          // comma-separated hidden layer sizes
  std::string activation = "relu";
  std::string init = "auto";           // auto: he_uniform for relu, glorot_uniform otherwise
  std::string bias_init = "zeros";
  std::string loss = "xent";
  std::string optimizer = "adam";
  double lr = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0;
  std::string schedule = "none";
  long long step_size = 1;             // epochs per decay of the step schedule
  double gamma = 0.5;
  long long warmup = 0;                // steps
  double clip = 0;                     // global gradient norm; 0 = off
  double dropout = 0;
  bool batch_norm = false;             // cnn: batch normalisation after each convolution
  bool tf32 = false;                   // cuda: products in TF32 on tensor cores
  bool sync_batch_norm = false;        // under mpirun: the global batch's statistics
  long long batch = 64;
  long long epochs = 8;
  long long eval_batch = 1000;
  long long threads = 0;               // 0 = all cores
  long long seed = 1;
  long long train_limit = 0;           // 0 = all training images
  std::string machine = "tape";
  std::string device = "cpu";          // cpu, opencl[:N] or cuda[:N] (STHENO_DEVICE sets the default)
  std::string out = "stheno-run";
  long long save_every = 0;            // steps between mid-epoch checkpoints; 0 = end of epoch only
  std::string resume;
  std::string init_from;               // an ONNX classifier to fine-tune instead of --model's network
  bool json = false;
  bool plot = true;

  std::vector<long long> hidden_sizes() const;
};

// Parses `stheno train` flags; returns false after printing help for --help.
bool parse_train_config(const std::vector<std::string>& args, TrainConfig& config, std::string& help);

}  // namespace stheno::cli
