#pragma once
// Fused LSTM and GRU cells over a batch: one pass over the gate pre-activations instead of a
// dozen elementwise kernels per time step. The matrix products that make the pre-activations are
// ordinary matmuls outside these kernels. Rows need unit stride along the last axis.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// gates (N, 4H) pre-activations in the order input, forget, cell, output; c_prev (N, H);
// writes state (N, 2H) = [h, c].
void lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state);
// dstate (N, 2H) = [dL/dh, dL/dc]; writes out (N, 5H) = [dL/dgates, dL/dc_prev].
void lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                        const Tensor& out);

// gx = x·W_ih + b_ih and gh = h_prev·W_hh + b_hh, both (N, 3H) in the order reset, update, new;
// h_prev (N, H); writes h (N, H).
void gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h);
// dh (N, H); writes out (N, 7H) = [dL/dgx, dL/dgh, dL/dh_prev].
void gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh, const Tensor& out);

}  // namespace stheno
