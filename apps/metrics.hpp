#pragma once
// Per-epoch metrics: the CSV file (rewritten whole and atomically after every epoch), the PNG
// curves drawn by gnuplot when it is installed, and the final JSON object.
#include <cstdint>
#include <string>
#include <vector>

namespace stheno::cli {

struct EpochMetrics {
  std::int64_t epoch = 0;  // from 1
  double train_loss = 0, test_loss = 0, test_accuracy = 0, seconds = 0;
};

std::string metrics_csv(const std::vector<EpochMetrics>& rows);

// Draws loss and accuracy against epoch into png from the CSV file. Returns an empty string on
// success, otherwise why no plot was drawn (gnuplot missing or failing).
std::string plot_curves(const std::string& csv_path, const std::string& png_path);

// s as a JSON string literal, quotes included.
std::string json_string(const std::string& s);

// The "gemm" member of the final JSON object: the GEMM library, the kernel set it runs and its
// instruction set, beside the CPU's, so that every reported speed says what it ran on.
std::string gemm_json();

}  // namespace stheno::cli
