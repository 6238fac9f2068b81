#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "checkpoint_state.hpp"
#include "stheno/tensor/error.hpp"

using stheno::cli::CheckpointPosition;
using stheno::cli::parse_checkpoint_position;

namespace {

constexpr std::int64_t kBatches = 50;

std::map<std::string, std::string> valid_metadata() {
  return {{"epoch", "2"},
          {"next_batch", "7"},
          {"optimizer_steps", "107"},
          {"epoch_loss_sum", "3.2500000000000004"},
          {"epoch_loss_count", "7"},
          {"format", "stheno-checkpoint-1"}};
}

// The IOError message for `metadata` with `key` set to `value`, or a note saying what happened.
std::string error_with(const std::string& key, const std::string& value) {
  auto metadata = valid_metadata();
  metadata[key] = value;
  try {
    parse_checkpoint_position(metadata, "run/checkpoint.safetensors", kBatches);
  } catch (const stheno::IOError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an IOError: ") + e.what() + ">";
  }
  return "<no error>";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(CheckpointPosition, ReadsWhatTheTrainerWrites) {
  const CheckpointPosition at = parse_checkpoint_position(valid_metadata(), "c", kBatches);
  EXPECT_EQ(at.epoch, 2);
  EXPECT_EQ(at.next_batch, 7);
  EXPECT_EQ(at.optimizer_steps, 107);
  EXPECT_EQ(at.loss_sum, 3.2500000000000004);
  EXPECT_EQ(at.loss_count, 7);
}

TEST(CheckpointPosition, NonNumericValuesNameTheFileAndTheKey) {
  for (const std::string key : {"epoch", "next_batch", "optimizer_steps", "epoch_loss_count"})
    for (const std::string value : {"abc", "", "7x", " 7", "+7", "7.0", "99999999999999999999"}) {
      const std::string message = error_with(key, value);
      SCOPED_TRACE(key + " = '" + value + "'");
      EXPECT_TRUE(contains(message, "run/checkpoint.safetensors: malformed checkpoint metadata: '" + key + "'"))
          << message;
      EXPECT_TRUE(contains(message, "not a decimal integer")) << message;
    }
  for (const std::string value : {"abc", "", "1.5e", "0x10"})
    EXPECT_TRUE(contains(error_with("epoch_loss_sum", value), "'epoch_loss_sum' is '" + value + "', not a decimal number"))
        << error_with("epoch_loss_sum", value);
}

TEST(CheckpointPosition, RejectsANegativeEpoch) {
  const std::string message = error_with("epoch", "-1");
  EXPECT_TRUE(contains(message, "run/checkpoint.safetensors")) << message;
  EXPECT_TRUE(contains(message, "'epoch' is -1 (expected an epoch count from 0")) << message;
}

TEST(CheckpointPosition, RejectsALossSumThatIsNotFinite) {
  for (const std::string value : {"nan", "NaN", "inf", "-inf", "1e400"}) {
    const std::string message = error_with("epoch_loss_sum", value);
    EXPECT_TRUE(contains(message, "run/checkpoint.safetensors: malformed checkpoint metadata: 'epoch_loss_sum'"))
        << message;
  }
}

TEST(CheckpointPosition, BatchPositionOutsideTheEpochNamesTheCheckpoint) {
  for (const std::string value : {"50", "-1", "1000000"}) {
    const std::string message = error_with("next_batch", value);
    EXPECT_TRUE(contains(message, "run/checkpoint.safetensors: malformed checkpoint metadata: 'next_batch' is " + value))
        << message;
    EXPECT_TRUE(contains(message, "this run has 50 batches per epoch")) << message;
  }
  EXPECT_TRUE(contains(error_with("epoch_loss_count", "8"), "'epoch_loss_count' is 8 (expected a count from 0 to next_batch, 7)"));
  EXPECT_TRUE(contains(error_with("optimizer_steps", "-3"), "'optimizer_steps' is -3"));
}

TEST(CheckpointPosition, MissingKeyAndLongValuesInMessages) {
  auto metadata = valid_metadata();
  metadata.erase("next_batch");
  try {
    parse_checkpoint_position(metadata, "c.safetensors", kBatches);
    ADD_FAILURE() << "parsed";
  } catch (const stheno::IOError& e) {
    EXPECT_TRUE(contains(e.what(), "c.safetensors: not a stheno training checkpoint (no 'next_batch'")) << e.what();
  }
  const std::string message = error_with("epoch", std::string(100000, 'x'));
  EXPECT_LT(message.size(), 300u);
}
