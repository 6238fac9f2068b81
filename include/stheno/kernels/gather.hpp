#pragma once
// Row gathers for embeddings: the rows of a table picked by integer indices, and the adjoint
// that adds rows back into a table-shaped gradient, touching only the rows used.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// table (V, D), indices int32 of any shape; out (indices.numel(), D) or (indices..., D),
// contiguous: out row i = table row indices[i]. Throws IndexError naming the position and value
// of an index outside [0, V).
void gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out);
// grad (indices.numel(), D) or (indices..., D); out (V, D) contiguous: zeroed, then
// out row indices[i] += grad row i.
void scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out);

}  // namespace stheno
