// Dropout masks, drawn on the host (kernels/device_random.hpp) and written in queue order.
#include "kernels/device_random.hpp"
#include "kernels/opencl/opencl_backend.hpp"

namespace stheno::opencl {

void OpenclBackend::dropout_mask(Generator& gen, double keep, const Tensor& out) {
  const std::size_t bytes = check_dropout_out(out);
  void* host = mask_staging_.take(bytes, [this] { return synchronizations(); }, [this](std::size_t capacity) {
    synchronize();  // every queued write from the old memory has run
    host_staging_ = Storage::allocate(capacity);
    return host_staging_->data();
  });
  draw_dropout_mask(gen, keep, out, host);
  DriverCall driver;
  // Not blocking: the write reads `host` when the queue reaches it.
  check(clEnqueueWriteBuffer(queue_, buffer_of(out), CL_FALSE, static_cast<std::size_t>(view_of(out).offset) * itemsize(out.dtype()),
                             bytes, host, 0, nullptr, nullptr),
        "clEnqueueWriteBuffer (dropout mask)", device());
}

}  // namespace stheno::opencl
