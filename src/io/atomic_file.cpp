#include "stheno/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <system_error>

#include "stheno/tensor/error.hpp"

namespace stheno::io {

namespace {

// std::error_code's message is strerror's text without strerror's shared static buffer, so two
// threads failing at once each get their own reason.
std::string system_reason(int error) {
  return std::error_code(error, std::generic_category()).message();
}

[[noreturn]] void fail(const std::string& path, const std::string& step, int error) {
  throw IOError("write_file_atomically: cannot write '" + path + "': " + step + ": " +
                system_reason(error));
}

// pid and a process-wide counter make the name unique even when several threads, or several
// processes sharing the directory, write the same path at once.
std::string unique_temp_path(const std::string& path) {
  static std::atomic<unsigned long long> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The temporary file, removed on destruction unless it has been renamed over the target, so that
// every failure path (including exceptions thrown halfway) cleans up after itself.
class TempFile {
 public:
  explicit TempFile(const std::string& target) : target_(target), path_(unique_temp_path(target)) {
    // O_EXCL: never reuse (and so never clobber) a file someone else created under this name.
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) fail(target_, "cannot create temporary file '" + path_ + "'", errno);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(path_.c_str());
  }

  // Replacing a file should not silently change who may read it (a private checkpoint stays
  // private), so the new file takes over the old one's permission bits.
  void copy_permissions_of_target() {
    struct stat existing {};
    if (::stat(target_.c_str(), &existing) != 0 || !S_ISREG(existing.st_mode)) return;
    if (::fchmod(fd_, existing.st_mode & 07777) != 0)
      fail(target_, "cannot set the permissions of temporary file '" + path_ + "'", errno);
  }

  void write_all(std::string_view bytes) {
    // Linux transfers at most about 2 GiB per write() call; larger buffers need several calls.
    constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
    while (!bytes.empty()) {
      const ssize_t written = ::write(fd_, bytes.data(), std::min(bytes.size(), kMaxChunk));
      if (written < 0) {
        if (errno == EINTR) continue;
        fail(target_, "cannot write temporary file '" + path_ + "'", errno);
      }
      bytes.remove_prefix(static_cast<std::size_t>(written));
    }
  }

  // Without fsync before rename, a power loss can leave the new name pointing at a file whose
  // data never reached the disk: exactly the partial file this function exists to prevent.
  void sync_and_close() {
    while (::fsync(fd_) != 0) {
      if (errno != EINTR) fail(target_, "cannot fsync temporary file '" + path_ + "'", errno);
    }
    const int fd = fd_;
    fd_ = -1;
    // close() can report a deferred write error (NFS does); the data is not safe if it does.
    if (::close(fd) != 0 && errno != EINTR)
      fail(target_, "cannot close temporary file '" + path_ + "'", errno);
  }

  void rename_over_target() {
    if (::rename(path_.c_str(), target_.c_str()) != 0)
      fail(target_, "cannot rename temporary file '" + path_ + "' over it", errno);
    renamed_ = true;
  }

 private:
  std::string target_;
  std::string path_;
  int fd_ = -1;
  bool renamed_ = false;
};

// The rename lives in the directory's entries; until the directory is synced, a power loss can
// bring back the old file (or no file at all).
void sync_directory_of(const std::string& path) {
  const std::string directory = directory_of(path);
  const auto fail_after_rename = [&](const std::string& step, int error) {
    throw IOError(
        "write_file_atomically: replaced '" + path + "', but " + step + " of its directory '" +
        directory +
        "' failed, so the replacement may not survive a power loss: " + system_reason(error));
  };
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_after_rename("open", errno);
  int error = 0;
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    // Some file systems cannot sync a directory at all (EINVAL); there is nothing more to do.
    if (errno != EINVAL) error = errno;
    break;
  }
  ::close(fd);
  if (error != 0) fail_after_rename("fsync", error);
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
  if (path.empty() || path.back() == '/')
    throw IOError("write_file_atomically: cannot write '" + path +
                  "': expected the path of a file, not of a directory");
  {
    TempFile temp(path);
    temp.copy_permissions_of_target();
    temp.write_all(bytes);
    temp.sync_and_close();
    temp.rename_over_target();
  }
  sync_directory_of(path);
}

}  // namespace stheno::io
