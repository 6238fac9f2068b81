#include "kernels/device_random.hpp"

#include "stheno/kernels/random.hpp"

namespace stheno {

std::size_t check_dropout_out(const Tensor& out) {
  if (!out.defined() || !out.is_contiguous() || !is_floating(out.dtype()))
    throw ValueError("dropout_mask: out must be a defined, contiguous float tensor");
  return static_cast<std::size_t>(out.numel()) * itemsize(out.dtype());
}

void draw_dropout_mask(Generator& gen, double keep, const Tensor& out, void* host) {
  dropout_mask(gen, keep, Tensor::borrow(host, out.shape(), out.dtype()));
}

}  // namespace stheno
