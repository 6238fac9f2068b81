#include "stheno/kernels/optim_update.hpp"

#include <algorithm>
#include <initializer_list>
#include <string>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/row_set_checks.hpp"
#include "kernels/update_checks.hpp"

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/row_product.hpp"
#include "kernels/cpu/thread_pool.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

namespace {

// Runs body(begin, end) over [0, n), split across threads when the tensor is large (updates are
// memory-bound, so two cores stream twice the bytes).
template <class Body>
void over_elements(std::int64_t n, Body&& body) {
  cpu::parallel_for(n, cpu::threads_for(n, n), [&](std::int64_t begin, std::int64_t end, int) { body(begin, end); });
}

// What an update touches: every element (a dense gradient), or the rows of a row set (a
// row-sparse gradient: gradient row k updates row rows[k] of the parameter and of its state),
// whose gradient rows are a block or a product to form (kernels/optim_update.hpp).
struct Targets {
  std::int64_t numel = 0;
  const std::int32_t* rows = nullptr;
  std::int64_t count = 0, width = 0;
  const char* op = nullptr;
  const RowGradient* row_gradient = nullptr;
};

Targets every_element(const Tensor& param) { return {param.numel()}; }

// The row-sparse form's checks: a 2-D parameter, a row set of its rows, and a block with one row
// per entry of the set or a product whose dense operand has the parameter's width (the product's
// own arrays are checked as it is prepared, before any row changes).
Targets row_targets(const char* op, const Tensor& param, const RowGradient& grad) {
  require_param(op, param);
  if (param.rank() != 2)
    throw ShapeError(std::string(op) + ": a row-sparse gradient needs a 2-D parameter, got " + param.shape().str());
  const std::int64_t count = check_row_set(op, grad.rows, param.shape()[0]);
  const std::int64_t width = param.shape()[1];
  const Tensor& values = grad.values;
  if (values.defined()) {
    if (values.dtype() != param.dtype() || values.rank() != 2 || values.shape()[0] != grad.rows.numel() ||
        values.shape()[1] != width || !values.is_contiguous())
      throw ShapeError(std::string(op) + ": the gradient's rows must be a contiguous " +
                       std::string(dtype_name(param.dtype())) + " (" + std::to_string(grad.rows.numel()) + ", " +
                       std::to_string(width) + ") block, got " + described(values));
  } else {
    const Tensor& dense = grad.product.dense;
    if (!dense.defined() || dense.dtype() != param.dtype() || dense.rank() != 2 || dense.shape()[1] != width)
      throw ShapeError(std::string(op) + ": the gradient's rows are neither a block nor a product with a " +
                       std::string(dtype_name(param.dtype())) + " dense operand of " + std::to_string(width) +
                       " columns (got " + described(dense) + ")");
  }
  return {param.numel(), grad.rows.data<std::int32_t>(), count, width, op, &grad};
}

// How many rows ahead a row-sparse update asks for the parameter's rows: they are scattered over
// the table, so the hardware's stride prefetcher does not find them, and a row's loads would
// otherwise wait on memory.
constexpr std::int64_t kRowsAhead = 4;
// How many rows of a product a part forms at a time: 16 rows of 128 floats are 8 KiB, which stay
// in L1 until the update reads them.
constexpr std::int64_t kFormedRows = 16;

// Runs body(n, parameter offset, gradient numbers) over the targets, threaded; g is the dense
// gradient or the block of rows (null for a product). For rows, prefetch(offset, n) is called for
// the row kRowsAhead further on.
template <class T, class Body, class Prefetch>
void over_targets(const Targets& t, const T* g, Body&& body, Prefetch&& prefetch) {
  if (!t.rows)
    return over_elements(t.numel, [&](std::int64_t begin, std::int64_t end) { body(end - begin, begin, g + begin); });
  const auto ahead = [&](std::int64_t k, std::int64_t end) {
    if (k + kRowsAhead < end) prefetch(t.rows[k + kRowsAhead] * t.width, t.width);
  };
  const std::int64_t threads = cpu::threads_for(t.count * t.width, t.count);
  if (g) {
    cpu::parallel_for(t.count, threads, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t k = begin; k < end; ++k) {
        ahead(k, end);
        body(t.width, t.rows[k] * t.width, g + k * t.width);
      }
    });
    return;
  }
  const RowGradient::Product& p = t.row_gradient->product;
  const cpu::RowProduct<T> product =
      cpu::prepare_row_product<T>(t.op, p.row_offsets, p.columns, p.values, p.dense, t.row_gradient->rows, t.numel / t.width);
  cpu::parallel_for(t.count, threads, [&](std::int64_t begin, std::int64_t end, int) {
    T* formed = cpu::part_scratch<T>(cpu::ScratchSlot::formed_rows, kFormedRows * t.width);
    for (std::int64_t k0 = begin; k0 < end; k0 += kFormedRows) {
      const std::int64_t k1 = std::min(end, k0 + kFormedRows);
      product.form(k0, k1, formed, t.width);
      for (std::int64_t k = k0; k < k1; ++k) {
        ahead(k, end);
        body(t.width, t.rows[k] * t.width, formed + (k - k0) * t.width);
      }
    }
  });
}

// Asks for n elements of each array from `at` on, for writing.
template <class T>
void prefetch_rows(std::int64_t at, std::int64_t n, std::initializer_list<T*> arrays) {
  for (T* a : arrays)
    if (a)
      for (std::int64_t i = 0; i < n; i += 64 / static_cast<std::int64_t>(sizeof(T))) __builtin_prefetch(a + at + i, 1);
}

