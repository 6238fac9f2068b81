#include "checkpoint_state.hpp"

#include <algorithm>
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
constexpr std::string_view kMetricsHeader = "epoch,train_loss,test_loss,test_accuracy,seconds";

std::string quoted(std::string_view value) {
  std::string out = "'";
  for (const char c : value.substr(0, kMaxQuoted)) out += static_cast<unsigned char>(c) < 0x20 ? '?' : c;
  return out + (value.size() > kMaxQuoted ? "...'" : "'");
}

// The whole of `text` as a T, or nothing: no sign, spaces or trailing characters are allowed
// beyond what std::from_chars reads.
template <class T>
bool parse_whole(std::string_view text, T& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

class MetadataReader {
 public:
  MetadataReader(const std::map<std::string, std::string>& metadata, const std::string& path)
      : metadata_(metadata), path_(path) {}

  const std::string& value(const std::string& key) const {
    const auto it = metadata_.find(key);
    if (it == metadata_.end())
      throw IOError(path_ + ": not a stheno training checkpoint (no " + quoted(key) + " in its metadata)");
    return it->second;
  }

  std::int64_t integer(const std::string& key, std::int64_t low, std::int64_t high, const std::string& range) const {
    const std::string& text = value(key);
    std::int64_t parsed = 0;
    if (!parse_whole(text, parsed)) fail(key, "is " + quoted(text) + ", not a decimal integer");
    if (parsed < low || parsed > high) fail(key, "is " + text + " (expected " + range + ")");
    return parsed;
  }

  double finite_number(const std::string& key) const {
    const std::string& text = value(key);
    double parsed = 0;
    if (!parse_whole(text, parsed)) fail(key, "is " + quoted(text) + ", not a decimal number");
    if (!std::isfinite(parsed)) fail(key, "is " + quoted(text) + " (expected a finite number)");
    return parsed;
  }

  // encode_generator's "s0,s1,s2,s3,spare_normal,has_spare".
  Generator::State generator(const std::string& key) const {
    const std::string& text = value(key);
    const std::vector<std::string_view> parts = split(text, ',');
    const std::string expected =
        "expected four unsigned 64-bit integers, not all zero, a finite number and 0 or 1, separated by commas";
    Generator::State state;
    if (parts.size() != 6 || !parse_whole(parts[4], state.spare_normal) || !std::isfinite(state.spare_normal) ||
        (parts[5] != "0" && parts[5] != "1"))
      fail(key, "is " + quoted(text) + " (" + expected + ")");
    for (std::size_t i = 0; i < 4; ++i)
      if (!parse_whole(parts[i], state.s[i])) fail(key, "is " + quoted(text) + " (" + expected + ")");
    // xoshiro256** never leaves the all-zero state, so dropout would draw the same mask forever.
    if (state.s == std::array<std::uint64_t, 4>{}) fail(key, "is " + quoted(text) + " (" + expected + ")");
    state.has_spare = parts[5] == "1";
    return state;
  }

  // metrics_csv's header line, then "epoch,train_loss,test_loss,test_accuracy,seconds" rows.
  std::vector<EpochMetrics> metrics(const std::string& key, std::int64_t epochs) const {
    const std::vector<std::string_view> lines = split(value(key), '\n');
    if (lines.front() != kMetricsHeader)
      fail(key, "line 1 is " + quoted(lines.front()) + " (expected " + std::string(kMetricsHeader) + ")");
    std::vector<EpochMetrics> rows;
    for (std::size_t i = 1; i < lines.size(); ++i) {
      if (lines[i].empty() && i + 1 == lines.size()) break;  // the final newline
      const std::string where = "line " + std::to_string(i + 1) + " is " + quoted(lines[i]);
      const std::vector<std::string_view> fields = split(lines[i], ',');
      EpochMetrics m;
      if (fields.size() != 5 || !parse_whole(fields[0], m.epoch) || !parse_whole(fields[1], m.train_loss) ||
          !parse_whole(fields[2], m.test_loss) || !parse_whole(fields[3], m.test_accuracy) ||
          !parse_whole(fields[4], m.seconds))
        fail(key, where + " (expected an epoch number and four numbers, separated by commas)");
      if (m.epoch != static_cast<std::int64_t>(rows.size()) + 1)
        fail(key, where + " (expected epoch " + std::to_string(rows.size() + 1) + ")");
      rows.push_back(m);
    }
    if (static_cast<std::int64_t>(rows.size()) != epochs)
      fail(key, "has " + std::to_string(rows.size()) + " epochs, but 'epoch' says " + std::to_string(epochs) +
                    " were completed");
    return rows;
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw IOError(path_ + ": malformed checkpoint metadata: " + quoted(key) + " " + what);
  }

 private:
  const std::map<std::string, std::string>& metadata_;
  const std::string& path_;
};

}  // namespace

CheckpointState parse_checkpoint_state(const std::map<std::string, std::string>& metadata, const std::string& path,
                                       const ResumingRun& run) {
  const MetadataReader read(metadata, path);
  if (read.value("format") != kCheckpointFormat)
    throw IOError(path + ": checkpoint format " + quoted(read.value("format")) + " is not " + kCheckpointFormat);
  std::string differences;
  for (const auto& [key, value] : run.signature)
    if (read.value(key) != value) {
      std::string flag = key;  // keys keep the names old checkpoints have; flags use dashes
      std::replace(flag.begin(), flag.end(), '_', '-');
      differences += "\n  --" + flag + ": checkpoint has " + quoted(read.value(key)) + ", this run has " + value;
    }
  if (!differences.empty()) throw ValueError(path + ": the checkpoint was made by a different run:" + differences);

  CheckpointState state;
  CheckpointPosition& at = state.position;
  at.epoch = read.integer("epoch", 0, kMaxEpoch, "an epoch count from 0 to " + std::to_string(kMaxEpoch));
  const std::int64_t last_batch = run.batches_per_epoch - 1;
  at.next_batch = read.integer("next_batch", 0, last_batch,
                               "a batch from 0 to " + std::to_string(last_batch) + ": this run has " +
                                   std::to_string(run.batches_per_epoch) + " batches per epoch");
  at.optimizer_steps = read.integer("optimizer_steps", 0, kMaxSteps, "a step count from 0 to 2^53");
  at.loss_sum = read.finite_number("epoch_loss_sum");
  at.loss_count = read.integer("epoch_loss_count", 0, at.next_batch,
                               "a count from 0 to next_batch, " + std::to_string(at.next_batch));
  for (std::size_t i = 0; i < run.dropout_layers; ++i)
    state.dropout_generators.push_back(read.generator("dropout" + std::to_string(i) + "_generator"));
  state.history = read.metrics("metrics_csv", at.epoch);
  return state;
}

}  // namespace stheno::cli
