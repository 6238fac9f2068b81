#pragma once
#include <string_view>

namespace stheno {

// The kinds of graph ops: an op's identity is its kind and its attributes (the UnaryOp of a
// unary op, the axes of a reduction, the geometry of a convolution).
enum class OpKind {
  unary, binary, matmul, matmul_add, reduce, argmax, softmax, log_softmax, one_hot, softmax_cross_entropy,
  dropout_mask, im2col, col2im, conv2d, conv2d_input_grad, conv2d_weight_grad, max_pool2d, max_pool2d_grad,
  embedding, embedding_grad, batch_norm_stats, batch_norm_training_gate, batch_norm_replica_mean, lstm_cell, lstm_cell_grad,
  lstm_sequence, lstm_sequence_grad, gru_cell,
  gru_cell_grad, reshape, permute, slice, unslice, unslice_add, concat, broadcast, sum_to, laid_out,
  csr_matmul, csr_t_matmul, csr_sampled_dot, csr_column_set, csr_t_matmul_at_rows, rows_to_dense, take_rows,
};
std::string_view op_kind_name(OpKind kind);

}  // namespace stheno
