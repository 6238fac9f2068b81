#pragma once
// What ONNX export and import share: the protobuf schema from Debian's libonnx-dev, and the
// mapping between its element types and stheno's dtypes.
#include <onnx/onnx_pb.h>

#include "stheno/tensor/dtype.hpp"

namespace stheno::io {

inline int onnx_elem_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return onnx::TensorProto::FLOAT;
    case DType::f64: return onnx::TensorProto::DOUBLE;
    case DType::i32: return onnx::TensorProto::INT32;
    case DType::i64: return onnx::TensorProto::INT64;
  }
  return onnx::TensorProto::UNDEFINED;
}

// LSTM gates: stheno (and PyTorch) keep them as input, forget, cell, output; ONNX as input,
// output, forget, cell. GRU: stheno reset, update, new; ONNX update, reset, new. Block k of
// ONNX's layout is block kOnnxLstmGates[k] of stheno's.
inline constexpr int kOnnxLstmGates[4] = {0, 3, 1, 2};
inline constexpr int kOnnxGruGates[3] = {1, 0, 2};

}  // namespace stheno::io
