#pragma once
// The image classifiers `stheno train` builds from its flags, shared with `stheno export`.
#include <vector>

#include "stheno/nn/module.hpp"
#include "train_config.hpp"

namespace stheno::cli {

inline constexpr std::int64_t kClasses = 10;

struct Model {
  nn::Sequential net;
  std::vector<nn::Dropout*> dropouts;
  std::vector<nn::BatchNorm*> norms;
};

// --model mlp or cnn, for images of `inputs` pixels, initialised from --seed; or the classifier
// in --init-from's ONNX file.
Model build_model(const TrainConfig& c, std::int64_t inputs);

}  // namespace stheno::cli
