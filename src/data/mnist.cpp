#include "stheno/data/mnist.hpp"

#include <filesystem>
#include <system_error>

#include "stheno/data/idx.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno::data {

namespace {

constexpr int kClasses = 10;

struct SplitFiles {
  std::string images, labels;
};

// The file as named, or else its gzip'd form.
std::string find_file(const std::filesystem::path& directory, const std::string& name) {
  for (const std::string& candidate : {name, name + ".gz"}) {
    std::error_code ignored;
    if (std::filesystem::exists(directory / candidate, ignored)) return (directory / candidate).string();
  }
  throw IOError("load_mnist: " + directory.string() + " has neither " + name + " nor " + name + ".gz");
}

SplitFiles find_split(const std::filesystem::path& directory, const std::string& prefix) {
  return {find_file(directory, prefix + "-images-idx3-ubyte"), find_file(directory, prefix + "-labels-idx1-ubyte")};
}

Tensor images_from(const IdxArray& images, const std::string& path) {
  if (images.shape.rank() != 3)
    throw IOError("load_mnist: " + path + " holds an array of shape " + images.shape.str() +
                  " (expected rank 3: images, rows, columns)");
  Tensor pixels = Tensor::empty({images.shape[0], images.shape[1] * images.shape[2]});
  float* out = pixels.data<float>();
  for (std::size_t i = 0; i < images.bytes.size(); ++i) out[i] = static_cast<float>(images.bytes[i]) / 255.0f;
  return pixels;
}

Tensor labels_from(const IdxArray& labels, const std::string& path) {
  if (labels.shape.rank() != 1)
    throw IOError("load_mnist: " + path + " holds an array of shape " + labels.shape.str() +
                  " (expected rank 1: one label per image)");
  Tensor classes = Tensor::empty({labels.shape[0]}, DType::i32);
  std::int32_t* out = classes.data<std::int32_t>();
  for (std::size_t i = 0; i < labels.bytes.size(); ++i) {
    if (labels.bytes[i] >= kClasses)
      throw IOError("load_mnist: " + path + ": label " + std::to_string(i) + " is " +
                    std::to_string(labels.bytes[i]) + " (expected 0 to 9)");
    out[i] = labels.bytes[i];
  }
  return classes;
}

MnistSplit load_split(const SplitFiles& files) {
  MnistSplit split{images_from(read_idx(files.images), files.images), labels_from(read_idx(files.labels), files.labels)};
  if (split.labels.size(0) != split.images.size(0))
    throw IOError("load_mnist: " + files.labels + " holds " + std::to_string(split.labels.size(0)) + " labels but " +
                  files.images + " holds " + std::to_string(split.images.size(0)) +
                  " images (expected one label per image)");
  return split;
}

}  // namespace

Mnist load_mnist(const std::string& directory) {
  std::error_code ignored;
  if (!std::filesystem::is_directory(directory, ignored))
    throw IOError("load_mnist: " + directory + " is not a directory (expected one holding the MNIST files)");
  // All four are found before any is read, so that a missing one is reported at once.
  const SplitFiles train_files = find_split(directory, "train");
  const SplitFiles test_files = find_split(directory, "t10k");
  Mnist mnist{load_split(train_files), load_split(test_files)};
  if (mnist.test.images.size(1) != mnist.train.images.size(1))
    throw IOError("load_mnist: " + test_files.images + " has images of " + std::to_string(mnist.test.images.size(1)) +
                  " pixels but " + train_files.images + " has images of " + std::to_string(mnist.train.images.size(1)) +
                  " (expected the same size)");
  return mnist;
}

}  // namespace stheno::data
