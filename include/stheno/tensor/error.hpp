#pragma once
// Every error stheno reports is an exception derived from stheno::Error, with a message that
// names the operation and the shapes, dtypes, nodes or file offsets involved.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace stheno {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Shapes that do not fit the operation: broadcasting, matmul inner sizes, reshape sizes.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A dtype the operation does not accept, or operands whose dtypes differ.
class DTypeError : public Error {
 public:
  using Error::Error;
};

// An axis or index outside its range.
class IndexError : public Error {
 public:
  using Error::Error;
};

// A value the operation cannot use: a zero step, an empty reduction, a bad argument.
class ValueError : public Error {
 public:
  using Error::Error;
};

// A file that cannot be read or written, or whose contents are malformed.
class IOError : public Error {
 public:
  using Error::Error;
};

// Memory ran out. The message says how much was asked for and, where known, what for ("a
// float32 tensor of shape (1000000, 784)"); bytes() lets a caller that knows more rephrase it.
class OutOfMemoryError : public Error {
 public:
  OutOfMemoryError(std::size_t bytes, const std::string& purpose);
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_;
};

}  // namespace stheno
