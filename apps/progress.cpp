#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace stheno::cli {

void say_line(std::FILE* log, const std::string& line) {
  std::fputs((line + "\n").c_str(), log);
  std::fflush(log);
}

std::FILE* null_log() {
  static std::FILE* const file = std::fopen("/dev/null", "w");
  return file;
}

namespace {

using Clock = std::chrono::steady_clock;

// The stream holding a bar not yet ended by a newline, for clear_interrupted().
std::FILE* open_bar = nullptr;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int terminal_columns(std::FILE* out) {
  winsize size{};
  if (ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS"); columns && std::atoi(columns) > 0) return std::atoi(columns);
  return 80;
}

void format_duration(long long seconds, char* out, std::size_t size) {
  if (seconds >= 3600) std::snprintf(out, size, "%lld:%02lld:%02lld", seconds / 3600, seconds / 60 % 60, seconds % 60);
  else std::snprintf(out, size, "%lld:%02lld", seconds / 60, seconds % 60);
}

}  // namespace

Progress::Progress(std::FILE* out, bool terminal, const char* unit) : out_(out), terminal_(terminal), unit_(unit) {}

void Progress::start_run(std::int64_t epochs, std::int64_t batches, std::int64_t first_epoch, std::int64_t first_batch) {
  epochs_ = epochs;
  batches_ = std::max<std::int64_t>(batches, 1);
  remaining_ = (epochs - first_epoch) * batches - first_batch;
  done_in_epoch_ = first_batch;
}

void Progress::start_epoch(std::int64_t epoch) {
  epoch_ = epoch;
  samples_ = 0;
  loss_sum_ = 0;
  loss_count_ = 0;
  last_tenth_ = done_in_epoch_ * 10 / batches_;
  epoch_start_ = last_draw_ = Clock::now();
  eval_start_ = {};
}

long long Progress::eta_seconds() const {
  const bool evaluating = eval_start_ != Clock::time_point{};
  const double training = train_seconds_ + (evaluating ? 0.0 : seconds_since(epoch_start_));
  const double per_batch = trained_ > 0 ? training / static_cast<double>(trained_) : 0.0;
  double eta = per_batch * static_cast<double>(remaining_);
  if (evaluations_ > 0) {
    // The evaluations still to come: this epoch's (or what is left of it) and every later one's.
    const double per_evaluation = eval_seconds_ / static_cast<double>(evaluations_);
    const double later = static_cast<double>(epochs_ - epoch_ - 1);
    eta += per_evaluation * later + std::max(0.0, per_evaluation - (evaluating ? seconds_since(eval_start_) : 0.0));
  }
  return static_cast<long long>(eta + 0.5);
}

bool Progress::due() {
  const auto now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return false;
  last_draw_ = now;
  return true;
}

void Progress::update(std::int64_t index, std::int64_t batch_size, double loss) {
  samples_ += batch_size;
  loss_sum_ += loss;
  ++loss_count_;
  ++trained_;
  --remaining_;
  done_in_epoch_ = index + 1;
  const double mean_loss = loss_sum_ / static_cast<double>(loss_count_);
  const double rate = static_cast<double>(samples_) / std::max(seconds_since(epoch_start_), 1e-9);
  const int percent = static_cast<int>(100 * done_in_epoch_ / batches_);
  char eta[32];
  if (terminal_) {
    if (!due() && done_in_epoch_ != batches_) return;
    format_duration(eta_seconds(), eta, sizeof eta);
    char tail[160];
    std::snprintf(tail, sizeof tail, "%3d%%  loss %.4f  %.0f %s/s  ETA %s", percent, mean_loss, rate, unit_, eta);
    draw_bar(tail, static_cast<double>(done_in_epoch_) / static_cast<double>(batches_));
  } else if (const std::int64_t tenth = done_in_epoch_ * 10 / batches_; tenth > last_tenth_) {
    last_tenth_ = tenth;
    format_duration(eta_seconds(), eta, sizeof eta);
    std::fprintf(out_, "epoch %lld/%lld %3d%%  batch %lld/%lld  loss %.4f  %.0f %s/s  ETA %s\n",
                 static_cast<long long>(epoch_ + 1), static_cast<long long>(epochs_), percent,
                 static_cast<long long>(done_in_epoch_), static_cast<long long>(batches_), mean_loss, rate, unit_, eta);
    std::fflush(out_);
  }
}

void Progress::evaluating(std::int64_t done, std::int64_t total) {
  if (eval_start_ == Clock::time_point{}) {
    train_seconds_ += seconds_since(epoch_start_);
    eval_start_ = Clock::now();
  }
  if (!terminal_ || !due()) return;
  char eta[32], tail[96];
  format_duration(eta_seconds(), eta, sizeof eta);
  std::snprintf(tail, sizeof tail, "testing %lld/%lld  ETA %s", static_cast<long long>(done), static_cast<long long>(total), eta);
  draw_bar(tail, static_cast<double>(done) / static_cast<double>(std::max<std::int64_t>(total, 1)));
}

void Progress::finish_epoch() {
  if (eval_start_ != Clock::time_point{}) {
    eval_seconds_ += seconds_since(eval_start_);
    ++evaluations_;
  } else {
    train_seconds_ += seconds_since(epoch_start_);
  }
  eval_start_ = {};
  done_in_epoch_ = 0;
  if (terminal_ && drawn_ > 0) {
    char blank[512];
    const int n = std::min<int>(drawn_, static_cast<int>(sizeof blank) - 3);
    blank[0] = '\r';
    std::memset(blank + 1, ' ', static_cast<std::size_t>(n));
    blank[n + 1] = '\r';
    blank[n + 2] = '\0';
    std::fputs(blank, out_);
    drawn_ = 0;
    open_bar = nullptr;
  }
  std::fflush(out_);
}

// "epoch 3/8 [=====>      ] <tail>", the bar taking what the terminal's width leaves, padded
// over whatever longer line was drawn before.
void Progress::draw_bar(const char* tail, double fraction) {
  const int limit = std::clamp(terminal_columns(out_) - 1, 1, 400);
  char head[64];
  const int head_len = std::snprintf(head, sizeof head, "epoch %lld/%lld ", static_cast<long long>(epoch_ + 1),
                                     static_cast<long long>(epochs_));
  const int tail_len = static_cast<int>(std::strlen(tail));
  const int width = std::min(limit - head_len - tail_len - 3, 40);
  char line[512];
  int len = 0;
  line[len++] = '\r';
  std::memcpy(line + len, head, static_cast<std::size_t>(head_len));
  len += head_len;
  if (width >= 5) {
    const int filled = static_cast<int>(fraction * width);
    line[len++] = '[';
    for (int i = 0; i < width; ++i) line[len++] = i < filled ? '=' : (i == filled ? '>' : ' ');
    line[len++] = ']';
    line[len++] = ' ';
  }
  const int room = std::max(0, std::min(limit - (len - 1), static_cast<int>(sizeof line) - len - 1));
  const int copied = std::min(tail_len, room);
  std::memcpy(line + len, tail, static_cast<std::size_t>(copied));
  len += copied;
  const int shown = len - 1;
  while (len - 1 < std::min(drawn_, limit) && len < static_cast<int>(sizeof line) - 1) line[len++] = ' ';
  line[len] = '\0';
  drawn_ = shown;
  std::fputs(line, out_);
  std::fflush(out_);
  open_bar = out_;
}

void Progress::clear_interrupted() {
  if (!open_bar) return;
  std::fputc('\n', open_bar);
  std::fflush(open_bar);
  open_bar = nullptr;
}

}  // namespace stheno::cli
