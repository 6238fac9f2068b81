#pragma once
// What `stheno train --resume` reads back from a checkpoint's metadata strings, checked field by
// field against the format the trainer writes and against the run that resumes it.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "metrics.hpp"
#include "stheno/tensor/random.hpp"

namespace stheno::cli {

inline constexpr const char* kCheckpointFormat = "stheno-checkpoint-1";

struct CheckpointPosition {
  std::int64_t epoch = 0;       // epochs completed
  std::int64_t next_batch = 0;  // the first batch of the next epoch not yet trained
  std::int64_t optimizer_steps = 0;
  double loss_sum = 0;  // over the batches of the unfinished epoch
  std::int64_t loss_count = 0;
};

struct CheckpointState {
  CheckpointPosition position;
  std::vector<Generator::State> dropout_generators;
  std::vector<EpochMetrics> history;  // one row per completed epoch
};

// What the resuming run requires of the checkpoint.
struct ResumingRun {
  std::map<std::string, std::string> signature;  // metadata that must match exactly (flags)
  std::int64_t batches_per_epoch = 1;
  std::size_t dropout_layers = 0;
};

// Throws IOError naming `path` and the key (and the line, in "metrics_csv") when a key is missing,
// "format" is not kCheckpointFormat, or a value does not have the form the trainer writes: plain
// decimal integers in range (0 <= epoch <= 10^9, 0 <= next_batch < batches_per_epoch,
// 0 <= optimizer_steps <= 2^53, 0 <= epoch_loss_count <= next_batch), a finite epoch_loss_sum,
// dropout generator states of four 64-bit words (not all zero), a finite spare value and 0 or 1,
// and a metrics CSV with one row per completed epoch, numbered from 1. Throws ValueError listing
// every signature key whose value differs. Messages quote at most 40 bytes of any value.
CheckpointState parse_checkpoint_state(const std::map<std::string, std::string>& metadata, const std::string& path,
                                       const ResumingRun& run);

}  // namespace stheno::cli
