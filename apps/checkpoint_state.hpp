#pragma once
// Where a training checkpoint left off, read back from its metadata strings.
#include <cstdint>
#include <map>
#include <string>

namespace stheno::cli {

struct CheckpointPosition {
  std::int64_t epoch = 0;       // epochs completed
  std::int64_t next_batch = 0;  // the first batch of the next epoch not yet trained
  std::int64_t optimizer_steps = 0;
  double loss_sum = 0;  // over the batches of the unfinished epoch
  std::int64_t loss_count = 0;
};

// Reads "epoch", "next_batch", "optimizer_steps", "epoch_loss_sum" and "epoch_loss_count". Throws
// IOError naming `path` and the key when one is missing, is not a plain decimal integer (a finite
// number for the loss sum), or is out of range: 0 <= epoch <= 10^9, 0 <= next_batch <
// batches_per_epoch, 0 <= optimizer_steps <= 2^53, 0 <= epoch_loss_count <= next_batch.
CheckpointPosition parse_checkpoint_position(const std::map<std::string, std::string>& metadata,
                                             const std::string& path, std::int64_t batches_per_epoch);

}  // namespace stheno::cli
