#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "checkpoint_state.hpp"
#include "stheno/tensor/error.hpp"

using namespace stheno::cli;

namespace {

const ResumingRun kRun{{{"model", "mlp"}, {"hidden", "16"}}, 50, 1};
const char* const kPath = "run/checkpoint.safetensors";

std::map<std::string, std::string> valid_metadata() {
  return {{"format", "stheno-checkpoint-1"},
          {"model", "mlp"},
          {"hidden", "16"},
          {"epoch", "2"},
          {"next_batch", "7"},
          {"optimizer_steps", "107"},
          {"epoch_loss_sum", "3.2500000000000004"},
          {"epoch_loss_count", "7"},
          {"dropout0_generator", "1,2,3,18446744073709551615,-0.5,1"},
          {"metrics_csv",
           "epoch,train_loss,test_loss,test_accuracy,seconds\n1,0.5,0.6,0.800000,1.000\n2,0.4,0.5,0.850000,1.100\n"}};
}

// The message of what parsing `metadata` with `key` set to `value` throws, or a note saying
// what happened instead.
std::string error_with(const std::string& key, const std::string& value) {
  auto metadata = valid_metadata();
  metadata[key] = value;
  try {
    parse_checkpoint_state(metadata, kPath, kRun);
  } catch (const stheno::IOError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("<not an IOError: ") + e.what() + ">";
  }
  return "<no error>";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string prefix(const std::string& key) {
  return std::string(kPath) + ": malformed checkpoint metadata: '" + key + "'";
}

}  // namespace

TEST(CheckpointState, ReadsWhatTheTrainerWrites) {
  const CheckpointState state = parse_checkpoint_state(valid_metadata(), kPath, kRun);
  EXPECT_EQ(state.position.epoch, 2);
  EXPECT_EQ(state.position.next_batch, 7);
  EXPECT_EQ(state.position.optimizer_steps, 107);
  EXPECT_EQ(state.position.loss_sum, 3.2500000000000004);
  EXPECT_EQ(state.position.loss_count, 7);
  ASSERT_EQ(state.dropout_generators.size(), 1u);
  EXPECT_EQ(state.dropout_generators[0].s, (std::array<std::uint64_t, 4>{1, 2, 3, 18446744073709551615ull}));
  EXPECT_EQ(state.dropout_generators[0].spare_normal, -0.5);
  EXPECT_TRUE(state.dropout_generators[0].has_spare);
  ASSERT_EQ(state.history.size(), 2u);
  EXPECT_EQ(state.history[1].epoch, 2);
  EXPECT_EQ(state.history[1].test_accuracy, 0.85);
}

TEST(CheckpointState, NonNumericValuesNameTheFileAndTheKey) {
  for (const std::string key : {"epoch", "next_batch", "optimizer_steps", "epoch_loss_count"})
    for (const std::string value : {"abc", "", "7x", " 7", "+7", "7.0", "99999999999999999999"}) {
      SCOPED_TRACE(key + " = '" + value + "'");
      const std::string message = error_with(key, value);
      EXPECT_TRUE(contains(message, prefix(key) + " is '" + value + "', not a decimal integer")) << message;
    }
  for (const std::string value : {"abc", "", "1.5e", "0x10"})
    EXPECT_TRUE(contains(error_with("epoch_loss_sum", value), prefix("epoch_loss_sum") + " is '" + value + "', not a decimal number"))
        << error_with("epoch_loss_sum", value);
}

TEST(CheckpointState, RejectsANegativeEpoch) {
  const std::string message = error_with("epoch", "-1");
  EXPECT_TRUE(contains(message, prefix("epoch") + " is -1 (expected an epoch count from 0")) << message;
}

TEST(CheckpointState, RejectsALossSumThatIsNotFinite) {
  for (const std::string value : {"nan", "NaN", "inf", "-inf", "1e400"})
    EXPECT_TRUE(contains(error_with("epoch_loss_sum", value), prefix("epoch_loss_sum"))) << error_with("epoch_loss_sum", value);
}

TEST(CheckpointState, BatchPositionOutsideTheEpochNamesTheCheckpoint) {
  for (const std::string value : {"50", "-1", "1000000"}) {
    const std::string message = error_with("next_batch", value);
    EXPECT_TRUE(contains(message, prefix("next_batch") + " is " + value)) << message;
    EXPECT_TRUE(contains(message, "this run has 50 batches per epoch")) << message;
  }
  EXPECT_TRUE(contains(error_with("epoch_loss_count", "8"), "is 8 (expected a count from 0 to next_batch, 7)"));
  EXPECT_TRUE(contains(error_with("optimizer_steps", "-3"), prefix("optimizer_steps") + " is -3"));
}

TEST(CheckpointState, MalformedGeneratorStates) {
  for (const std::string value : {"1,2,3", "1,2,3,4,0.5,2", "-1,2,3,4,0.5,0", "1,2,3,4,nan,0", "0,0,0,0,0,0",
                                  "1,2,3,4,0.5,0,", "1,2,3,4, 0.5,0", "1,2,3,18446744073709551616,0,0"}) {
    const std::string message = error_with("dropout0_generator", value);
    EXPECT_TRUE(contains(message, prefix("dropout0_generator") + " is '" + value + "' (expected four unsigned")) << message;
  }
}

TEST(CheckpointState, MalformedMetricsNameTheLine) {
  const std::string header = "epoch,train_loss,test_loss,test_accuracy,seconds\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"epoch;train\n", "line 1 is 'epoch;train'"},
      {header + "1,0.5,0.6,0.8,1\n2,0.4,x,0.85,1\n", "line 3 is '2,0.4,x,0.85,1' (expected an epoch number"},
      {header + "1,0.5,0.6,0.8,1\n3,0.4,0.5,0.85,1\n", "line 3 is '3,0.4,0.5,0.85,1' (expected epoch 2)"},
      {header + "1,0.5,0.6,0.8,1\n\n2,0.4,0.5,0.85,1\n", "line 3 is ''"},
      {header + "1,0.5,0.6,0.8,1\n", "has 1 epochs, but 'epoch' says 2 were completed"},
  };
  for (const auto& [value, detail] : cases) {
    const std::string message = error_with("metrics_csv", value);
    EXPECT_TRUE(contains(message, prefix("metrics_csv") + " " + detail)) << message;
  }
}

