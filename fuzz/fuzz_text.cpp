// A text corpus as the character model uses it: parse, build the vocabulary, encode, and sample
// windows. Either all of it works or parsing throws a stheno::Error.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "stheno/data/text.hpp"
#include "stheno/tensor/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stheno;
  std::string text;
  try {
    text = data::parse_text(data, size, "input.txt");
  } catch (const Error&) {
    return 0;
  }
  const data::CharVocabulary vocabulary(text);
  const std::vector<std::int32_t> ids = vocabulary.encode(text);
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (vocabulary.byte(ids[i]) != text[i]) __builtin_trap();
  if (!(vocabulary.unigram_entropy(ids) >= 0)) __builtin_trap();
  if (ids.size() < 2) return 0;
  const auto steps = static_cast<std::int64_t>(std::min<std::size_t>(ids.size() - 1, 16));
  Generator gen(size);
  const Tensor inputs = Tensor::zeros({2, steps}, DType::i32);
  const Tensor targets = Tensor::zeros({2 * steps}, DType::i32);
  data::sample_windows(ids, gen, inputs, targets);
  return 0;
}
