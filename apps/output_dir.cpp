#include "output_dir.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "stheno/tensor/error.hpp"

namespace stheno::cli {

std::string prepare_output_directory(const std::string& dir, const std::vector<std::string>& files) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw IOError("--out " + dir + ": cannot create the directory: " + error.message());
  if (!fs::is_directory(dir)) throw IOError("--out " + dir + ": exists and is not a directory");
  // Writing a file is the only test that sees read-only mounts, ACLs and full quotas alike.
  const fs::path probe = fs::path(dir) / (".stheno-write-test-" + std::to_string(getpid()));
  std::FILE* f = std::fopen(probe.c_str(), "w");
  if (!f) throw IOError("--out " + dir + ": cannot write files there: " + std::strerror(errno));
  std::fclose(f);
  fs::remove(probe, error);

  std::string earlier;
  for (const std::string& name : files)
    if (fs::exists(fs::path(dir) / name)) earlier += (earlier.empty() ? "" : ", ") + name;
  const std::string shown = dir.empty() || dir.back() == '/' ? dir : dir + "/";
  return "writing to " + shown + (earlier.empty() ? "" : " (replacing " + earlier + " from an earlier run)");
}

}  // namespace stheno::cli
