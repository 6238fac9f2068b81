#include "stheno/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "stheno/io/atomic_file.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno::io {

namespace {

// Tensor bytes are copied straight between memory and the file, and the format is little-endian.
static_assert(std::endian::native == std::endian::little,
              "stheno's safetensors code assumes a little-endian machine");

using Json = nlohmann::json;
// Insertion order, so a saved header lists "__metadata__" first and the tensors in data order,
// as the reference implementation does; that makes the file easy to read by eye.
using OrderedJson = nlohmann::ordered_json;

constexpr std::uint64_t kLengthPrefixBytes = 8;
// About 100,000 tensor entries: a bigger header is a corrupt length, not a real header, and must
// not make us allocate gigabytes before noticing.
constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{16} << 20;
// A valid header nests three deep (header, entry, shape); anything much deeper is hostile, and
// walking it would cost stack and time.
constexpr int kMaxJsonDepth = 8;
// Longer names are certainly not parameter names; the limit also bounds what messages repeat.
constexpr std::size_t kMaxNameBytes = 1024;
// Untrusted names and values are cut to this many bytes when a message quotes them.
constexpr std::size_t kMaxQuotedBytes = 64;
// Messages list at most this many differences or names, then say how many more there are.
constexpr std::size_t kMaxListed = 20;
// Padding the header to this multiple lets readers that map the file view 8-byte dtypes in place.
constexpr std::uint64_t kDataAlignment = 8;
constexpr std::string_view kMetadataKey = "__metadata__";
constexpr std::string_view kSupportedDtypes = "F32, F64, I32, I64";

std::string system_reason(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// ---------------------------------------------------------------------------------------------
// Names and formatting shared by saving and loading.

std::string_view safetensors_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
  }
  return "?";
}

std::optional<DType> dtype_from_safetensors(std::string_view name) {
  if (name == "F32") return DType::f32;
  if (name == "F64") return DType::f64;
  if (name == "I32") return DType::i32;
  if (name == "I64") return DType::i64;
  return std::nullopt;
}