void sgd(const Targets& targets, const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr,
         double momentum, bool nesterov, double weight_decay) {
  if (momentum != 0) require_match("sgd", param, velocity, "velocity");
  visit_floating(param.dtype(), "sgd", [&]<class T>() {
    T* p = param.data<T>();
    T* v = momentum != 0 ? velocity.data<T>() : nullptr;
    const auto& update = cpu::typed_kernels<T>().sgd;
    over_targets<T>(
        targets, grad.defined() ? grad.data<T>() : nullptr,
        [&](std::int64_t n, std::int64_t at, const T* g) {
          update(n, p + at, g, v ? v + at : nullptr, static_cast<T>(lr), static_cast<T>(momentum), nesterov,
                 static_cast<T>(weight_decay));
        },
        [&](std::int64_t at, std::int64_t n) { prefetch_rows<T>(at, n, {p, v}); });
  });
}

void adagrad(const Targets& targets, const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr,
             double eps, double weight_decay) {
  require_match("adagrad", param, sum_squares, "sum of squares");
  visit_floating(param.dtype(), "adagrad", [&]<class T>() {
    T* p = param.data<T>();
    T* sq = sum_squares.data<T>();
    const auto& update = cpu::typed_kernels<T>().adagrad;
    over_targets<T>(
        targets, grad.defined() ? grad.data<T>() : nullptr,
        [&](std::int64_t n, std::int64_t at, const T* g) {
          update(n, p + at, g, sq + at, static_cast<T>(lr), static_cast<T>(eps), static_cast<T>(weight_decay));
        },
        [&](std::int64_t at, std::int64_t n) { prefetch_rows<T>(at, n, {p, sq}); });
  });
}

void adam(const Targets& targets, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr,
          double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t) {
  visit_floating(param.dtype(), "adam", [&]<class T>() {
    T* p = param.data<T>();
    T* pm = m.data<T>();
    T* pv = v.data<T>();
    const AdamTerms<T> a = adam_terms<T>(lr, beta1, beta2, eps, weight_decay, decoupled, t);
    const auto& update = cpu::typed_kernels<T>().adam;
    over_targets<T>(
        targets, grad.defined() ? grad.data<T>() : nullptr,
        [&](std::int64_t n, std::int64_t at, const T* g) {
          update(n, p + at, g, pm + at, pv + at, a.rate, a.beta1, a.beta2, a.eps, a.inv_c1, a.inv_sqrt_c2, a.shrink,
                 a.l2);
        },
        [&](std::int64_t at, std::int64_t n) { prefetch_rows<T>(at, n, {p, pm, pv}); });
  });
}

}  // namespace

void cpu::sgd_update(const Tensor& param, const Tensor& grad, const Tensor& velocity, double lr, double momentum,
                bool nesterov, double weight_decay) {
  require_param("sgd", param);
  require_match("sgd", param, grad, "gradient");
  sgd(every_element(param), param, grad, velocity, lr, momentum, nesterov, weight_decay);
}

void cpu::sgd_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& velocity, double lr,
                          double momentum, bool nesterov, double weight_decay) {
  sgd(row_targets("sgd", param, grad), param, grad.values, velocity, lr, momentum, nesterov, weight_decay);
}

void cpu::adagrad_update(const Tensor& param, const Tensor& grad, const Tensor& sum_squares, double lr, double eps,
                    double weight_decay) {
  require_param("adagrad", param);
  require_match("adagrad", param, grad, "gradient");
  adagrad(every_element(param), param, grad, sum_squares, lr, eps, weight_decay);
}

void cpu::adagrad_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& sum_squares, double lr,
                              double eps, double weight_decay) {
  adagrad(row_targets("adagrad", param, grad), param, grad.values, sum_squares, lr, eps, weight_decay);
}

void cpu::rmsprop_update(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& momentum_buffer,
                    double lr, double alpha, double eps, double momentum, double weight_decay) {
  require_rmsprop(param, grad, square_avg, momentum_buffer, momentum);
  visit_floating(param.dtype(), "rmsprop", [&]<class T>() {
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* avg = square_avg.data<T>();
    T* buf = momentum != 0 ? momentum_buffer.data<T>() : nullptr;
    const auto& update = cpu::typed_kernels<T>().rmsprop;
    over_elements(param.numel(), [&](std::int64_t begin, std::int64_t end) {
      update(end - begin, p + begin, g + begin, avg + begin, buf ? buf + begin : nullptr, static_cast<T>(lr),
             static_cast<T>(alpha), static_cast<T>(eps), static_cast<T>(momentum), static_cast<T>(weight_decay));
    });
  });
}

void cpu::adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t) {
  require_adam(param, grad, m, v, t);
  adam(every_element(param), param, grad, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, t);
}

void cpu::adam_update_rows(const Tensor& param, const RowGradient& grad, const Tensor& m, const Tensor& v, double lr,
                           double beta1, double beta2, double eps, double weight_decay, bool decoupled, std::int64_t t) {
  const Targets targets = row_targets("adam", param, grad);
  require_adam(param, param, m, v, t);
  adam(targets, param, grad.values, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, t);
}

double cpu::gradient_sum_of_squares(const Tensor& grad) {
  require_param("clip_grad_norm", grad);
  double total = 0;
  visit_floating(grad.dtype(), "clip_grad_norm", [&]<class T>() {
    const T* g = grad.data<T>();
    for (std::int64_t i = 0; i < grad.numel(); ++i) total += static_cast<double>(g[i]) * static_cast<double>(g[i]);
  });
  return total;
}

void cpu::scale_gradient(const Tensor& grad, double factor) {
  require_param("clip_grad_norm", grad);
  visit_floating(grad.dtype(), "clip_grad_norm", [&]<class T>() {
    T* g = grad.data<T>();
    over_elements(grad.numel(), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) g[i] = static_cast<T>(static_cast<double>(g[i]) * factor);
    });
  });
}

}  // namespace stheno
