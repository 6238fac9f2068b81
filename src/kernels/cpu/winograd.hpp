#pragma once
// Convolutions by Winograd's minimal filtering (simd_kernels.hpp, WinogradTransform): unit
// strides and dilations, square 3×3 or 5×5 kernels. A 5×5 layer takes 36 multiplications per
// 2×2 outputs and channel instead of 100, a 3×3 layer 36 per 4×4 instead of 144; the price is
// rounding: results differ from a direct sum by about 1e-5 of their scale in float32 (about 1e-7
// directly). STHENO_WINOGRAD=0 turns it off.
#include <cstdint>

#include "kernels/conv_checks.hpp"

namespace stheno::cpu {

bool winograd_applies(const Conv2dGeometry& g, const ConvShapes& s);

// out (N, F, oh, ow) = weights (F, C·r·r) convolved with x (N, C, H, W), plus bias when not null.
template <class T>
void winograd_conv(const Conv2dGeometry& g, const ConvShapes& s, const T* x, const T* weights, const T* bias, T* out);

// dweight (F, C·r·r) = the weight gradient for images x and output gradient grad.
template <class T>
void winograd_weight_grad(const Conv2dGeometry& g, const ConvShapes& s, const T* x, const T* grad, T* dweight);

}  // namespace stheno::cpu
