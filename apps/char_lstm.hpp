#pragma once
// `stheno train --model char-lstm`: a character-level LSTM trained on a text corpus (Debian's
// licence texts by default), reporting its loss next to the unigram baseline and printing text
// it generates.
#include <cstdint>
#include <string>
#include <vector>

namespace stheno {
class Graph;
class Node;
}  // namespace stheno

namespace stheno::cli {

int run_char_lstm(const std::vector<std::string>& args);

// `stheno export` of char-lstm.safetensors: the network from byte tokens (N, steps) int32 to
// next-byte logits (N, steps, vocabulary), as ONNX; with a `sample_path`, random tokens and the
// logits for them too. Returns a line describing what it wrote.
std::string export_char_lstm(const std::string& weights_path, long long steps, const std::string& onnx_path,
                             const std::string& sample_path);
// Writes `output`'s value for random values of `input` (float pixels in [0, 1], or int32 tokens
// below `tokens`) to a .safetensors file, with those values.
void write_sample(Graph& graph, const Node& input, const Node& output, const std::string& path, std::int64_t tokens);

}  // namespace stheno::cli
