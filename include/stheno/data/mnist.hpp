#pragma once
// MNIST and Fashion-MNIST, which share their file names and format: 28x28 grey images in IDX
// files, with labels 0 to 9.
#include <string>

#include "stheno/tensor/tensor.hpp"

namespace stheno::data {

// Where Debian's dataset-fashion-mnist package installs the four files.
inline constexpr const char* kDefaultMnistDirectory = "/usr/share/datasets/fashion-mnist";

struct MnistSplit {
  Tensor images;  // (N, rows * cols) float32: pixel / 255, in [0, 1]
  Tensor labels;  // (N,) int32, 0 to 9
};

struct Mnist {
  MnistSplit train, test;
};

// Loads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte from `directory`, each plain or gzip'd (with a .gz suffix). Throws
// IOError for a missing or malformed file (see read_idx), images that are not rank 3, labels
// that are not rank 1, a label count that differs from the image count, or a label above 9.
Mnist load_mnist(const std::string& directory);

}  // namespace stheno::data
