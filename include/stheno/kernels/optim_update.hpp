#pragma once
// Fused, in-place parameter updates: one pass over a parameter, its gradient and its optimizer
// state. All tensors must be contiguous and share shape and dtype (float32 or float64).
#include <cstdint>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

// g += wd·p; v = μ·v + g; p -= lr·(nesterov ? g + μ·v : v)   (v unused when μ = 0)
void sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                bool nesterov, double weight_decay);
// g += wd·p; s += g²; p -= lr·g / (√s + ε)
void adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr, double eps,
                    double weight_decay);
// g += wd·p; a = α·a + (1−α)·g²; with momentum μ: b = μ·b + g/(√a + ε), p -= lr·b; else p -= lr·g/(√a + ε)
void rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& momentum_buffer,
                    double lr, double alpha, double eps, double momentum, double weight_decay);
// Adam at step t (from 1). decoupled (AdamW): p *= 1 − lr·wd; else g += wd·p. Then
// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²; p -= lr·(m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)
void adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t);

// A row-sparse gradient of a 2-D parameter (kernels/sparse.hpp): a row set and one gradient row
// per entry of it, for the parameter row rows[k]. The rows are given as a block of values, or
// as the product that forms them: rows k of Aᵀ·dense at the set (csr_t_matmul_at_rows; the
// gradient of an embedding bag's table). A product is formed a few rows at a time, in cache, as
// the update goes, so the block is never written out whole.
struct RowGradient {
  struct Product {
    Tensor row_offsets, columns, values, dense;  // A's CSR arrays, and dense (A's rows, D)
  };
  Tensor rows;
  Tensor values;    // (rows.numel(), D), or undefined when the product is given
  Product product;  // used when values is undefined
};

// The updates above for a row-sparse gradient: row k updates row rows[k] of the parameter and of
// its state, and every other row is left as it is. For plain SGD and AdaGrad that is exactly the
// dense update with a zero gradient elsewhere; with momentum, weight decay or Adam's moments it
// is the lazy form: a row's state moves only on the steps that touch it.
void sgd_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& velocity, double lr, double momentum,
                     bool nesterov, double weight_decay);
void adagrad_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& sum_squares, double lr,
                         double eps, double weight_decay);
void adam_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& m, const Tensor& v, double lr,
                      double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t);

// Global-norm clipping's two passes: the sum of squares of a gradient (accumulated in double),
// and scaling it in place.
double gradient_sum_of_squares(const Tensor& grad);
void scale_gradient(const Tensor& grad, double factor);

}  // namespace stheno
