#pragma once
// Dropout masks on a device: drawn on the host from the caller's Generator, in element order as
// the host backend draws them (so a seed gives the same mask on every device), into staging
// memory the backend keeps, then uploaded on the device's copy queue; the kernels queued after
// it wait for the upload on the device, not on the host.
#include <memory>

#include "stheno/tensor/random.hpp"
#include "stheno/tensor/tensor.hpp"

namespace stheno {

void upload_dropout_mask(DeviceRuntime& device, std::shared_ptr<Storage>& staging, Generator& gen, double keep,
                         const Tensor& out);

}  // namespace stheno
