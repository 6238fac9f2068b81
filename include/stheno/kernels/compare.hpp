#pragma once
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// NumPy's allclose: |a - b| <= atol + rtol * |b| elementwise, after broadcasting; dtypes may
// differ. NaNs compare equal only with equal_nan.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);

// True when no element is NaN or ±Inf (always true for int32).
bool all_finite(const Tensor& t);

}  // namespace stheno
