#pragma once
// The host's kernels: what the public kernel functions (src/kernels/dispatch.cpp) call when every
// operand is in host memory. Same signatures and contracts as the public out-forms.
#include "stheno/kernels/conv.hpp"
#include "stheno/kernels/elementwise.hpp"
#include "stheno/kernels/optim_update.hpp"
#include "stheno/kernels/pool.hpp"
#include "stheno/kernels/prepared.hpp"
#include "stheno/kernels/reduce.hpp"
#include "stheno/tensor/random.hpp"

namespace stheno::cpu {

bool all_finite(const Tensor& t);
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan);
void unary(UnaryOp op, const Tensor& x, const Tensor& out);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void reduce(ReduceOp op, const Tensor& x, const Axes& axes, bool keepdims, const Tensor& out);
void argmax(const Tensor& x, int axis, bool keepdims, const Tensor& out);
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta);
PreparedKernel prepare_unary(UnaryOp op, const Tensor& x, const Tensor& out);
PreparedKernel prepare_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
PreparedKernel prepare_reduce(ReduceOp op, const Tensor& x, const Axes& axes, const Tensor& out);
PreparedKernel prepare_matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha, double beta);
PreparedKernel prepare_copy(const Tensor& source, const Tensor& out);
void softmax(const Tensor& x, int axis, const Tensor& out);
void log_softmax(const Tensor& x, int axis, const Tensor& out);
void softmax_cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& out);
void im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns);
void col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image);
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g, const Tensor& out);
void conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g, const Tensor& dx);
void conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g, const Tensor& dweight);
void max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out);
void max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Pool2dWindow& window,
                         const Tensor& dx);
void gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out);
void csr_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                const Tensor& out);
void csr_t_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                  const Tensor& out);
void csr_sampled_dot(const Tensor& row_offsets, const Tensor& columns, const Tensor& a, const Tensor& b,
                     const Tensor& out);
void csr_column_set(const Tensor& row_offsets, const Tensor& columns, std::int64_t cols, const Tensor& out);
void csr_t_matmul_at_rows(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                          const Tensor& rows, std::int64_t cols, const Tensor& out);
void rows_to_dense(const Tensor& rows, const Tensor& values, const Tensor& out);
void take_rows(const Tensor& dense, const Tensor& rows, const Tensor& out);
void scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out);
void one_hot(const Tensor& labels, const Tensor& out);
void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance);
void update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                            const Tensor& running_var, double momentum, double variance_scale);
void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                bool nesterov, double weight_decay);
void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr, double eps,
                    double weight_decay);
void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& momentum_buffer,
                    double lr, double alpha, double eps, double momentum, double weight_decay);
void adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t);
void sgd_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& velocity, double lr, double momentum,
                     bool nesterov, double weight_decay);
void adagrad_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& sum_squares, double lr, double eps,
                         double weight_decay);
void adam_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& m, const Tensor& v, double lr,
                      double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t);
double gradient_sum_of_squares(const Tensor& grad);
void scale_gradient(const Tensor& grad, double factor);
void dropout_mask(Generator& gen, double keep, const Tensor& out);
void lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state);
void lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                        const Tensor& out);
void lstm_sequence(const Tensor& projected, const Tensor& w_hh, const Tensor& h0, const Tensor& c0, const Tensor& record);
void lstm_sequence_backward(const Tensor& record, const Tensor& grad, const Tensor& w_hh, const Tensor& h0, const Tensor& c0,
                            const Tensor& out);
void gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h);
void gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh, const Tensor& out);

}  // namespace stheno::cpu
