#pragma once
// Datasets as DataLoader sees them: a number of samples, each an input of fixed shape and dtype
// with an int32 label, gathered in batches into tensors the caller owns.
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "stheno/tensor/tensor.hpp"

namespace stheno::data {

class Dataset {
 public:
  virtual ~Dataset();

  virtual std::int64_t size() const = 0;
  // The shape and dtype of one sample's input.
  virtual Shape input_shape() const = 0;
  virtual DType input_dtype() const = 0;
  // Writes samples `indices` into the rows of `inputs` (B, input_shape...) of input_dtype and
  // `labels` (B,) int32, where B = indices.size(). DataLoader calls it from its worker thread,
  // so it must be safe to call concurrently with the dataset's other const members.
  virtual void gather(std::span<const std::int64_t> indices, const Tensor& inputs, const Tensor& labels) const = 0;
};

// Samples held in memory: row i of `inputs` (N, ...) with label i of `labels` (N,) int32. The
// tensors are shared, not copied (unless not contiguous), so normalising them in place later
// changes what the dataset serves.
class TensorDataset : public Dataset {
 public:
  // With `limit`, only the first `limit` samples (0 to N) are used.
  TensorDataset(const Tensor& inputs, const Tensor& labels, std::optional<std::int64_t> limit = std::nullopt);

  std::int64_t size() const override { return inputs_.size(0); }
  Shape input_shape() const override;
  DType input_dtype() const override { return inputs_.dtype(); }
  void gather(std::span<const std::int64_t> indices, const Tensor& inputs, const Tensor& labels) const override;

  const Tensor& inputs() const { return inputs_; }
  const Tensor& labels() const { return labels_; }

 private:
  Tensor inputs_;
  Tensor labels_;
};

// The mean and (population) standard deviation of all elements of a float tensor, accumulated
// in double.
std::pair<double, double> mean_and_stddev(const Tensor& values);

// images = (images - mean) / stddev, in place, for a float tensor; stddev must be positive.
void normalize(const Tensor& images, double mean, double stddev);

}  // namespace stheno::data
