#include "stheno/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "stheno/tensor/error.hpp"

namespace stheno::data {

namespace {

constexpr std::uint8_t kUnsignedByteType = 0x08;
constexpr int kMaxIdxRank = 4;
constexpr std::int64_t kMagicBytes = 4;
constexpr std::int64_t kBytesPerDimension = 4;
// Far beyond any real file, and small enough that byte counts derived from it cannot overflow.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 62;
// gzread counts in unsigned int, so large arrays are read in pieces.
constexpr std::size_t kReadPiece = std::size_t{1} << 24;

std::string hex_byte(std::uint8_t value) {
  char text[3];
  std::snprintf(text, sizeof text, "%02x", value);
  return text;
}

// The IDX type codes, so that an unsupported one is recognisable in the message.
std::string_view type_name(std::uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "not an IDX type";
  }
}

// A gzFile (which reads plain files too) that knows its position and reports failures as
// IOError naming the file.
class IdxReader {
 public:
  explicit IdxReader(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    // gzopen fails without setting errno only when it cannot allocate its state.
    if (file_ == nullptr)
      throw IOError("read_idx: cannot open " + path + ": " +
                    (errno != 0 ? std::strerror(errno) : "zlib is out of memory"));
    // zlib's default 8 KiB buffer would take thousands of reads for MNIST's training images.
    gzbuffer(file_, 1 << 18);
  }
  ~IdxReader() { gzclose(file_); }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  std::int64_t offset() const { return offset_; }

  // Reads up to `size` bytes, fewer only where the file ends.
  std::size_t read(std::uint8_t* into, std::size_t size) {
    std::size_t total = 0;
    while (total < size) {
      const auto piece = static_cast<unsigned>(std::min(size - total, kReadPiece));
      const int got = gzread(file_, into + total, piece);
      if (got > 0) {
        total += static_cast<std::size_t>(got);
        offset_ += got;
      }
      if (got < static_cast<int>(piece)) {
        throw_if_read_failed();
        break;
      }
    }
    return total;
  }

  bool read_exactly(std::uint8_t* into, std::size_t size) { return read(into, size) == size; }

  // "byte 16", or for a gzip'd file "byte 16 of the decompressed data": offsets count
  // decompressed bytes, which a hex dump of the .gz file would not show.
  std::string position(std::int64_t at) const {
    return "byte " + std::to_string(at) + (gzdirect(file_) ? "" : " of the decompressed data");
  }

  [[noreturn]] void fail(const std::string& what) const { throw IOError("read_idx: " + path_ + ": " + what); }
  [[noreturn]] void fail_at(std::int64_t at, const std::string& what) const { fail(position(at) + ": " + what); }

 private:
  // A short read is either the end of the file or an error (including a gzip stream cut short).
  void throw_if_read_failed() const {
    const int saved_errno = errno;
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_OK) return;
    fail("cannot read past " + position(offset_) + ": " +
         (code == Z_ERRNO ? std::string(std::strerror(saved_errno)) : without_path(message)));
  }

  // zlib prefixes its messages with the path, which ours already name.
  std::string without_path(std::string_view message) const {
    const std::string prefix = path_ + ": ";
    if (message.starts_with(prefix)) message.remove_prefix(prefix.size());
    return std::string(message);
  }

  std::string path_;
  gzFile file_;
  std::int64_t offset_ = 0;
};

// Returns the rank the magic number announces.
int check_magic(const IdxReader& file, const std::array<std::uint8_t, 4>& magic) {
  const int rank = magic[3];
  if (magic[0] != 0 || magic[1] != 0 || rank < 1 || rank > kMaxIdxRank)
    file.fail_at(0, "bad magic number " + hex_byte(magic[0]) + " " + hex_byte(magic[1]) + " " +
                        hex_byte(magic[2]) + " " + hex_byte(magic[3]) +
                        " (expected 00 00, a type code, and a rank from 01 to 04)");
  if (magic[2] != kUnsignedByteType)
    file.fail_at(2, "type code 0x" + hex_byte(magic[2]) + " (" + std::string(type_name(magic[2])) +
                        ") is not supported (expected 0x08, unsigned byte)");
  return rank;
}

