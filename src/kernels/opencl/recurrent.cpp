// Fused LSTM and GRU cells and their adjoints (the same arithmetic as the host's), and the row
// gathers of embeddings.
#include "kernels/gather_checks.hpp"
#include "kernels/opencl/opencl_backend.hpp"
#include "kernels/recurrent_checks.hpp"

namespace stheno::opencl {

const char* const kRecurrentSource = R"CLC(
// Work-item e = (row i, unit j); every operand is rows of unit stride, `*s` apart from `*0`.
kernel void lstm_cell(global const T* g, long g0, long gs, global const T* cp, long c0, long cs, global T* st, long s0,
                      long ss, long h, long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long i = e / h, j = e % h;
  global const T* gr = g + g0 + i * gs;
  const T c = vm_sigmoid(gr[h + j]) * cp[c0 + i * cs + j] + vm_sigmoid(gr[j]) * vm_tanh(gr[2 * h + j]);
  global T* sr = st + s0 + i * ss;
  sr[h + j] = c;
  sr[j] = vm_sigmoid(gr[3 * h + j]) * vm_tanh(c);
}
kernel void lstm_cell_grad(global const T* g, long g0, long gs, global const T* cp, long c0, long cs, global const T* st,
                           long s0, long ss, global const T* ds, long d0, long dss, global T* out, long o0, long os,
                           long h, long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long r = e / h, j = e % h;
  global const T* gr = g + g0 + r * gs;
  const T i = vm_sigmoid(gr[j]), f = vm_sigmoid(gr[h + j]), gg = vm_tanh(gr[2 * h + j]), o = vm_sigmoid(gr[3 * h + j]);
  const T tc = vm_tanh(st[s0 + r * ss + h + j]);
  const T dh = ds[d0 + r * dss + j], dc = ds[d0 + r * dss + h + j];
  const T dcell = dc + dh * o * ((T)1 - tc * tc);
  global T* orow = out + o0 + r * os;
  orow[j] = dcell * gg * i * ((T)1 - i);
  orow[h + j] = dcell * cp[c0 + r * cs + j] * f * ((T)1 - f);
  orow[2 * h + j] = dcell * i * ((T)1 - gg * gg);
  orow[3 * h + j] = dh * tc * o * ((T)1 - o);
  orow[4 * h + j] = dcell * f;
}
// A GRU unit's reset and update gates and candidate, from its rows a = gx and b = gh.
typedef struct { T r, z, n; } GruGates;
inline GruGates gru_gates(global const T* a, global const T* b, long h, long j) {
  GruGates g;
  g.r = vm_sigmoid(a[j] + b[j]);
  g.z = vm_sigmoid(a[h + j] + b[h + j]);
  g.n = vm_tanh(a[2 * h + j] + g.r * b[2 * h + j]);
  return g;
}
kernel void gru_cell(global const T* gx, long x0, long xs, global const T* gh, long h0, long hs, global const T* hp,
                     long p0, long ps, global T* ho, long q0, long qs, long h, long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long i = e / h, j = e % h;
  const GruGates g = gru_gates(gx + x0 + i * xs, gh + h0 + i * hs, h, j);
  ho[q0 + i * qs + j] = g.n + g.z * (hp[p0 + i * ps + j] - g.n);
}
kernel void gru_cell_grad(global const T* gx, long x0, long xs, global const T* gh, long h0, long hs, global const T* hp,
                          long p0, long ps, global const T* dh, long d0, long ds, global T* out, long o0, long os, long h,
                          long n) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long i = e / h, j = e % h;
  global const T* b = gh + h0 + i * hs;
  const GruGates g = gru_gates(gx + x0 + i * xs, b, h, j);
  const T r = g.r, z = g.z, nn = g.n;
  const T d = dh[d0 + i * ds + j];
  const T dn = d * ((T)1 - z) * ((T)1 - nn * nn);
  const T dz = d * (hp[p0 + i * ps + j] - nn) * z * ((T)1 - z);
  const T dr = dn * b[2 * h + j] * r * ((T)1 - r);
  global T* o = out + o0 + i * os;
  o[j] = o[3 * h + j] = dr;
  o[h + j] = o[4 * h + j] = dz;
  o[2 * h + j] = dn;
  o[5 * h + j] = dn * r;
  o[6 * h + j] = d * z;
}
// out row i = table row idx[i]; an index outside [0, rows) sets bit 2 of *error and gives zeros.
kernel void gather_rows(global T* out, long o0, global const T* table, long t0, global const int* idx, View iv,
                        long rows, long d, long n, global int* error) {
  const long e = get_global_id(0);
  if (e >= n) return;
  const long i = e / d, col = e % d;
  const int r = idx[at(&iv, i)];
  if (r < 0 || r >= rows) { if (col == 0) atomic_or(error, 4); out[o0 + e] = (T)0; return; }
  out[o0 + e] = table[t0 + r * d + col];
}
// One work-item per column adds the gradient rows in index order: deterministic, no races.
kernel void scatter_add_rows(global T* out, long o0, global const T* grad, long g0, global const int* idx, View iv,
                             long rows, long d, long count, global int* error) {
  const long col = get_global_id(0);
  if (col >= d) return;
  for (long i = 0; i < count; ++i) {
    const int r = idx[at(&iv, i)];
    if (r < 0 || r >= rows) { if (col == 0) atomic_or(error, 8); continue; }
    out[o0 + r * d + col] += grad[g0 + i * d + col];
  }
}
)CLC";