// The header's own notation, so messages about the header quote what the file says.
std::string json_shape(const Shape& shape) {
  std::string s = "[";
  for (int i = 0; i < shape.rank(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string offsets_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

std::string hex_byte(unsigned char u) {
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string{kHex[u >> 4], kHex[u & 15]};
}

// Names come from files, so a message shows a bounded, printable excerpt of one.
std::string in_quotes(std::string_view s) {
  std::string out = "'";
  for (const char c : s.substr(0, kMaxQuotedBytes)) {
    const auto u = static_cast<unsigned char>(c);
    out += u >= 0x20 && u != 0x7f ? std::string(1, c) : "\\x" + hex_byte(u);
  }
  out += "'";
  if (s.size() > kMaxQuotedBytes)
    out += " (" + std::to_string(s.size()) + " bytes, the first " + std::to_string(kMaxQuotedBytes) + " shown)";
  return out;
}

// At most kMaxListed of `items`, one per line, then how many more there are.
std::string listed(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < kMaxListed; ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  if (items.size() > kMaxListed)
    out += std::string(separator) + "and " + std::to_string(items.size() - kMaxListed) + " more";
  return out;
}

std::uint64_t byte_count(const Tensor& tensor) {
  return static_cast<std::uint64_t>(tensor.numel()) * itemsize(tensor.dtype());
}

// ---------------------------------------------------------------------------------------------
// Saving.

[[noreturn]] void bad_argument(const std::string& path, const std::string& what) {
  throw ValueError("save_safetensors: cannot save '" + path + "': " + what);
}

bool is_valid_utf8(const std::string& s) {
  try {
    (void)Json(s).dump();  // the strict error handler throws on invalid UTF-8
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

// Why `name` cannot be a metadata key, or nothing if it can. Saving and loading apply the same
// rules to keys and tensor names, so that every file stheno loads it can also save back.
std::optional<std::string> key_problem(std::string_view name) {
  if (name.size() > kMaxNameBytes)
    return "has a name of " + std::to_string(name.size()) + " bytes, " + in_quotes(name) +
           " (expected at most " + std::to_string(kMaxNameBytes) + ")";
  if (!is_valid_utf8(std::string(name))) return "has a name that is not valid UTF-8";
  return std::nullopt;
}

// The same for a tensor name, which must also be non-empty.
std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty()) return "has an empty name (expected a non-empty name)";
  return key_problem(name);
}

void check_tensors_to_save(const std::string& path, const std::vector<NamedTensor>& tensors) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const NamedTensor& t = tensors[i];
    const std::string which = "tensor " + std::to_string(i);
    if (const auto problem = name_problem(t.name)) bad_argument(path, which + " " + *problem);
    if (t.name == kMetadataKey)
      bad_argument(path,
                   which + " is named '__metadata__', which the format reserves for metadata");
    if (!t.tensor.defined()) bad_argument(path, which + " " + in_quotes(t.name) + " is undefined");
    if (!seen.insert(t.name).second)
      bad_argument(path,
                   which + " repeats the name " + in_quotes(t.name) + " (expected unique names)");
  }
}

void check_metadata_to_save(const std::string& path,
                            const std::map<std::string, std::string>& metadata) {
  for (const auto& [key, value] : metadata) {
    if (const auto problem = key_problem(key)) bad_argument(path, "a metadata key " + *problem);
    if (!is_valid_utf8(value))
      bad_argument(path, "metadata value of " + in_quotes(key) + " is not valid UTF-8");
  }
}

std::string encode_length_prefix(std::uint64_t length) {
  std::string bytes(kLengthPrefixBytes, '\0');
  for (std::size_t i = 0; i < kLengthPrefixBytes; ++i)
    bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes;
}

// The JSON header, padded with spaces so that the data section starts 8-byte aligned.
std::string encode_header(const std::vector<NamedTensor>& tensors,
                          const std::map<std::string, std::string>& metadata) {
  OrderedJson header = OrderedJson::object();
  if (!metadata.empty()) header[std::string(kMetadataKey)] = metadata;
  std::uint64_t offset = 0;
  for (const NamedTensor& t : tensors) {
    OrderedJson shape = OrderedJson::array();
    for (std::int64_t d : t.tensor.shape()) shape.push_back(d);
    const std::uint64_t end = offset + byte_count(t.tensor);
    OrderedJson entry = OrderedJson::object();
    entry["dtype"] = std::string(safetensors_dtype(t.tensor.dtype()));
    entry["shape"] = std::move(shape);
    entry["data_offsets"] = OrderedJson::array({offset, end});
    header[t.name] = std::move(entry);
    offset = end;
  }
  std::string text = header.dump();
  const std::uint64_t prefixed = kLengthPrefixBytes + text.size();
  text.append((kDataAlignment - prefixed % kDataAlignment) % kDataAlignment, ' ');
  return text;
}

void append_row_major_bytes(std::string& out, const Tensor& tensor) {
  const Tensor dense = tensor.to(Device::cpu()).contiguous();
  out.append(static_cast<const char*>(dense.raw_data()), byte_count(dense));
}

// ---------------------------------------------------------------------------------------------
// Reading the file.

// Which operation is reading which file, so every error can say both.
struct Source {
  std::string_view op;
  const std::string& path;
};

// "load_safetensors: malformed safetensors file 'x.safetensors' at byte 16: "
std::string located(const Source& src, std::string_view problem, std::uint64_t byte) {
  return std::string(src.op) + ": " + std::string(problem) + " safetensors file '" + src.path +
         "' at byte " + std::to_string(byte) + ": ";
}

[[noreturn]] void malformed(const Source& src, std::uint64_t byte, const std::string& what) {
  throw IOError(located(src, "malformed", byte) + what);
}

[[noreturn]] void unreadable(const Source& src, const std::string& what) {
  throw IOError(std::string(src.op) + ": cannot read '" + src.path + "': " + what);
}

// Where the bytes come from: a file or memory. Parsing sees only this, so both are checked alike.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual std::uint64_t size() const = 0;
  // Callers check offset + bytes <= size() first.
  virtual void read_exact(std::uint64_t offset, void* destination, std::uint64_t bytes) const = 0;
};

