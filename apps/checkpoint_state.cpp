#include "checkpoint_state.hpp"

#include <charconv>
#include <cmath>
#include <string_view>

#include "stheno/tensor/error.hpp"

namespace stheno::cli {

namespace {

// Metadata values come from the file, so a message quotes no more than this of one.
constexpr std::size_t kMaxQuoted = 40;
constexpr std::int64_t kMaxEpoch = 1'000'000'000;
// Beyond 2^53 a step count no longer converts exactly to the double the optimizers compute with.
constexpr std::int64_t kMaxSteps = std::int64_t{1} << 53;

std::string quoted(std::string_view value) {
  std::string out = "'";
  for (const char c : value.substr(0, kMaxQuoted)) out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  return out + (value.size() > kMaxQuoted ? "...'" : "'");
}

class MetadataReader {
 public:
  MetadataReader(const std::map<std::string, std::string>& metadata, const std::string& path)
      : metadata_(metadata), path_(path) {}

  std::int64_t integer(const std::string& key, std::int64_t low, std::int64_t high,
                       const std::string& range) const {
    const std::string& text = value(key);
    std::int64_t parsed = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
      fail(key, "is " + quoted(text) + ", not a decimal integer");
    if (parsed < low || parsed > high) fail(key, "is " + text + " (expected " + range + ")");
    return parsed;
  }

  double finite_number(const std::string& key) const {
    const std::string& text = value(key);
    double parsed = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
      fail(key, "is " + quoted(text) + ", not a decimal number");
    if (!std::isfinite(parsed)) fail(key, "is " + quoted(text) + " (expected a finite number)");
    return parsed;
  }

 private:
  const std::string& value(const std::string& key) const {
    const auto it = metadata_.find(key);
    if (it == metadata_.end())
      throw IOError(path_ + ": not a stheno training checkpoint (no '" + key + "' in its metadata)");
    return it->second;
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw IOError(path_ + ": malformed checkpoint metadata: '" + key + "' " + what);
  }

  const std::map<std::string, std::string>& metadata_;
  const std::string& path_;
};

}  // namespace

CheckpointPosition parse_checkpoint_position(const std::map<std::string, std::string>& metadata,
                                             const std::string& path, std::int64_t batches_per_epoch) {
  const MetadataReader read(metadata, path);
  CheckpointPosition at;
  at.epoch = read.integer("epoch", 0, kMaxEpoch, "an epoch count from 0 to " + std::to_string(kMaxEpoch));
  at.next_batch = read.integer("next_batch", 0, batches_per_epoch - 1,
                               "a batch from 0 to " + std::to_string(batches_per_epoch - 1) + ": this run has " +
                                   std::to_string(batches_per_epoch) + " batches per epoch");
  at.optimizer_steps = read.integer("optimizer_steps", 0, kMaxSteps, "a step count from 0 to 2^53");
  at.loss_sum = read.finite_number("epoch_loss_sum");
  at.loss_count = read.integer("epoch_loss_count", 0, at.next_batch,
                               "a count from 0 to next_batch, " + std::to_string(at.next_batch));
  return at;
}

}  // namespace stheno::cli
