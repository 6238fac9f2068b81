#pragma once
// Every error stheno reports is an exception derived from stheno::Error, with a message that
// names the operation and the shapes, dtypes, nodes or file offsets involved.
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

}  // namespace stheno
