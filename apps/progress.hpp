#pragma once
// Training progress: on a terminal, one bar redrawn in place (loss, samples/s, ETA); otherwise
// plain lines at every tenth of an epoch, so logs stay readable. Formats into a fixed buffer:
// updating it allocates nothing.
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace stheno::cli {

class Progress {
 public:
  // `unit` names what the rate counts ("samples", "chars").
  Progress(std::FILE* out, bool terminal, const char* unit = "samples") : out_(out), terminal_(terminal), unit_(unit) {}

  void start_epoch(std::int64_t epoch, std::int64_t epochs, std::int64_t batches, std::int64_t first_batch);
  // After batch `index` (0-based) of `batch_size` samples with mean loss `loss`.
  void update(std::int64_t index, std::int64_t batch_size, double loss);
  void finish_epoch();

 private:
  void draw(std::int64_t done, bool final);

  std::FILE* out_;
  bool terminal_;
  const char* unit_;
  std::int64_t epoch_ = 0, epochs_ = 0, batches_ = 0, first_ = 0, samples_ = 0, last_tenth_ = -1;
  double loss_sum_ = 0;
  std::int64_t loss_count_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace stheno::cli
