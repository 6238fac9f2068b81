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

// A whole LSTM layer over T steps on the host, the batch's rows shared between threads (each
// row's recurrence is independent of the others'). projected (N, T, 4H) holds x·W_ih + b for
// every step, w_hh is (H, 4H), c0 (N, H) and h0 (N, H) the initial state (an undefined h0 is
// zero). Writes record (N, T, kLstmRecordParts·H): per step [h, c, activations of i, f, g, o],
// which the adjoint reads.
inline constexpr std::int64_t kLstmRecordParts = 6;
void lstm_sequence(const Tensor& projected, const Tensor& w_hh, const Tensor& h0, const Tensor& c0, const Tensor& record);
// grad is the gradient of record (N, T, kLstmRecordParts·H), of which only the h and c parts
// are read, or of its h part alone (N, T, H). Writes out, 1-D:
// [dL/dprojected (N·T·4H), dL/dw_hh (H·4H), dL/dc0 (N·H), dL/dh0 (N·H) when h0 is defined].
void lstm_sequence_backward(const Tensor& record, const Tensor& grad, const Tensor& w_hh, const Tensor& h0,
                            const Tensor& c0, const Tensor& out);

// gx = x·W_ih + b_ih and gh = h_prev·W_hh + b_hh, both (N, 3H) in the order reset, update, new;
// h_prev (N, H); writes h (N, H).
void gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h);
// dh (N, H); writes out (N, 7H) = [dL/dgx, dL/dgh, dL/dh_prev].
void gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh, const Tensor& out);

}  // namespace stheno