class MemoryBytes final : public ByteSource {
 public:
  MemoryBytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint64_t size() const override { return size_; }
  void read_exact(std::uint64_t offset, void* destination, std::uint64_t bytes) const override {
    if (bytes > 0) std::memcpy(destination, data_ + offset, bytes);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

// A read-only file descriptor. Tensor data is read straight into each tensor's storage, so a
// large checkpoint never needs a second copy in memory.
class InputFile final : public ByteSource {
 public:
  explicit InputFile(const Source& src) : src_(&src) {
    fd_ = ::open(src.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) unreadable(src, system_reason(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
      const int error = errno;
      ::close(fd_);
      unreadable(src, system_reason(error));
    }
    if (!S_ISREG(info.st_mode)) {
      ::close(fd_);
      unreadable(src, "not a regular file");
    }
    size_ = static_cast<std::uint64_t>(info.st_size);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() { ::close(fd_); }

  std::uint64_t size() const override { return size_; }

  void read_exact(std::uint64_t offset, void* destination, std::uint64_t bytes) const override {
    constexpr std::uint64_t kMaxChunk = std::uint64_t{1} << 30;  // Linux caps one read near 2 GiB
    auto* out = static_cast<char*>(destination);
    while (bytes > 0) {
      const ssize_t got = ::pread(fd_, out, std::min(bytes, kMaxChunk), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0)
        unreadable(*src_,
                   "read at byte " + std::to_string(offset) + " failed: " + system_reason(errno));
      // The size was checked against the header; a short read means the file changed under us.
      if (got == 0)
        unreadable(*src_, "the file ended at byte " + std::to_string(offset) + " while " +
                              std::to_string(bytes) +
                              " more bytes were expected (was it truncated while being read?)");
      out += got;
      offset += static_cast<std::uint64_t>(got);
      bytes -= static_cast<std::uint64_t>(got);
    }
  }

 private:
  const Source* src_ = nullptr;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Parsing and validating the header.

struct TensorEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  std::uint64_t begin = 0;  // data_offsets, relative to the start of the data section
  std::uint64_t end = 0;
  std::uint64_t key_byte = 0;  // where the entry's name is in the file, for error messages
};

struct Header {
  std::uint64_t data_start = 0;      // file offset of the data section
  std::vector<TensorEntry> entries;  // sorted by data offset
  std::map<std::string, std::string> metadata;
};

std::uint64_t read_header_length(const ByteSource& file, const Source& src) {
  if (file.size() < kLengthPrefixBytes)
    malformed(src, 0,
              "the file is " + std::to_string(file.size()) +
                  " bytes, too short for the 8-byte header length that starts every "
                  "safetensors file");
  unsigned char prefix[kLengthPrefixBytes];
  file.read_exact(0, prefix, kLengthPrefixBytes);
  std::uint64_t length = 0;
  for (std::size_t i = 0; i < kLengthPrefixBytes; ++i)
    length |= std::uint64_t{prefix[i]} << (8 * i);
  if (length > kMaxHeaderBytes)
    malformed(src, 0,
              "header length " + std::to_string(length) + " exceeds the " +
                  std::to_string(kMaxHeaderBytes) +
                  "-byte limit (expected a small little-endian byte count; is this a "
                  "safetensors file?)");
  if (length > file.size() - kLengthPrefixBytes)
    malformed(src, 0,
              "header length " + std::to_string(length) +
                  " runs past the end of the file (the file is " + std::to_string(file.size()) +
                  " bytes, so the header can be at most " +
                  std::to_string(file.size() - kLengthPrefixBytes) + " bytes)");
  return length;
}

std::string describe_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  return "byte 0x" + hex_byte(u);
}

// nlohmann's messages quote the token they stopped at, which can be any length.
std::string json_reason(const Json::exception& e) {
  std::string reason = e.what();
  if (const auto bracket = reason.find("] "); bracket != std::string::npos) reason.erase(0, bracket + 2);
  constexpr std::size_t kMaxReasonBytes = 200;
  if (reason.size() > kMaxReasonBytes) reason = reason.substr(0, kMaxReasonBytes) + "...";
  return reason;
}

// Runs before nlohmann sees the text: its lexer takes a NUL byte for the end of the input, so
// whatever followed one would be ignored, and a nesting deeper than any header can have is
// refused before anything walks it.
void check_header_text(std::string_view text, const Source& src) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0')
      malformed(src, kLengthPrefixBytes + i,
                "the JSON header holds a NUL byte (header byte " + std::to_string(i) +
                    "); JSON allows none, and the header is padded with spaces");
    if (in_string) {
      // An escape's second character cannot end the string, but a NUL there is still refused.
      if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\0')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '}' || c == ']') --depth;
    if ((c == '{' || c == '[') && ++depth > kMaxJsonDepth)
      malformed(src, kLengthPrefixBytes + i,
                "the JSON header nests deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels (header byte " + std::to_string(i) + "; a safetensors header needs 3)");
  }
}

