#pragma once
// The typed attributes of an op, for code that needs more than its kind (an exporter, a
// backend): the UnaryOp of a unary op, the axes of a reduction, the window of a pooling.
#include <variant>
#include <vector>

#include "stheno/kernels/conv.hpp"
#include "stheno/kernels/elementwise.hpp"
#include "stheno/kernels/pool.hpp"
#include "stheno/kernels/reduce.hpp"

namespace stheno {

struct ReduceAttributes {
  ReduceOp op = ReduceOp::sum;
  Axes axes;  // empty: every axis
  bool keepdims = false;
};
// softmax, log_softmax, argmax and concat work along one axis (non-negative).
struct AxisAttribute {
  int axis = 0;
};
struct PermuteAttributes {
  std::vector<int> order;
};
struct SliceAttributes {
  int axis = 0;
  std::int64_t start = 0, stop = 0, step = 1;
};

// How the gradient of a lookup table is formed (ops.hpp, embedding()).
enum class TableGradient { dense, rows };

// Ops whose kind says everything (matmul, reshape to the node's shape) have none: monostate.
using OpAttributes = std::variant<std::monostate, UnaryOp, BinaryOp, ReduceAttributes, AxisAttribute, PermuteAttributes,
                                  SliceAttributes, Pool2dWindow, Conv2dGeometry, TableGradient>;

}  // namespace stheno
