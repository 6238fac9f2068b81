#include "metrics.hpp"

#include <cstdio>
#include <cstdlib>

#include "stheno/kernels/cpu_info.hpp"

namespace stheno::cli {

std::string metrics_csv(const std::vector<EpochMetrics>& rows) {
  std::string out = "epoch,train_loss,test_loss,test_accuracy,seconds\n";
  char line[256];
  for (const EpochMetrics& m : rows) {
    std::snprintf(line, sizeof line, "%lld,%.9g,%.9g,%.6f,%.3f\n", static_cast<long long>(m.epoch), m.train_loss,
                  m.test_loss, m.test_accuracy, m.seconds);
    out += line;
  }
  return out;
}

std::string plot_curves(const std::string& csv_path, const std::string& png_path) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0)
    return "gnuplot is not installed, so no curves.png (apt-get install gnuplot-nox); the numbers are in " + csv_path;
  const std::string script =
      "set terminal pngcairo size 1000,420 noenhanced\n"
      "set output '" + png_path + "'\n"
      "set datafile separator ','\n"
      "set key autotitle columnhead\n"
      "set multiplot layout 1,2\n"
      "set xlabel 'epoch'\nset ylabel 'loss'\nset grid\nset offsets 0.5, 0.5, 0.05, 0.05\n"
      "plot '" + csv_path + "' using 1:2 with linespoints title 'train loss', '' using 1:3 with linespoints title 'test loss'\n"
      "set ylabel 'test accuracy'\n"
      "plot '" + csv_path + "' using 1:4 with linespoints title 'test accuracy'\n"
      "unset multiplot\n";
  FILE* pipe = popen("gnuplot >/dev/null 2>&1", "w");
  if (!pipe) return "could not start gnuplot";
  std::fputs(script.c_str(), pipe);
  const int status = pclose(pipe);
  if (status != 0) return "gnuplot failed (exit status " + std::to_string(status) + "); the numbers are in " + csv_path;
  return "";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\', out += static_cast<char>(ch);
    else if (ch == '\n') out += "\\n";
    else if (ch < 0x20 || ch >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else out += static_cast<char>(ch);
  }
  return out + "\"";
}

std::string gemm_json() {
  const GemmInfo g = gemm_info();
  return std::string("\"gemm\": {\"library\": ") + json_string(g.library) + ", \"kernels\": \"" + g.kernels +
         "\", \"isa\": \"" + isa_name(g.isa) + "\", \"cpu_isa\": \"" + isa_name(cpu_isa()) + "\"}";
}

}  // namespace stheno::cli
