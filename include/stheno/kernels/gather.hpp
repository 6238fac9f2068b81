#pragma once
// Row gathers for embeddings: the rows of a table picked by integer indices, and the adjoint
// that adds rows back into a table-shaped gradient, touching only the rows used; and one-hot
// rows from class labels.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// table (V, D), indices int32 of any shape; out (indices.numel(), D) or (indices..., D),
// contiguous: out row i = table row indices[i]. Throws IndexError naming the position and value
// of an index outside [0, V).
void gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out);
// grad (indices.numel(), D) or (indices..., D); out (V, D) contiguous: zeroed, then
// out row indices[i] += grad row i.
void scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out);

// labels int32 (N,); out (N, C) float, contiguous: row i is 1 at column labels[i], 0 elsewhere.
// Throws IndexError naming the row and label outside [0, C).
void one_hot(const Tensor& labels, const Tensor& out);

}  // namespace stheno
