// A checkpoint as `stheno train --resume` reads it: the safetensors file, then the training
// position in its metadata. Either a position within range or a stheno::Error.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "checkpoint_state.hpp"
#include "stheno/io/safetensors.hpp"
#include "stheno/tensor/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::int64_t kBatchesPerEpoch = 100;
  try {
    const stheno::io::SafetensorsFile file = stheno::io::parse_safetensors(data, size, "checkpoint.safetensors");
    const stheno::cli::CheckpointPosition at =
        stheno::cli::parse_checkpoint_position(file.metadata, file.path, kBatchesPerEpoch);
    if (at.epoch < 0 || at.next_batch < 0 || at.next_batch >= kBatchesPerEpoch || at.optimizer_steps < 0 ||
        at.loss_count < 0 || at.loss_count > at.next_batch || !std::isfinite(at.loss_sum))
      __builtin_trap();
  } catch (const stheno::Error&) {
  }
  return 0;
}