Json parse_header_json(const std::string& text, const Source& src) {
  if (text.empty() || text.front() != '{')
    malformed(src, kLengthPrefixBytes,
              "expected the JSON header to start with '{', found " +
                  (text.empty() ? std::string("an empty header") : describe_byte(text.front())));
  check_header_text(text, src);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    // e.byte counts the characters read, so the offending character is at e.byte - 1.
    const std::uint64_t at = std::min<std::uint64_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    malformed(src, kLengthPrefixBytes + at,
              "the JSON header does not parse (header byte " + std::to_string(at) + "): " + json_reason(e));
  } catch (const Json::exception& e) {
    // Not a syntax error but a value nlohmann cannot hold, such as a number beyond a double's range.
    malformed(src, kLengthPrefixBytes, "the JSON header does not parse: " + json_reason(e));
  }
}

// A bounded rendering of a header value for messages: the first few items of an array, nested
// values abbreviated, strings cut short.
std::string json_excerpt(const Json& value) {
  if (value.is_string()) return in_quotes(value.get_ref<const std::string&>());
  if (value.is_object()) return "a JSON object of " + std::to_string(value.size()) + " members";
  if (!value.is_array()) return value.dump();
  std::string out = "[";
  for (std::size_t i = 0; i < value.size() && i < kMaxListed; ++i) {
    const Json& item = value[i];
    if (i > 0) out += ", ";
    if (item.is_array()) out += "[...]";
    else if (item.is_object()) out += "{...}";
    else if (item.is_string()) out += in_quotes(item.get_ref<const std::string&>());
    else out += item.dump();
  }
  if (value.size() > kMaxListed) out += ", ... (" + std::to_string(value.size()) + " items)";
  return out + "]";
}

// Index of the closing quote of the JSON string that opens at `open`.
std::size_t closing_quote(std::string_view text, std::size_t open) {
  std::size_t i = open + 1;
  while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
  return i;
}

// The byte offset (in the header) of every top-level key. nlohmann's DOM keeps no positions, and
// it silently keeps the last of two equal keys; this scan restores both: errors can point at the
// entry they are about, and a repeated tensor name is reported instead of hiding a tensor.
// It runs only on text that already parsed as JSON, so it need not validate anything.
std::map<std::string, std::uint64_t> top_level_key_offsets(const std::string& text,
                                                           const Source& src) {
  std::map<std::string, std::uint64_t> offsets;
  int depth = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    if (c != '"') continue;
    const std::size_t open = i;
    i = closing_quote(text, open);
    const std::size_t after = text.find_first_not_of(" \t\r\n", i + 1);
    if (depth != 1 || after == std::string::npos || text[after] != ':') continue;
    const auto key =
        Json::parse(std::string_view(text).substr(open, i + 1 - open)).get<std::string>();
    if (!offsets.emplace(key, kLengthPrefixBytes + open).second)
      malformed(src, kLengthPrefixBytes + open,
                "the header names " + in_quotes(key) + " twice (expected each tensor name once)");
  }
  return offsets;
}

