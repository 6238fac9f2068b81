#pragma once
// Text for character-level models: a corpus read from files, its byte vocabulary, and random
// windows for next-character prediction.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stheno/tensor/random.hpp"
#include "stheno/tensor/tensor.hpp"

namespace stheno::data {

// Where Debian keeps the licence texts that the character-level example trains on.
inline constexpr const char* kDefaultTextDirectory = "/usr/share/common-licenses";

// A corpus held in memory, as text; `name` (usually its path) starts every error. Throws IOError
// when it is empty or larger than 1 GiB (each byte becomes a 4-byte id).
std::string parse_text(const std::uint8_t* data, std::size_t size, const std::string& name);

// A file's bytes; or, for a directory, the bytes of the regular files directly in it (symbolic
// links and subdirectories skipped) in byte-wise order of their names, joined with nothing in
// between, checked by parse_text. Throws IOError naming the path when it cannot be read.
std::string read_text(const std::string& path);

// The distinct bytes of a text, sorted; each byte's id is its position.
class CharVocabulary {
 public:
  explicit CharVocabulary(std::string_view text);
  std::int64_t size() const { return static_cast<std::int64_t>(bytes_.size()); }
  // Throws ValueError naming the byte and its offset in `text` when it is not in the vocabulary.
  std::vector<std::int32_t> encode(std::string_view text) const;
  char byte(std::int32_t id) const { return static_cast<char>(bytes_.at(static_cast<std::size_t>(id))); }
  // The entropy (nats per character) of the text's byte frequencies: the loss of the best
  // model that ignores context, which a sequence model has to beat.
  double unigram_entropy(const std::vector<std::int32_t>& ids) const;

 private:
  std::vector<unsigned char> bytes_;
  std::array<std::int32_t, 256> ids_{};
};

// Fills inputs (batch, steps) with windows of `ids` starting at uniformly drawn offsets and
// targets (batch·steps) with the character after each input. Both int32, contiguous.
// Allocation-free. Throws ValueError if the text is shorter than steps + 1.
void sample_windows(const std::vector<std::int32_t>& ids, Generator& gen, const Tensor& inputs, const Tensor& targets);

}  // namespace stheno::data
