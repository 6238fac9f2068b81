#pragma once
// DataLoader: the batches of a Dataset in a seeded shuffled order, prepared by a background
// thread while the caller trains on the previous batch.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "stheno/data/dataset.hpp"

namespace stheno::data {

struct LoaderOptions {
  std::int64_t batch_size = 32;
  bool shuffle = true;
  std::uint64_t seed = 0;
  bool drop_last = false;  // drop the last batch when it is smaller than batch_size
  int prefetch = 2;        // batches prepared ahead of the one the caller holds (0 or more)
  // Data-parallel training: the epoch's order is cut into global batches of batch_size × shards
  // samples, and this loader yields part `shard` (0 to shards - 1) of each, so that `shards`
  // loaders with the same seed, one per rank, cover each global batch exactly once between
  // them. Needs drop_last when shards > 1 (a smaller last batch would not split evenly).
  int shards = 1;
  int shard = 0;
};

struct Batch {
  Tensor inputs;           // (B, input_shape...)
  Tensor labels;           // (B,) int32
  std::int64_t index = 0;  // batch number within the epoch
};

// One worker thread fills a ring of prefetch + 1 batch buffers (and one buffer for a smaller
// last batch), all allocated by the constructor, so that iterating allocates nothing. Epoch e's
// order depends only on (seed, e), so a run resumed at any batch sees the same batches.
class DataLoader {
 public:
  // `dataset` must outlive the loader.
  DataLoader(const Dataset& dataset, LoaderOptions options);
  // Stops the worker after the batch it is preparing, if any, and joins it.
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // With shards: the global batches, each of which this loader yields its part of.
  std::int64_t batches_per_epoch() const { return batches_per_epoch_; }

  // Starts epoch `epoch` at batch `first_batch` (0 to batches_per_epoch()), abandoning the epoch
  // in progress, if any.
  void start_epoch(std::int64_t epoch, std::int64_t first_batch = 0);

  // The epoch's next batch, or nullptr after its last. The batch stays valid until the next call
  // to next() or start_epoch(). If gather() threw while preparing it, rethrows that exception
  // (and again on every call until start_epoch).
  const Batch* next();

 private:
  void arrange(std::int64_t epoch);
  Batch& buffer_for(std::int64_t batch);
  bool has_work() const;
  void run_worker();
  std::exception_ptr fill(std::int64_t batch) noexcept;

  const Dataset& dataset_;
  const LoaderOptions options_;
  const std::int64_t batches_per_epoch_;
  std::vector<std::int64_t> order_;  // sample indices in this epoch's order
  std::vector<Batch> ring_;          // batch k lives in ring_[k % ring_.size()]...
  Batch last_;                       // ...unless it is the smaller last batch

  std::mutex mutex_;
  std::condition_variable worker_wake_;  // work to do, or stop
  std::condition_variable progress_;     // a batch is ready or failed, or the worker went idle
  bool epoch_active_ = false;
  bool stopping_ = false;
  bool worker_busy_ = false;
  std::int64_t filled_ = 0;          // batches below this are ready; while busy the worker fills this one
  std::int64_t next_to_return_ = 0;
  std::int64_t released_ = 0;        // the caller is done with the batches below this
  std::exception_ptr failure_;
  std::thread worker_;  // last, so that it starts after everything it uses
};

}  // namespace stheno::data