std::map<std::string, std::string> parse_metadata(const Json& value, std::uint64_t at,
                                                  const Source& src) {
  if (!value.is_object())
    malformed(src, at,
              "\"__metadata__\" is a JSON " + std::string(value.type_name()) +
                  " (expected an object mapping strings to strings)");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      malformed(src, at,
                "\"__metadata__\" value of " + in_quotes(key) + " is a JSON " +
                    std::string(item.type_name()) + " (expected a string)");
    if (const auto problem = key_problem(key))
      malformed(src, at, "a \"__metadata__\" key " + *problem);
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// One tensor entry's fields, each checked for presence and type; `where` prefixes every message.
class EntryParser {
 public:
  EntryParser(const Source& src, const std::string& name, const Json& entry, std::uint64_t at)
      : src_(src),
        name_(name),
        entry_(entry),
        at_(at),
        where_("tensor " + in_quotes(name) + ": ") {}

  TensorEntry parse() {
    if (const auto problem = name_problem(name_)) malformed(src_, at_, "a tensor " + *problem);
    if (!entry_.is_object())
      fail("the entry is a JSON " + std::string(entry_.type_name()) +
           " (expected an object with \"dtype\", \"shape\" and \"data_offsets\")");
    TensorEntry e;
    e.name = name_;
    e.key_byte = at_;
    e.dtype = parse_dtype();
    e.shape = parse_shape();
    std::tie(e.begin, e.end) = parse_data_offsets();
    check_size_matches_shape(e);
    return e;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { malformed(src_, at_, where_ + what); }

  const Json& field(const char* key, const char* expected) const {
    const auto it = entry_.find(key);
    if (it == entry_.end())
      fail("missing \"" + std::string(key) + "\" (expected " + expected + ")");
    return *it;
  }

  DType parse_dtype() const {
    const Json& value = field("dtype", "a string such as \"F32\"");
    if (!value.is_string())
      fail("\"dtype\" is a JSON " + std::string(value.type_name()) +
           " (expected a string such as \"F32\")");
    const auto name = value.get<std::string>();
    const std::optional<DType> dtype = dtype_from_safetensors(name);
    if (!dtype)
      throw DTypeError(located(src_, "unsupported", at_) + where_ + "dtype " + in_quotes(name) +
                       " is not supported (supported: " + std::string(kSupportedDtypes) + ")");
    return *dtype;
  }

  Shape parse_shape() const {
    const char* expected = "an array of non-negative integers";
    const Json& value = field("shape", expected);
    if (!value.is_array())
      fail("\"shape\" is a JSON " + std::string(value.type_name()) + " (expected " + expected +
           ")");
    if (value.size() > static_cast<std::size_t>(kMaxRank))
      throw ShapeError(located(src_, "unsupported", at_) + where_ + "rank " +
                       std::to_string(value.size()) + " exceeds stheno's maximum rank " +
                       std::to_string(kMaxRank));
    Shape shape;
    std::uint64_t nonzero_product = 1;
    for (const Json& d : value) {
      if (!d.is_number_unsigned() ||
          d.get<std::uint64_t>() > std::uint64_t{std::numeric_limits<std::int64_t>::max()})
        fail("\"shape\" is " + json_excerpt(value) + " (expected " + expected + ")");
      const auto size = d.get<std::uint64_t>();
      // Shape::numel and the byte count must not overflow, even with a zero elsewhere in the shape.
      if (size != 0 &&
          (__builtin_mul_overflow(nonzero_product, size, &nonzero_product) ||
           nonzero_product > std::uint64_t{std::numeric_limits<std::int64_t>::max()} / 8))
        fail("\"shape\" " + json_excerpt(value) + " has more elements than any file can hold");
      shape.push_back(static_cast<std::int64_t>(size));
    }
    return shape;
  }

  std::pair<std::uint64_t, std::uint64_t> parse_data_offsets() const {
    const char* expected = "[begin, end] with 0 <= begin <= end";
    const Json& value = field("data_offsets", expected);
    if (!value.is_array() || value.size() != 2 || !value[0].is_number_unsigned() ||
        !value[1].is_number_unsigned())
      fail("\"data_offsets\" is " + json_excerpt(value) + " (expected " + expected + ")");
    const auto begin = value[0].get<std::uint64_t>();
    const auto end = value[1].get<std::uint64_t>();
    if (begin > end)
      fail("\"data_offsets\" " + offsets_text(begin, end) + " end before they begin (expected " +
           expected + ")");
    return {begin, end};
  }

  void check_size_matches_shape(const TensorEntry& e) const {
    const std::uint64_t needed = static_cast<std::uint64_t>(e.shape.numel()) * itemsize(e.dtype);
    if (e.end - e.begin != needed)
      fail("\"data_offsets\" " + offsets_text(e.begin, e.end) + " span " +
           std::to_string(e.end - e.begin) + " bytes, but dtype " +
           std::string(safetensors_dtype(e.dtype)) + " with shape " + json_shape(e.shape) +
           " needs " + std::to_string(needed) + " bytes (" + std::to_string(e.shape.numel()) +
           " elements of " + std::to_string(itemsize(e.dtype)) + " bytes)");
  }

  const Source& src_;
  const std::string& name_;
  const Json& entry_;
  std::uint64_t at_;
  std::string where_;
};

// The data section must be exactly the tensors' bytes, back to back: anything else is either a
// damaged file or one whose tensors alias each other, and both would load silently wrong.
void check_data_layout(const Header& header, std::uint64_t data_bytes, const Source& src) {
  const std::uint64_t start = header.data_start;
  // Offsets come from the file and may be near 2^64, so they are compared, never added to.
  for (const TensorEntry& e : header.entries)
    if (e.end > data_bytes)
      malformed(src, e.key_byte,
                "tensor " + in_quotes(e.name) + ": \"data_offsets\" " +
                    offsets_text(e.begin, e.end) + " run past the end of the data section, which holds " +
                    std::to_string(data_bytes) + " bytes from byte " + std::to_string(start) +
                    " to the end of the file");
  std::uint64_t expected = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& e : header.entries) {
    const std::string here =
        "tensor " + in_quotes(e.name) + " (data_offsets " + offsets_text(e.begin, e.end) + ")";
    if (e.begin < expected)
      malformed(src, start + e.begin,
                here + " overlaps tensor " + in_quotes(previous->name) + " (data_offsets " +
                    offsets_text(previous->begin, previous->end) +
                    "); expected each tensor's data to start where the previous one ends");
    if (e.begin > expected)
      malformed(src, start + expected,
                "data bytes " + offsets_text(expected, e.begin) +
                    " belong to no tensor (a gap before " + here +
                    "); expected each tensor's data to start where the previous one ends");
    expected = e.end;
    previous = &e;
  }
  if (expected != data_bytes)
    malformed(src, start + expected,
              std::to_string(data_bytes - expected) + " trailing bytes after " +
                  (previous ? "the data of the last tensor, " + in_quotes(previous->name)
                            : std::string("the header")) +
                  " (expected the file to end at byte " + std::to_string(start + expected) +
                  ", but it is " + std::to_string(start + data_bytes) + " bytes)");
}

void interpret_header(const std::string& text, const Json& json, Header& header, const Source& src) {
  const std::map<std::string, std::uint64_t> key_bytes = top_level_key_offsets(text, src);
  header.data_start = kLengthPrefixBytes + text.size();
  for (const auto& [name, value] : json.items()) {
    const auto found = key_bytes.find(name);
    const std::uint64_t at = found == key_bytes.end() ? kLengthPrefixBytes : found->second;
    if (name == kMetadataKey)
      header.metadata = parse_metadata(value, at, src);
    else
      header.entries.push_back(EntryParser(src, name, value, at).parse());
  }
  std::sort(header.entries.begin(), header.entries.end(),
            [](const TensorEntry& a, const TensorEntry& b) {
              return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
            });
}

Header read_header(const ByteSource& file, const Source& src) {
  const std::uint64_t length = read_header_length(file, src);
  std::string text(length, '\0');
  file.read_exact(kLengthPrefixBytes, text.data(), length);
  const Json json = parse_header_json(text, src);
  Header header;
  // Every field is checked for its type before it is read, so this only keeps a mistake in those
  // checks from escaping as a foreign exception without the file's name.
  try {
    interpret_header(text, json, header, src);
  } catch (const Json::exception& e) {
    malformed(src, kLengthPrefixBytes, "the JSON header cannot be read: " + json_reason(e));
  }
  check_data_layout(header, file.size() - header.data_start, src);
  return header;
}

Tensor read_tensor(const ByteSource& file, const Header& header, const TensorEntry& entry) {
  Tensor tensor = Tensor::empty(entry.shape, entry.dtype);
  file.read_exact(header.data_start + entry.begin, tensor.raw_data(), entry.end - entry.begin);
  return tensor;
}

// ---------------------------------------------------------------------------------------------
// Comparing a file with load_into's targets.

void check_targets(const Source& src, const std::vector<NamedTensor>& targets) {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const NamedTensor& t = targets[i];
    const std::string which = "target " + std::to_string(i) + " " + in_quotes(t.name);
    if (!t.tensor.defined())
      throw ValueError(std::string(src.op) + ": cannot load '" + src.path + "': " + which +
                       " is undefined");
    if (!seen.insert(t.name).second)
      throw ValueError(std::string(src.op) + ": cannot load '" + src.path + "': " + which +
                       " repeats a name (expected unique target names)");
  }
}

