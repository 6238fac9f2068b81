#pragma once
// LIBSVM / SVMlight text files: one sample a line, "label index:value index:value ...", indices
// counted from 1 and increasing, an optional "qid:N" after the label (read and ignored), '#'
// starting a comment, blank lines skipped. The features become a CSR matrix, the labels class
// ids.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "stheno/tensor/csr.hpp"

namespace stheno::data {

struct SparseSamples {
  CsrMatrix features;           // (samples, features), float32
  Tensor labels;                // (samples,) int32 class ids
  std::vector<double> classes;  // class id -> the label the file writes, ascending
};

struct LibsvmOptions {
  // The feature count; 0 takes the largest index in the file. An index past a given count is an
  // error.
  std::int64_t features = 0;
  // The classes of the training file, for a test file: its labels must be among them and get
  // the same ids. Empty: the file's own labels, ascending, are classes 0, 1, ...
  std::vector<double> classes;
};

// Parses a file held in memory; `name` (usually its path) starts every error, with the line:
// "train.svm:12: index 0: indices start at 1". Throws IOError for a malformed line (a label or
// value that is not a finite number, an index that is not a whole number in [1, 2^31 - 1], one
// that does not increase, a missing ':'), a label outside the given classes, an index past the
// given feature count, and a file with no samples.
SparseSamples parse_libsvm(std::span<const std::uint8_t> bytes, const std::string& name, const LibsvmOptions& options = {});

// Reads the file at `path` (at most 8 GiB) and parses it with parse_libsvm.
SparseSamples read_libsvm(const std::string& path, const LibsvmOptions& options = {});

}  // namespace stheno::data
