#include "stheno/kernels/random.hpp"

#include "kernels/cpu/cpu_kernels.hpp"

#include <string>

namespace stheno {

void cpu::dropout_mask(Generator& gen, double keep, const Tensor& out) {
  if (!out.defined() || !out.is_contiguous() || !is_floating(out.dtype()))
    throw ValueError("dropout_mask: out must be a defined, contiguous float tensor");
  if (!(keep > 0 && keep <= 1)) throw ValueError("dropout_mask: keep must be in (0, 1], got " + std::to_string(keep));
  visit_floating(out.dtype(), "dropout_mask", [&]<class T>() {
    T* o = out.data<T>();
    const auto scale = static_cast<T>(1.0 / keep);
    for (std::int64_t i = 0; i < out.numel(); ++i) o[i] = gen.uniform() < keep ? scale : T(0);
  });
}

}  // namespace stheno
