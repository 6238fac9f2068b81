// A whole LSTM layer as one kernel. Each row of the batch runs its own recurrence, so threads
// take whole rows for all T steps: a step's product and cell run on the thread whose cache
// already holds that row's state, and threads never wait for each other between steps (the
// step-by-step ops synchronise twice per step and move every step's state between cores).
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"
#include "kernels/recurrent_checks.hpp"
#include "stheno/kernels/recurrent.hpp"

namespace stheno {

namespace {

// A (N, T, width) tensor with unit stride along its last axis, addressed by (row, step).
template <class T>
struct Sequence {
  T* data;
  std::int64_t row_stride, step_stride;
  T* at(std::int64_t n, std::int64_t t) const { return data + n * row_stride + t * step_stride; }
};

template <class T>
Sequence<T> sequence(const char* op, const char* what, const Tensor& x, std::int64_t n, std::int64_t steps,
                     std::int64_t width, DType dtype) {
  if (!x.defined()) throw ValueError(std::string(op) + ": " + what + " is undefined");
  if (x.dtype() != dtype)
    throw DTypeError(std::string(op) + ": " + what + " has dtype " + std::string(dtype_name(x.dtype())) + ", expected " +
                     std::string(dtype_name(dtype)));
  if (x.shape() != Shape{n, steps, width})
    throw ShapeError(std::string(op) + ": " + what + " has shape " + x.shape().str() + ", expected " +
                     Shape{n, steps, width}.str());
  if (width > 1 && x.strides()[2] != 1)
    throw ShapeError(std::string(op) + ": " + what + " must have unit stride along its last axis");
  return {x.data<T>(), x.strides()[0], x.strides()[1]};
}

// Rows of a (n, width) operand; an undefined one (a zero initial state) has none.
template <class T>
struct Rows {
  T* data = nullptr;
  std::int64_t stride = 0;
  T* row(std::int64_t i) const { return data + i * stride; }
};

template <class T>
Rows<T> optional_rows(const char* op, const char* what, const Tensor& t, std::int64_t n, std::int64_t width, DType dtype) {
  if (!t.defined()) return {};
  const std::int64_t stride = row_stride(op, what, t, n, width, dtype);
  return {t.data<T>(), stride};
}

// N, T and H of a (N, T, parts·H) operand.
struct LayerSizes {
  std::int64_t n, steps, h;
};

LayerSizes layer_sizes(const char* op, const char* what, const Tensor& t, std::int64_t parts) {
  if (!t.defined() || t.rank() != 3 || t.shape()[2] % parts != 0)
    throw ShapeError(std::string(op) + ": " + what + " must be (N, T, " + std::to_string(parts) + "H), got " +
                     (t.defined() ? t.shape().str() : std::string("undefined")));
  return {t.shape()[0], t.shape()[1], t.shape()[2] / parts};
}

// The recurrent weight and the initial state, checked; h0 may be undefined (zero).
template <class T>
struct WeightAndState {
  Rows<T> w, h0, c0;
};

template <class T>
WeightAndState<T> weight_and_state(const char* op, const Tensor& w_hh, const Tensor& h0, const Tensor& c0,
                                   const LayerSizes& s, DType dtype) {
  if (!w_hh.defined() || !c0.defined()) throw ValueError(std::string(op) + ": weight_hh and c0 must be defined");
  return {optional_rows<T>(op, "weight_hh", w_hh, s.h, 4 * s.h, dtype), optional_rows<T>(op, "h0", h0, s.n, s.h, dtype),
          optional_rows<T>(op, "c0", c0, s.n, s.h, dtype)};
}

// Where the gates' activations start in a step of the record, in units of H: after h and c.
constexpr std::int64_t kGates = 2;

// Threads for a layer's rows: a thread's share must outweigh waking it.
int threads_for_rows(std::int64_t n, std::int64_t steps, std::int64_t h) {
  return cpu::threads_for(n * steps * h * (8 * h + 60), n);
}

}  // namespace

void cpu::lstm_sequence(const Tensor& projected, const Tensor& w_hh, const Tensor& h0, const Tensor& c0,
                        const Tensor& record) {
  const char* op = "lstm_sequence";
  const LayerSizes sizes = layer_sizes(op, "the projected inputs", projected, 4);
  const auto [n, steps, h] = sizes;
  const DType dt = projected.dtype();
  visit_floating(dt, op, [&]<class T>() {
    const Sequence<T> x = sequence<T>(op, "projected", projected, n, steps, 4 * h, dt),
                      rec = sequence<T>(op, "record", record, n, steps, kLstmRecordParts * h, dt);
    const auto [w, first_h, first_c] = weight_and_state<T>(op, w_hh, h0, c0, sizes, dt);
    const auto& k = typed_kernels<T>();
    parallel_for(n, threads_for_rows(n, steps, h), [&](std::int64_t begin, std::int64_t end, int) {
      const std::int64_t rows = end - begin;
      for (std::int64_t t = 0; t < steps; ++t) {
        // The recurrent sums go into the record's gate slots and the cell adds the projected
        // inputs: copying those in first and adding the product onto them moved 2 MB a step
        // more for W4. The previous h is the record's, or h0 (none at all for a zero h0).
        const T* h_prev = t > 0 ? rec.at(begin, t - 1) : first_h.data ? first_h.row(begin) : nullptr;
        const std::int64_t h_prev_stride = t > 0 ? rec.row_stride : first_h.stride;
        if (h_prev)
          gemm<T>(false, false, rows, 4 * h, h, T(1), h_prev, h_prev_stride, w.data, w.stride, T(0), rec.at(begin, t) + kGates * h,
                  rec.row_stride);
        else
          for (std::int64_t i = begin; i < end; ++i) std::fill(rec.at(i, t) + kGates * h, rec.at(i, t) + (kGates + 4) * h, T(0));
        for (std::int64_t i = begin; i < end; ++i) {
          const T* c_prev = t > 0 ? rec.at(i, t - 1) + h : first_c.row(i);
          T* out = rec.at(i, t);
          k.lstm_cell_keeping(h, x.at(i, t), out + kGates * h, c_prev, out, out + h);
        }
      }
    });
  });
}

void cpu::lstm_sequence_backward(const Tensor& record, const Tensor& grad, const Tensor& w_hh, const Tensor& h0,
                                 const Tensor& c0, const Tensor& out) {
  const char* op = "lstm_sequence_grad";
  const LayerSizes sizes = layer_sizes(op, "the record", record, kLstmRecordParts);
  const auto [n, steps, h] = sizes;
  const DType dt = record.dtype();
  const std::int64_t total = n * steps * 4 * h + h * 4 * h + n * h + (h0.defined() ? n * h : 0);
  if (!out.defined() || out.dtype() != dt || out.shape() != Shape{total} || !out.is_contiguous())
    throw ShapeError(std::string(op) + ": out must be a contiguous " + std::string(dtype_name(dt)) + " vector of " +
                     std::to_string(total) + " elements");
  visit_floating(dt, op, [&]<class T>() {
    // The gradient of the whole record, or of its h part alone (the c part is then zero).
    const bool h_only = grad.defined() && grad.rank() == 3 && grad.shape()[2] == h;
    const Sequence<T> rec = sequence<T>(op, "record", record, n, steps, kLstmRecordParts * h, dt),
                      g = sequence<T>(op, "gradient", grad, n, steps, h_only ? h : kLstmRecordParts * h, dt);
    const auto [w, first_h, first_c] = weight_and_state<T>(op, w_hh, h0, c0, sizes, dt);
    T* const dgates = out.data<T>();  // (N, T, 4H), contiguous
    T* const dw = dgates + n * steps * 4 * h;
    T* const dc0 = dw + h * 4 * h;
    T* const dh0 = first_h.data ? dc0 + n * h : nullptr;
    const auto& k = typed_kernels<T>();
    // dh_{t-1} = dgates_t · W_hhᵀ reads W_hhᵀ in rows: oneMKL runs 32×512 by 512×128 twice as
    // fast that way as with W_hh read transposed (Emerald Rapids).
    T* const w_t = part_scratch<T>(ScratchSlot::lstm_weight_t, 4 * h * h);
    k.transpose(h, 4 * h, w.data, w.stride, w_t, h);
    // Every step's previous h, one row per (row, step) like dgates, for dW_hh in one product.
    T* const h_prev = part_scratch<T>(ScratchSlot::lstm_prev_states, n * steps * h);
    const std::int64_t gate_row = steps * 4 * h;
    parallel_for(n, threads_for_rows(n, steps, h), [&](std::int64_t begin, std::int64_t end, int) {
      const std::int64_t rows = end - begin;
      T* const dh = part_scratch<T>(ScratchSlot::lstm_carried, (2 * rows + 1) * h);
      T* const dc = dh + rows * h;
      T* const zeros = dc + rows * h;
      std::fill(dh, dh + (2 * rows + 1) * h, T(0));
      for (std::int64_t t = steps - 1; t >= 0; --t) {
        for (std::int64_t i = begin; i < end; ++i) {
          const T* now = rec.at(i, t);
          const T* c_prev = t > 0 ? rec.at(i, t - 1) + h : first_c.row(i);
          const T* outer = g.at(i, t);
          const std::int64_t r = i - begin;
          k.lstm_cell_backward_kept(h, now + kGates * h, c_prev, now + h, outer, h_only ? zeros : outer + h, dh + r * h, dc + r * h,
                                    dgates + i * gate_row + t * 4 * h);
          T* prev = h_prev + (i * steps + t) * h;
          if (t > 0) std::memcpy(prev, rec.at(i, t - 1), sizeof(T) * h);
          else if (first_h.data) std::memcpy(prev, first_h.row(i), sizeof(T) * h);
          else std::fill(prev, prev + h, T(0));
        }
        T* const dh_prev = t > 0 ? dh : dh0 ? dh0 + begin * h : nullptr;
        if (dh_prev)
          gemm<T>(false, false, rows, h, 4 * h, T(1), dgates + begin * gate_row + t * 4 * h, gate_row, w_t, h, T(0), dh_prev, h);
      }
      std::memcpy(dc0 + begin * h, dc, sizeof(T) * rows * h);
    });
    // dW_hh = Σ h_prevᵀ · dgates over every row and step, in column blocks of whole vectors.
    const std::int64_t panels = (4 * h + 15) / 16;
    const int parts = threads_for(h * 4 * h * n * steps, panels);
    parallel_for(panels, parts, [&](std::int64_t first, std::int64_t last, int) {
      const std::int64_t j0 = first * 16, j1 = std::min(4 * h, last * 16);
      gemm<T>(true, false, h, j1 - j0, n * steps, T(1), h_prev, h, dgates + j0, 4 * h, T(0), dw + j0, 4 * h);
    });
  });
}

}  // namespace stheno