std::string describe(DType dtype, const Shape& shape) {
  return std::string(dtype_name(dtype)) + " " + shape.str();
}

// Every difference between the file and the targets, so one failed load shows the whole
// mismatch instead of one problem per attempt.
void check_file_matches_targets(const Source& src, const Header& header,
                                const std::vector<NamedTensor>& targets) {
  std::map<std::string_view, const TensorEntry*> in_file;
  for (const TensorEntry& e : header.entries) in_file.emplace(e.name, &e);
  std::vector<std::string> differences;
  std::size_t shape_differences = 0;
  std::size_t dtype_differences = 0;
  std::set<std::string_view> targeted;
  for (const NamedTensor& t : targets) {
    targeted.insert(t.name);
    const auto it = in_file.find(t.name);
    const std::string target = describe(t.tensor.dtype(), t.tensor.shape());
    if (it == in_file.end()) {
      differences.push_back(in_quotes(t.name) + ": missing in the file (the target is " + target +
                            ")");
      continue;
    }
    const TensorEntry& e = *it->second;
    if (e.dtype != t.tensor.dtype()) {
      ++dtype_differences;
      differences.push_back(
          in_quotes(t.name) + ": dtype mismatch: " + std::string(dtype_name(e.dtype)) +
          " in the file, " + std::string(dtype_name(t.tensor.dtype())) + " in the target");
    }
    if (!(e.shape == t.tensor.shape())) {
      ++shape_differences;
      differences.push_back(in_quotes(t.name) + ": shape mismatch: " + e.shape.str() +
                            " in the file, " + t.tensor.shape().str() + " in the target");
    }
  }
  for (const TensorEntry& e : header.entries)
    if (!targeted.contains(e.name))
      differences.push_back(in_quotes(e.name) +
                            ": unexpected in the file: no target has this name (the file has " +
                            describe(e.dtype, e.shape) + ")");
  if (differences.empty()) return;

  std::string message = std::string(src.op) + ": '" + src.path + "' does not match the " +
                        std::to_string(targets.size()) + " target tensors (" +
                        std::to_string(differences.size()) + " difference" +
                        (differences.size() == 1 ? "" : "s") + "); nothing was loaded:";
  message += "\n  " + listed(differences, "\n  ");
  if (shape_differences == differences.size()) throw ShapeError(message);
  if (dtype_differences == differences.size()) throw DTypeError(message);
  throw ValueError(message);
}

}  // namespace