std::int64_t big_endian_u32(const std::uint8_t* bytes) {
  return (std::int64_t{bytes[0]} << 24) | (std::int64_t{bytes[1]} << 16) | (std::int64_t{bytes[2]} << 8) |
         std::int64_t{bytes[3]};
}

Shape read_shape(IdxReader& file) {
  std::array<std::uint8_t, kMagicBytes + kMaxIdxRank * kBytesPerDimension> header{};
  if (!file.read_exactly(header.data(), kMagicBytes))
    file.fail("ends at " + file.position(file.offset()) + ", inside the 4-byte magic number");
  const int rank = check_magic(file, {header[0], header[1], header[2], header[3]});
  const std::int64_t header_bytes = kMagicBytes + rank * kBytesPerDimension;
  if (!file.read_exactly(header.data() + kMagicBytes, static_cast<std::size_t>(header_bytes - kMagicBytes)))
    file.fail("ends at " + file.position(file.offset()) + ", inside the " + std::to_string(header_bytes) +
              "-byte header of a rank-" + std::to_string(rank) + " array");
  Shape shape;
  for (int axis = 0; axis < rank; ++axis) {
    const std::int64_t at = kMagicBytes + axis * kBytesPerDimension;
    const std::int64_t size = big_endian_u32(header.data() + at);
    if (size == 0) file.fail_at(at, "dimension " + std::to_string(axis) + " is 0 (expected at least 1)");
    shape.push_back(size);
  }
  std::int64_t elements = 1;
  for (const std::int64_t size : shape)
    if (__builtin_mul_overflow(elements, size, &elements) || elements > kMaxElements)
      file.fail_at(kMagicBytes, "dimensions " + shape.str() + " describe more than 2^62 elements");
  return shape;
}

[[noreturn]] void fail_truncated(const IdxReader& file, const Shape& shape) {
  const std::int64_t header_bytes = kMagicBytes + shape.rank() * kBytesPerDimension;
  file.fail("ends at " + file.position(file.offset()) + ", but the dimensions " + shape.str() + " require " +
            std::to_string(header_bytes + shape.numel()) + " bytes (" + std::to_string(header_bytes) +
            " header bytes and " + std::to_string(shape.numel()) + " data bytes)");
}

// Grows as the data arrives rather than trusting the header's sizes up front, so that a corrupt
// header claiming terabytes fails at the real end of the file instead of in the allocator.
std::vector<std::uint8_t> read_data(IdxReader& file, const Shape& shape) {
  const auto expected = static_cast<std::size_t>(shape.numel());
  std::vector<std::uint8_t> bytes;
  while (bytes.size() < expected) {
    const std::size_t before = bytes.size();
    bytes.resize(before + std::min(expected - before, kReadPiece));
    if (!file.read_exactly(bytes.data() + before, bytes.size() - before)) fail_truncated(file, shape);
  }
  return bytes;
}

void check_nothing_follows(IdxReader& file, const Shape& shape) {
  const std::int64_t end = file.offset();
  std::array<std::uint8_t, 4096> scratch;
  std::int64_t extra = 0;
  while (const std::size_t got = file.read(scratch.data(), scratch.size())) extra += static_cast<std::int64_t>(got);
  if (extra > 0)
    file.fail(std::to_string(extra) + " unexpected bytes after " + file.position(end) + ", where the dimensions " +
              shape.str() + " say the data ends");
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  IdxReader file(path);
  IdxArray array;
  array.shape = read_shape(file);
  array.bytes = read_data(file, array.shape);
  check_nothing_follows(file, array.shape);
  return array;
}

}  // namespace stheno::data
