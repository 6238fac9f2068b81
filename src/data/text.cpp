#include "stheno/data/text.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "stheno/io/read_file.hpp"

namespace stheno::data {

namespace fs = std::filesystem;

namespace {

// Each byte becomes a 4-byte id, so a larger corpus would need more than 4 GiB of ids.
constexpr std::uint64_t kMaxTextBytes = std::uint64_t{1} << 30;

}  // namespace

std::string parse_text(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size == 0) throw IOError(name + ": holds no text");
  if (size > kMaxTextBytes)
    throw IOError(name + ": the text is " + std::to_string(size) + " bytes, more than the " +
                  std::to_string(kMaxTextBytes) + "-byte limit");
  return std::string(reinterpret_cast<const char*>(data), size);
}

std::string read_text(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw IOError(path + ": no such file or directory");
  std::vector<std::uint8_t> bytes;
  if (fs::is_directory(status)) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& entry : fs::directory_iterator(path, ec))
      if (entry.is_regular_file() && !entry.is_symlink()) files.push_back(entry.path());
    if (ec) throw IOError(path + ": cannot list the directory: " + ec.message());
    // Byte-wise name order, the same on every machine and locale.
    std::sort(files.begin(), files.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
    // The limit holds for the corpus, so each file may use what the previous ones left.
    for (const fs::path& f : files) {
      const std::vector<std::uint8_t> more = io::read_file_bytes(f.string(), "read_text", kMaxTextBytes - bytes.size());
      bytes.insert(bytes.end(), more.begin(), more.end());
    }
  } else {
    bytes = io::read_file_bytes(path, "read_text", kMaxTextBytes);
  }
  return parse_text(bytes.data(), bytes.size(), path);
}

CharVocabulary::CharVocabulary(std::string_view text) {
  std::array<bool, 256> seen{};
  for (char c : text) seen[static_cast<unsigned char>(c)] = true;
  ids_.fill(-1);
  for (int b = 0; b < 256; ++b)
    if (seen[static_cast<std::size_t>(b)]) {
      ids_[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(bytes_.size());
      bytes_.push_back(static_cast<unsigned char>(b));
    }
}

std::vector<std::int32_t> CharVocabulary::encode(std::string_view text) const {
  std::vector<std::int32_t> ids(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::int32_t id = ids_[static_cast<unsigned char>(text[i])];
    if (id < 0)
      throw ValueError("encode: byte " + std::to_string(static_cast<unsigned char>(text[i])) + " at offset " +
                       std::to_string(i) + " is not in the vocabulary");
    ids[i] = id;
  }
  return ids;
}

double CharVocabulary::unigram_entropy(const std::vector<std::int32_t>& ids) const {
  std::vector<double> counts(bytes_.size(), 0);
  for (std::int32_t id : ids) counts.at(static_cast<std::size_t>(id)) += 1;
  double entropy = 0;
  const double total = static_cast<double>(ids.size());
  for (double c : counts)
    if (c > 0) entropy -= c / total * std::log(c / total);
  return entropy;
}

void sample_windows(const std::vector<std::int32_t>& ids, Generator& gen, const Tensor& inputs, const Tensor& targets) {
  if (inputs.rank() != 2 || inputs.dtype() != DType::i32 || !inputs.is_contiguous())
    throw ValueError("sample_windows: inputs must be contiguous int32 (batch, steps), got " + inputs.shape().str());
  const std::int64_t batch = inputs.shape()[0], steps = inputs.shape()[1];
  if (targets.numel() != batch * steps || targets.dtype() != DType::i32 || !targets.is_contiguous())
    throw ValueError("sample_windows: targets must be contiguous int32 with " + std::to_string(batch * steps) +
                     " elements, got " + targets.shape().str());
  const auto length = static_cast<std::int64_t>(ids.size());
  if (length < steps + 1)
    throw ValueError("sample_windows: a text of " + std::to_string(length) + " characters is too short for windows of " +
                     std::to_string(steps) + " steps and their targets");
  const auto starts = static_cast<std::uint64_t>(length - steps);
  std::int32_t* x = inputs.data<std::int32_t>();
  std::int32_t* y = targets.data<std::int32_t>();
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto s = static_cast<std::size_t>(gen.next_u64() % starts);
    std::copy_n(ids.begin() + static_cast<std::ptrdiff_t>(s), steps, x + b * steps);
    std::copy_n(ids.begin() + static_cast<std::ptrdiff_t>(s + 1), steps, y + b * steps);
  }
}

}  // namespace stheno::data