// -------------------------------------------------------------------------------------------------

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_tensors_to_save(path, tensors);
  check_metadata_to_save(path, metadata);
  const std::string header = encode_header(tensors, metadata);
  std::uint64_t data_bytes = 0;
  for (const NamedTensor& t : tensors) data_bytes += byte_count(t.tensor);

  std::string file;
  file.reserve(kLengthPrefixBytes + header.size() + data_bytes);
  file += encode_length_prefix(header.size());
  file += header;
  for (const NamedTensor& t : tensors) append_row_major_bytes(file, t.tensor);
  write_file_atomically(path, file);
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const NamedTensor& t) { return t.name == name; });
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  for (const NamedTensor& t : tensors)
    if (t.name == name) return t.tensor;
  std::vector<std::string> names;
  for (const NamedTensor& t : tensors) names.push_back(in_quotes(t.name));
  const std::string available = listed(names, ", ");
  throw ValueError("SafetensorsFile::get: '" + path + "' has no tensor named " + in_quotes(name) +
                   " (it has " + (available.empty() ? std::string("no tensors") : available) + ")");
}

namespace {

SafetensorsFile load_from(const ByteSource& file, const Source& src) {
  const Header header = read_header(file, src);
  SafetensorsFile loaded;
  loaded.path = src.path;
  loaded.metadata = header.metadata;
  loaded.tensors.reserve(header.entries.size());
  for (const TensorEntry& e : header.entries)
    loaded.tensors.push_back({e.name, read_tensor(file, header, e)});
  return loaded;
}

}  // namespace

SafetensorsFile parse_safetensors(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const Source src{"parse_safetensors", name};
  return load_from(MemoryBytes(data, size), src);
}

SafetensorsFile load_safetensors(const std::string& path) {
  const Source src{"load_safetensors", path};
  return load_from(InputFile(src), src);
}

void load_into(const std::string& path, const std::vector<NamedTensor>& targets) {
  const Source src{"load_into", path};
  check_targets(src, targets);
  const InputFile file(src);
  const Header header = read_header(file, src);
  check_file_matches_targets(src, header, targets);

  // Read everything before touching any target, so a read error leaves every target as it was.
  std::map<std::string_view, const TensorEntry*> in_file;
  for (const TensorEntry& e : header.entries) in_file.emplace(e.name, &e);
  std::vector<Tensor> loaded;
  loaded.reserve(targets.size());
  for (const NamedTensor& t : targets)
    loaded.push_back(read_tensor(file, header, *in_file.at(t.name)));
  for (std::size_t i = 0; i < targets.size(); ++i) targets[i].tensor.copy_from(loaded[i]);
}

}  // namespace stheno::io
