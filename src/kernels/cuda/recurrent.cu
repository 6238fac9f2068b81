// Fused LSTM and GRU cells and their adjoints (the host's arithmetic), and the row gathers and
// scatters of embeddings. Thread e is (row e / h, unit e % h).
#include <cmath>

#include "kernels/cuda/common.cuh"

namespace stheno::cuda {
namespace {

template <class T>
__device__ T* row(const Rows& r, Index i) {
  return static_cast<T*>(r.p) + i * r.stride;
}

template <class T>
__global__ void lstm_cell_kernel(Rows gates, Rows c_prev, Rows state, Index h, Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index i = e / h, j = e % h;
  const T* g = row<T>(gates, i);
  const T c = sigmoid_of(g[h + j]) * row<T>(c_prev, i)[j] + sigmoid_of(g[j]) * tanh(g[2 * h + j]);
  T* s = row<T>(state, i);
  s[h + j] = c;
  s[j] = sigmoid_of(g[3 * h + j]) * tanh(c);
}

template <class T>
__global__ void lstm_cell_grad_kernel(Rows gates, Rows c_prev, Rows state, Rows dstate, Rows out, Index h, Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index r = e / h, j = e % h;
  const T* g = row<T>(gates, r);
  const T i = sigmoid_of(g[j]), f = sigmoid_of(g[h + j]), gg = tanh(g[2 * h + j]), o = sigmoid_of(g[3 * h + j]);
  const T tc = tanh(row<T>(state, r)[h + j]);
  const T* ds = row<T>(dstate, r);
  const T dh = ds[j], dc = ds[h + j];
  const T dcell = dc + dh * o * (T(1) - tc * tc);
  T* o_row = row<T>(out, r);
  o_row[j] = dcell * gg * i * (T(1) - i);
  o_row[h + j] = dcell * row<T>(c_prev, r)[j] * f * (T(1) - f);
  o_row[2 * h + j] = dcell * i * (T(1) - gg * gg);
  o_row[3 * h + j] = dh * tc * o * (T(1) - o);
  o_row[4 * h + j] = dcell * f;
}

// A GRU unit's reset and update gates and candidate, from its rows a = gx and b = gh.
template <class T>
struct GruGates {
  T r, z, n;
};
template <class T>
__device__ GruGates<T> gru_gates(const T* a, const T* b, Index h, Index j) {
  GruGates<T> g;
  g.r = sigmoid_of(a[j] + b[j]);
  g.z = sigmoid_of(a[h + j] + b[h + j]);
  g.n = tanh(a[2 * h + j] + g.r * b[2 * h + j]);
  return g;
}

template <class T>
__global__ void gru_cell_kernel(Rows gx, Rows gh, Rows h_prev, Rows h_out, Index h, Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index i = e / h, j = e % h;
  const GruGates<T> g = gru_gates(row<T>(gx, i), row<T>(gh, i), h, j);
  row<T>(h_out, i)[j] = g.n + g.z * (row<T>(h_prev, i)[j] - g.n);
}

template <class T>
__global__ void gru_cell_grad_kernel(Rows gx, Rows gh, Rows h_prev, Rows dh, Rows out, Index h, Index n) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index i = e / h, j = e % h;
  const T* b = row<T>(gh, i);
  const GruGates<T> g = gru_gates(row<T>(gx, i), b, h, j);
  const T d = row<T>(dh, i)[j];
  const T dn = d * (T(1) - g.z) * (T(1) - g.n * g.n);
  const T dz = d * (row<T>(h_prev, i)[j] - g.n) * g.z * (T(1) - g.z);
  const T dr = dn * b[2 * h + j] * g.r * (T(1) - g.r);
  T* o = row<T>(out, i);
  o[j] = o[3 * h + j] = dr;
  o[h + j] = o[4 * h + j] = dz;
  o[2 * h + j] = dn;
  o[5 * h + j] = dn * g.r;
  o[6 * h + j] = d * g.z;
}

template <class T>
__global__ void gather_rows_kernel(T* out, const T* table, const std::int32_t* idx, DeviceView iv, Index rows, Index d, Index n,
                                   int* error) {
  const Index e = thread_index();
  if (e >= n) return;
  const Index i = e / d, col = e % d;
  const std::int32_t r = idx[at(iv, i)];
  if (r < 0 || r >= rows) {
    if (col == 0) atomicOr(error, 4);
    out[e] = T(0);
    return;
  }
  out[e] = table[r * d + col];
}

template <class T>
__global__ void scatter_add_rows_kernel(T* out, const T* grad, const std::int32_t* idx, DeviceView iv, Index rows, Index d,
                                        Index count, int* error) {
  const Index col = thread_index();
  if (col >= d) return;
  for (Index i = 0; i < count; ++i) {
    const std::int32_t r = idx[at(iv, i)];
    if (r < 0 || r >= rows) {
      if (col == 0) atomicOr(error, 8);
      continue;
    }
    out[r * d + col] += grad[i * d + col];
  }
}

}  // namespace

cudaError_t lstm_cell(Elem t, Rows gates, Rows c_prev, Rows state, Index h, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    return launch_over(n, s, lstm_cell_kernel<decltype(tag)>, gates, c_prev, state, h, n);
  });
}

cudaError_t lstm_cell_grad(Elem t, Rows gates, Rows c_prev, Rows state, Rows dstate, Rows out, Index h, Index n,
                           cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    return launch_over(n, s, lstm_cell_grad_kernel<decltype(tag)>, gates, c_prev, state, dstate, out, h, n);
  });
}

cudaError_t gru_cell(Elem t, Rows gx, Rows gh, Rows h_prev, Rows h_out, Index h, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { return launch_over(n, s, gru_cell_kernel<decltype(tag)>, gx, gh, h_prev, h_out, h, n); });
}

cudaError_t gru_cell_grad(Elem t, Rows gx, Rows gh, Rows h_prev, Rows dh, Rows out, Index h, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    return launch_over(n, s, gru_cell_grad_kernel<decltype(tag)>, gx, gh, h_prev, dh, out, h, n);
  });
}

cudaError_t gather_rows(Elem t, void* out, const void* table, const std::int32_t* idx, DeviceView iv, Index rows, Index d,
                        Index n, int* error, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(n, s, gather_rows_kernel<T>, static_cast<T*>(out), static_cast<const T*>(table), idx, iv, rows, d, n,
                       error);
  });
}

cudaError_t scatter_add_rows(Elem t, void* out, const void* grad, const std::int32_t* idx, DeviceView iv, Index rows, Index d,
                             Index count, int* error, cudaStream_t s) {
  return with_float(t, [&](auto tag) {
    using T = decltype(tag);
    return launch_over(d, s, scatter_add_rows_kernel<T>, static_cast<T*>(out), static_cast<const T*>(grad), idx, iv, rows, d,
                       count, error);
  });
}

}  // namespace stheno::cuda
