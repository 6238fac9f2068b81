#pragma once
// The directory a run writes to (--out): made and checked for writing before any work starts,
// so that a bad --out is reported at once rather than after the first epoch.
#include <string>
#include <vector>

namespace stheno::cli {

// Creates `dir` if needed and checks that files can be written in it (IOError naming --out
// otherwise). Returns the line announcing it, which says which of `files` an earlier run left
// there and this run will replace: "writing to stheno-run/ (replacing model.safetensors,
// metrics.csv from an earlier run)".
std::string prepare_output_directory(const std::string& dir, const std::vector<std::string>& files);

}  // namespace stheno::cli
