// A checkpoint as `stheno train --resume` reads it: the safetensors file, then the training
// state in its metadata. Either a state within range or a stheno::Error.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "checkpoint_state.hpp"
#include "stheno/io/safetensors.hpp"
#include "stheno/tensor/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const stheno::cli::ResumingRun run{{{"model", "mlp"}}, 100, 1};
  try {
    const stheno::io::SafetensorsFile file = stheno::io::parse_safetensors(data, size, "checkpoint.safetensors");
    const stheno::cli::CheckpointState state = stheno::cli::parse_checkpoint_state(file.metadata, file.path, run);
    const stheno::cli::CheckpointPosition& at = state.position;
    if (at.epoch < 0 || at.next_batch < 0 || at.next_batch >= run.batches_per_epoch || at.optimizer_steps < 0 ||
        at.loss_count < 0 || at.loss_count > at.next_batch || !std::isfinite(at.loss_sum) ||
        state.dropout_generators.size() != run.dropout_layers ||
        static_cast<std::int64_t>(state.history.size()) != at.epoch)
      __builtin_trap();
  } catch (const stheno::Error&) {
  }
  return 0;
}