namespace {
cl_long first(const Tensor& t) { return view_of(t).offset; }
}  // namespace

void OpenclBackend::lstm_cell(const Tensor& gates, const Tensor& c_prev, const Tensor& state) {
  const char* op = "lstm_cell";
  const auto [n, h] = batch_and_hidden(op, "gates", gates, 4);
  const DType dt = gates.dtype();
  const cl_long gs = row_stride(op, "gates", gates, n, 4 * h, dt), cs = row_stride(op, "c_prev", c_prev, n, h, dt),
                ss = row_stride(op, "state", state, n, 2 * h, dt), count = n * h, hh = h;
  launch(kernel(kRecurrentSource, "lstm_cell", dt), static_cast<std::size_t>(count), buffer_of(gates), first(gates), gs,
         buffer_of(c_prev), first(c_prev), cs, buffer_of(state), first(state), ss, hh, count);
}

void OpenclBackend::lstm_cell_backward(const Tensor& gates, const Tensor& c_prev, const Tensor& state,
                                       const Tensor& dstate, const Tensor& out) {
  const char* op = "lstm_cell_backward";
  const auto [n, h] = batch_and_hidden(op, "gates", gates, 4);
  const DType dt = gates.dtype();
  const cl_long gs = row_stride(op, "gates", gates, n, 4 * h, dt), cs = row_stride(op, "c_prev", c_prev, n, h, dt),
                ss = row_stride(op, "state", state, n, 2 * h, dt), ds = row_stride(op, "dstate", dstate, n, 2 * h, dt),
                os = row_stride(op, "out", out, n, 5 * h, dt), count = n * h, hh = h;
  launch(kernel(kRecurrentSource, "lstm_cell_grad", dt), static_cast<std::size_t>(count), buffer_of(gates), first(gates),
         gs, buffer_of(c_prev), first(c_prev), cs, buffer_of(state), first(state), ss, buffer_of(dstate), first(dstate), ds,
         buffer_of(out), first(out), os, hh, count);
}

void OpenclBackend::gru_cell(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& h_out) {
  const char* op = "gru_cell";
  const auto [n, h] = batch_and_hidden(op, "gx", gx, 3);
  const DType dt = gx.dtype();
  const cl_long xs = row_stride(op, "gx", gx, n, 3 * h, dt), hs = row_stride(op, "gh", gh, n, 3 * h, dt),
                ps = row_stride(op, "h_prev", h_prev, n, h, dt), qs = row_stride(op, "h", h_out, n, h, dt), count = n * h,
                hh = h;
  launch(kernel(kRecurrentSource, "gru_cell", dt), static_cast<std::size_t>(count), buffer_of(gx), first(gx), xs,
         buffer_of(gh), first(gh), hs, buffer_of(h_prev), first(h_prev), ps, buffer_of(h_out), first(h_out), qs, hh, count);
}

void OpenclBackend::gru_cell_backward(const Tensor& gx, const Tensor& gh, const Tensor& h_prev, const Tensor& dh,
                                      const Tensor& out) {
  const char* op = "gru_cell_backward";
  const auto [n, h] = batch_and_hidden(op, "gx", gx, 3);
  const DType dt = gx.dtype();
  const cl_long xs = row_stride(op, "gx", gx, n, 3 * h, dt), hs = row_stride(op, "gh", gh, n, 3 * h, dt),
                ps = row_stride(op, "h_prev", h_prev, n, h, dt), ds = row_stride(op, "dh", dh, n, h, dt),
                os = row_stride(op, "out", out, n, 7 * h, dt), count = n * h, hh = h;
  launch(kernel(kRecurrentSource, "gru_cell_grad", dt), static_cast<std::size_t>(count), buffer_of(gx), first(gx), xs,
         buffer_of(gh), first(gh), hs, buffer_of(h_prev), first(h_prev), ps, buffer_of(dh), first(dh), ds, buffer_of(out),
         first(out), os, hh, count);
}

void OpenclBackend::gather_rows(const Tensor& table, const Tensor& indices, const Tensor& out) {
  const cl_long d = check_gather("gather_rows", table, indices, out);
  const cl_long rows = table.shape()[0], n = out.numel();
  launch(kernel(kRecurrentSource, "gather_rows", table.dtype()), static_cast<std::size_t>(n), buffer_of(out), first(out),
         buffer_of(table), first(table), buffer_of(indices), view_of(indices), rows, d, n, error_flags());
}

void OpenclBackend::scatter_add_rows(const Tensor& grad, const Tensor& indices, const Tensor& out) {
  const cl_long d = check_gather("scatter_add_rows", out, indices, grad);
  const cl_long rows = out.shape()[0], count = indices.numel();
  fill(out, 0.0);
  launch(kernel(kRecurrentSource, "scatter_add_rows", out.dtype()), static_cast<std::size_t>(d), buffer_of(out), first(out),
         buffer_of(grad), first(grad), buffer_of(indices), view_of(indices), rows, d, count, error_flags());
}

}  // namespace stheno::opencl
