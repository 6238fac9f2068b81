#pragma once
// Training progress: on a terminal, one bar redrawn in place (loss, rate, ETA of the whole run)
// that never reaches the terminal's last column, since a line that fills it wraps and every
// redraw would leave a new line; otherwise plain lines at every tenth of an epoch, so logs stay
// readable. Formats into fixed buffers: updating it allocates nothing.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace stheno::cli {

// Writes one line of a command's log and flushes it at once: with output redirected to a file,
// the lines would otherwise wait in stdio's buffer until the end of training.
void say_line(std::FILE* log, const std::string& line);
// Where a log goes that no one reads (a data-parallel run's ranks other than 0): /dev/null.
std::FILE* null_log();

class Progress {
 public:
  // `unit` names what the rate counts ("samples", "chars").
  Progress(std::FILE* out, bool terminal, const char* unit = "samples");

  // A run of `epochs` epochs of `batches` batches each, starting at batch `first_batch` of
  // epoch `first_epoch` (0-based; later than 0, 0 when resuming).
  void start_run(std::int64_t epochs, std::int64_t batches, std::int64_t first_epoch, std::int64_t first_batch);
  void start_epoch(std::int64_t epoch);  // 0-based
  // After batch `index` (0-based) of `batch_size` samples with mean loss `loss`.
  void update(std::int64_t index, std::int64_t batch_size, double loss);
  // Between the epoch's last batch and its summary line: `done` of `total` test samples
  // evaluated. Its time counts into the ETA of the epochs still to come.
  void evaluating(std::int64_t done, std::int64_t total);
  // Ends the epoch's progress; on a terminal the bar is erased, for the summary line to take
  // its place.
  void finish_epoch();

  // Erases a bar left on screen by a run that stopped with an error, so that the message starts
  // at the beginning of a line.
  static void clear_interrupted();

 private:
  bool due();
  void draw_bar(const char* tail, double fraction);
  long long eta_seconds() const;

  std::FILE* out_;
  bool terminal_;
  const char* unit_;
  std::int64_t epochs_ = 0, batches_ = 0, epoch_ = 0, done_in_epoch_ = 0, trained_ = 0, remaining_ = 0;
  std::int64_t samples_ = 0, last_tenth_ = -1, loss_count_ = 0;
  double loss_sum_ = 0, train_seconds_ = 0, eval_seconds_ = 0;
  std::int64_t evaluations_ = 0;
  int drawn_ = 0;  // columns of the bar now on screen
  std::chrono::steady_clock::time_point epoch_start_, eval_start_, last_draw_;
};

}  // namespace stheno::cli