TEST(CheckpointState, FormatAndRunSignature) {
  EXPECT_TRUE(contains(error_with("format", "other"), "checkpoint format 'other' is not stheno-checkpoint-1"));
  auto metadata = valid_metadata();
  metadata["hidden"] = "32";
  try {
    parse_checkpoint_state(metadata, kPath, kRun);
    ADD_FAILURE() << "parsed";
  } catch (const stheno::ValueError& e) {
    EXPECT_TRUE(contains(e.what(), "made by a different run:\n  --hidden: checkpoint has '32', this run has 16")) << e.what();
  }
  // Signature keys are stored with underscores; the message names the flag as it is typed.
  metadata = valid_metadata();
  metadata["train_limit"] = "100";
  try {
    parse_checkpoint_state(metadata, kPath, ResumingRun{{{"train_limit", "0"}}, 50, 1});
    ADD_FAILURE() << "parsed";
  } catch (const stheno::ValueError& e) {
    EXPECT_TRUE(contains(e.what(), "--train-limit: checkpoint has '100', this run has 0")) << e.what();
  }
}

TEST(CheckpointState, MissingKeysAndLongValuesInMessages) {
  for (const std::string key : {"format", "hidden", "next_batch", "dropout0_generator", "metrics_csv"}) {
    auto metadata = valid_metadata();
    metadata.erase(key);
    try {
      parse_checkpoint_state(metadata, kPath, kRun);
      ADD_FAILURE() << "parsed without " << key;
    } catch (const stheno::IOError& e) {
      EXPECT_TRUE(contains(e.what(), std::string(kPath) + ": not a stheno training checkpoint (no '" + key + "'"))
          << e.what();
    }
  }
  for (const std::string key : {"format", "epoch", "dropout0_generator", "metrics_csv"})
    EXPECT_LT(error_with(key, std::string(100000, 'x')).size(), 300u) << key;
}
