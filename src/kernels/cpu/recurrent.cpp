#include "stheno/kernels/recurrent.hpp"

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/recurrent_checks.hpp"

#include <string>
#include <utility>

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

namespace {

// A batch of rows with unit stride along the last axis.
struct Rows {
  Tensor t;
  std::int64_t stride = 0;
  template <class T>
  T* row(std::int64_t i) const { return t.data<T>() + i * stride; }
};

Rows rows(const char* op, const char* what, const Tensor& t, std::int64_t n, std::int64_t width, DType dtype) {
  return {t, row_stride(op, what, t, n, width, dtype)};
}


template <class Body>
void over_rows(std::int64_t n, std::int64_t cost, Body&& body) {
  cpu::parallel_for(n, cpu::threads_for(n * cost, n), [&](std::int64_t begin, std::int64_t end, int) {
    for (std::int64_t i = begin; i < end; ++i) body(i);
  });
}

}  // namespace

void cpu::lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state) {
  const char* op = "lstm_cell";
  const auto [n, h] = batch_and_hidden(op, "gates", gates, 4);
  const DType dt = gates.dtype();
  const Rows g = rows(op, "gates", gates, n, 4 * h, dt), c = rows(op, "c_prev", c_prev, n, h, dt),
             s = rows(op, "state", state, n, 2 * h, dt);
  visit_floating(dt, op, [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    over_rows(n, 40 * h, [&](std::int64_t i) {
      k.lstm_cell(h, g.row<T>(i), c.row<T>(i), s.row<T>(i), s.row<T>(i) + h);
    });
  });
}

void cpu::lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state, const Tensor& dstate,
                        const Tensor& out) {
  const char* op = "lstm_cell_backward";
  const auto [n, h] = batch_and_hidden(op, "gates", gates, 4);
  const DType dt = gates.dtype();
  const Rows g = rows(op, "gates", gates, n, 4 * h, dt), c = rows(op, "c_prev", c_prev, n, h, dt),
             s = rows(op, "state", state, n, 2 * h, dt), ds = rows(op, "dstate", dstate, n, 2 * h, dt),
             o = rows(op, "out", out, n, 5 * h, dt);
  visit_floating(dt, op, [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    over_rows(n, 60 * h, [&](std::int64_t i) {
      k.lstm_cell_backward(h, g.row<T>(i), c.row<T>(i), s.row<T>(i) + h, ds.row<T>(i), ds.row<T>(i) + h, o.row<T>(i),
                           o.row<T>(i) + 4 * h);
    });
  });
}

void cpu::gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h_out) {
  const char* op = "gru_cell";
  const auto [n, h] = batch_and_hidden(op, "gx", gx, 3);
  const DType dt = gx.dtype();
  const Rows a = rows(op, "gx", gx, n, 3 * h, dt), b = rows(op, "gh", gh, n, 3 * h, dt),
             p = rows(op, "h_prev", h_prev, n, h, dt), o = rows(op, "h", h_out, n, h, dt);
  visit_floating(dt, op, [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    over_rows(n, 30 * h, [&](std::int64_t i) { k.gru_cell(h, a.row<T>(i), b.row<T>(i), p.row<T>(i), o.row<T>(i)); });
  });
}

void cpu::gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh, const Tensor& out) {
  const char* op = "gru_cell_backward";
  const auto [n, h] = batch_and_hidden(op, "gx", gx, 3);
  const DType dt = gx.dtype();
  const Rows a = rows(op, "gx", gx, n, 3 * h, dt), b = rows(op, "gh", gh, n, 3 * h, dt),
             p = rows(op, "h_prev", h_prev, n, h, dt), d = rows(op, "dh", dh, n, h, dt),
             o = rows(op, "out", out, n, 7 * h, dt);
  visit_floating(dt, op, [&]<class T>() {
    const auto& k = cpu::typed_kernels<T>();
    over_rows(n, 50 * h, [&](std::int64_t i) {
      k.gru_cell_backward(h, a.row<T>(i), b.row<T>(i), p.row<T>(i), d.row<T>(i), o.row<T>(i), o.row<T>(i) + 3 * h,
                          o.row<T>(i) + 6 * h);
    });
  });
}

}  // namespace stheno
