// Dropout masks, drawn on the host and uploaded (kernels/device_random.hpp).
#include "kernels/device_random.hpp"
#include "kernels/opencl/opencl_backend.hpp"

namespace stheno::opencl {

void OpenclBackend::dropout_mask(Generator& gen, double keep, const Tensor& out) {
  upload_dropout_mask(*this, host_staging_, gen, keep, out);
}

}  // namespace stheno::opencl
