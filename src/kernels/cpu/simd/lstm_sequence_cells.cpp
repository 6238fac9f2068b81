// Compiled once per instruction set, like simd_kernels.cpp, but with multiply-adds fused: the
// cells of lstm_sequence, which only the host runs (no device repeats them bit for bit), so they
// take the fused instructions where the CPU has them. That and a sigmoid without the subnormal
// range make the forward cell a third faster (W4 on Emerald Rapids); the step-by-step cells in
// simd_kernels.cpp keep the arithmetic the device backends repeat.
#include <cstdint>
#include <type_traits>

#include "kernels/cpu/simd/simd_kernels.hpp"
#include "kernels/cpu/simd/vectors.hpp"
#include "kernels/cpu/simd/vmath.hpp"

namespace stheno::cpu {
namespace {

// sigmoid(x) as a fraction, from e^-|x| computed only down to the smallest normal number: a gate
// below about -87 (float) reads 1.2e-38 instead of a subnormal, and the vector code needs no
// second power of two or overflow selects.
template <class T>
inline vmath::Fraction<T> sigmoid_fraction(T x) {
  constexpr T kLowest = std::is_same_v<T, float> ? T(-87.33f) : T(-708.39);  // just above ln(smallest normal)
  const T a = x < T(0) ? x : -x;
  const T ac = a < kLowest ? kLowest : a;  // a NaN passes
  vmath::SignedBits<T> k;
  const T r = vmath::reduce_exp(ac, k);
  const T e = (T(1) + vmath::expm1_poly(r)) * vmath::pow2<T>(k);
  return {x < T(0) ? e : T(1), T(1) + e};
}

}  // namespace

namespace STHENO_CONCAT(isa_, STHENO_SIMD_ISA) {

// The pre-activations are the projected inputs plus the recurrent sums in gates, which are
// replaced by the activations i, f, g, o: the adjoint reads those back instead of computing four
// exponentials and four divisions again. The five quotients take two divisions:
// 1/d_i = (d_f·d_g)/(d_i·d_f·d_g), and so on (each denominator is between 1 and e^(2·kTanhClamp),
// so the products stay finite); the extra roundings cost up to about 2 ulp. All four gates come
// before the state, whose tanh depends on them: four independent chains keep the vector units
// busy while each waits on its own latency.
template <class T>
void lstm_cell_keeping(std::int64_t h, const T* __restrict projected, T* __restrict gates, const T* __restrict c_prev,
                       T* __restrict h_out, T* __restrict c_out) {
  T *__restrict gi = gates, *__restrict gf = gates + h, *__restrict gg = gates + 2 * h, *__restrict go = gates + 3 * h;
  const T *__restrict xi = projected, *__restrict xf = projected + h, *__restrict xg = projected + 2 * h,
          *__restrict xo = projected + 3 * h;
  for (std::int64_t j = 0; j < h; ++j) {
    const auto qi = sigmoid_fraction(xi[j] + gi[j]), qf = sigmoid_fraction(xf[j] + gf[j]);
    const auto qg = vmath::tanh_fraction(xg[j] + gg[j]), qo = sigmoid_fraction(xo[j] + go[j]);
    const T fg = qf.den * qg.den, r = T(1) / (qi.den * fg);
    const T i = qi.num * (r * fg), f = qf.num * (r * (qi.den * qg.den)), g = qg.num * (r * (qi.den * qf.den));
    const T c = f * c_prev[j] + i * g;
    const auto qc = vmath::tanh_fraction(c);
    const T r2 = T(1) / (qo.den * qc.den);
    const T o = qo.num * (r2 * qc.den);
    gi[j] = i, gf[j] = f, gg[j] = g, go[j] = o;
    c_out[j] = c;
    h_out[j] = o * (qc.num * (r2 * qo.den));
  }
}

// Its adjoint from the kept activations. The gradients of the new state are the outer ones
// (dh_in, dc_in) plus those carried back from the next step (dh_carried, dc_carried); dc_carried
// is replaced by the gradient of c_prev. It streams about fifteen numbers per element through
// memory, which hides its one tanh: keeping tanh c in the record instead made it slower.
template <class T>
void lstm_cell_backward_kept(std::int64_t h, const T* __restrict acts, const T* __restrict c_prev,
                             const T* __restrict c, const T* __restrict dh_in, const T* __restrict dc_in,
                             const T* __restrict dh_carried, T* __restrict dc_carried, T* __restrict dgates) {
  const T *__restrict ai = acts, *__restrict af = acts + h, *__restrict ag = acts + 2 * h, *__restrict ao = acts + 3 * h;
  T *__restrict di = dgates, *__restrict df = dgates + h, *__restrict dg = dgates + 2 * h, *__restrict d_o = dgates + 3 * h;
  for (std::int64_t j = 0; j < h; ++j) {
    const T i = ai[j], f = af[j], g = ag[j], o = ao[j], tc = vmath::tanh(c[j]);
    const T dh = dh_in[j] + dh_carried[j];
    const T dcell = dc_in[j] + dc_carried[j] + dh * o * (T(1) - tc * tc);
    di[j] = dcell * g * i * (T(1) - i);
    df[j] = dcell * c_prev[j] * f * (T(1) - f);
    dg[j] = dcell * i * (T(1) - g * g);
    d_o[j] = dh * tc * o * (T(1) - o);
    dc_carried[j] = dcell * f;
  }
}

template void lstm_cell_keeping<float>(std::int64_t, const float*, float*, const float*, float*, float*);
template void lstm_cell_keeping<double>(std::int64_t, const double*, double*, const double*, double*, double*);
template void lstm_cell_backward_kept<float>(std::int64_t, const float*, const float*, const float*, const float*,
                                             const float*, const float*, float*, float*);
template void lstm_cell_backward_kept<double>(std::int64_t, const double*, const double*, const double*, const double*,
                                              const double*, const double*, double*, double*);

}  // namespace STHENO_CONCAT(isa_, STHENO_SIMD_ISA)
}  // namespace stheno::cpu
