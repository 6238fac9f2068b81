#include "kernels/device_random.hpp"

#include "kernels/device_views.hpp"
#include "stheno/kernels/random.hpp"

namespace stheno {

void upload_dropout_mask(DeviceRuntime& device, std::shared_ptr<Storage>& staging, Generator& gen, double keep,
                         const Tensor& out) {
  if (!out.defined() || !out.is_contiguous() || !is_floating(out.dtype()))
    throw ValueError("dropout_mask: out must be a defined, contiguous float tensor");
  // The staging memory is reused: the previous mask's upload must be done with it (it is, as a
  // rule: a whole step has run since).
  device.finish_uploads();
  const std::size_t bytes = static_cast<std::size_t>(out.numel()) * itemsize(out.dtype());
  if (!staging || staging->bytes() < bytes) staging = Storage::allocate(bytes);
  const Tensor mask = Tensor::over(staging, out.shape(), out.dtype());
  dropout_mask(gen, keep, mask);
  device.upload_async(out.storage()->handle(), static_cast<std::size_t>(device_view(out).offset) * itemsize(out.dtype()),
                      mask.raw_data(), bytes);
  device.order_after_uploads();
}

}  // namespace stheno
