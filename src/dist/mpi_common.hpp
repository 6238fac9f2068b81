#pragma once
// What the Open MPI backend's collectives and its allreduce both need: a dtype's MPI datatype
// and an MPI error code's text.
#include <mpi.h>

#include <string>

#include "stheno/tensor/dtype.hpp"

namespace stheno::dist {

inline MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
  }
  return MPI_DATATYPE_NULL;
}

inline std::string mpi_message(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<std::size_t>(length));
}

}  // namespace stheno::dist
