#include "stheno/data/libsvm.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>

#include "stheno/io/read_file.hpp"

namespace stheno::data {

namespace {

constexpr std::uint64_t kMaxFileBytes = std::uint64_t{8} << 30;
constexpr std::int64_t kMaxIndex = std::numeric_limits<std::int32_t>::max();

class LineError {
 public:
  LineError(const std::string& name, std::int64_t line) : name_(name), line_(line) {}
  [[noreturn]] void operator()(const std::string& why) const {
    throw IOError(name_ + ":" + std::to_string(line_) + ": " + why);
  }

 private:
  const std::string& name_;
  std::int64_t line_;
};

std::string quoted(std::string_view token) {
  constexpr std::size_t kShown = 40;
  return "'" + std::string(token.substr(0, kShown)) + (token.size() > kShown ? "...'" : "'");
}

double number(std::string_view token, const char* what, const LineError& fail) {
  double v = 0;
  // Binary labels are often written +1 and -1; from_chars takes no '+'.
  const std::string_view digits = token.size() > 1 && token[0] == '+' && token[1] != '-' ? token.substr(1) : token;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size() || !std::isfinite(v))
    fail(std::string(what) + " " + quoted(token) + " is not a finite number");
  return v;
}

std::int64_t whole(std::string_view token, const char* what, const LineError& fail) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || end != token.data() + token.size()) fail(std::string(what) + " " + quoted(token) + " is not a whole number");
  return v;
}

// The next token of `line` separated by blanks, advancing `line` past it.
std::string_view next_token(std::string_view& line) {
  const std::size_t begin = line.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) {
    line = {};
    return {};
  }
  const std::size_t end = line.find_first_of(" \t\r", begin);
  const std::string_view token = line.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
  line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
  return token;
}

}  // namespace

SparseSamples parse_libsvm(std::span<const std::uint8_t> bytes, const std::string& name, const LibsvmOptions& options) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::vector<std::int32_t> offsets{0}, columns;
  std::vector<float> values;
  std::vector<double> labels;
  std::vector<std::int64_t> sample_lines;  // for errors about a sample's label
  std::int64_t largest = 0;
  std::size_t pos = 0;
  for (std::int64_t line_number = 1; pos < text.size(); ++line_number) {
    const std::size_t newline = text.find('\n', pos);
    std::string_view line = text.substr(pos, newline == std::string_view::npos ? std::string_view::npos : newline - pos);
    pos = newline == std::string_view::npos ? text.size() : newline + 1;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const LineError fail(name, line_number);
    const std::string_view label = next_token(line);
    if (label.empty()) continue;
    labels.push_back(number(label, "label", fail));
    sample_lines.push_back(line_number);
    std::int64_t previous = 0;
    for (std::string_view token = next_token(line); !token.empty(); token = next_token(line)) {
      const std::size_t colon = token.find(':');
      if (colon == std::string_view::npos) fail("expected index:value, got " + quoted(token));
      const std::string_view key = token.substr(0, colon);
      if (key == "qid") {
        if (previous != 0) fail("qid must come right after the label");
        whole(token.substr(colon + 1), "qid", fail);
        continue;
      }
      const std::int64_t index = whole(key, "index", fail);
      if (index < 1 || index > kMaxIndex) fail("index " + std::to_string(index) + ": indices run from 1 to 2^31 - 1");
      if (index <= previous)
        fail("index " + std::to_string(index) + " after index " + std::to_string(previous) + ": indices must increase");
      if (options.features > 0 && index > options.features)
        fail("index " + std::to_string(index) + " is past the " + std::to_string(options.features) + " features");
      previous = index;
      columns.push_back(static_cast<std::int32_t>(index - 1));
      values.push_back(static_cast<float>(number(token.substr(colon + 1), "value", fail)));
      if (static_cast<std::int64_t>(columns.size()) > kMaxIndex) fail("more than 2^31 - 1 stored values in the file");
    }
    largest = std::max(largest, previous);
    offsets.push_back(static_cast<std::int32_t>(columns.size()));
  }
  if (labels.empty()) throw IOError(name + ": no samples (every line is blank or a comment)");
  SparseSamples s;
  s.classes = options.classes;
  if (s.classes.empty()) {
    s.classes = labels;
    std::sort(s.classes.begin(), s.classes.end());
    s.classes.erase(std::unique(s.classes.begin(), s.classes.end()), s.classes.end());
  }
  s.labels = Tensor::empty(Shape{static_cast<std::int64_t>(labels.size())}, DType::i32);
  std::int32_t* ids = s.labels.data<std::int32_t>();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const auto it = std::lower_bound(s.classes.begin(), s.classes.end(), labels[i]);
    if (it == s.classes.end() || *it != labels[i]) {
      std::string known;
      for (std::size_t c = 0; c < std::min<std::size_t>(s.classes.size(), 10); ++c) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%s%g", c ? ", " : "", s.classes[c]);
        known += buf;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", labels[i]);
      throw IOError(name + ":" + std::to_string(sample_lines[i]) + ": label " + buf + " is not one of the training classes (" +
                    known + (s.classes.size() > 10 ? ", ..." : "") + ")");
    }
    ids[i] = static_cast<std::int32_t>(it - s.classes.begin());
  }
  const std::int64_t features = options.features > 0 ? options.features : largest;
  const auto tensor_of = [](const auto& v, DType dtype) {
    Tensor t = Tensor::empty(Shape{static_cast<std::int64_t>(v.size())}, dtype);
    if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(v[0]));
    return t;
  };
  s.features = CsrMatrix::from_arrays(static_cast<std::int64_t>(labels.size()), features,
                                      tensor_of(offsets, DType::i32), tensor_of(columns, DType::i32),
                                      tensor_of(values, DType::f32));
  return s;
}

SparseSamples read_libsvm(const std::string& path, const LibsvmOptions& options) {
  const std::vector<std::uint8_t> bytes = io::read_file_bytes(path, "read_libsvm", kMaxFileBytes);
  return parse_libsvm(bytes, path, options);
}

}  // namespace stheno::data
