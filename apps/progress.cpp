#include "progress.hpp"

namespace stheno::cli {

void Progress::start_epoch(std::int64_t epoch, std::int64_t epochs, std::int64_t batches, std::int64_t first_batch) {
  epoch_ = epoch;
  epochs_ = epochs;
  batches_ = batches;
  first_ = first_batch;
  samples_ = 0;
  loss_sum_ = 0;
  loss_count_ = 0;
  last_tenth_ = first_batch * 10 / (batches > 0 ? batches : 1);
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void Progress::update(std::int64_t index, std::int64_t batch_size, double loss) {
  samples_ += batch_size;
  loss_sum_ += loss;
  ++loss_count_;
  const std::int64_t done = index + 1;
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (now - last_draw_ > std::chrono::milliseconds(100) || done == batches_) {
      last_draw_ = now;
      draw(done, false);
    }
  } else if (const std::int64_t tenth = done * 10 / batches_; tenth > last_tenth_) {
    last_tenth_ = tenth;
    draw(done, false);
  }
}

void Progress::finish_epoch() {
  if (terminal_) std::fputc('\n', out_);
  std::fflush(out_);
}

void Progress::draw(std::int64_t done, bool) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(samples_) / seconds : 0.0;
  const double per_batch = done > first_ ? seconds / static_cast<double>(done - first_) : 0.0;
  const auto eta = static_cast<long long>(per_batch * static_cast<double>(batches_ - done) + 0.5);
  const double mean_loss = loss_count_ ? loss_sum_ / static_cast<double>(loss_count_) : 0.0;
  const int percent = static_cast<int>(100 * done / (batches_ > 0 ? batches_ : 1));
  char line[256];
  if (terminal_) {
    constexpr int kWidth = 28;
    char bar[kWidth + 1];
    const int filled = percent * kWidth / 100;
    for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[kWidth] = '\0';
    std::snprintf(line, sizeof line, "\repoch %lld/%lld [%s] %3d%%  loss %.4f  %8.0f %s/s  ETA %lld:%02lld ",
                  static_cast<long long>(epoch_), static_cast<long long>(epochs_), bar, percent, mean_loss, rate, unit_, eta / 60,
                  eta % 60);
  } else {
    std::snprintf(line, sizeof line, "epoch %lld/%lld %3d%%  batch %lld/%lld  loss %.4f  %.0f %s/s  ETA %lld:%02lld\n",
                  static_cast<long long>(epoch_), static_cast<long long>(epochs_), percent, static_cast<long long>(done),
                  static_cast<long long>(batches_), mean_loss, rate, unit_, eta / 60, eta % 60);
  }
  std::fputs(line, out_);
  std::fflush(out_);
}

}  // namespace stheno::cli
