#include "stheno/io/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "stheno/tensor/error.hpp"

namespace stheno::io {

namespace {

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::vector<std::uint8_t> read_file_bytes(const std::string& path, std::string_view op,
                                          std::uint64_t max_bytes) {
  auto fail = [&](const std::string& why) -> void {
    throw IOError(std::string(op) + ": cannot read '" + path + "': " + why);
  };
  auto reason = [] { return std::error_code(errno, std::generic_category()).message(); };
  const Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail(reason());
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) fail(reason());
  if (!S_ISREG(info.st_mode)) fail("not a regular file");
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > max_bytes)
    fail("the file is " + std::to_string(size) + " bytes, more than the " +
         std::to_string(max_bytes) + "-byte limit for this kind of file");
  std::vector<std::uint8_t> bytes(size);
  std::uint64_t done = 0;
  while (done < size) {
    // Linux transfers at most about 2 GiB per read.
    const std::uint64_t piece = std::min<std::uint64_t>(size - done, std::uint64_t{1} << 30);
    const ssize_t got = ::read(fd.get(), bytes.data() + done, piece);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail("read at byte " + std::to_string(done) + " failed: " + reason());
    if (got == 0)
      fail("the file ended at byte " + std::to_string(done) + " of the " + std::to_string(size) +
           " its size said (was it truncated while being read?)");
    done += static_cast<std::uint64_t>(got);
  }
  return bytes;
}

}  // namespace stheno::io
