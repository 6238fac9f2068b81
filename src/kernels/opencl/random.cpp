// Dropout masks: drawn on the host from the caller's Generator, in element order as the host
// backend draws them, so that a seed gives the same mask on every device; then uploaded on the
// copy queue, the kernels after it waiting for the upload on the device, not the host.
#include "kernels/opencl/opencl_backend.hpp"
#include "stheno/kernels/random.hpp"

namespace stheno::opencl {

void OpenclBackend::dropout_mask(Generator& gen, double keep, const Tensor& out) {
  if (!out.defined() || !out.is_contiguous() || !is_floating(out.dtype()))
    throw ValueError("dropout_mask: out must be a defined, contiguous float tensor");
  // The staging memory is reused: the previous mask's upload must be done with it (it is, as a
  // rule: a whole step has run since).
  finish_uploads();
  const std::size_t bytes = static_cast<std::size_t>(out.numel()) * itemsize(out.dtype());
  if (!host_staging_ || host_staging_->bytes() < bytes) host_staging_ = Storage::allocate(bytes);
  const Tensor mask = Tensor::over(host_staging_, out.shape(), out.dtype());
  stheno::dropout_mask(gen, keep, mask);
  upload_async(out.storage()->handle(), static_cast<std::size_t>(view_of(out).offset) * itemsize(out.dtype()),
               mask.raw_data(), bytes);
  order_after_uploads();
}

}  // namespace stheno::opencl
