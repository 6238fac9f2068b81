#pragma once
// `stheno train --model char-lstm`: a character-level LSTM trained on a text corpus (Debian's
// licence texts by default), reporting its loss next to the unigram baseline and printing text
// it generates.
#include <string>
#include <vector>

namespace stheno::cli {

int run_char_lstm(const std::vector<std::string>& args);

}  // namespace stheno::cli
