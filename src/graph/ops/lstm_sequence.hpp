#pragma once
// The op behind lstm() on the host: a whole LSTM over T steps. projected (N, T, 4H) = x·W_ih + b
// for every step, weight_hh (H, 4H), c0 (N, H) and h0 (N, H; undefined for zeros) -> a record
// (N, T, kLstmRecordParts·H), per step [h, c, the gates' activations]. Only the h and c parts
// are results: the activations are there for the op's adjoint, which propagates no gradient of
// its own into them, so lstm() hands out slices of h and c alone.
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/recurrent.hpp"  // kLstmRecordParts

namespace stheno {

Node lstm_sequence(const Node& projected, const Node& weight_hh, const Node& c0, const Node& h0);

}  // namespace stheno
