#include "stheno/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>

#include "stheno/io/read_file.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno::data {

namespace {

constexpr std::uint8_t kUnsignedByteType = 0x08;
constexpr int kMaxIdxRank = 4;
constexpr std::int64_t kMagicBytes = 4;
constexpr std::int64_t kBytesPerDimension = 4;
// 16 GiB, hundreds of times MNIST's training images: a header claiming more is corrupt, and gzip
// data that really decompressed that far would exhaust memory before failing.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 34;
// Dozens of times MNIST's training images: a larger file is a mistake, not a dataset to hold in
// memory.
constexpr std::uint64_t kMaxFileBytes = std::uint64_t{2} << 30;
// zlib counts in unsigned int, so large arrays are inflated in pieces.
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

// Delivers the IDX bytes from memory, either as they are or through inflate for gzip data, and
// counts what it has delivered so that messages can say where in the data a problem is.
class IdxReader {
 public:
  IdxReader(const std::uint8_t* data, std::size_t size, const std::string& name)
      : name_(name), data_(data), size_(size), gzip_(size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    if (!gzip_) return;
    // 16 + MAX_WBITS: gzip framing only, so the header and the trailing checksum are both checked.
    if (inflateInit2(&stream_, 16 + MAX_WBITS) != Z_OK) fail("zlib is out of memory");
    stream_.next_in = const_cast<std::uint8_t*>(data);  // zlib's API is not const-correct
  }
  ~IdxReader() {
    if (gzip_) inflateEnd(&stream_);
  }
  IdxReader(const IdxReader&) = delete;
  IdxReader& operator=(const IdxReader&) = delete;

  std::int64_t offset() const { return offset_; }

  // Reads up to `size` bytes, fewer only where the data ends.
  std::size_t read(std::uint8_t* into, std::size_t size) {
    if (!gzip_) {
      const std::size_t n = std::min(size, size_ - static_cast<std::size_t>(offset_));
      std::copy_n(data_ + offset_, n, into);
      offset_ += static_cast<std::int64_t>(n);
      return n;
    }
    std::size_t total = 0;
    while (total < size && !ended_) {
      if (stream_.avail_in == 0) {
        if (consumed() == size_)
          fail("the gzip stream ends early, at byte " + std::to_string(size_) + " of the file, after " +
               std::to_string(offset_) + " decompressed bytes (unexpected end of file: is it truncated?)");
        stream_.avail_in = static_cast<uInt>(std::min(size_ - consumed(), kReadPiece));
      }
      stream_.next_out = into + total;
      stream_.avail_out = static_cast<uInt>(std::min(size - total, kReadPiece));
      const int code = inflate(&stream_, Z_NO_FLUSH);
      const auto produced = static_cast<std::size_t>(stream_.next_out - (into + total));
      total += produced;
      offset_ += static_cast<std::int64_t>(produced);
      if (code == Z_STREAM_END) ended_ = true;
      else if (code != Z_OK && code != Z_BUF_ERROR)
        fail("the gzip data is corrupt at byte " + std::to_string(consumed()) + " of the file, after " +
             std::to_string(offset_) + " decompressed bytes: " +
             (stream_.msg != nullptr ? stream_.msg : "zlib error " + std::to_string(code)));
    }
    return total;
  }

  bool read_exactly(std::uint8_t* into, std::size_t size) { return read(into, size) == size; }

  // A gzip stream is one member: bytes after it are as wrong as bytes after a plain file's data.
  void check_nothing_after_gzip_stream() const {
    if (gzip_ && consumed() < size_)
      fail(std::to_string(size_ - consumed()) + " unexpected bytes after the end of the gzip stream at byte " +
           std::to_string(consumed()) + " of the file (expected the file to end there)");
  }

  // "byte 16", or for gzip data "byte 16 of the decompressed data": offsets count decompressed
  // bytes, which a hex dump of the .gz file would not show.
  std::string position(std::int64_t at) const {
    return "byte " + std::to_string(at) + (gzip_ ? " of the decompressed data" : "");
  }

  [[noreturn]] void fail(const std::string& what) const { throw IOError("read_idx: " + name_ + ": " + what); }
  [[noreturn]] void fail_at(std::int64_t at, const std::string& what) const { fail(position(at) + ": " + what); }

 private:
  std::size_t consumed() const { return static_cast<std::size_t>(stream_.next_in - data_); }

  const std::string& name_;
  const std::uint8_t* data_;
  std::size_t size_;
  bool gzip_;
  z_stream stream_{};
  bool ended_ = false;
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
      file.fail_at(kMagicBytes, "dimensions " + shape.str() + " describe more than 2^34 elements (the limit)");
  return shape;
}

[[noreturn]] void fail_truncated(const IdxReader& file, const Shape& shape) {
  const std::int64_t header_bytes = kMagicBytes + shape.rank() * kBytesPerDimension;
  file.fail("ends at " + file.position(file.offset()) + ", but the dimensions " + shape.str() + " require " +
            std::to_string(header_bytes + shape.numel()) + " bytes (" + std::to_string(header_bytes) +
            " header bytes and " + std::to_string(shape.numel()) + " data bytes)");
}

// Grows as the data arrives (doubling, from 64 KiB) rather than trusting the header's sizes up
// front, so that a corrupt header claiming gigabytes fails at the real end of the data after
// allocating at most twice what is there.
std::vector<std::uint8_t> read_data(IdxReader& file, const Shape& shape) {
  const auto expected = static_cast<std::size_t>(shape.numel());
  std::vector<std::uint8_t> bytes;
  while (bytes.size() < expected) {
    const std::size_t before = bytes.size();
    bytes.resize(before + std::min({expected - before, std::max<std::size_t>(before, 1 << 16), kReadPiece}));
    if (!file.read_exactly(bytes.data() + before, bytes.size() - before)) fail_truncated(file, shape);
  }
  return bytes;
}

void check_nothing_follows(IdxReader& file, const Shape& shape) {
  const std::int64_t end = file.offset();
  std::array<std::uint8_t, 4096> scratch;
  // Counting stops at a limit: gzip data can expand a thousandfold, and the count is only a hint.
  constexpr std::int64_t kMaxCounted = std::int64_t{1} << 20;
  std::int64_t extra = 0;
  while (extra < kMaxCounted) {
    const std::size_t got = file.read(scratch.data(), scratch.size());
    if (got == 0) break;
    extra += static_cast<std::int64_t>(got);
  }
  if (extra > 0)
    file.fail((extra < kMaxCounted ? std::to_string(extra) : "at least " + std::to_string(extra)) +
              " unexpected bytes after " + file.position(end) + ", where the dimensions " + shape.str() +
              " say the data ends");
  file.check_nothing_after_gzip_stream();
}

}  // namespace

IdxArray parse_idx(const std::uint8_t* data, std::size_t size, const std::string& name) {
  IdxReader file(data, size, name);
  IdxArray array;
  array.shape = read_shape(file);
  array.bytes = read_data(file, array.shape);
  check_nothing_follows(file, array.shape);
  return array;
}
IdxArray read_idx(const std::string& path) {
  const std::vector<std::uint8_t> bytes = io::read_file_bytes(path, "read_idx", kMaxFileBytes);
  return parse_idx(bytes.data(), bytes.size(), path);
}

}  // namespace stheno::data
